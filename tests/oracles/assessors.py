"""Reference oracles for the Assessors statistics: label-based pandas implementations (merges
and groupbys over one row per score) of what the product computes on integer codes.

They are not part of the library: tests compare the product's one implementation of each
statistic (signalboard.stats.reliability, severity, agreement and
signalboard.analysis.assessors) against these, written the direct way.
"""

from __future__ import annotations

import math
import warnings

import duckdb
import numpy as np
import pandas as pd
from scipy import stats

from signalboard.analysis.assessors import (
    TOTAL,
    AssessorResults,
    CodedScores,
    _code_scores,
    _months,
    analyze_coded,
)
from signalboard.queries import run_query
from signalboard.stats import severity as product_severity
from signalboard.stats.agreement import GATES, _overall_row, pair_stats, qwk
from signalboard.stats.reliability import (
    AlphaLevel,
    CrossedFit,
    _alpha_interval_from,
    _alpha_ordinal_from,
    _interval_parts,
    _ordinal_parts,
    _pairable,
    fit_arrays,
)
from signalboard.stats.severity import _external_row, _next_confirmed

# --- reliability --------------------------------------------------------------------------------


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = pd.factorize(values, sort=True)
    return codes.astype(np.int64), np.asarray(labels)


def fit_crossed(
    frame: pd.DataFrame,
    *,
    unit: str = "application_id",
    rater: str = "grader_id",
    value: str = "score",
) -> CrossedFit:
    """Fit score = mu + deliverable + grader + error by fitting constants on a sparse design.

    Parameters
    ----------
    frame
        One row per (unit, rater) with a numeric `value`; a pair that occurs twice is averaged.
    unit, rater, value
        Column names.

    Returns
    -------
    CrossedFit
        Effects, residuals, sums of squares and variance components.

    Examples
    --------
    >>> df = pd.DataFrame({"application_id": [1, 1, 2, 2], "grader_id": ["a", "b", "a", "b"],
    ...                    "score": [3.0, 4.0, 2.0, 3.0]})
    >>> round(float(fit_crossed(df).grader_effect[1] - fit_crossed(df).grader_effect[0]), 3)
    1.0
    """
    data = frame[[unit, rater, value]].dropna()
    if data.duplicated([unit, rater]).any():
        data = data.groupby([unit, rater], as_index=False, sort=False)[value].mean()
    u, units = _codes(data[unit])
    r, raters = _codes(data[rater])
    return fit_arrays(u, r, data[value].to_numpy(dtype=float), units=units, raters=raters)


def krippendorff_alpha(units: np.ndarray, values: np.ndarray, *, level: AlphaLevel) -> float:
    """Krippendorff's alpha = 1 - D_o / D_e from the coincidence matrix of pairable values.

    Parameters
    ----------
    units
        The unit (deliverable) of each value; any hashable labels.
    values
        The values (missing allowed). Units with fewer than two values are not pairable.
    level
        "interval" (squared difference) or "ordinal" (Krippendorff's rank-based metric over the
        observed values).

    Examples
    --------
    >>> units = [1, 1, 2, 2, 3, 3, 4, 4]
    >>> values = [1, 1, 2, 3, 3, 3, 4, 5]
    >>> round(krippendorff_alpha(units, values, level="interval"), 4)
    0.8704
    """
    p = _pairable(np.asarray(units), np.asarray(values, dtype=float))
    if p.n_units == 0:
        return math.nan
    if level == "interval":
        m, s1, s2, w = _interval_parts(p)
        return float(_alpha_interval_from(m, s1, s2, w))
    per_unit, n_cat = _ordinal_parts(p)
    o = np.asarray(per_unit.sum(axis=0)).reshape(n_cat, n_cat)
    return float(_alpha_ordinal_from(o))


def alpha_bootstrap(
    units: np.ndarray,
    values: np.ndarray,
    *,
    level: AlphaLevel,
    n_boot: int = 500,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """One level of `reliability.alpha_bootstraps`."""
    from signalboard.stats.reliability import alpha_bootstraps

    return alpha_bootstraps(
        units, values, levels=(level,), n_boot=n_boot, confidence=confidence, seed=seed
    )[level]


# --- severity -----------------------------------------------------------------------------------


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
    return product_severity.grader_severity(
        fit or fit_crossed(frame), threshold=threshold, confidence=confidence
    )


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
        rows.append(
            _external_row(
                grader_id,
                diff,
                n_scored=len(scored),
                raw_mean=float(scored["score"].mean()),
                average=float(fit.unit_effect.mean()),
                threshold=threshold,
                confidence=confidence,
            )
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
    """Per grader x group: the mean leave-one-out residual on the group's deliverables minus its
    mean on the grader's other double-scored deliverables, pooled SE and Student's t p."""
    fit = fit_crossed(frame)
    resid = leave_one_out_residuals(fit)
    rows = []
    data = resid.merge(groups, on="application_id", how="inner")
    for (grader, attribute, group), part in data.groupby(
        ["grader_id", "attribute", "group"], sort=True
    ):
        inside = part["residual"]
        others = resid[
            (resid["grader_id"] == grader) & ~resid["application_id"].isin(part["application_id"])
        ]["residual"]
        n_in, n_out = len(inside), len(others)
        testable = n_in >= 1 and n_out > 1
        if testable:
            # Student's pooled two-sample t (scipy), the test the product states
            pooled = (
                ((inside - inside.mean()) ** 2).sum() + ((others - others.mean()) ** 2).sum()
            ) / (n_in + n_out - 2)
            se = math.sqrt(pooled * (1 / n_in + 1 / n_out))
            with warnings.catch_warnings():
                # scipy warns on near-constant samples; the p-value is still what it is
                warnings.simplefilter("ignore", RuntimeWarning)
                p_value = (
                    stats.ttest_ind(inside, others, equal_var=True).pvalue if se > 0 else np.nan
                )
        else:
            se = p_value = np.nan
        rows.append(
            {
                "grader_id": grader,
                "attribute": attribute,
                "group": group,
                "n": n_in,
                "bias_points": inside.mean() - (others.mean() if n_out else np.nan),
                "se": se,
                "p_value": p_value,
            }
        )
    cells = pd.DataFrame(rows)
    tested = (cells["n"] >= max(min_cell_size, 2)) & (cells["se"] > 0)
    cells["p_value"] = cells["p_value"].where(tested)
    return cells


def grader_bias(
    fit: CrossedFit,
    groups: pd.DataFrame,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    alpha: float = 0.05,
    max_steps: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Differential rater functioning: how much lower (negative) or higher the grader scores a
    group than co-graders score the same deliverables, beyond the grader's severity toward
    everyone else.

    bias_points = the mean leave-one-out residual (`leave_one_out_residuals`) over the grader's
    deliverables by candidates of the group minus its mean over the grader's other double-scored
    deliverables. SE of the difference from the grader's pooled residual variance, Student's
    two-sample t test, Benjamini-Hochberg q over every grader x group test of
    every attribute; flagged when q < `alpha` and |bias_points| >= `threshold`. Cells with fewer
    than `min_cell_size` scores are not tested.

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
        cells, best = _next_confirmed(cells, confirmed, alpha=alpha, threshold=threshold)
        if best is None:
            break
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


# --- agreement ----------------------------------------------------------------------------------


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r by scipy (NaN for fewer than three pairs or a constant score)."""
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(stats.pearsonr(a, b).statistic)


def machine_human_pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """application_id, machine, human, human_grader for every LLM x human pair on a deliverable.

    `scores`: application_id, grader_id, grader_kind ('llm' or 'human'), score (one axis).
    """
    llm = scores.loc[scores["grader_kind"] == "llm", ["application_id", "score"]]
    human = scores.loc[scores["grader_kind"] == "human", ["application_id", "grader_id", "score"]]
    pairs = llm.rename(columns={"score": "machine"}).merge(
        human.rename(columns={"score": "human", "grader_id": "human_grader"}), on="application_id"
    )
    return pairs


def human_human_pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """application_id, first, second: every pair of two different human graders' scores."""
    human = scores.loc[scores["grader_kind"] == "human", ["application_id", "grader_id", "score"]]
    pairs = human.merge(human, on="application_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["grader_id_a"] < pairs["grader_id_b"]]
    return pairs.rename(columns={"score_a": "first", "score_b": "second"})[
        ["application_id", "first", "second"]
    ]


def llm_agreement(
    scores: pd.DataFrame, groups: pd.DataFrame | None = None, *, axis: str = "total"
) -> pd.DataFrame:
    """LLM vs human agreement on one axis, overall and per demographic group, with the gates.

    Parameters
    ----------
    scores
        application_id, grader_id, grader_kind, score for one axis (or the total).
    groups
        application_id, attribute, group (optional).
    axis
        Label written in the `axis` column.

    Returns
    -------
    pandas.DataFrame
        axis, attribute, group, n (deliverables), pairs, qwk, pearson_r, exact_agreement,
        adjacent_agreement, smd, hh_qwk, hh_pearson_r, degradation_qwk, degradation_r,
        qwk_pass, r_pass, smd_pass, degradation_pass, passes. Overall row: attribute = group =
        "all", smd = (mean M - mean H) / pooled SD, passes = every gate. Group rows: smd is the
        difference of standardized means (both scores standardized on all pairs, then
        mean z_M - mean z_H within the group, as RSMTool's subgroup "DSM"), passes = |smd| <= .10.
    """
    pairs = machine_human_pairs(scores)
    hh = human_human_pairs(scores)
    overall = pair_stats(pairs["machine"].to_numpy(), pairs["human"].to_numpy())
    hh_qwk = qwk(hh["first"].to_numpy(), hh["second"].to_numpy()) if len(hh) else math.nan
    hh_r = _pearson(hh["first"].to_numpy(), hh["second"].to_numpy()) if len(hh) else math.nan
    row = _overall_row(
        axis,
        n=int(pairs["application_id"].nunique()),
        pairs=len(pairs),
        overall=overall,
        hh_qwk=hh_qwk,
        hh_r=hh_r,
    )
    pooled = math.sqrt((pairs["machine"].var() + pairs["human"].var()) / 2)
    row.update(
        _smd_ci((pairs["machine"] - pairs["human"]) / pooled, pairs["application_id"], GATES["smd"])
    )
    rows = [row]
    if groups is not None and len(pairs) > 1:
        zm = (pairs["machine"] - pairs["machine"].mean()) / pairs["machine"].std(ddof=1)
        zh = (pairs["human"] - pairs["human"].mean()) / pairs["human"].std(ddof=1)
        scored = pairs.assign(zm=zm, zh=zh).merge(groups, on="application_id")
        for (attribute, group), part in scored.groupby(["attribute", "group"], sort=True):
            stats_ = pair_stats(part["machine"].to_numpy(), part["human"].to_numpy())
            dsm = float(part["zm"].mean() - part["zh"].mean())
            rows.append(
                {
                    "axis": axis,
                    "attribute": attribute,
                    "group": group,
                    "n": int(part["application_id"].nunique()),
                    "pairs": len(part),
                    **stats_,
                    "smd": dsm,
                    "smd_pass": bool(abs(dsm) <= GATES["subgroup_smd"]),
                    "passes": bool(abs(dsm) <= GATES["subgroup_smd"]),
                    **_smd_ci(
                        part["zm"] - part["zh"], part["application_id"], GATES["subgroup_smd"]
                    ),
                }
            )
    return pd.DataFrame(rows)


def _smd_ci(difference: pd.Series, application: pd.Series, threshold: float) -> dict:
    """CR1 cluster-robust t interval of the mean difference, clusters = deliverables."""
    smd = difference.mean()
    per = (difference - smd).groupby(application.to_numpy()).sum()
    g = len(per)
    if g < 2:
        return {"smd_ci_low": math.nan, "smd_ci_high": math.nan, "smd_status": "inconclusive"}
    se = math.sqrt(g / (g - 1) * (per**2).sum()) / len(difference)
    half = stats.t.ppf(0.975, g - 1) * se
    low, high = smd - half, smd + half
    inside, beyond = -threshold <= low and high <= threshold, low > threshold or high < -threshold
    status = "pass" if inside else "fail" if beyond else "inconclusive"
    return {"smd_ci_low": low, "smd_ci_high": high, "smd_status": status}


# --- the analysis from the library queries' frames ----------------------------------------------


def totals(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (application, grader): the mean over the rubric's axes ("total").

    A grader who did not score every axis the deliverable was scored on gets no total.
    """
    if scores.empty:
        return scores.assign(axis=pd.Series(dtype=object))
    axes_per_app = scores.groupby("application_id")["axis"].nunique().rename("axes_expected")
    grouped = scores.groupby(["application_id", "grader_id", "grader_kind"], as_index=False).agg(
        score=("score", "mean"),
        axes=("axis", "nunique"),
        min_score=("min_score", "mean"),
        max_score=("max_score", "mean"),
        pass_mark=("pass_mark", "mean"),
        scored_at=("scored_at", "max"),
    )
    grouped = grouped.merge(axes_per_app, left_on="application_id", right_index=True)
    complete = grouped[grouped["axes"] == grouped["axes_expected"]]
    return complete.drop(columns=["axes", "axes_expected"]).assign(axis=TOTAL)


def _by_axis(scores: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    axes = sorted(scores["axis"].dropna().unique()) if len(scores) else []
    parts = [(axis, scores[scores["axis"] == axis]) for axis in axes]
    parts.append((TOTAL, totals(scores)))
    return [(axis, part) for axis, part in parts if len(part)]


def code_frames(scores: pd.DataFrame, groups: pd.DataFrame) -> CodedScores:
    """The rows of the two library queries as `CodedScores` (the path of `analyze`)."""
    scores = scores.dropna(subset=["score"])
    unit, units = pd.factorize(scores["application_id"], sort=True)
    grader, graders = pd.factorize(scores["grader_id"], sort=True)
    axes = sorted(a for a in scores["axis"].dropna().unique() if a != TOTAL)
    axis = pd.Index(axes).get_indexer(scores["axis"]).astype(np.int64)
    unit = unit.astype(np.int64)
    scale = np.full((3, len(units), len(axes)), np.nan)
    for k, column in enumerate(("min_score", "max_score", "pass_mark")):
        if column in scores:
            scale[k][unit, axis] = scores[column].to_numpy(dtype=float)
    attributes = np.array(sorted(groups["attribute"].dropna().unique()) if len(groups) else [])
    labels, codes = [], np.full((len(attributes), len(units)), -1, dtype=np.int64)
    for a, attribute in enumerate(attributes):
        part = groups[groups["attribute"] == attribute]
        group_code, group_labels = pd.factorize(part["group"], sort=True)
        where = pd.Index(units).get_indexer(part["application_id"])
        ok = where >= 0
        codes[a, where[ok]] = group_code[ok]
        labels.append(np.asarray(group_labels, dtype=object))
    return _code_scores(
        unit=unit,
        grader=grader.astype(np.int64),
        axis=axis,
        human=(scores["grader_kind"] == "human").to_numpy(dtype=bool),
        score=scores["score"].to_numpy(dtype=float),
        month=_months(scores["scored_at"]) if len(scores) else np.zeros(0, np.int64),
        scale=scale,
        units=units,
        graders=graders,
        axes=axes,
        attributes=attributes,
        group_labels=tuple(labels),
        groups=codes,
    )


def analyze(
    scores: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    n_boot: int = 200,
    seed: int = 0,
) -> AssessorResults:
    """All assessor analyses for the scores of queries/assessor_scores.sql.

    Parameters
    ----------
    scores
        application_id, grader_id, grader_kind, axis, score, min_score, max_score, pass_mark,
        scored_at (one row per score).
    groups
        application_id, attribute, group (queries/assessor_candidate_groups.sql).
    threshold
        Practical severity / bias threshold in rubric points (settings.severity_threshold).
    min_cell_size
        Suppression size k (settings.min_cell_size) for every demographic breakdown.
    n_boot
        Bootstrap replicates for the alpha intervals.
    seed
        Seed of the bootstrap.
    """
    return analyze_coded(
        code_frames(scores, groups),
        threshold=threshold,
        min_cell_size=min_cell_size,
        n_boot=n_boot,
        seed=seed,
    )


def load(
    con: duckdb.DuckDBPyConnection, params: dict[str, object] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and candidate groups (the two library queries) for the filters `params`."""
    return (
        run_query(con, "assessor_scores", params),
        run_query(con, "assessor_candidate_groups", params),
    )
