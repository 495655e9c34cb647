"""Grader severity adjusted for candidate mix, decision flips, drift, rating style and
differential rater functioning (grader x group).

All of it rests on one fit of score = mu + deliverable + grader + error
(`dashboard.analysis.reliability.fit_crossed`): the grader effects are estimated from the
differences between graders *on the same deliverables*, so a grader who happened to get weaker
submissions is not called harsh. The fit absorbs deliverables and solves a graders x graders
system, never a dense design matrix, so it scales to millions of score rows (issue 7).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from dashboard.analysis.reliability import CrossedFit, fit_crossed


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def grader_severity(
    frame: pd.DataFrame,
    *,
    threshold: float = 0.25,
    confidence: float = 0.95,
    fit: CrossedFit | None = None,
) -> pd.DataFrame:
    """Severity of each grader in rubric points: how much lower the grader scores than
    co-graders on the same deliverables (positive = harsher), shrunk towards 0 by empirical Bayes.

    The least-squares grader effect b_g (centred on the rating-weighted mean grader of its
    connected component) has standard error se_g from the fit. With tau^2 the grader variance
    component, the shrunk severity is B * (-b_g) with B = tau^2 / (tau^2 + se_g^2) and its interval
    is B * (-b_g) +/- z * sqrt(B) * se_g (the normal-normal posterior). A grader is flagged only
    when that whole interval lies beyond +/- `threshold` points, so a grader with six ratings
    (large se, strong shrinkage) is not flagged on noise.

    Parameters
    ----------
    frame
        One row per (application_id, grader_id) with `score` (human graders only).
    threshold
        Practical threshold in rubric points (settings.severity_threshold).
    confidence
        Level of the interval.
    fit
        A fit of `frame` already computed (optional).

    Returns
    -------
    pandas.DataFrame
        grader_id, n_scored, raw_mean, fair_mean, severity_unshrunk, severity_se, shrinkage,
        severity, severity_ci_low, severity_ci_high, flagged, component. Severity is missing for a
        grader whose component has no other grader (nothing to compare with).

    Examples
    --------
    >>> df = pd.DataFrame({"application_id": [1, 1, 2, 2, 3, 3],
    ...                    "grader_id": ["a", "b", "a", "b", "a", "b"],
    ...                    "score": [3.0, 4.0, 2.0, 3.0, 4.0, 4.0]})
    >>> round(float(grader_severity(df)["severity_unshrunk"].iloc[0]), 3)
    0.333
    """
    fit = fit or fit_crossed(frame)
    n_j = fit.n_per_rater.astype(float)
    raw_mean = np.bincount(fit.rater_code, fit.y, len(fit.raters)) / n_j
    unshrunk = -fit.grader_effect
    se = np.sqrt(np.clip(np.diag(fit.grader_cov), 0.0, None))
    comp_size = np.bincount(fit.component)[fit.component]
    alone = comp_size < 2
    tau2 = max(fit.var_rater, 0.0) if fit.df_raters > 0 else 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        shrink = np.where(se > 0, tau2 / (tau2 + se**2), 1.0)
    severity = shrink * unshrunk
    half = _z(confidence) * np.sqrt(shrink) * se
    low, high = severity - half, severity + half
    flagged = (low > threshold) | (high < -threshold)
    average_deliverable = float(fit.unit_effect.mean())
    out = pd.DataFrame(
        {
            "grader_id": fit.raters,
            "n_scored": fit.n_per_rater,
            "raw_mean": raw_mean,
            "fair_mean": average_deliverable - severity,
            "severity_unshrunk": unshrunk,
            "severity_se": se,
            "shrinkage": shrink,
            "severity": severity,
            "severity_ci_low": low,
            "severity_ci_high": high,
            "flagged": flagged & ~alone,
            "component": fit.component + 1,
        }
    )
    cols = [
        "fair_mean",
        "severity_unshrunk",
        "severity_se",
        "shrinkage",
        "severity",
        "severity_ci_low",
        "severity_ci_high",
    ]
    out.loc[alone, cols] = np.nan
    return out


def external_severity(
    fit: CrossedFit,
    frame: pd.DataFrame,
    *,
    threshold: float = 0.25,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Severity of a scorer outside the human fit (the LLM) against the humans' adjusted scores.

    severity = mean over deliverables of (human adjusted deliverable score - scorer's score);
    positive = the scorer is harsher than the human graders on the same work. No shrinkage (one
    scorer, many ratings). Columns as `grader_severity`.
    """
    units = pd.Series(np.arange(len(fit.units)), index=fit.units)
    rows = []
    for grader_id, scored in frame.groupby("grader_id", sort=True):
        code = scored["application_id"].map(units)
        ok = code.notna().to_numpy()
        diff = (
            fit.unit_effect[code[ok].astype(np.int64).to_numpy()] - scored["score"].to_numpy()[ok]
        )
        n = int(ok.sum())
        sev = float(diff.mean()) if n else math.nan
        se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        half = _z(confidence) * se
        rows.append(
            {
                "grader_id": grader_id,
                "n_scored": len(scored),
                "raw_mean": float(scored["score"].mean()),
                "fair_mean": float(fit.unit_effect.mean()) - sev,
                "severity_unshrunk": sev,
                "severity_se": se,
                "shrinkage": 1.0,
                "severity": sev,
                "severity_ci_low": sev - half,
                "severity_ci_high": sev + half,
                "flagged": bool(sev - half > threshold or sev + half < -threshold),
                "component": 1,
            }
        )
    return pd.DataFrame(rows)


def decision_flips(
    frame: pd.DataFrame, severity: pd.DataFrame, *, pass_mark: pd.Series
) -> pd.DataFrame:
    """Deliverables whose pass/fail changes once grader severity is removed.

    A deliverable's raw score is the mean of its human graders' scores; its fair score is the
    mean of (score + severity of that grader). It passes when the score is at least its pass mark.

    Parameters
    ----------
    frame
        One row per (application_id, grader_id) with `score` (human totals).
    severity
        `grader_severity` output (grader_id, severity).
    pass_mark
        Pass mark per application_id (index).

    Returns
    -------
    pandas.DataFrame
        application_id, graders, raw_score, fair_score, pass_mark, raw_pass, fair_pass, flips;
        only deliverables that flip, closest to the pass mark first.

    Examples
    --------
    >>> scores = pd.DataFrame({"application_id": [1, 1], "grader_id": ["a", "b"],
    ...                        "score": [2.5, 3.2]})
    >>> sev = pd.DataFrame({"grader_id": ["a", "b"], "severity": [0.6, 0.0]})
    >>> decision_flips(scores, sev, pass_mark=pd.Series({1: 3.0}))["fair_score"].round(2).tolist()
    [3.15]
    """
    merged = frame.merge(severity[["grader_id", "severity"]], on="grader_id", how="left")
    merged["fair"] = merged["score"] + merged["severity"].fillna(0.0)
    per = merged.groupby("application_id").agg(
        graders=("grader_id", "size"), raw_score=("score", "mean"), fair_score=("fair", "mean")
    )
    per["pass_mark"] = pass_mark.reindex(per.index)
    per = per.dropna(subset=["pass_mark"])
    per["raw_pass"] = per["raw_score"] >= per["pass_mark"]
    per["fair_pass"] = per["fair_score"] >= per["pass_mark"]
    per["flips"] = per["raw_pass"] != per["fair_pass"]
    out = per[per["flips"]].reset_index()
    order = (out["raw_score"] - out["pass_mark"]).abs().argsort(kind="stable")
    return out.iloc[order].reset_index(drop=True)


def severity_drift(
    frame: pd.DataFrame, *, threshold: float = 0.25, confidence: float = 0.95
) -> pd.DataFrame:
    """Severity per grader and calendar month of scoring (`scored_at`), from one crossed fit in
    which each grader-month is its own rater, so months are compared on the same deliverables.

    Returns
    -------
    pandas.DataFrame
        grader_id, month (first day), n_scored, severity, severity_ci_low, severity_ci_high, flagged.
    """
    data = frame.copy()
    month = pd.to_datetime(data["scored_at"]).dt.to_period("M").dt.start_time
    data["rater"] = data["grader_id"].astype(str) + "|" + month.dt.strftime("%Y-%m-%d")
    fit = fit_crossed(data, rater="rater")
    sev = grader_severity(data, threshold=threshold, confidence=confidence, fit=fit)
    parts = sev["grader_id"].str.rsplit("|", n=1, expand=True)
    sev = sev.assign(grader_id=parts[0], month=pd.to_datetime(parts[1]))
    cols = ["grader_id", "month", "n_scored", "severity", "severity_ci_low", "severity_ci_high"]
    return sev[[*cols, "flagged"]].sort_values(["grader_id", "month"], ignore_index=True)


def rating_style(scores: pd.DataFrame) -> pd.DataFrame:
    """How each grader uses the scale, and halo.

    Parameters
    ----------
    scores
        Long human scores: application_id, grader_id, axis, score, min_score, max_score.

    Returns
    -------
    pandas.DataFrame
        grader_id, n_scored, sd (mean over axes of the grader's score SD), extremes_share (share
        at the axis minimum or maximum), midpoint_share (share at the axis midpoint), halo (mean
        correlation between the grader's scores on two axes of the same deliverable; near 1 = the
        grader gives one impression to every axis).
    """
    data = scores.copy()
    data["extreme"] = (data["score"] <= data["min_score"]) | (data["score"] >= data["max_score"])
    data["midpoint"] = np.isclose(data["score"], (data["min_score"] + data["max_score"]) / 2)
    sd = data.groupby(["grader_id", "axis"])["score"].std(ddof=1).groupby("grader_id").mean()
    base = data.groupby("grader_id").agg(
        n_scored=("score", "size"),
        extremes_share=("extreme", "mean"),
        midpoint_share=("midpoint", "mean"),
    )
    base["sd"] = sd
    wide = data.pivot_table(
        index=["grader_id", "application_id"], columns="axis", values="score", aggfunc="mean"
    )
    axes = list(wide.columns)
    corrs = []
    for i, first in enumerate(axes):
        for second in axes[i + 1 :]:
            pair = wide[[first, second]].dropna()
            corr = pair.groupby(level="grader_id").apply(
                lambda g: g.iloc[:, 0].corr(g.iloc[:, 1]) if len(g) > 2 else np.nan
            )
            corrs.append(corr.rename(f"{first}|{second}"))
    base["halo"] = pd.concat(corrs, axis=1).mean(axis=1) if corrs else np.nan
    cols = ["n_scored", "sd", "extremes_share", "midpoint_share", "halo"]
    return base[cols].reset_index()


def leave_one_out_residuals(fit: CrossedFit) -> pd.DataFrame:
    """Per score on a deliverable with at least two graders: the score minus the other graders'
    severity-adjusted scores on the same deliverable minus the grader's own effect.

    For a deliverable with m graders this is m / (m - 1) times the ordinary residual, so it is
    "relative to co-graders on the same work" and not diluted by the grader's own score.
    """
    m = fit.n_per_unit[fit.unit_code].astype(float)
    keep = m >= 2
    return pd.DataFrame(
        {
            "application_id": fit.units[fit.unit_code[keep]],
            "grader_id": fit.raters[fit.rater_code[keep]],
            "residual": fit.residual[keep] * m[keep] / (m[keep] - 1),
        }
    )


def _bias_cells(frame: pd.DataFrame, groups: pd.DataFrame, min_cell_size: int) -> pd.DataFrame:
    fit = fit_crossed(frame)
    data = leave_one_out_residuals(fit).merge(groups, on="application_id", how="inner")
    cells = (
        data.groupby(["grader_id", "attribute", "group"], sort=True)["residual"]
        .agg(n="size", bias_points="mean", sd="std")
        .reset_index()
    )
    cells["se"] = cells["sd"] / np.sqrt(cells["n"])
    tested = (cells["n"] >= max(min_cell_size, 2)) & (cells["se"] > 0)
    t = (cells["bias_points"] / cells["se"]).where(tested, 0.0)
    cells["p_value"] = np.where(
        tested, 2 * stats.t.sf(np.abs(t), (cells["n"] - 1).clip(lower=1)), np.nan
    )
    return cells.drop(columns="sd")


def _bh(p: pd.Series, alpha: float) -> pd.Series:
    q = pd.Series(np.nan, index=p.index)
    tested = p.notna()
    if tested.any():
        q[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    return q


def grader_bias(
    fit: CrossedFit,
    groups: pd.DataFrame,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    alpha: float = 0.05,
    max_steps: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Differential rater functioning: each grader's mean residual on each demographic group.

    Per score on a deliverable with m >= 2 graders the leave-one-out residual is the score minus
    the other graders' severity-adjusted scores on the same deliverable minus the grader's own
    severity (`leave_one_out_residuals`). bias_points = its mean over the grader's deliverables
    by candidates of the group: negative = the grader scores this group lower than co-graders on
    the same work would lead one to expect, given the grader's overall severity. SE = the
    residuals' SD / sqrt(n), two-sided t test on n - 1 degrees of freedom (robust to graders
    differing in noise and to small groups), Benjamini-Hochberg q over every grader x group test
    of every attribute; flagged when q < `alpha` and |bias_points| >= `threshold`. Cells with
    fewer than `min_cell_size` scores are not tested.

    Attribution, step by step: a biased grader also pushes the residuals of its co-graders on the
    same deliverables the other way. So the most significant flagged cell is taken as real, its
    bias removed from that grader's scores of that group, the model refitted and the other cells
    retested, until no new cell is flagged (at most `max_steps` times). A flagged cell keeps the
    statistics it had when it was found.

    The omnibus test per attribute is the F test of grader x group cell means against grader
    means of the residuals (one-way ANOVA within grader): does any grader treat groups
    differently?

    Limit: the residual is relative to co-graders, so a bias that every grader shares cancels
    out and does not show here (the Fairness page's outcome rates are where it shows).

    Parameters
    ----------
    fit
        Crossed fit of human scores (one row per deliverable and grader).
    groups
        application_id, attribute, group (one row per application and attribute).

    Returns
    -------
    (cells, omnibus)
        cells: grader_id, attribute, group, n, bias_points, se, p_value, q_value, flagged
        (unsuppressed: the caller suppresses before display);
        omnibus: attribute, f_stat, df1, df2, p_value.
    """
    groups = groups[["application_id", "attribute", "group"]]
    frame = pd.DataFrame(
        {
            "application_id": fit.units[fit.unit_code],
            "grader_id": fit.raters[fit.rater_code],
            "score": fit.y,
        }
    )
    key = ["grader_id", "attribute", "group"]
    confirmed: pd.DataFrame | None = None
    adjusted = frame
    for _ in range(max_steps + 1):
        cells = _bias_cells(adjusted, groups, min_cell_size).set_index(key)
        if confirmed is not None:
            cells.loc[confirmed.index, confirmed.columns] = confirmed
        cells["q_value"] = _bh(cells["p_value"], alpha)
        flagged = (cells["q_value"] < alpha) & (cells["bias_points"].abs() >= threshold)
        new = flagged & ~cells.index.isin(confirmed.index if confirmed is not None else [])
        if not new.any():
            break
        best = cells[new].sort_values("p_value").iloc[[0]]
        confirmed = best if confirmed is None else pd.concat([confirmed, best])
        # remove the found bias from that grader's scores of that group, then refit
        grader, attribute, group = best.index[0]
        members = groups.loc[
            (groups["attribute"] == attribute) & (groups["group"] == group), "application_id"
        ]
        hit = (adjusted["grader_id"] == grader) & adjusted["application_id"].isin(members)
        adjusted = adjusted.assign(
            score=adjusted["score"] - np.where(hit, best["bias_points"].iloc[0], 0.0)
        )
    cells = cells.reset_index()
    cells["flagged"] = (cells["q_value"] < alpha) & (cells["bias_points"].abs() >= threshold)

    data = leave_one_out_residuals(fit).merge(groups, on="application_id", how="inner")
    omnibus_rows = []
    for attribute, part in data.groupby("attribute", sort=True):
        cell_mean = part.groupby(["grader_id", "group"])["residual"].transform("mean")
        grader_mean = part.groupby("grader_id")["residual"].transform("mean")
        n_cells = part.groupby(["grader_id", "group"]).ngroups
        n_graders = part["grader_id"].nunique()
        df1, df2 = n_cells - n_graders, len(part) - n_cells
        between = float(((cell_mean - grader_mean) ** 2).sum())
        within = float(((part["residual"] - cell_mean) ** 2).sum())
        if df1 > 0 and df2 > 0 and within > 0:
            f_stat = (between / df1) / (within / df2)
            p = float(stats.f.sf(f_stat, df1, df2))
        else:
            f_stat, p = math.nan, math.nan
        omnibus_rows.append(
            {"attribute": attribute, "f_stat": f_stat, "df1": df1, "df2": df2, "p_value": p}
        )
    columns = [*key, "n", "bias_points", "se", "p_value", "q_value", "flagged"]
    return cells[columns], pd.DataFrame(
        omnibus_rows, columns=["attribute", "f_stat", "df1", "df2", "p_value"]
    )
