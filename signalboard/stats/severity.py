"""Grader severity adjusted for candidate mix, decision flips, drift, rating style and
differential rater functioning (grader x group).

All of it rests on one fit of score = mu + deliverable + grader + error
(`signalboard.stats.reliability.fit_arrays`): the grader effects are estimated from the
differences between graders *on the same deliverables*, so a grader who happened to get weaker
submissions is not called harsh. The fit absorbs deliverables and solves a graders x graders
system, never a dense design matrix, so it scales to millions of score rows.

Inputs are integer codes (a code indexes a sorted label array), never label columns: every
per-grader or per-cell quantity is a bincount. tests/oracles/assessors.py holds label-based
pandas versions that the tests compare these with.
"""

from __future__ import annotations

import math
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from signalboard.stats.crossing import crossed_blocks, group_sums
from signalboard.stats.reliability import CrossedDesign, CrossedFit, crossed_design, fit_arrays


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(1 - (1 - confidence) / 2))


def grader_severity(
    fit: CrossedFit, *, threshold: float = 0.25, confidence: float = 0.95
) -> pd.DataFrame:
    """Severity of each grader in rubric points: how much lower the grader scores than
    co-graders on the same deliverables (positive = harsher), shrunk towards 0 by empirical Bayes.

    The least-squares grader effect b_g (centred on the rating-weighted mean grader of its
    connected component) has standard error se_g from the fit. With tau^2 the grader variance
    component, the shrunk severity is B * (-b_g) with B = tau^2 / (tau^2 + se_g^2). Its interval
    is B * (-b_g) +/- z * s_g with Morris's (1983, JASA 78:47-55) variance, which adds to the
    normal-normal posterior variance what estimating tau^2 costs: with S = 1 - B the shrinkage
    towards the mean, k graders compared and r component means,
    s_g^2 = se_g^2 (1 - (k - r) / k * S) + 2 / (k - r - 2) * S^2 * b_g^2 (the plain posterior
    when k - r <= 2). Without it a grader variance estimated at 0 gave every grader [0, 0], which
    covered a small true severity in 89% of simulated designs (docs/assessors.md). A grader is
    flagged only when that whole interval lies beyond +/- `threshold` points, so a grader with
    six ratings (large se, strong shrinkage) is not flagged on noise.

    Parameters
    ----------
    fit
        Crossed fit of human scores (`reliability.fit_arrays`).
    threshold
        Practical threshold in rubric points (settings.severity_threshold).
    confidence
        Level of the interval.

    Returns
    -------
    pandas.DataFrame
        grader_id, n_scored, raw_mean, fair_mean, severity_unshrunk, severity_se, shrinkage,
        severity, severity_ci_low, severity_ci_high, flagged, component. Severity is missing for a
        grader whose component has no other grader (nothing to compare with).

    Examples
    --------
    >>> from signalboard.stats.reliability import fit_arrays
    >>> fit = fit_arrays(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]),
    ...                  np.array([3.0, 4.0, 2.0, 3.0, 4.0, 4.0]),
    ...                  units=np.array([1, 2, 3]), raters=np.array(["a", "b"]))
    >>> round(float(grader_severity(fit)["severity_unshrunk"].iloc[0]), 3)
    0.333
    """
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
    towards_mean = 1.0 - shrink
    # graders compared (not alone in their component) and the component means they centre on
    compared = int((~alone).sum())
    means = len(np.unique(fit.component[~alone]))
    if compared - means > 2:
        variance = (
            se**2 * (1 - (compared - means) / compared * towards_mean)
            + 2 / (compared - means - 2) * towards_mean**2 * unshrunk**2
        )
    else:
        variance = shrink * se**2
    half = _z(confidence) * np.sqrt(variance)
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


def _external_row(
    grader_id: object,
    diff: np.ndarray,
    *,
    n_scored: int,
    raw_mean: float,
    average: float,
    threshold: float,
    confidence: float,
) -> dict[str, object]:
    """One `external_severity` row from the scorer's (human adjusted - scorer) differences."""
    n = len(diff)
    sev = float(diff.mean()) if n else math.nan
    se = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    half = _z(confidence) * se
    return {
        "grader_id": grader_id,
        "n_scored": n_scored,
        "raw_mean": raw_mean,
        "fair_mean": average - sev,
        "severity_unshrunk": sev,
        "severity_se": se,
        "shrinkage": 1.0,
        "severity": sev,
        "severity_ci_low": sev - half,
        "severity_ci_high": sev + half,
        "flagged": bool(sev - half > threshold or sev + half < -threshold),
        "component": 1,
    }


def _bh(p: pd.Series, alpha: float) -> pd.Series:
    q = pd.Series(np.nan, index=p.index)
    tested = p.notna()
    if tested.any():
        q[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    return q


def _next_confirmed(
    cells: pd.DataFrame, confirmed: pd.DataFrame | None, *, alpha: float, threshold: float
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """One step of the step-down search: the cells with BH q-values (the cells confirmed so far
    keep the values they were found with), and the most significant newly flagged cell (None
    when no new cell is flagged). Shared by `grader_bias` and `grader_bias_codes`."""
    if confirmed is not None:
        # by position: label alignment on the (grader, attribute, group) index costs more than
        # the rest of the step
        rows = cells.index.get_indexer(confirmed.index)
        # column by column, each keeping its dtype; q_value is recomputed below for all cells
        for name in confirmed.columns.intersection(cells.columns):
            cells.iloc[rows, cells.columns.get_loc(name)] = confirmed[name].to_numpy()
    cells["q_value"] = _bh(cells["p_value"], alpha)
    flagged = (cells["q_value"] < alpha) & (cells["bias_points"].abs() >= threshold)
    new = flagged & ~cells.index.isin(confirmed.index if confirmed is not None else [])
    if not new.any():
        return cells, None
    # On an attribute of two groups a grader's two cells are one comparison (in - out of one is
    # out - in of the other) with the same p: the difference is attributed to the smaller
    # cell, so the grader's severity is what it shows toward most of its work
    found = cells[new].assign(p_key=[float(f"{p:.10g}") for p in cells.loc[new, "p_value"]])
    return cells, found.sort_values(["p_key", "n"], kind="stable").iloc[[0]].drop(columns="p_key")


def _group_sum(key: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    return np.bincount(key, values, minlength=size)


def _mean_sd(
    key: np.ndarray, values: np.ndarray, size: int, n: np.ndarray | None = None
) -> tuple[np.ndarray, ...]:
    """Per key: count, mean and SD (ddof 1; NaN for fewer than two values), two-pass. `n`: the
    counts per key (float), when the caller already has them."""
    if n is None:
        n = np.bincount(key, minlength=size).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = _group_sum(key, values, size) / n
        ss = _group_sum(key, (values - mean[key]) ** 2, size)
        sd = np.where(n > 1, np.sqrt(ss / (n - 1)), np.nan)
    return n, mean, sd


def external_severity(
    fit: CrossedFit,
    *,
    unit: np.ndarray,
    grader: np.ndarray,
    score: np.ndarray,
    grader_labels: np.ndarray,
    threshold: float = 0.25,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Severity of a scorer outside the human fit (the LLM) against the humans' adjusted scores.

    severity = mean over deliverables of (human adjusted deliverable score - scorer's score);
    positive = the scorer is harsher than the human graders on the same work. No shrinkage (one
    scorer, many ratings). Columns as `grader_severity`. `unit` indexes `fit.units` (-1 = not in
    the fit), `grader` indexes `grader_labels` (sorted labels).

    Examples
    --------
    >>> from signalboard.stats.reliability import fit_arrays
    >>> fit = fit_arrays(np.array([0, 0, 1, 1, 2, 2]), np.array([0, 1, 0, 1, 0, 1]),
    ...                  np.array([3.0, 4.0, 2.0, 3.0, 4.0, 4.0]),
    ...                  units=np.array([1, 2, 3]), raters=np.array(["a", "b"]))
    >>> llm = external_severity(fit, unit=np.array([0, 1, 2]), grader=np.array([0, 0, 0]),
    ...                         score=np.array([3.0, 2.0, 3.5]), grader_labels=np.array(["llm"]))
    >>> round(float(llm["severity"].iloc[0]), 3)
    0.5
    """
    rows = []
    average = float(fit.unit_effect.mean())
    # the codes present, by counting (a sort of every score would find the same few)
    for code in np.flatnonzero(np.bincount(grader)):
        mine = grader == code
        u, y = unit[mine], score[mine]
        ok = u >= 0
        diff = fit.unit_effect[u[ok]] - y[ok]
        rows.append(
            _external_row(
                grader_labels[code],
                diff,
                n_scored=int(mine.sum()),
                raw_mean=float(y.mean()),
                average=average,
                threshold=threshold,
                confidence=confidence,
            )
        )
    return pd.DataFrame(rows)


def decision_flips(
    *,
    unit: np.ndarray,
    grader: np.ndarray,
    score: np.ndarray,
    severity: np.ndarray,
    pass_mark: np.ndarray,
    unit_labels: np.ndarray,
) -> pd.DataFrame:
    """Deliverables whose pass/fail changes once grader severity is removed.

    A deliverable's raw score is the mean of its human graders' scores; its fair score is the
    mean of (score + severity of that grader). It passes when the score is at least its pass
    mark. `unit` indexes `unit_labels` (sorted) and `pass_mark` (NaN = none), `grader` indexes
    `severity` (NaN = no severity, counted as 0).

    Returns
    -------
    pandas.DataFrame
        application_id, graders, raw_score, fair_score, pass_mark, raw_pass, fair_pass, flips;
        only deliverables that flip, closest to the pass mark first.

    Examples
    --------
    >>> flips = decision_flips(unit=np.array([0, 0]), grader=np.array([0, 1]),
    ...                        score=np.array([2.5, 3.2]), severity=np.array([0.6, 0.0]),
    ...                        pass_mark=np.array([3.0]), unit_labels=np.array(["app-1"]))
    >>> flips["fair_score"].round(2).tolist()
    [3.15]
    """
    size = len(unit_labels)
    fair = score + np.nan_to_num(severity[grader], nan=0.0)
    graders = np.bincount(unit, minlength=size)
    present = graders > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = _group_sum(unit, score, size) / graders
        fair_score = _group_sum(unit, fair, size) / graders
    keep = present & ~np.isnan(pass_mark)
    raw_pass = raw >= pass_mark
    fair_pass = fair_score >= pass_mark
    flips = np.flatnonzero(keep & (raw_pass != fair_pass))
    out = pd.DataFrame(
        {
            "application_id": unit_labels[flips],
            "graders": graders[flips].astype(np.int64),
            "raw_score": raw[flips],
            "fair_score": fair_score[flips],
            "pass_mark": pass_mark[flips],
            "raw_pass": raw_pass[flips],
            "fair_pass": fair_pass[flips],
            "flips": True,
        }
    )
    order = (out["raw_score"] - out["pass_mark"]).abs().argsort(kind="stable")
    return out.iloc[order].reset_index(drop=True)


def _pair_codes(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of the keys present, in key order: (code per row, key per code)."""
    if size <= 50_000_000:  # a lookup table is cheaper than sorting millions of keys
        present = np.zeros(size, dtype=bool)
        present[key] = True
        code = np.cumsum(present, dtype=np.int32)
        code -= 1
        return code[key], np.flatnonzero(present)
    keys, code = np.unique(key, return_inverse=True)
    return code, keys


def _compact(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of the values present, in order: (new code per value, old code per new)."""
    present = np.bincount(codes, minlength=size) > 0
    return (np.cumsum(present) - 1)[codes], np.flatnonzero(present)


def _month_codes(month: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(month, return_inverse=True)` for months since 1970 (-1 = unknown): a
    bincount over the few hundred possible values instead of sorting every score."""
    if len(month) and month.min() >= -1 and month.max() < 100_000:
        present = np.bincount(month + 1) > 0
        return np.flatnonzero(present) - 1, (np.cumsum(present) - 1)[month + 1]
    return np.unique(month, return_inverse=True)


def severity_drift(
    *,
    unit: np.ndarray,
    grader: np.ndarray,
    month: np.ndarray,
    score: np.ndarray,
    grader_labels: np.ndarray,
    threshold: float = 0.25,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """Severity per grader and calendar month of scoring, from one crossed fit in which each
    grader-month is its own rater, so months are compared on the same deliverables.

    `unit` and `grader` are codes (`grader` indexes `grader_labels`), `month` the months since
    1970-01 of each score (-1 = unknown).

    Returns
    -------
    pandas.DataFrame
        grader_id, month (first day), n_scored, severity, severity_ci_low, severity_ci_high,
        flagged (as `grader_severity`).

    Examples
    --------
    >>> drift = severity_drift(unit=np.array([0, 0, 1, 1, 2, 2]), grader=np.array([0, 1] * 3),
    ...                        month=np.array([660] * 6), score=np.array([3.0, 4, 2, 3, 4, 4]),
    ...                        grader_labels=np.array(["a", "b"]))
    >>> drift["month"].dt.strftime("%Y-%m").tolist()
    ['2025-01', '2025-01']
    """
    months, month_code = _month_codes(month)
    combined = grader.astype(np.int64) * len(months) + month_code
    rater, rater_combined = _compact(combined, len(grader_labels) * len(months))
    u, unit_codes = _compact(unit, int(unit.max()) + 1)
    fit = fit_arrays(u, rater, score, units=unit_codes, raters=rater_combined)
    sev = grader_severity(fit, threshold=threshold, confidence=confidence)
    which = rater_combined
    sev["grader_id"] = grader_labels[which // len(months)]
    month_of = months[which % len(months)]
    sev["month"] = pd.to_datetime(
        {"year": month_of // 12 + 1970, "month": month_of % 12 + 1, "day": 1}
    ).where(month_of >= 0)  # -1: scored_at unknown
    cols = ["grader_id", "month", "n_scored", "severity", "severity_ci_low", "severity_ci_high"]
    return sev[[*cols, "flagged"]].sort_values(["grader_id", "month"], ignore_index=True)


# Rows per chunk of `rating_style`'s passes: each axis's slice and temporaries (8 bytes per row)
# stay within a core's L2 cache, where whole-array steps at 10M applications would each read
# hundreds of MB from memory.
_STYLE_CHUNK_ROWS = 1 << 14


def _chunks(n_rows: int) -> range:
    return range(0, n_rows, _STYLE_CHUNK_ROWS)


def rating_style(
    wide: np.ndarray,
    *,
    grader: np.ndarray,
    scale_min: np.ndarray,
    scale_max: np.ndarray,
    grader_labels: np.ndarray,
    scale_row: np.ndarray | None = None,
) -> pd.DataFrame:
    """How each grader uses the scale, and halo.

    sd = the mean over axes of the grader's score SD; extremes_share = the share of the
    grader's scores at the axis minimum or maximum; midpoint_share = the share at the axis
    midpoint; halo = the mean over pairs of axes of the correlation between the grader's scores
    on the two axes of the same deliverable (near 1: the grader gives one impression to every
    axis; needs three deliverables).

    `wide[p, a]` is one human (deliverable, grader) row's score on axis a (NaN = none),
    `scale_min` / `scale_max` the same shape (the rubric's scale), `grader` the row's code in
    `grader_labels`. With `scale_row`, the scales hold one row per deliverable instead and
    `scale_row[p]` is row p's deliverable (no per-score copy of the scales).

    Returns
    -------
    pandas.DataFrame
        grader_id, n_scored, sd, extremes_share, midpoint_share, halo.

    Examples
    --------
    >>> wide = np.array([[1.0, 1.0], [3.0, 4.0], [5.0, 5.0], [2.0, 2.0]])
    >>> style = rating_style(wide, grader=np.zeros(4, dtype=int), scale_min=np.ones((4, 2)),
    ...                      scale_max=np.full((4, 2), 5.0), grader_labels=np.array(["a"]))
    >>> style[["extremes_share", "midpoint_share"]].round(3).values.tolist()
    [[0.5, 0.125]]
    """
    size, n_axes = len(grader_labels), wide.shape[1]
    all_present = not np.isnan(wide).any()
    # Every sum below runs over cache-sized chunks of rows (`_STYLE_CHUNK_ROWS`), each pass in
    # one loop; the SDs and correlations are two-pass (grader means first) as before chunking.
    n, at_end, at_mid = np.zeros(size), np.zeros(size), np.zeros(size)
    count, axis_sum = np.zeros(size), np.zeros((n_axes, size))
    for start in _chunks(len(wide)):
        stop = start + _STYLE_CHUNK_ROWS
        x, g = wide[start:stop], grader[start:stop]
        rows = slice(start, stop) if scale_row is None else scale_row[start:stop]
        low, high = scale_min[rows], scale_max[rows]
        # a missing score (NaN) compares false: it is neither at an end nor at the midpoint
        with np.errstate(invalid="ignore"):
            mid = (low + high) / 2
            midpoint = np.abs(x - mid) <= 1e-8 + 1e-5 * np.abs(mid)  # numpy.isclose's test
            extreme = (x <= low) | (x >= high)
        n += np.bincount(g, (~np.isnan(x)).sum(axis=1), minlength=size)
        at_end += np.bincount(g, extreme.sum(axis=1), minlength=size)
        at_mid += np.bincount(g, midpoint.sum(axis=1), minlength=size)
        if all_present:
            count += np.bincount(g, minlength=size)
            for k in range(n_axes):
                axis_sum[k] += np.bincount(g, x[:, k], minlength=size)
    scored = n > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        extremes_share, midpoint_share = at_end / n, at_mid / n
    # SD per grader and axis, then the mean over the grader's axes (NaN SDs skipped)
    sd_sum, sd_n = np.zeros(size), np.zeros(size)
    corr_sum, corr_n = np.zeros(size), np.zeros(size)

    def add_halo(corr: np.ndarray, cnt: np.ndarray) -> None:
        corr = np.where(cnt > 2, corr, np.nan)
        valid = ~np.isnan(corr)
        corr_sum[:] += np.where(valid, corr, 0.0)
        corr_n[:] += valid

    if all_present:
        # The usual case: every row has every axis, so each axis's centred scores serve its SD
        # and all its halo pairs, in one second pass
        with np.errstate(divide="ignore", invalid="ignore"):
            means = axis_sum / count
        pairs = [(i, j) for i in range(n_axes) for j in range(i + 1, n_axes)]
        squares, cross = np.zeros((n_axes, size)), np.zeros((len(pairs), size))
        for start in _chunks(len(wide)):
            stop = start + _STYLE_CHUNK_ROWS
            x, g = wide[start:stop], grader[start:stop]
            centred = [x[:, k] - means[k][g] for k in range(n_axes)]
            for k, deviation in enumerate(centred):
                squares[k] += np.bincount(g, deviation * deviation, minlength=size)
            for p, (i, j) in enumerate(pairs):
                cross[p] += np.bincount(g, centred[i] * centred[j], minlength=size)
        with np.errstate(divide="ignore", invalid="ignore"):
            sd = np.where(count > 1, np.sqrt(squares / (count - 1)), np.nan)
            has = ~np.isnan(sd)
            sd_sum += np.where(has, sd, 0.0).sum(axis=0)
            sd_n += has.sum(axis=0)
            for p, (i, j) in enumerate(pairs):
                add_halo(cross[p] / np.sqrt(squares[i] * squares[j]), count)
    else:
        present = ~np.isnan(wide)
        for k in range(n_axes):
            ok = present[:, k]
            _, _, sd = _mean_sd(grader[ok], wide[ok, k], size)
            has = ~np.isnan(sd)
            sd_sum += np.where(has, sd, 0.0)
            sd_n += has
        # halo: per grader, the correlation of its scores on two axes of the same deliverable
        for first in range(n_axes):
            for second in range(first + 1, n_axes):
                ok = present[:, first] & present[:, second]
                g, x, y = grader[ok], wide[ok, first], wide[ok, second]
                cnt = np.bincount(g, minlength=size).astype(float)
                with np.errstate(divide="ignore", invalid="ignore"):
                    dx = x - (_group_sum(g, x, size) / cnt)[g]
                    dy = y - (_group_sum(g, y, size) / cnt)[g]
                    corr = _group_sum(g, dx * dy, size) / np.sqrt(
                        _group_sum(g, dx * dx, size) * _group_sum(g, dy * dy, size)
                    )
                add_halo(corr, cnt)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd_mean = np.where(sd_n > 0, sd_sum / sd_n, np.nan)
        halo = np.where(corr_n > 0, corr_sum / corr_n, np.nan)
    return pd.DataFrame(
        {
            "grader_id": grader_labels[scored],
            "n_scored": n[scored].astype(np.int64),
            "sd": sd_mean[scored],
            "extremes_share": extremes_share[scored],
            "midpoint_share": midpoint_share[scored],
            "halo": halo[scored],
        }
    )


# Bins of one block's rating sums (graders x crossed cells), `crossing.crossed_blocks`: a few
# MB of bincount output, small next to the millions of ratings summed into it.
_BIAS_MAX_BINS = 1 << 18


@dataclass(frozen=True)
class _BiasLayout:
    """An attribute's grader x group cells: which block of crossed attributes sums its ratings,
    and which of its groups each crossed cell belongs to."""

    block: int  # index into `BiasDesign.keys`
    cell_group: np.ndarray  # per crossed cell of the block: its group (n_groups: none)
    n: np.ndarray  # ratings per cell, grader * n_groups + group (float)
    n_groups: int
    cells: np.ndarray  # the cells with ratings (flat cell numbers)


@dataclass(frozen=True)
class BiasDesign:
    """The score-free part of `grader_bias`: who rated which group's deliverables, the same at
    every step of its step-down (the refits change the scores, not who rated what) and on every
    axis rated by the same graders on the same deliverables. Built by `bias_design`.

    The ratings' sums are taken once per block of crossed attributes (`crossing.crossed_blocks`)
    rather than once per attribute: two passes over the ratings per block, then each
    attribute's cells are sums of the block's."""

    # per block: each rating's bin, grader * n_cells + crossed cell on a double-scored
    # deliverable, else one spare bin past every cell (a bincount over every rating then needs
    # no gather of the kept ones), and the block's number of crossed cells
    keys: list[tuple[np.ndarray, int]]
    # per rating: m / (m - 1) with m its deliverable's ratings, the leave-one-out residual's
    # factor (NaN or inf on a single-scored deliverable, whose ratings land in the spare bin)
    loo_factor: np.ndarray
    grader_n: np.ndarray  # per grader: its ratings of double-scored deliverables (float)
    layouts: list[_BiasLayout]  # one per attribute
    order: np.ndarray  # sorts every attribute's cells together by grader, attribute and group
    index: pd.MultiIndex  # grader_id, attribute and group of the cells in that order


def bias_design(
    design: CrossedDesign,
    raters: np.ndarray,
    groups: np.ndarray,
    *,
    attributes: np.ndarray,
    group_labels: list[np.ndarray],
) -> BiasDesign:
    """The grader x group cells of a crossed design (`reliability.crossed_design`, `raters` its
    rater labels) for `grader_bias`: pass it to each call on fits of that design and `groups`
    (attributes x units, as for `grader_bias`)."""
    n_raters = len(raters)
    m = design.n_i[design.unit_code]
    keep = m >= 2
    with np.errstate(divide="ignore", invalid="ignore"):
        loo_factor = m / (m - 1)
    rater = design.rater_code.astype(np.intp, copy=False)
    blocks = crossed_blocks(
        groups,
        [len(labels) for labels in group_labels],
        max_cells=max(1, _BIAS_MAX_BINS // max(n_raters, 1)),
    )
    keys: list[tuple[np.ndarray, int]] = []
    by_attribute: dict[int, _BiasLayout] = {}
    grader_n = np.bincount(rater[keep], minlength=n_raters).astype(float)
    for b, block in enumerate(blocks):
        bins = n_raters * block.n_cells
        key = np.where(keep, rater * block.n_cells + block.unit_cell[design.unit_code], bins)
        keys.append((key, block.n_cells))
        counts = np.bincount(key, minlength=bins + 1)[:bins].reshape(n_raters, block.n_cells)
        for a, cell_group in block.members:
            n_groups = len(group_labels[a])
            n = group_sums(counts, cell_group, n_groups).ravel()
            by_attribute[a] = _BiasLayout(b, cell_group, n, n_groups, np.flatnonzero(n > 0))
    layouts = [by_attribute[a] for a in range(len(attributes))]  # every attribute is in a block
    graders, attribute_labels, group_names = [], [], []
    for attribute, labels, layout in zip(attributes, group_labels, layouts, strict=True):
        graders.append(raters[layout.cells // len(labels)])
        attribute_labels.append(np.full(len(layout.cells), attribute, dtype=object))
        group_names.append(labels[layout.cells % len(labels)])
    empty = [np.zeros(0, dtype=object)]
    names = pd.DataFrame(
        {
            "grader_id": np.concatenate(graders or empty),
            "attribute": np.concatenate(attribute_labels or empty),
            "group": np.concatenate(group_names or empty),
        }
    )
    order = names.sort_values(["grader_id", "attribute", "group"]).index.to_numpy()
    return BiasDesign(
        keys,
        loo_factor,
        grader_n,
        layouts,
        order,
        pd.MultiIndex.from_frame(names.iloc[order]),
    )


def _bias_cells_codes(
    fit: CrossedFit, design: BiasDesign, min_cell_size: int
) -> tuple[pd.DataFrame, list[tuple[np.ndarray, np.ndarray]]]:
    """Cells of `grader_bias` from a fit and its `BiasDesign`, indexed by grader_id, attribute
    and group; and per attribute the sums and sums of squares of the leave-one-out residual in
    each cell with ratings."""
    with np.errstate(invalid="ignore"):
        residual = fit.residual * design.loo_factor
    squared = residual * residual
    n_raters = len(fit.raters)
    block_sums = []
    for key, n_cells in design.keys:
        bins = n_raters * n_cells
        block_sums.append(
            tuple(
                np.bincount(key, weights, minlength=bins + 1)[:bins].reshape(n_raters, n_cells)
                for weights in (residual, squared)
            )
        )
    # per grader, over every double-scored rating (every crossed cell): the in-group cell is
    # taken out of these to leave the grader's ratings of everyone else
    first_sum, first_sq = block_sums[0]
    grader_n, grader_sum, grader_sq = design.grader_n, first_sum.sum(axis=1), first_sq.sum(axis=1)
    parts, sums = [], []
    for layout in design.layouts:
        cells = layout.cells
        rater = cells // layout.n_groups
        n_in = layout.n[cells]
        cell_sum, cell_sq = block_sums[layout.block]
        sum_in = group_sums(cell_sum, layout.cell_group, layout.n_groups).ravel()[cells]
        sq_in = group_sums(cell_sq, layout.cell_group, layout.n_groups).ravel()[cells]
        sums.append((sum_in, sq_in))
        n_out = grader_n[rater] - n_in
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_in = sum_in / n_in
            mean_out = (grader_sum[rater] - sum_in) / n_out
            ss_out = np.clip(grader_sq[rater] - sq_in - n_out * mean_out**2, 0.0, None)
            ss_in = np.clip(sq_in - n_in * mean_in**2, 0.0, None)
            # Student's pooled two-sample t within the grader: one residual variance per grader
            # (its in- and out-of-group ratings together). A cell's own variance, as in Welch's
            # test, is estimated from as few as 5 discrete 1-5 scores and is sometimes near 0,
            # which makes the test anti-conservative in its tail (docs/assessors.md measures it).
            df = n_in + n_out - 2
            pooled = (ss_in + ss_out) / df
            se = np.where(n_out > 1, np.sqrt(pooled * (1 / n_in + 1 / n_out)), np.nan)
        parts.append((n_in, mean_in - mean_out, se, df))
    n, bias, se, df = (np.concatenate(column)[design.order] for column in zip(*parts, strict=True))
    tested = (n >= max(min_cell_size, 2)) & (se > 0) & (df > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(tested, bias / se, 0.0)
    p_value = np.where(tested, 2 * stats.t.sf(np.abs(t), np.where(tested, df, 1.0)), np.nan)
    frame = pd.DataFrame(
        {"n": n.astype(np.int64), "bias_points": bias, "se": se, "p_value": p_value},
        index=design.index,
    )
    return frame, sums


def grader_bias(
    fit: CrossedFit,
    groups: np.ndarray,
    *,
    attributes: np.ndarray,
    group_labels: list[np.ndarray],
    threshold: float = 0.25,
    min_cell_size: int = 5,
    alpha: float = 0.05,
    max_steps: int = 10,
    design: BiasDesign | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Differential rater functioning: how much lower (negative) or higher the grader scores a
    group than co-graders score the same deliverables, beyond the grader's severity toward
    everyone else.

    bias_points = d_in - d_out, where d is the grader's score minus its co-graders'
    severity-adjusted scores on the same deliverable (m >= 2 graders), d_in its mean over the
    grader's deliverables by candidates of the group and d_out its mean over the grader's other
    double-scored deliverables. So the grader's own severity is estimated from the candidates
    outside the group (the grader main effect of a grader x group interaction model identified
    by the other groups) and does not absorb the bias: a grader planted 0.8 points harsher on one
    group is measured at about -0.8, not at -0.8 times the other groups' share of its work. In
    the fit's terms d - d_out is the leave-one-out residual (m / (m - 1) times the residual: the
    grader's overall effect cancels in the difference), compared in and out of the group.

    SE = s * sqrt(1 / n_in + 1 / n_out) with s^2 the grader's residual variance pooled over its
    in- and out-of-group ratings, two-sided Student t test on n_in + n_out - 2 degrees of freedom
    of the same difference, so the interval bias_points +/- t * SE and p_value describe
    one comparison. Benjamini-Hochberg q over every grader x group test of every attribute in one
    call (one axis or the total: the caller's family); flagged when q < `alpha` and
    |bias_points| >= `threshold`. Cells with fewer than `min_cell_size` scores (or no other
    ratings by the grader) are not tested.

    Attribution, step by step: a biased grader also pushes the residuals of its co-graders on the
    same deliverables the other way. So the most significant flagged cell is taken as real, its
    bias removed from that grader's scores of that group, the model refitted and the other cells
    retested, until no new cell is flagged (at most `max_steps` times). A flagged cell keeps the
    statistics it had when it was found.

    The omnibus test per attribute is the F test of grader x group cell means against grader
    means of the residuals (one-way ANOVA within grader): does any grader treat groups
    differently? Limit: the residual is relative to co-graders, so a bias that every grader
    shares cancels out and does not show here.

    Examples
    --------
    >>> from signalboard.stats.reliability import fit_arrays
    >>> rng = np.random.default_rng(0)
    >>> unit = np.repeat(np.arange(400), 2)
    >>> rater = np.stack([rng.permutation(4)[:2] for _ in range(400)]).ravel()
    >>> group = (rng.random(400) < 0.3).astype(int)
    >>> y = rng.normal(3, 0.7, 400)[unit] + rng.normal(0, 0.3, 800)
    >>> y -= 0.8 * ((rater == 0) & (group[unit] == 1))  # grader a: 0.8 lower on group "y"
    >>> fit = fit_arrays(unit, rater, y, units=np.arange(400), raters=np.array(list("abcd")))
    >>> cells, _ = grader_bias(fit, group[None, :], attributes=np.array(["sex"]),
    ...                        group_labels=[np.array(["x", "y"])])
    >>> cells.loc[cells["flagged"], ["grader_id", "group"]].values.tolist()
    [['a', 'y']]
    >>> round(float(cells.loc[cells["flagged"], "bias_points"].iloc[0]), 1)
    -0.8

    Parameters
    ----------
    fit
        Crossed fit of human scores (one rating per deliverable and grader).
    groups
        attributes x units: the group code of `attributes[a]` (in `group_labels[a]`, -1 = none)
        for the fit's unit i.

    Returns
    -------
    (cells, omnibus)
        cells: grader_id, attribute, group, n, bias_points, se, p_value, q_value, flagged
        (unsuppressed: the caller suppresses before display);
        omnibus: attribute, f_stat, df1, df2, p_value.
    """
    key = ["grader_id", "attribute", "group"]
    columns = [*key, "n", "bias_points", "se", "p_value", "q_value", "flagged"]
    omnibus_columns = ["attribute", "f_stat", "df1", "df2", "p_value"]
    confirmed: pd.DataFrame | None = None
    current = fit
    first_sums = None
    if design is None:
        crossed = fit.design
        if crossed is None:
            crossed = crossed_design(
                fit.unit_code, fit.rater_code, n_units=len(fit.units), n_raters=len(fit.raters)
            )
        design = bias_design(
            crossed, fit.raters, groups, attributes=attributes, group_labels=group_labels
        )
    if not len(design.order):
        return pd.DataFrame(columns=columns), pd.DataFrame(columns=omnibus_columns)
    for _ in range(max_steps + 1):
        cells, sums = _bias_cells_codes(current, design, min_cell_size)
        if first_sums is None:
            first_sums = sums
        cells, best = _next_confirmed(cells, confirmed, alpha=alpha, threshold=threshold)
        if best is None:
            break
        confirmed = best if confirmed is None else pd.concat([confirmed, best])
        # remove the found bias from that grader's scores of that group, then refit
        hit = _cell_ratings(
            current, groups, best.index[0], attributes=attributes, group_labels=group_labels
        )
        adjusted = current.y.copy()
        adjusted[hit] -= best["bias_points"].iloc[0]
        current = fit_arrays(
            current.unit_code,
            current.rater_code,
            adjusted,
            units=current.units,
            raters=current.raters,
            design=current.design,  # the same ratings: only the scores change
        )
    cells = cells.reset_index()
    cells["flagged"] = (cells["q_value"] < alpha) & (cells["bias_points"].abs() >= threshold)

    # The omnibus from the first fit's cell sums: a cell's ratings contribute n (mean - grader
    # mean)^2 between and sum of squares - n mean^2 within, so no pass over the ratings
    omnibus_rows = []
    n_raters = len(fit.raters)
    for attribute, layout, (cell_sum, cell_sq) in zip(
        attributes, design.layouts, first_sums or [], strict=True
    ):
        if not len(layout.cells):
            continue
        rater = layout.cells // layout.n_groups
        cell_n = layout.n[layout.cells]
        cell_mean = cell_sum / cell_n
        rater_n = np.bincount(rater, cell_n, minlength=n_raters)
        rater_mean = np.bincount(rater, cell_sum, minlength=n_raters) / np.maximum(rater_n, 1)
        n_cells = len(layout.cells)
        n_graders = int((rater_n > 0).sum())
        df1, df2 = n_cells - n_graders, int(cell_n.sum()) - n_cells
        between = float((cell_n * (cell_mean - rater_mean[rater]) ** 2).sum())
        within = float(np.clip(cell_sq - cell_n * cell_mean**2, 0.0, None).sum())
        if df1 > 0 and df2 > 0 and within > 0:
            f_stat = (between / df1) / (within / df2)
            p = float(stats.f.sf(f_stat, df1, df2))
        else:
            f_stat, p = math.nan, math.nan
        omnibus_rows.append(
            {"attribute": attribute, "f_stat": f_stat, "df1": df1, "df2": df2, "p_value": p}
        )
    return cells[columns], pd.DataFrame(omnibus_rows, columns=omnibus_columns)


@dataclass(frozen=True)
class _RefitRatings:
    """The ratings `severity_without_bias` refits on (`kept`; None when no cell is left out),
    the unit and rater codes they keep and their design, for fits of the design `source`."""

    source: CrossedDesign | None
    kept: np.ndarray | None
    unit_codes: np.ndarray
    rater_codes: np.ndarray
    design: CrossedDesign | None


RefitDesigns = MutableMapping[frozenset[tuple[object, object, object]], _RefitRatings]


def _cell_ratings(
    fit: CrossedFit,
    groups: np.ndarray,
    cell: tuple[object, object, object],
    *,
    attributes: np.ndarray,
    group_labels: list[np.ndarray],
) -> np.ndarray:
    """Positions in `fit` of the ratings of one (grader, attribute, group) cell: the grader's
    ratings first (a few of every grader's), then those of the group's deliverables."""
    grader, attribute, group = cell
    a = int(np.flatnonzero(attributes == attribute)[0])
    g = int(np.flatnonzero(group_labels[a] == group)[0])
    own = np.flatnonzero(fit.rater_code == int(np.flatnonzero(fit.raters == grader)[0]))
    return own[groups[a][fit.unit_code[own]] == g]


def _refit_ratings(
    fit: CrossedFit,
    groups: np.ndarray,
    excluded: list[tuple[object, object, object]],
    attributes: np.ndarray,
    group_labels: list[np.ndarray],
) -> _RefitRatings:
    """The ratings of `fit` outside the `excluded` (grader, attribute, group) cells."""
    drop = np.zeros(len(fit.y), dtype=bool)
    for cell in excluded:
        drop[_cell_ratings(fit, groups, cell, attributes=attributes, group_labels=group_labels)] = (
            True
        )
    if not drop.any():
        return _RefitRatings(fit.design, None, np.zeros(0, np.int64), np.zeros(0, np.int64), None)
    kept = ~drop
    u, unit_codes = _compact(fit.unit_code[kept], len(fit.units))
    r, rater_codes = _compact(fit.rater_code[kept], len(fit.raters))
    design = crossed_design(u, r, n_units=len(unit_codes), n_raters=len(rater_codes))
    return _RefitRatings(fit.design, kept, unit_codes, rater_codes, design)


def severity_without_bias(
    fit: CrossedFit,
    groups: np.ndarray,
    cells: pd.DataFrame,
    *,
    attributes: np.ndarray,
    group_labels: list[np.ndarray],
    threshold: float = 0.25,
    confidence: float = 0.95,
    refits: RefitDesigns | None = None,
) -> pd.DataFrame:
    """`grader_severity` re-estimated without the ratings of the flagged grader x group cells.

    A grader biased against one group scores that group's deliverables lower; counted in its
    severity, the bias makes it look harsher toward everyone. So each flagged cell's ratings
    (the grader's scores of that group's deliverables) leave the fit and the severities come
    from the rest; `n_scored` and `raw_mean` stay those of all the grader's ratings (the
    published total). `severity_excludes` names the excluded cells ("attribute: group", joined
    by "; "; empty when none).

    Parameters
    ----------
    fit
        Crossed fit of human scores.
    groups
        attributes x units group codes, as for `grader_bias`.
    cells
        `grader_bias` cells (grader_id, attribute, group, flagged).
    refits
        A mapping shared by the calls on fits of one design (`CrossedFit.design`, as the axes
        of one set of ratings share): the refit's ratings and design are kept there by the
        cells they leave out, so axes that flag the same cells build them once (the design's
        grader x grader algebra costs more than the refit's two passes over the scores).

    Returns
    -------
    pandas.DataFrame
        The columns of `grader_severity` and severity_excludes, one row per grader of `fit`.
    """
    flagged = cells[cells["flagged"].eq(True)] if len(cells) else cells
    excluded = list(
        zip(
            flagged.get("grader_id", []),
            flagged.get("attribute", []),
            flagged.get("group", []),
            strict=True,
        )
    )
    excludes: dict[str, list[str]] = {}
    for grader, attribute, group in excluded:
        excludes.setdefault(grader, []).append(f"{attribute}: {group}")
    full = grader_severity(fit, threshold=threshold, confidence=confidence)
    # a refit is shared only between fits of one design (the same ratings)
    cache = refits if fit.design is not None else None
    key = frozenset(excluded)
    refit_on = cache.get(key) if cache is not None else None
    if refit_on is None or refit_on.source is not fit.design:
        refit_on = _refit_ratings(fit, groups, excluded, attributes, group_labels)
        if cache is not None:
            cache[key] = refit_on
    if refit_on.kept is not None:
        kept, unit_codes, rater_codes = refit_on.kept, refit_on.unit_codes, refit_on.rater_codes
        refit = fit_arrays(
            refit_on.design.unit_code,
            refit_on.design.rater_code,
            fit.y[kept],
            units=fit.units[unit_codes],
            raters=fit.raters[rater_codes],
            design=refit_on.design,
        )
        again = grader_severity(refit, threshold=threshold, confidence=confidence)
        again = again.set_index("grader_id").reindex(fit.raters).reset_index()
        again["n_scored"] = full["n_scored"].to_numpy()
        again["raw_mean"] = full["raw_mean"].to_numpy()
        again["flagged"] = again["flagged"].fillna(False).astype(bool)
        full = again[full.columns]
    full["severity_excludes"] = ["; ".join(excludes.get(g, [])) for g in full["grader_id"]]
    return full
