"""Agreement of the LLM scorer with human graders, against the Williamson, Xi & Breyer (2012)
gates for automated scoring as ETS's RSMTool applies them.

Every (LLM score, human score) pair on the same deliverable and axis is one observation, so a
deliverable scored by two humans gives two pairs; human-human agreement uses every pair of two
different human graders on the same deliverable.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from signalboard.stats.crossing import crossed_blocks, group_sums

# Williamson, Xi & Breyer (2012), EM:IP 31(1) 2-13, as RSMTool applies them.
GATES: dict[str, float] = {
    "qwk": 0.70,  # QWK machine vs human >= .70
    "pearson_r": 0.70,  # Pearson r machine vs human >= .70
    "degradation": -0.10,  # (machine-human) - (human-human) no worse than -.10
    "smd": 0.15,  # |standardized mean difference| <= .15
    "subgroup_smd": 0.10,  # |standardized difference| per subgroup <= .10
}


SmdStatus = Literal["pass", "inconclusive", "fail"]

MAX_CELLS = 1 << 16
"""Cells per block of crossed attributes (`crossing.crossed_blocks`) in the group sums: a few
bincount bins per cell, small next to the pairs they sum."""


def _cluster_codes(unit: np.ndarray) -> np.ndarray:
    """`np.unique(unit, return_inverse=True)[1]`: on units in order (the pairs come sorted by
    deliverable) a running count of the changes instead of a sort."""
    if len(unit) > 1 and bool((unit[1:] >= unit[:-1]).all()):
        change = np.empty(len(unit), dtype=bool)
        change[0] = False
        np.not_equal(unit[1:], unit[:-1], out=change[1:])
        return np.cumsum(change, dtype=np.intp)
    return np.unique(unit, return_inverse=True)[1]


def smd_interval(
    difference: np.ndarray,
    unit: np.ndarray,
    *,
    threshold: float,
    confidence: float = 0.95,
) -> tuple[float, float, SmdStatus]:
    """Interval of a standardized mean difference and its gate decision.

    The SMD is the mean of the per-pair standardized differences `difference` (for a subgroup
    z_M - z_H, for the overall row (M - H) / pooled SD, the standardizing SDs taken as known).
    Pairs of one deliverable share its LLM score, so the standard error is the cluster-robust
    (CR1) one over deliverables `unit`: with S_u the sum of the differences of deliverable u, n_u
    its pairs, N = sum n_u and G deliverables, Var = G / (G - 1) * sum_u (S_u - n_u * SMD)^2 / N^2;
    the interval is SMD +/- t(G - 1) * SE. Status: "pass" when the whole interval lies within
    +/- `threshold`, "fail" when it lies entirely beyond it, "inconclusive" when it straddles it
    (or has no width to judge: fewer than two deliverables).

    Examples
    --------
    >>> low, high, status = smd_interval(np.array([0.3, 0.1, 0.2, 0.4, 0.25, 0.35]),
    ...                                  np.array([0, 0, 1, 1, 2, 2]), threshold=0.10)
    >>> round(low, 3), round(high, 3), status
    (0.123, 0.41, 'fail')
    """
    d = np.asarray(difference, dtype=float)
    n = len(d)
    if n == 0:
        return math.nan, math.nan, "inconclusive"
    code = _cluster_codes(np.asarray(unit))
    return _smd_interval_of_sums(
        float(d.mean()),
        np.bincount(code, d),
        np.bincount(code),
        threshold=threshold,
        confidence=confidence,
    )


def _smd_interval_of_sums(
    smd: float,
    unit_sums: np.ndarray,
    unit_pairs: np.ndarray,
    *,
    threshold: float,
    confidence: float = 0.95,
) -> tuple[float, float, SmdStatus]:
    """`smd_interval` from each deliverable's sum of the differences S_u and its pairs n_u
    (deliverables with no pair, n_u = 0, are not clusters)."""
    clusters = int(np.count_nonzero(unit_pairs))
    if clusters < 2:
        return math.nan, math.nan, "inconclusive"
    n = float(unit_pairs.sum())
    per = unit_sums - unit_pairs * smd
    se = math.sqrt(clusters / (clusters - 1) * float(per @ per)) / n
    # scipy's t.ppf is special.stdtrit (t_gen._ppf), called directly: the distribution
    # object's argument checks cost more than the quantile on the ~100 rows of an axis
    half = float(special.stdtrit(clusters - 1, 1 - (1 - confidence) / 2)) * se
    low, high = smd - half, smd + half
    return low, high, _smd_status(low, high, threshold)


def _smd_status(low: float, high: float, threshold: float) -> SmdStatus:
    """ "pass" when [low, high] lies within +/- threshold, "fail" when entirely beyond it."""
    if -threshold <= low and high <= threshold:
        return "pass"
    if low > threshold or high < -threshold:
        return "fail"
    return "inconclusive"


def qwk(machine: np.ndarray, human: np.ndarray) -> float:
    """Quadratic weighted kappa in closed form: 2 Cov(M, H) / (Var H + Var M + (mean M - mean H)^2),
    population moments (ddof = 0).

    With weights (i - j)^2 on score values this is exactly Cohen's quadratic weighted kappa
    with the full rubric scale as labels (values, not label indices, set the weights), and for
    non-integer scores (the rubric total) it is Lin's concordance correlation.

    Examples
    --------
    >>> round(qwk(np.array([8, 4, 6, 3]), np.array([9, 4, 5, 12])), 6)
    -0.092105
    """
    m, h = np.asarray(machine, dtype=float), np.asarray(human, dtype=float)
    return _qwk_and_r_of(_moments(m, h))[0]


# pairs, mean M, mean H, population variances of M and H, their covariance (`_moments`)
_Moments = tuple[int, float, float, float, float, float]


def _moments(machine: np.ndarray, human: np.ndarray) -> _Moments:
    """Pairs, mean M, mean H and the population variances and covariance, two-pass (the means,
    then the centred sums): every statistic of the pairs reads these, so one pass each."""
    n = len(machine)
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan, math.nan
    mean_m, mean_h = float(machine.mean()), float(human.mean())
    dm, dh = machine - mean_m, human - mean_h
    return n, mean_m, mean_h, float(dm @ dm) / n, float(dh @ dh) / n, float(dm @ dh) / n


def _qwk_and_r_of(moments: _Moments) -> tuple[float, float]:
    """`qwk` and Pearson r of `_moments`."""
    n, mean_m, mean_h, var_m, var_h, cov = moments
    qwk_, r = _qwk_and_r(
        np.array(n), np.array(var_m), np.array(var_h), np.array(cov), mean_m - mean_h
    )
    return float(qwk_), float(r)


def pair_stats(machine: np.ndarray, human: np.ndarray) -> dict[str, float]:
    """QWK, Pearson r, exact agreement (|M - H| < 0.5, i.e. equal on an integer scale), adjacent
    agreement (|M - H| <= 1) and SMD = (mean M - mean H) / sqrt((SD_M^2 + SD_H^2) / 2).

    The centred moments are computed once and shared by every statistic; QWK as in `qwk`, r as
    numpy's corrcoef.
    """
    m, h = np.asarray(machine, dtype=float), np.asarray(human, dtype=float)
    return _pair_stats_of(_moments(m, h), np.abs(m - h))


def _pooled_sd(moments: _Moments) -> float:
    """sqrt((SD_M^2 + SD_H^2) / 2), sample SDs (ddof 1); NaN for fewer than two pairs."""
    n, _, _, var_m, var_h, _ = moments
    return math.sqrt((var_m + var_h) * n / (n - 1) / 2) if n > 1 else math.nan


def _pair_stats_of(moments: _Moments, distance: np.ndarray) -> dict[str, float]:
    """`pair_stats` of the pairs' `_moments` and their distances |M - H|."""
    n, mean_m, mean_h = moments[:3]
    if n == 0:
        return dict.fromkeys(
            ("qwk", "pearson_r", "exact_agreement", "adjacent_agreement", "smd"), math.nan
        )
    pooled = _pooled_sd(moments)
    qwk_, r = _qwk_and_r_of(moments)
    return {
        "qwk": qwk_,
        "pearson_r": r,
        "exact_agreement": float(np.count_nonzero(distance < 0.5)) / n,
        "adjacent_agreement": float(np.count_nonzero(distance <= 1 + 1e-9)) / n,
        "smd": float((mean_m - mean_h) / pooled) if pooled and pooled > 0 else math.nan,
    }


def _qwk_and_r(
    pairs: np.ndarray, var_m: np.ndarray, var_h: np.ndarray, cov: np.ndarray, mean_gap: object
) -> tuple[np.ndarray, np.ndarray]:
    """QWK (as `qwk`) and Pearson r from population moments, elementwise over groups of
    `pairs` pairs (`mean_gap` = mean M - mean H); NaN where too few pairs or no variance."""
    with np.errstate(divide="ignore", invalid="ignore"):
        den = var_m + var_h + np.square(mean_gap)
        qwk_ = np.where((pairs >= 2) & (den > 0), 2 * cov / den, math.nan)
        r = np.where(
            (pairs >= 3) & (var_m > 0) & (var_h > 0),
            np.clip(cov / np.sqrt(var_m * var_h), -1.0, 1.0),
            math.nan,
        )
    return qwk_, r


def _overall_row(
    axis: object,
    *,
    n: int,
    pairs: int,
    overall: dict[str, float],
    hh_qwk: float,
    hh_r: float,
) -> dict[str, object]:
    """One axis's 'all' row: the LLM-human statistics, the human-human baseline, the
    degradation from it and every gate (shared by the frame and the coded paths)."""
    row: dict[str, object] = {
        "axis": axis,
        "attribute": "all",
        "group": "all",
        "n": n,
        "pairs": pairs,
        **overall,
        "hh_qwk": hh_qwk,
        "hh_pearson_r": hh_r,
        "degradation_qwk": overall["qwk"] - hh_qwk,
        "degradation_r": overall["pearson_r"] - hh_r,
    }
    row["qwk_pass"] = bool(overall["qwk"] >= GATES["qwk"])
    row["r_pass"] = bool(overall["pearson_r"] >= GATES["pearson_r"])
    row["smd_pass"] = bool(abs(overall["smd"]) <= GATES["smd"])
    degr = [row["degradation_qwk"], row["degradation_r"]]
    row["degradation_pass"] = bool(
        all(np.isnan(d) or d >= GATES["degradation"] for d in degr)  # type: ignore[arg-type]
    )
    row["passes"] = bool(
        row["qwk_pass"] and row["r_pass"] and row["smd_pass"] and row["degradation_pass"]
    )
    return row


def _sorted_by_unit(unit: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(unit, kind="stable")
    count = np.bincount(unit, minlength=size)
    return order, count, np.cumsum(count) - count


def _pairs_within_units(
    unit_sorted: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """Every unordered pair of two different rows of one unit, each once (rows i before j in
    the unit-sorted order), from `_sorted_by_unit`."""
    order, count, start = unit_sorted
    rank = np.arange(len(order)) - np.repeat(start, count)  # position within its unit
    reps = np.repeat(count, count) - 1 - rank  # later rows of the same unit
    first = np.repeat(np.arange(len(order)), reps)
    offset = np.arange(len(first)) - np.repeat(np.cumsum(reps) - reps, reps)
    return order[first], order[first + 1 + offset]


def _within_unit_pairs(
    left_unit: np.ndarray,
    right_unit: np.ndarray,
    size: int,
    *,
    right_sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with left_unit[i] == right_unit[j], without a merge: right rows sorted by
    unit, each left row repeated once per right row of its unit. `right_sorted` = an earlier
    `_sorted_by_unit(right_unit, size)`."""
    order, count, start = right_sorted or _sorted_by_unit(right_unit, size)
    reps = count[left_unit]
    left = np.repeat(np.arange(len(left_unit)), reps)
    offset = np.arange(len(left)) - np.repeat(np.cumsum(reps) - reps, reps)
    right = order[start[left_unit[left]] + offset]
    return left, right


def llm_agreement(
    wide: np.ndarray,
    *,
    pair_unit: np.ndarray,
    pair_grader: np.ndarray,
    pair_human: np.ndarray,
    axes: np.ndarray,
    n_units: int,
    groups: np.ndarray | None = None,
    attributes: np.ndarray | None = None,
    group_labels: list[np.ndarray] | None = None,
) -> list[pd.DataFrame]:
    """LLM vs human agreement per axis, overall and per demographic group, with the gates.

    Every (LLM score, human score) pair on the same deliverable and axis is one observation.
    Overall row (attribute = group = "all"): QWK, Pearson r, exact and adjacent agreement,
    smd = (mean M - mean H) / pooled SD, the human-human QWK and r over every pair of two human
    graders on a deliverable, degradation = machine-human minus human-human, and every gate of
    `GATES`. Group rows: smd is the difference of standardized means (both scores standardized
    on all pairs, then mean z_M - mean z_H within the group, as RSMTool's subgroup "DSM"),
    passes = |smd| <= .10.

    Inputs are one row per (unit, grader): `wide[p, a]` is grader p's score on axis a (NaN =
    none), `pair_unit` / `pair_grader` its codes, `pair_human` whether the grader is human;
    `groups[a, unit]` the group code (-1 = none) of `attributes[a]` in `group_labels[a]`.
    Which LLM score pairs with which human score does not depend on the axis, so the pairs and
    the group order are found once.

    Returns
    -------
    list of pandas.DataFrame
        One frame per axis that has both LLM and human scores: axis, attribute, group, n
        (deliverables), pairs, qwk, pearson_r, exact_agreement, adjacent_agreement, smd,
        hh_qwk, hh_pearson_r, degradation_qwk, degradation_r, qwk_pass, r_pass, smd_pass,
        degradation_pass, passes, smd_ci_low, smd_ci_high, smd_status (`smd_interval` against
        .15 overall and .10 per group; smd_pass compares the point value alone, as RSMTool).

    Examples
    --------
    >>> wide = np.array([[3.0], [3.0], [4.0], [4.0], [2.0], [2.0]])
    >>> table = llm_agreement(wide, pair_unit=np.array([0, 0, 1, 1, 2, 2]),
    ...                       pair_grader=np.array([0, 1] * 3),
    ...                       pair_human=np.array([True, False] * 3), axes=np.array(["x"]),
    ...                       n_units=3)[0]
    >>> table[["pairs", "qwk", "smd", "passes"]].values.tolist()
    [[3, 1.0, 0.0, True]]
    """
    llm_rows, human_rows = np.flatnonzero(~pair_human), np.flatnonzero(pair_human)
    h_sorted = _sorted_by_unit(pair_unit[human_rows], n_units)
    li, hi = _within_unit_pairs(
        pair_unit[llm_rows], pair_unit[human_rows], n_units, right_sorted=h_sorted
    )
    lp, hp = llm_rows[li], human_rows[hi]
    a, b = _pairs_within_units(h_sorted)
    a, b = human_rows[a], human_rows[b]
    swap = pair_grader[a] > pair_grader[b]  # the lower grader code first, as the frame path
    a, b = np.where(swap, b, a), np.where(swap, a, b)
    unit_of_pair = pair_unit[lp]
    use_groups = groups is not None and attributes is not None and bool(group_labels)
    # each pair's cell of the attributes crossed (one code for its group on every attribute),
    # found once: every axis's group statistics are sums over the pairs binned by cell, one pass
    # over the pairs in their stored order for all attributes together, then summed over the
    # cells of each group (a per-group slice would gather each axis's scores through a
    # permutation, which at 10M pairs misses the cache on nearly every element)
    blocks = (
        [
            (block.unit_cell[unit_of_pair], block.unit_cell, block.n_cells, block.members)
            for block in crossed_blocks(
                groups, [len(labels) for labels in group_labels or []], max_cells=MAX_CELLS
            )
        ]
        if use_groups and groups is not None
        else []
    )
    # units per group among the units with a pair, per attribute: the same on every axis whose
    # pairs all have both scores (the usual case), so counted once for those
    all_pairs_units: list[np.ndarray] | None = None
    out = []
    for k, axis in enumerate(axes):
        column = wide[:, k]
        present = ~np.isnan(column)
        if not (present & pair_human).any() or not (present & ~pair_human).any():
            continue
        # every axis's LLM and human score per pair, gathered once from the axis's column; the
        # groups then gather from these
        machine_all, human_all = column[lp], column[hp]
        valid = ~(np.isnan(machine_all) | np.isnan(human_all))
        all_valid = bool(valid.all())
        machine = machine_all if all_valid else machine_all[valid]
        human_score = human_all if all_valid else human_all[valid]
        hh = present[a] & present[b]
        first, second = column[a[hh]], column[b[hh]]
        # the moments of the pairs once: QWK, r, the SMD, its pooled SD and the groups'
        # standardization all read them
        moments = _moments(machine, human_score)
        overall = _pair_stats_of(moments, np.abs(machine - human_score))
        hh_qwk, hh_r = _qwk_and_r_of(_moments(first, second)) if len(first) else (math.nan,) * 2
        paired_units = unit_of_pair if all_valid else unit_of_pair[valid]
        units_with_pair = np.bincount(paired_units, minlength=n_units)
        row = _overall_row(
            axis,
            n=int(np.count_nonzero(units_with_pair)),
            pairs=len(machine),
            overall=overall,
            hh_qwk=hh_qwk,
            hh_r=hh_r,
        )
        # each deliverable's sums of M and H over its pairs: the cluster sums of the overall
        # SMD's interval and of the groups' standardized differences are both made of them
        unit_m = np.bincount(paired_units, machine, minlength=n_units)
        unit_h = np.bincount(paired_units, human_score, minlength=n_units)
        pooled = _pooled_sd(moments)
        row.update(
            zip(
                ("smd_ci_low", "smd_ci_high", "smd_status"),
                _smd_interval_of_sums(
                    (moments[1] - moments[2]) / pooled,
                    (unit_m - unit_h) / pooled,
                    units_with_pair,
                    threshold=GATES["smd"],
                )
                if pooled > 0
                else (math.nan, math.nan, "inconclusive"),
                strict=True,
            )
        )
        rows = [row]
        if use_groups and len(machine) > 1:
            n_pairs, mean_m, mean_h, var_m, var_h = moments[:5]
            sd_m = math.sqrt(var_m * n_pairs / (n_pairs - 1))
            sd_h = math.sqrt(var_h * n_pairs / (n_pairs - 1))
            if all_valid and all_pairs_units is not None:
                per_group_units = all_pairs_units
            else:
                paired = np.flatnonzero(units_with_pair)
                per_group_units = []
                for g_codes, labels in zip(groups, group_labels or [], strict=True):
                    unit_codes = g_codes[paired]
                    per_group_units.append(
                        np.bincount(unit_codes[unit_codes >= 0], minlength=len(labels))
                    )
                if all_valid:
                    all_pairs_units = per_group_units
            # each deliverable's sum of z_M - z_H over its pairs (both scores standardized on
            # all pairs: the clusters of the subgroup SMD's interval), the same for every
            # attribute
            with np.errstate(divide="ignore", invalid="ignore"):
                unit_sums = (unit_m - units_with_pair * mean_m) / sd_m - (
                    unit_h - units_with_pair * mean_h
                ) / sd_h
            # per deliverable S_u^2, S_u n_u and n_u^2 (S_u its sum of z_M - z_H, n_u its pairs):
            # with them a group's cluster spread sum_u (S_u - n_u d)^2 is a sum over cells
            unit_terms = (unit_sums * unit_sums, unit_sums * units_with_pair, units_with_pair**2.0)
            for cell, unit_cell, n_cells, members in blocks:
                # pairs without both scores land in the extra cell `n_cells`, which is dropped
                code = cell if all_valid else np.where(valid, cell, n_cells)
                cells = _cell_moments(code, n_cells, machine_all, human_all)
                cell_terms = np.stack(
                    [np.bincount(unit_cell, t, minlength=n_cells) for t in unit_terms]
                )
                for a_index, cell_group in members:
                    labels = (group_labels or [])[a_index]
                    rows.extend(
                        _group_rows(
                            axis,
                            attributes[a_index],
                            labels,
                            sums=_merge_cells(cells, cell_group, len(labels)),
                            means=(mean_m, mean_h),
                            spread=(sd_m, sd_h),
                            cluster_terms=group_sums(cell_terms, cell_group, len(labels)),
                            units_per_group=per_group_units[a_index],
                        )
                    )
        out.append(pd.DataFrame(rows))
    return out


# Pairs per chunk of `_cell_moments`' passes: each chunk's scores, codes and temporaries stay in
# a core's L2 cache (at 10M applications the pairs' arrays are far larger than the caches).
_PAIR_CHUNK = 1 << 15


def _cell_moments(
    code: np.ndarray, n_cells: int, machine: np.ndarray, human: np.ndarray
) -> np.ndarray:
    """Per cell (rows): pairs, mean M, mean H, sums of squares of M and H about those means, the
    sum of their cross-products, exact and adjacent agreements (as `pair_stats`). Two passes,
    as `pair_stats`: the means, then the moments about them (a cell of one constant score has
    exactly 0), each over cache-sized chunks of the pairs. Pairs coded `n_cells` are dropped."""
    size = n_cells + 1
    step = max(_PAIR_CHUNK, 4 * size)  # a chunk's sums are small next to its pairs
    first = np.zeros((5, size))  # pairs, sum M, sum H, exact, adjacent
    for start in range(0, len(code), step):
        c = code[start : start + step]
        m, h = machine[start : start + step], human[start : start + step]
        distance = np.abs(m - h)
        first[0] += np.bincount(c, minlength=size)
        first[1] += np.bincount(c, m, minlength=size)
        first[2] += np.bincount(c, h, minlength=size)
        first[3] += np.bincount(c, distance < 0.5, minlength=size)
        first[4] += np.bincount(c, distance <= 1 + 1e-9, minlength=size)
    pairs = first[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_m, mean_h = first[1] / pairs, first[2] / pairs
    second = np.zeros((3, size))  # sums of squares of M and H, cross-products
    for start in range(0, len(code), step):
        c = code[start : start + step]
        dm = machine[start : start + step] - mean_m[c]
        dh = human[start : start + step] - mean_h[c]
        second[0] += np.bincount(c, dm * dm, minlength=size)
        second[1] += np.bincount(c, dh * dh, minlength=size)
        second[2] += np.bincount(c, dm * dh, minlength=size)
    return np.concatenate([first[:1], mean_m[None], mean_h[None], second, first[3:]])[:, :n_cells]


def _merge_cells(cells: np.ndarray, cell_group: np.ndarray, size: int) -> np.ndarray:
    """`_cell_moments` of the cells merged into `size` groups (`cell_group`; `size` = none,
    dropped): the moments about each group's means add each cell's moments about its own and
    its pairs times the products of the means' differences (Chan, Golub & LeVeque 1983)."""
    pairs, mean_m, mean_h, ss_m, ss_h, cross, exact, adjacent = cells
    used = pairs > 0
    mean_m, mean_h = np.where(used, mean_m, 0.0), np.where(used, mean_h, 0.0)

    def per_group(weights: np.ndarray) -> np.ndarray:
        return group_sums(weights, cell_group, size)

    n = per_group(pairs)
    with np.errstate(divide="ignore", invalid="ignore"):
        group_m = np.append(per_group(pairs * mean_m) / n, 0.0)
        group_h = np.append(per_group(pairs * mean_h) / n, 0.0)
    off_m = np.where(used, mean_m - group_m[cell_group], 0.0)
    off_h = np.where(used, mean_h - group_h[cell_group], 0.0)
    return np.stack(
        [
            n,
            group_m[:size],
            group_h[:size],
            per_group(ss_m + pairs * off_m * off_m),
            per_group(ss_h + pairs * off_h * off_h),
            per_group(cross + pairs * off_m * off_h),
            per_group(exact),
            per_group(adjacent),
        ]
    )


def _group_rows(
    axis: object,
    attribute: object,
    labels: np.ndarray,
    *,
    sums: np.ndarray,
    means: tuple[float, float],
    spread: tuple[float, float],
    cluster_terms: np.ndarray,
    units_per_group: np.ndarray,
) -> list[dict[str, object]]:
    """The group rows of one attribute on one axis: `pair_stats` of each group's pairs, the
    difference of standardized means and its `smd_interval`, from sums over each group's pairs
    (the same quantities, without gathering each group's pairs).

    `sums` holds per group the rows of `_merge_cells` (pairs with both scores, mean M and H,
    their sums of squares and cross-products about those, exact and adjacent agreements);
    `means` and `spread` are the means and standard deviations of M and H over all pairs (the
    subgroup SMD's standardization). `cluster_terms` holds per group the sums over its
    deliverables of S_u^2, S_u n_u and n_u^2, with S_u a deliverable's sum of z_M - z_H and n_u
    its pairs with both scores; `units_per_group` the deliverables with such a pair per group."""
    mean_m, mean_h = means
    sd_m, sd_h = spread
    pairs, group_m, group_h, ss_m, ss_h, cross, exact, adjacent = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        var_m, var_h, cov = ss_m / pairs, ss_h / pairs, cross / pairs
        qwk_, r = _qwk_and_r(pairs, var_m, var_h, cov, group_m - group_h)
        dsm = (group_m - mean_m) / sd_m - (group_h - mean_h) / sd_h
        # smd_interval over each group's deliverables: CR1 variance from the deliverables' sums
        # sum_u (S_u - n_u d)^2 expanded: the deliverables' terms were summed once for all
        # attributes, so no pass over the deliverables per attribute
        squares, cross_terms, counts = cluster_terms
        spread_ = np.maximum(squares - 2 * dsm * cross_terms + dsm * dsm * counts, 0.0)
        clusters = units_per_group.astype(float)
        se = np.sqrt(clusters / (clusters - 1) * spread_) / pairs
        quantile = special.stdtrit(np.maximum(clusters - 1, 1), 0.975)
        exact, adjacent = exact / pairs, adjacent / pairs
    rows: list[dict[str, object]] = []
    threshold = GATES["subgroup_smd"]
    for g in np.flatnonzero(pairs > 0):
        low = high = math.nan
        status: SmdStatus = "inconclusive"
        if clusters[g] >= 2:
            low, high = float(dsm[g] - quantile[g] * se[g]), float(dsm[g] + quantile[g] * se[g])
            status = _smd_status(low, high, threshold)
        rows.append(
            {
                "axis": axis,
                "attribute": attribute,
                "group": labels[g],
                "n": int(units_per_group[g]),
                "pairs": int(pairs[g]),
                "qwk": float(qwk_[g]),
                "pearson_r": float(r[g]),
                "exact_agreement": float(exact[g]),
                "adjacent_agreement": float(adjacent[g]),
                "smd": float(dsm[g]),
                "smd_pass": bool(abs(dsm[g]) <= threshold),
                "passes": bool(abs(dsm[g]) <= threshold),
                "smd_ci_low": low,
                "smd_ci_high": high,
                "smd_status": status,
            }
        )
    return rows
