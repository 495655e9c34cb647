"""Adverse-impact statistics on selection counts: four-fifths rule, significance, shortfall.

Everything here works on counts (one row per group of one table: applicants `n`, `selected`), so
the same code serves the funnel audit (`signalboard.analysis.fairness`), the LL144 tables
(`signalboard.analysis.ll144`) and the tests that pin it to published examples.

Sources: 29 CFR 1607.4(D) (four-fifths rule; "exactly 0.80" is not adverse impact) and the
EEOC/OFCCP 1979 Questions and Answers (flip-flop rule, Q&A 20-21); NYC DCWP 6 RCNY 5-301 (impact
ratio against the highest-rate category, categories under 2% may be left out of it).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, norm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

Status = Literal[
    "below_four_fifths_significant",
    "below_four_fifths_not_significant",
    "significant_passes_four_fifths",
    "no_evidence",
    "reference",
    "excluded",
]

STATUS_TEXT: dict[str, str] = {
    "below_four_fifths_significant": "Below four-fifths and significant: adverse impact",
    "below_four_fifths_not_significant": "Below four-fifths but not significant (small numbers)",
    "significant_passes_four_fifths": "Passes four-fifths but the difference is significant",
    "no_evidence": "No evidence of adverse impact",
    "reference": "Highest-rate group (the comparator)",
    "excluded": "Under the minimum share: shown, not ranked",
}

Z_TEST_MIN_N = 30
"""Two-proportion z-test when both groups have at least this many applicants, Fisher's exact below."""


def below_four_fifths(selected: int, n: int, selected_max: int, n_max: int) -> bool:
    """True when the selection rate `selected/n` is below four-fifths of `selected_max/n_max`.

    Compared in integers (``5 * s * n_max < 4 * s_max * n``) so that a ratio of exactly 0.80,
    such as (2/3) / (5/6), is not flagged; in floating point it evaluates to 0.7999999999999999.

    Examples
    --------
    >>> below_four_fifths(2, 3, 5, 6)
    False
    >>> below_four_fifths(45, 100, 60, 100)
    True
    """
    return 5 * int(selected) * int(n_max) < 4 * int(selected_max) * int(n)


def two_group_p_value(
    selected: int, n: int, selected_ref: int, n_ref: int
) -> tuple[float, Literal["z", "fisher"]]:
    """Two-sided p-value for a difference between two selection rates, and the test used.

    Pooled two-proportion z-test (statsmodels `proportions_ztest`) when both groups have at least
    30 applicants, else Fisher's exact test (scipy). Identical all-or-nothing rates give p = 1.

    Examples
    --------
    >>> p, test = two_group_p_value(170, 390, 412, 797)
    >>> round(p, 4), test
    (0.0087, 'z')
    """
    s1, n1, s2, n2 = int(selected), int(n), int(selected_ref), int(n_ref)
    if n1 == 0 or n2 == 0:
        return math.nan, "fisher"
    if min(n1, n2) >= Z_TEST_MIN_N:
        pooled = (s1 + s2) / (n1 + n2)
        if pooled in (0.0, 1.0):
            return 1.0, "z"
        _, p = proportions_ztest([s1, s2], [n1, n2])
        return float(p), "z"
    _, p = fisher_exact([[s1, n1 - s1], [s2, n2 - s2]])
    return float(min(1.0, p)), "fisher"


def two_group_p_values(
    selected: np.ndarray, n: np.ndarray, selected_ref: np.ndarray, n_ref: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """`two_group_p_value` for many pairs at once: the same numbers, with the z-tests computed
    as arrays (the float operations of statsmodels `proportions_ztest`, in its order) and
    Fisher's exact test per pair below 30.

    Examples
    --------
    >>> p, tests = two_group_p_values(np.array([170, 5]), np.array([390, 12]),
    ...                               np.array([412, 9]), np.array([797, 11]))
    >>> [round(float(v), 4) for v in p], tests
    ([0.0087, 0.0894], ['z', 'fisher'])
    """
    s1 = np.asarray(selected, dtype=np.int64)
    n1 = np.asarray(n, dtype=np.int64)
    s2 = np.asarray(selected_ref, dtype=np.int64)
    n2 = np.asarray(n_ref, dtype=np.int64)
    p = np.full(len(s1), math.nan)
    tests = ["fisher"] * len(s1)
    empty = (n1 == 0) | (n2 == 0)
    z_rows = ~empty & (np.minimum(n1, n2) >= Z_TEST_MIN_N)
    # All selected or none in both groups: identical rates, p = 1 (statsmodels would divide 0/0).
    degenerate = z_rows & (((s1 + s2) == 0) | ((s1 + s2) == (n1 + n2)))
    z = z_rows & ~degenerate
    if z.any():
        a, b, c, d = s1[z], n1[z], s2[z], n2[z]
        diff = (a * 1.0 / b - c * 1.0 / d) - 0
        pooled = (a + c) * 1.0 / (b + d)
        std = np.sqrt(pooled * (1 - pooled) * (1.0 / b + 1.0 / d))
        p[z] = norm.sf(np.abs(diff / std)) * 2
    p[degenerate] = 1.0
    for i in np.flatnonzero(z_rows):
        tests[i] = "z"
    for i in np.flatnonzero(~empty & ~z_rows):
        _, value = fisher_exact([[s1[i], n1[i] - s1[i]], [s2[i], n2[i] - s2[i]]])
        p[i] = min(1.0, float(value))
    return p, tests


@lru_cache(maxsize=8)
def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


def impact_ratio_ci(
    selected: int, n: int, selected_ref: int, n_ref: int, *, level: float = 0.95
) -> tuple[float, float]:
    """Katz log confidence interval for the ratio of two selection rates.

    ``log(IR) +- z * sqrt(1/s - 1/n + 1/s_ref - 1/n_ref)``; with a zero count 0.5 is added to
    every cell (Haldane) so the interval exists.

    Examples
    --------
    >>> low, high = impact_ratio_ci(170, 390, 412, 797)
    >>> round(low, 3), round(high, 3)
    (0.739, 0.962)
    """
    s1, n1, s2, n2 = float(selected), float(n), float(selected_ref), float(n_ref)
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    if s1 == 0 or s2 == 0 or s1 == n1 or s2 == n2:
        s1, n1, s2, n2 = s1 + 0.5, n1 + 1.0, s2 + 0.5, n2 + 1.0
    ratio = (s1 / n1) / (s2 / n2)
    se = math.sqrt(1 / s1 - 1 / n1 + 1 / s2 - 1 / n2)
    z = _z(level)
    return ratio * math.exp(-z * se), ratio * math.exp(z * se)


def _ratio_matrix(n: np.ndarray, s: np.ndarray, rankable: np.ndarray) -> np.ndarray:
    """Impact ratios of every group in every scenario row (rows: scenarios, columns: groups)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        ranked = np.where(rankable[None, :], rate, np.nan)
        all_nan = np.isnan(ranked).all(axis=1, keepdims=True)
        best = np.where(all_nan, np.nan, np.nanmax(np.where(all_nan, 0.0, ranked), axis=1)[:, None])
        return np.where(best > 0, rate / best, np.nan)


def impact_table(
    counts: pd.DataFrame,
    *,
    min_share: float = 0.02,
    unknown_n: int = 0,
    unknown_selected: int = 0,
    level: float = 0.95,
    comparator: Literal["rest", "highest"] = "rest",
) -> pd.DataFrame:
    """Impact ratios of the groups of one table against its highest-rate group.

    The impact ratio of a group is its selection rate divided by the highest selection rate among
    the groups that hold at least `min_share` of the table's applicants (smaller groups are shown
    but neither ranked nor tested; 6 RCNY 5-301 allows leaving out categories under 2%).

    Parameters
    ----------
    counts
        One row per group: `group`, `n` (applicants), `selected`. Unknowns are not a group.
    min_share
        Groups below this share of the table's applicants are excluded from the ranking.
    unknown_n, unknown_selected
        Applicants whose attribute is unknown, and how many of them were selected: used for the
        bounds on each impact ratio had the unknowns all been in one group, or spread in
        proportion to the groups' sizes.
    level
        Confidence level of the impact-ratio interval (Katz log method).
    comparator
        What the significance test compares each ranked group with: "rest" (default), all other
        known groups of the table pooled; "highest", the highest-rate group. Testing against the
        group picked for having the highest rate inflates false flags on null data (the maximum
        of several noisy rates is biased upwards), and a small top group costs power; the
        impact ratio is always against the highest-rate group.

    Returns
    -------
    pandas.DataFrame
        The input columns plus selection_rate, impact_ratio, ir_ci_low, ir_ci_high, reference,
        excluded_from_ir, below_four_fifths, flip_flop, test, p_value, shortfall,
        ir_unknowns_in_group, ir_unknowns_proportional, ir_bound_low, ir_bound_high.
        `p_value` compares the group with the `comparator`; BH q-values and the status come
        from `add_significance`, over all tables at once.

    Examples
    --------
    >>> eeoc = pd.DataFrame({"group": ["White", "American Indian", "Hispanic", "Black"],
    ...                      "n": [100, 100, 100, 100], "selected": [60, 45, 48, 51]})
    >>> impact_table(eeoc)["impact_ratio"].round(2).tolist()
    [1.0, 0.75, 0.8, 0.85]
    """
    base = counts.reset_index(drop=True)
    out = _table_arrays(
        base["n"].to_numpy(dtype=np.int64),
        base["selected"].to_numpy(dtype=np.int64),
        min_share=min_share,
        unknown_n=unknown_n,
        unknown_selected=unknown_selected,
        level=level,
        comparator=comparator,
    )
    # Columns are collected in a dict and joined once: setting them one by one on a frame is
    # what made the audit slow (pandas block inserts), not the statistics.
    extra = pd.DataFrame(out, index=base.index)
    return pd.concat([base.drop(columns=[c for c in out if c in base.columns]), extra], axis=1)


def _table_arrays(
    n: np.ndarray,
    s: np.ndarray,
    *,
    min_share: float,
    unknown_n: int,
    unknown_selected: int,
    level: float,
    comparator: Literal["rest", "highest"],
) -> dict[str, object]:
    """The columns `impact_table` adds, as arrays, for one table's counts."""
    out: dict[str, object] = {}
    m = len(n)
    total_n = int(n.sum())
    rankable = (n > 0) & (n >= min_share * total_n) if total_n else np.zeros(m, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
    out["selection_rate"] = rate
    out["excluded_from_ir"] = ~rankable

    # Reference group: the highest rate among the ranked groups, found with exact fractions.
    ref = -1
    if rankable.any():
        ref = max(np.flatnonzero(rankable), key=lambda i: Fraction(int(s[i]), int(n[i])))
    has_ref = ref >= 0 and s[ref] > 0
    ir = np.full(m, np.nan)
    ci_low = np.full(m, np.nan)
    ci_high = np.full(m, np.nan)
    p_values = np.full(m, np.nan)
    tests: list[str | None] = [None] * m
    below = np.zeros(m, dtype=bool)
    flip = np.zeros(m, dtype=bool)
    if has_ref:
        sr, nr = int(s[ref]), int(n[ref])
        total_s = int(s.sum())
        ranked = np.flatnonzero(rankable)
        for i in ranked:
            ir[i] = (s[i] * nr) / (n[i] * sr)
            ci_low[i], ci_high[i] = impact_ratio_ci(s[i], n[i], sr, nr, level=level)
            if i == ref:
                continue
            below[i] = below_four_fifths(s[i], n[i], sr, nr)
            # Flip-flop (EEOC Q&A 21): one more selected person in the group would undo the flag.
            flip[i] = below[i] and not below_four_fifths(min(s[i] + 1, n[i]), n[i], sr, nr)
        tested = ranked[ranked != ref]
        if len(tested):
            if comparator == "rest":
                other_s, other_n = total_s - s[tested], total_n - n[tested]
            else:
                other_s = np.full(len(tested), sr)
                other_n = np.full(len(tested), nr)
            values, kinds = two_group_p_values(s[tested], n[tested], other_s, other_n)
            p_values[tested] = values
            for i, kind in zip(tested, kinds, strict=True):
                tests[i] = kind
    out["impact_ratio"] = ir
    out["ir_ci_low"] = ci_low
    out["ir_ci_high"] = ci_high
    out["reference"] = np.arange(m) == ref if has_ref else np.zeros(m, dtype=bool)
    out["below_four_fifths"] = below
    out["flip_flop"] = flip
    out["test"] = tests
    out["p_value"] = p_values
    overall = s.sum() / total_n if total_n else np.nan
    # Shortfall: how many more of the group would have been selected at the table's overall rate.
    out["shortfall"] = np.where(n > 0, n * overall - s, np.nan)

    # Bounds from the unknowns: scenarios "all unknowns in group h" for every h, and "unknowns
    # spread in proportion to the groups' sizes"; each group's ratio over the scenarios.
    nu, su = int(unknown_n), int(unknown_selected)
    if m and nu > 0 and has_ref:
        eye = np.eye(m)
        all_in_n = n[None, :] + nu * eye
        all_in_s = s[None, :] + su * eye
        all_in = _ratio_matrix(all_in_n, all_in_s, rankable)
        share = n / total_n
        prop = _ratio_matrix((n + nu * share)[None, :], (s + su * share)[None, :], rankable)[0]
        scenarios = np.vstack([ir[None, :], all_in, prop[None, :]])
        scenarios = np.where(rankable[None, :], scenarios, np.nan)
        out["ir_unknowns_in_group"] = np.where(rankable, np.diag(all_in), np.nan)
        out["ir_unknowns_proportional"] = np.where(rankable, prop, np.nan)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (excluded groups)
            out["ir_bound_low"] = np.nanmin(scenarios, axis=0)
            out["ir_bound_high"] = np.nanmax(scenarios, axis=0)
    else:
        for column in (
            "ir_unknowns_in_group",
            "ir_unknowns_proportional",
            "ir_bound_low",
            "ir_bound_high",
        ):
            out[column] = ir
    return out


def add_significance(
    frame: pd.DataFrame, *, alpha: float = 0.05, p_column: str = "p_value"
) -> pd.DataFrame:
    """Benjamini-Hochberg q-values over every test in `frame`, and each row's status.

    Status: below four-fifths and significant (q < alpha); below four-fifths but not significant;
    passes four-fifths but significant; no evidence; plus "reference" for the comparator group and
    "excluded" for groups under the minimum share.

    Examples
    --------
    >>> frame = pd.DataFrame({"p_value": [0.001, 0.04, 0.5], "below_four_fifths": [True, False, True],
    ...                       "reference": False, "excluded_from_ir": False})
    >>> add_significance(frame)["status"].tolist()
    ['below_four_fifths_significant', 'no_evidence', 'below_four_fifths_not_significant']
    """
    out = frame.copy()
    p = out[p_column].to_numpy(dtype=float)
    tested = ~np.isnan(p)
    q = np.full(len(out), np.nan)
    if tested.any():
        q[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    out["q_value"] = q
    significant = tested & (np.nan_to_num(q, nan=1.0) < alpha)
    below = out["below_four_fifths"].to_numpy(dtype=bool)
    status = np.select(
        [
            out["excluded_from_ir"].to_numpy(dtype=bool),
            out["reference"].to_numpy(dtype=bool),
            below & significant,
            below,
            significant,
        ],
        [
            "excluded",
            "reference",
            "below_four_fifths_significant",
            "below_four_fifths_not_significant",
            "significant_passes_four_fifths",
        ],
        default="no_evidence",
    )
    out["status"] = status
    return out


def impact_tables(
    counts: pd.DataFrame,
    *,
    table_columns: Sequence[str],
    unknowns: pd.DataFrame | None = None,
    min_share: float = 0.02,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """`impact_table` for every table (rows sharing `table_columns`), then `add_significance`.

    `unknowns` (optional) has the `table_columns` plus `unknown_n` and `unknown_selected`.
    """
    keys = list(table_columns)
    unknown_lookup: dict[tuple, tuple[int, int]] = {}
    if unknowns is not None and len(unknowns):
        for row in unknowns.itertuples(index=False):
            values = row._asdict()
            unknown_lookup[tuple(values[k] for k in keys)] = (
                int(values["unknown_n"]),
                int(values["unknown_selected"]),
            )
    if len(counts) == 0:
        return pd.DataFrame()
    grouped = counts.groupby(keys, sort=False)
    # Tables in order of first appearance, each table's rows in their order (as iterating the
    # groupby would give them), computed on arrays and put into one frame at the end: a frame
    # per table cost more than the statistics.
    number = grouped.ngroup().to_numpy()
    order = np.argsort(number, kind="stable")
    order = order[number[order] >= 0]
    bounds = np.flatnonzero(np.diff(number[order])) + 1
    n_all = counts["n"].to_numpy(dtype=np.int64)
    s_all = counts["selected"].to_numpy(dtype=np.int64)
    key_values = counts[keys].to_numpy(dtype=object)
    parts: dict[str, list] = {}
    for rows in np.split(order, bounds):
        key = tuple(key_values[rows[0]])
        nu, su = unknown_lookup.get(key, (0, 0))
        out = _table_arrays(
            n_all[rows],
            s_all[rows],
            min_share=min_share,
            unknown_n=nu,
            unknown_selected=su,
            level=0.95,
            comparator="rest",
        )
        for column, values in out.items():
            parts.setdefault(column, []).append(values)
    base = counts.iloc[order].reset_index(drop=True)
    columns = {
        column: (
            [v for part in values for v in part]
            if column == "test"
            else np.concatenate([np.asarray(part) for part in values])
        )
        for column, values in parts.items()
    }
    extra = pd.DataFrame(columns, index=base.index)
    frame = pd.concat([base.drop(columns=[c for c in columns if c in base.columns]), extra], axis=1)
    return add_significance(frame, alpha=alpha)
