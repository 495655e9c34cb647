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

# Williamson, Xi & Breyer (2012), EM:IP 31(1) 2-13, as RSMTool applies them.
GATES: dict[str, float] = {
    "qwk": 0.70,  # QWK machine vs human >= .70
    "pearson_r": 0.70,  # Pearson r machine vs human >= .70
    "degradation": -0.10,  # (machine-human) - (human-human) no worse than -.10
    "smd": 0.15,  # |standardized mean difference| <= .15
    "subgroup_smd": 0.10,  # |standardized difference| per subgroup <= .10
}


SmdStatus = Literal["pass", "inconclusive", "fail"]


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
    clusters = int(code.max()) + 1
    smd = float(d.mean())
    if clusters < 2:
        return math.nan, math.nan, "inconclusive"
    per = np.bincount(code, d) - np.bincount(code) * smd
    se = math.sqrt(clusters / (clusters - 1) * float((per**2).sum())) / n
    # scipy's t.ppf is special.stdtrit (t_gen._ppf), called directly: the distribution
    # object's argument checks cost more than the quantile on the ~100 rows of an axis
    half = float(special.stdtrit(clusters - 1, 1 - (1 - confidence) / 2)) * se
    low, high = smd - half, smd + half
    status: SmdStatus = "inconclusive"
    if -threshold <= low and high <= threshold:
        status = "pass"
    elif low > threshold or high < -threshold:
        status = "fail"
    return low, high, status


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
    if len(m) < 2:
        return math.nan
    cov = float(((m - m.mean()) * (h - h.mean())).mean())
    den = float(m.var() + h.var() + (m.mean() - h.mean()) ** 2)
    return 2 * cov / den if den > 0 else math.nan


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() == 0 or b.std() == 0:
        return math.nan
    return float(np.corrcoef(a, b)[0, 1])


def pair_stats(machine: np.ndarray, human: np.ndarray) -> dict[str, float]:
    """QWK, Pearson r, exact agreement (|M - H| < 0.5, i.e. equal on an integer scale), adjacent
    agreement (|M - H| <= 1) and SMD = (mean M - mean H) / sqrt((SD_M^2 + SD_H^2) / 2).

    The centred moments are computed once and shared by every statistic; QWK as in `qwk`, r as
    numpy's corrcoef.
    """
    m, h = np.asarray(machine, dtype=float), np.asarray(human, dtype=float)
    n = len(m)
    if n == 0:
        return dict.fromkeys(
            ("qwk", "pearson_r", "exact_agreement", "adjacent_agreement", "smd"), math.nan
        )
    mean_m, mean_h = float(m.mean()), float(h.mean())
    dm, dh = m - mean_m, h - mean_h
    var_m, var_h = float((dm * dm).mean()), float((dh * dh).mean())
    cov = float((dm * dh).mean())
    den = var_m + var_h + (mean_m - mean_h) ** 2
    diff = np.abs(m - h)
    pooled = math.sqrt((var_m + var_h) * n / (n - 1) / 2) if n > 1 else math.nan
    r = math.nan
    if n >= 3 and var_m > 0 and var_h > 0:
        r = max(-1.0, min(1.0, cov / math.sqrt(var_m * var_h)))
    return {
        "qwk": 2 * cov / den if n >= 2 and den > 0 else math.nan,
        "pearson_r": r,
        "exact_agreement": float((diff < 0.5).mean()),
        "adjacent_agreement": float((diff <= 1 + 1e-9).mean()),
        "smd": float((mean_m - mean_h) / pooled) if pooled and pooled > 0 else math.nan,
    }


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
    group_order = []
    if use_groups:
        for g_codes, labels in zip(groups, group_labels or [], strict=True):
            small = len(labels) < np.iinfo(np.int16).max
            codes = g_codes[unit_of_pair].astype(np.int16 if small else np.int64)
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
            # pairs in group order, so each axis reads a group as one contiguous slice (the
            # pairs' deliverables, the same on every axis, gathered once)
            group_order.append((order, bounds, unit_of_pair[order]))
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
        overall = pair_stats(machine, human_score)
        hh_qwk = qwk(first, second) if len(first) else math.nan
        hh_r = _pearson(first, second) if len(first) else math.nan
        units_with_pair = np.bincount(
            unit_of_pair if all_valid else unit_of_pair[valid], minlength=n_units
        )
        row = _overall_row(
            axis,
            n=int(np.count_nonzero(units_with_pair)),
            pairs=len(machine),
            overall=overall,
            hh_qwk=hh_qwk,
            hh_r=hh_r,
        )
        paired_units = unit_of_pair if all_valid else unit_of_pair[valid]
        pooled = (
            math.sqrt((machine.var(ddof=1) + human_score.var(ddof=1)) / 2)
            if len(machine) > 1
            else math.nan
        )
        row.update(
            zip(
                ("smd_ci_low", "smd_ci_high", "smd_status"),
                smd_interval(
                    (machine - human_score) / pooled if pooled > 0 else np.zeros(0),
                    paired_units,
                    threshold=GATES["smd"],
                ),
                strict=True,
            )
        )
        rows = [row]
        if use_groups and len(machine) > 1:
            mean_m, sd_m = machine.mean(), machine.std(ddof=1)
            mean_h, sd_h = human_score.mean(), human_score.std(ddof=1)
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
            for attribute, labels, (order, bounds, unit_g), units_per_group in zip(
                attributes, group_labels or [], group_order, per_group_units, strict=True
            ):
                machine_g, human_g = machine_all[order], human_all[order]
                valid_g = valid if all_valid else valid[order]
                for g in range(len(labels)):
                    m_part = machine_g[bounds[g] : bounds[g + 1]]
                    h_part = human_g[bounds[g] : bounds[g + 1]]
                    u_part = unit_g[bounds[g] : bounds[g + 1]]
                    if not all_valid:
                        keep = valid_g[bounds[g] : bounds[g + 1]]
                        m_part, h_part, u_part = m_part[keep], h_part[keep], u_part[keep]
                    if not len(m_part):
                        continue
                    stats_ = pair_stats(m_part, h_part)
                    # standardized on all pairs, then mean z_M - mean z_H within the group
                    z_m, z_h = (m_part - mean_m) / sd_m, (h_part - mean_h) / sd_h
                    z_diff = z_m - z_h
                    dsm = float(z_m.mean() - z_h.mean())
                    low, high, status = smd_interval(
                        z_diff, u_part, threshold=GATES["subgroup_smd"]
                    )
                    rows.append(
                        {
                            "axis": axis,
                            "attribute": attribute,
                            "group": labels[g],
                            "n": int(units_per_group[g]),
                            "pairs": len(m_part),
                            **stats_,
                            "smd": dsm,
                            "smd_pass": bool(abs(dsm) <= GATES["subgroup_smd"]),
                            "passes": bool(abs(dsm) <= GATES["subgroup_smd"]),
                            "smd_ci_low": low,
                            "smd_ci_high": high,
                            "smd_status": status,
                        }
                    )
        out.append(pd.DataFrame(rows))
    return out
