"""Adverse-impact statistics on selection counts: four-fifths rule, significance, shortfall.

Everything here works on counts (one row per group of one table: applicants `n`, `selected`), so
the same code serves the funnel audit (`signalboard.analysis.fairness`), the LL144 tables
(`signalboard.analysis.ll144`) and the tests that pin it to published examples.

Sources: 29 CFR 1607.4(D) (four-fifths rule; "exactly 0.80" is not adverse impact) and the
EEOC/OFCCP 1979 Questions and Answers (flip-flop rule, Q&A 20-21); NYC DCWP 6 RCNY 5-301 (impact
ratio against the highest-rate category, categories under 2% may be left out of it).
Koopman (1984), Biometrics 40(2) 513-517 (score interval for a ratio of two proportions);
Cochran (1954), Biometrics 10(4) 417-451 (expected counts of at least 5).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, norm
from statsmodels.stats.multitest import multipletests

Status = Literal[
    "below_four_fifths_significant",
    "below_four_fifths_not_significant",
    "significant_passes_four_fifths",
    "no_evidence",
    "too_few_to_test",
    "reference",
    "excluded",
]

STATUS_TEXT: dict[str, str] = {
    "below_four_fifths_significant": "Below four-fifths and significant: adverse impact",
    "below_four_fifths_not_significant": "Below four-fifths but not significant (small numbers)",
    "significant_passes_four_fifths": "Passes four-fifths but the difference is significant",
    "no_evidence": "No evidence of adverse impact",
    "too_few_to_test": "Too few to test: an expected count under 5 (Fisher's exact p shown)",
    "reference": "Highest-rate group large enough to compare with (the comparator)",
    "excluded": "Under the minimum share: shown, not ranked",
}


FOUR_FIFTHS = 0.8
"""The four-fifths rule's impact-ratio line (29 CFR 1607.4(D)), for marking ratios below it;
the flag itself is `below_four_fifths`, compared in integers."""


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

    The pooled two-proportion z-test (the score test, `ratio_score_test`) when Cochran's rule
    holds (`normal_approximation_holds`: every expected count at least 5), else Fisher's exact
    test (scipy). Identical all-or-nothing rates give p = 1.

    Examples
    --------
    >>> p, test = two_group_p_value(170, 390, 412, 797)
    >>> round(p, 4), test
    (0.0087, 'z')
    """
    p, tests = two_group_p_values(
        np.array([selected]), np.array([n]), np.array([selected_ref]), np.array([n_ref])
    )
    return float(p[0]), tests[0]  # type: ignore[return-value]


def two_group_p_values(
    selected: np.ndarray, n: np.ndarray, selected_ref: np.ndarray, n_ref: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """`two_group_p_value` for many pairs at once.

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
    empty = (n1 == 0) | (n2 == 0)
    normal = ~empty & normal_approximation_holds(s1, n1, s2, n2)
    p = np.where(normal, ratio_score_test(s1, np.maximum(n1, 1), s2, np.maximum(n2, 1)), np.nan)
    tests = ["z" if ok else "fisher" for ok in normal]
    for i in np.flatnonzero(~empty & ~normal):
        p[i] = _fisher(int(s1[i]), int(n1[i]), int(s2[i]), int(n2[i]))
    return p, tests


@lru_cache(maxsize=8)
def _z(level: float) -> float:
    return float(norm.ppf(0.5 + level / 2))


MIN_EXPECTED = 5.0
"""Cochran's rule: the normal approximation of a 2x2 test is trusted when every expected cell
count under the null is at least 5 (Cochran 1954, "Some methods for strengthening the common
chi-square tests", Biometrics 10(4) 417-451)."""


def ratio_score_z(
    selected: np.ndarray,
    n: np.ndarray,
    selected_ref: np.ndarray,
    n_ref: np.ndarray,
    theta: np.ndarray | float,
) -> np.ndarray:
    """Score statistic for H0: rate / rate_ref = theta (Koopman 1984; Miettinen-Nurminen 1985
    without their n/(n-1) variance factor).

    ``z = (p1 - theta * p2) / sqrt(p1~ (1 - p1~) / n1 + theta^2 p2~ (1 - p2~) / n2)`` with the
    rates p1~ = theta p2~ that maximize the likelihood under H0. At theta = 1 they are the pooled
    rate, so z is the pooled two-proportion z statistic. Decreasing in theta.

    Examples
    --------
    >>> round(float(ratio_score_z(170, 390, 412, 797, 1.0)), 4)
    -2.6233
    """
    x1 = np.asarray(selected, dtype=float)
    n1 = np.asarray(n, dtype=float)
    x2 = np.asarray(selected_ref, dtype=float)
    n2 = np.asarray(n_ref, dtype=float)
    t = np.asarray(theta, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        a = (n1 + n2) * t
        b = -(n1 * t + x1 + n2 + x2 * t)
        c = x1 + x2
        root = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
        # The smaller root, written so that it does not cancel when b^2 >> 4ac.
        p2 = np.where(c > 0, 2 * c / (-b + root), 0.0)
        p2 = np.clip(p2, 0.0, 1.0)
        p1 = np.clip(t * p2, 0.0, 1.0)
        var = p1 * (1 - p1) / n1 + t * t * p2 * (1 - p2) / n2
        diff = x1 / n1 - t * x2 / n2
        z = diff / np.sqrt(var)
    # Zero variance: every rate the null allows is 0 or 1; the sign of the difference decides.
    edge = np.where(diff > 0, np.inf, np.where(diff < 0, -np.inf, 0.0))
    return np.where(var > 0, z, edge)


def ratio_score_test(
    selected: np.ndarray, n: np.ndarray, selected_ref: np.ndarray, n_ref: np.ndarray
) -> np.ndarray:
    """Two-sided p-value of the score test of rate = rate_ref (ratio 1): the pooled
    two-proportion z-test, the test whose inversion is `impact_ratio_ci`.

    Examples
    --------
    >>> round(float(ratio_score_test(170, 390, 412, 797)), 4)
    0.0087
    """
    z = ratio_score_z(selected, n, selected_ref, n_ref, 1.0)
    p = 2 * norm.sf(np.abs(z))
    # Identical all-or-nothing rates: no difference to test.
    x = np.asarray(selected) + np.asarray(selected_ref)
    total = np.asarray(n) + np.asarray(n_ref)
    return np.where((x == 0) | (x == total), 1.0, p)


def impact_ratio_cis(
    selected: np.ndarray,
    n: np.ndarray,
    selected_ref: np.ndarray,
    n_ref: np.ndarray,
    *,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray]:
    """`impact_ratio_ci` for many pairs at once (vectorized bisection on the log ratio)."""
    x1 = np.asarray(selected, dtype=float)
    n1 = np.asarray(n, dtype=float)
    x2 = np.asarray(selected_ref, dtype=float)
    n2 = np.asarray(n_ref, dtype=float)
    z = _z(level)
    lo_log, hi_log = -40.0, 40.0
    # Both bounds in one bisection on the log ratio: the lower solves score z = +z, the upper
    # score z = -z (the statistic decreases in the ratio); 64 halvings of [-40, 40] leave
    # less than 1e-17 of the log ratio.
    m = x1.shape[0]
    xs1, ns1, xs2, ns2 = (np.concatenate([v, v]) for v in (x1, n1, x2, n2))
    target = np.concatenate([np.full(m, z), np.full(m, -z)])
    lo = np.full(2 * m, lo_log)
    hi = np.full(2 * m, hi_log)
    with np.errstate(over="ignore"):
        for _ in range(64):
            mid = (lo + hi) / 2
            above = ratio_score_z(xs1, ns1, xs2, ns2, np.exp(mid)) >= target
            lo = np.where(above, mid, lo)
            hi = np.where(above, hi, mid)
        root = np.exp((lo + hi) / 2)
    low, high = root[:m], root[m:]
    # Nobody selected in the group: no ratio is too low; nobody in the reference: none too high.
    with np.errstate(over="ignore"):
        low = np.where((x1 == 0) | (ratio_score_z(x1, n1, x2, n2, np.exp(lo_log)) < z), 0.0, low)
        high = np.where(
            (x2 == 0) | (ratio_score_z(x1, n1, x2, n2, np.exp(hi_log)) >= -z), np.inf, high
        )
    # The interval is the set of ratios the score test does not reject, so whether it holds 1
    # is the test's decision at 1; pin that to the p-value the table shows, bisection tolerance
    # and all (p < 1 - level exactly when the interval lies beyond 1).
    p = ratio_score_test(x1, n1, x2, n2)
    z1 = ratio_score_z(x1, n1, x2, n2, 1.0)
    rejected = p < 1 - level
    high = np.where(rejected & (z1 < 0), np.minimum(high, np.nextafter(1.0, 0.0)), high)
    low = np.where(rejected & (z1 > 0), np.maximum(low, np.nextafter(1.0, 2.0)), low)
    high = np.where(~rejected, np.maximum(high, 1.0), high)
    low = np.where(~rejected, np.minimum(low, 1.0), low)
    empty = (n1 == 0) | (n2 == 0)
    return np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def impact_ratio_ci(
    selected: int, n: int, selected_ref: int, n_ref: int, *, level: float = 0.95
) -> tuple[float, float]:
    """Score (Koopman 1984) confidence interval for the ratio of two selection rates.

    The ratios theta that the score test of ``rate / rate_ref = theta`` (`ratio_score_z`) does
    not reject at 1 - `level`. At theta = 1 that test is the pooled two-proportion z-test, so the
    interval lies entirely below (above) 1 exactly when `ratio_score_test` gives p < 1 - level
    with the group's rate below (above) the reference's: interval and p-value cannot disagree.
    A zero count in the group gives a lower bound of 0, in the reference an upper bound of inf.

    Examples
    --------
    >>> low, high = impact_ratio_ci(170, 390, 412, 797)
    >>> round(low, 3), round(high, 3)
    (0.737, 0.959)
    """
    low, high = impact_ratio_cis(
        np.array([selected]),
        np.array([n]),
        np.array([selected_ref]),
        np.array([n_ref]),
        level=level,
    )
    return float(low[0]), float(high[0])


def normal_approximation_holds(
    selected: np.ndarray, n: np.ndarray, selected_ref: np.ndarray, n_ref: np.ndarray
) -> np.ndarray:
    """Cochran's rule for the 2x2 table of two groups: every expected count under equal rates
    (`min(n, n_ref) * min(pooled, 1 - pooled)`) is at least `MIN_EXPECTED`.

    Examples
    --------
    >>> normal_approximation_holds(np.array([5, 2]), np.array([40, 40]),
    ...                            np.array([50, 3]), np.array([400, 400])).tolist()
    [True, False]
    """
    x = np.asarray(selected, dtype=float) + np.asarray(selected_ref, dtype=float)
    total = np.asarray(n, dtype=float) + np.asarray(n_ref, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = np.where(total > 0, x / total, 0.0)
    smaller = np.minimum(np.asarray(n, dtype=float), np.asarray(n_ref, dtype=float))
    return smaller * np.minimum(pooled, 1 - pooled) >= MIN_EXPECTED


def _fisher(s1: int, n1: int, s2: int, n2: int) -> float:
    _, value = fisher_exact([[s1, n1 - s1], [s2, n2 - s2]])
    return min(1.0, float(value))


def _ratio_matrix(
    n: np.ndarray, s: np.ndarray, rankable: np.ndarray, eligible: np.ndarray
) -> np.ndarray:
    """Impact ratios of every group in every scenario row (rows: scenarios, columns: groups):
    rate / the highest rate among the groups that can be the comparator."""
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
        rate = np.where(rankable[None, :], rate, np.nan)
        ranked = np.where(eligible[None, :], rate, np.nan)
        all_nan = np.isnan(ranked).all(axis=1, keepdims=True)
        best = np.where(all_nan, np.nan, np.nanmax(np.where(all_nan, 0.0, ranked), axis=1)[:, None])
        return np.where(best > 0, rate / best, np.nan)


MIN_SHARE = 0.02
"""6 RCNY 5-301: categories under 2% of the data may be left out of the impact-ratio calculation."""

MIN_COMPARATOR_SHARE = 0.05
"""Default smallest share of a table's applicants the comparator (highest-rate) group may have."""


def check_comparator_share(min_comparator_share: float) -> float:
    """`min_comparator_share` as a float, refused when under the LL144 rule's 2% or above 1.

    Examples
    --------
    >>> check_comparator_share(0.05)
    0.05
    """
    value = float(min_comparator_share)
    if not MIN_SHARE <= value <= 1:
        raise ValueError(
            f"minimum comparator share must be between {MIN_SHARE} (the LL144 rule's 2%) and 1, "
            f"not {min_comparator_share}"
        )
    return value


def impact_table(
    counts: pd.DataFrame,
    *,
    min_share: float = MIN_SHARE,
    min_comparator_share: float | None = None,
    unknown_n: int = 0,
    unknown_selected: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Impact ratios of the groups of one table against its comparator, the highest-rate group.

    The impact ratio of a group is its selection rate divided by the highest selection rate among
    the groups that hold at least `min_comparator_share` of the table's applicants (the
    comparator, `reference`). Groups under `min_share` are shown but neither ranked nor tested
    (6 RCNY 5-301 allows leaving out categories under 2%); groups between the two shares are
    ranked and tested but cannot be the comparator, so a 21-person group cannot be the baseline
    of a 1,000-person table (their ratio may exceed 1).

    Every ranked group is compared with the comparator once, and the interval and the p-value
    are the same comparison: the score test of equal rates (pooled two-proportion z) and the
    score interval for the ratio of the rates (Koopman), which is that test inverted. Where
    Cochran's rule fails (an expected count under 5) the normal approximation behind both is not
    trusted: `test` is "fisher", `p_exact` is Fisher's exact p-value, and the status is
    `too_few_to_test` (`add_significance`).

    Parameters
    ----------
    counts
        One row per group: `group`, `n` (applicants), `selected`. Unknowns are not a group.
    min_share
        Groups below this share of the table's applicants are excluded from the ranking.
    min_comparator_share
        Groups below this share cannot be the comparator (default: `min_share`, the LL144 rule).
    unknown_n, unknown_selected
        Applicants whose attribute is unknown, and how many of them were selected: used for the
        bounds on each impact ratio had the unknowns all been in one group, or spread in
        proportion to the groups' sizes.
    level
        Confidence level of the impact-ratio interval.

    Returns
    -------
    pandas.DataFrame
        The input columns plus selection_rate, impact_ratio, ir_ci_low, ir_ci_high, reference,
        excluded_from_ir, below_four_fifths, flip_flop, test, p_value, p_exact, shortfall,
        ir_unknowns_in_group, ir_unknowns_proportional, ir_bound_low, ir_bound_high.
        q-values and the status come from `add_significance` (or `impact_tables`).

    Examples
    --------
    >>> eeoc = pd.DataFrame({"group": ["White", "American Indian", "Hispanic", "Black"],
    ...                      "n": [100, 100, 100, 100], "selected": [60, 45, 48, 51]})
    >>> impact_table(eeoc)["impact_ratio"].round(2).tolist()
    [1.0, 0.75, 0.8, 0.85]
    """
    base = counts.reset_index(drop=True)
    out, _, _ = _table_arrays(
        base["n"].to_numpy(dtype=np.int64),
        base["selected"].to_numpy(dtype=np.int64),
        min_share=min_share,
        min_comparator_share=min_share if min_comparator_share is None else min_comparator_share,
        unknown_n=unknown_n,
        unknown_selected=unknown_selected,
        level=level,
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
    min_comparator_share: float,
    unknown_n: int,
    unknown_selected: int,
    level: float,
    deferred_cis: list[_DeferredCis] | None = None,
) -> tuple[dict[str, object], np.ndarray, np.ndarray]:
    """The columns `impact_table` adds, as arrays, for one table's counts; plus the table's
    share of its multiple-testing family: the p-values of every pair of ranked groups of which
    at least one could be the comparator (normal approximation holding), and for each row the
    position of its comparison with the comparator among them (-1: not in the family).

    With `deferred_cis` the intervals are left for the caller: the table's pairs are appended
    there and `_fill_deferred_cis` writes them into ir_ci_low and ir_ci_high later, one
    bisection for every table instead of one per table.
    """
    out: dict[str, object] = {}
    m = len(n)
    total_n = int(n.sum())
    rankable = (n > 0) & (n >= min_share * total_n) if total_n else np.zeros(m, dtype=bool)
    eligible = rankable & (n >= min_comparator_share * total_n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, s / np.where(n > 0, n, 1), np.nan)
    out["selection_rate"] = rate
    out["excluded_from_ir"] = ~rankable

    # Comparator: the highest rate among the groups large enough, found with exact fractions.
    ref = -1
    if eligible.any():
        ref = max(np.flatnonzero(eligible), key=lambda i: Fraction(int(s[i]), int(n[i])))
    has_ref = ref >= 0 and s[ref] > 0
    ir = np.full(m, np.nan)
    ci_low = np.full(m, np.nan)
    ci_high = np.full(m, np.nan)
    p_values = np.full(m, np.nan)
    p_exact = np.full(m, np.nan)
    tests: list[str | None] = [None] * m
    below = np.zeros(m, dtype=bool)
    flip = np.zeros(m, dtype=bool)
    family_p = np.zeros(0)
    position = np.full(m, -1, dtype=np.int64)
    if has_ref:
        sr, nr = int(s[ref]), int(n[ref])
        ranked = np.flatnonzero(rankable)
        ir[ranked] = (s[ranked] * nr) / (n[ranked] * sr)
        for i in ranked:
            if i == ref:
                continue
            below[i] = below_four_fifths(s[i], n[i], sr, nr)
            # Flip-flop (EEOC Q&A 21): one more selected person in the group would undo the flag.
            flip[i] = below[i] and not below_four_fifths(min(s[i] + 1, n[i]), n[i], sr, nr)
        tested = ranked[ranked != ref]
        if len(tested):
            ref_s = np.full(len(tested), sr)
            ref_n = np.full(len(tested), nr)
            if deferred_cis is None:
                low, high = impact_ratio_cis(s[tested], n[tested], ref_s, ref_n, level=level)
                ci_low[tested], ci_high[tested] = low, high
            else:
                deferred_cis.append(
                    _DeferredCis(ci_low, ci_high, tested, s[tested], n[tested], ref_s, ref_n)
                )
            p_values[tested] = ratio_score_test(s[tested], n[tested], ref_s, ref_n)
            normal = normal_approximation_holds(s[tested], n[tested], ref_s, ref_n)
            for i, ok in zip(tested, normal, strict=True):
                tests[i] = "z" if ok else "fisher"
                if not ok:
                    p_exact[i] = _fisher(int(s[i]), int(n[i]), sr, nr)
        # The comparator is picked for its high rate, so a comparison with it is the largest of
        # several gaps: its family is every pair that could have been that comparison.
        first, second = np.triu_indices(len(ranked), k=1)
        a, b = ranked[first], ranked[second]
        keep = eligible[a] | eligible[b]
        a, b = a[keep], b[keep]
        normal_pairs = normal_approximation_holds(s[a], n[a], s[b], n[b])
        a, b = a[normal_pairs], b[normal_pairs]
        family_p = ratio_score_test(s[a], n[a], s[b], n[b])
        for k, (i, j) in enumerate(zip(a, b, strict=True)):
            if i == ref:
                position[j] = k
            elif j == ref:
                position[i] = k
    out["impact_ratio"] = ir
    out["ir_ci_low"] = ci_low
    out["ir_ci_high"] = ci_high
    out["reference"] = np.arange(m) == ref if has_ref else np.zeros(m, dtype=bool)
    out["below_four_fifths"] = below
    out["flip_flop"] = flip
    out["test"] = tests
    out["p_value"] = p_values
    out["p_exact"] = p_exact
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
        all_in = _ratio_matrix(all_in_n, all_in_s, rankable, eligible)
        share = n / total_n
        prop = _ratio_matrix(
            (n + nu * share)[None, :], (s + su * share)[None, :], rankable, eligible
        )[0]
        scenarios = np.vstack([ir[None, :], all_in, prop[None, :]])
        scenarios = np.where(rankable[None, :], scenarios, np.nan)
        out["ir_unknowns_in_group"] = np.where(rankable, np.diag(all_in), np.nan)
        out["ir_unknowns_proportional"] = np.where(rankable, prop, np.nan)
        # fmin/fmax skip NaN and give NaN for an all-NaN column (an excluded group) without
        # nanmin's warning, so no process-wide warning filter is touched (catch_warnings is not
        # thread-safe, and the dashboard's server runs each session's script on its own thread)
        out["ir_bound_low"] = np.fmin.reduce(scenarios, axis=0)
        out["ir_bound_high"] = np.fmax.reduce(scenarios, axis=0)
    else:
        for column in (
            "ir_unknowns_in_group",
            "ir_unknowns_proportional",
            "ir_bound_low",
            "ir_bound_high",
        ):
            out[column] = ir
    return out, family_p, position


class _DeferredCis(NamedTuple):
    """One table's comparisons whose intervals `_fill_deferred_cis` computes."""

    low: np.ndarray
    high: np.ndarray
    rows: np.ndarray
    selected: np.ndarray
    n: np.ndarray
    selected_ref: np.ndarray
    n_ref: np.ndarray


def _fill_deferred_cis(deferred: list[_DeferredCis], *, level: float) -> None:
    """`impact_ratio_cis` of every deferred comparison in one call, written into each table's
    ir_ci_low and ir_ci_high arrays (the bisection is elementwise, so batching the tables
    changes no value)."""
    if not deferred:
        return
    low, high = impact_ratio_cis(
        *(np.concatenate([getattr(d, f) for d in deferred]) for f in _DeferredCis._fields[3:]),
        level=level,
    )
    start = 0
    for part in deferred:
        stop = start + len(part.rows)
        part.low[part.rows], part.high[part.rows] = low[start:stop], high[start:stop]
        start = stop


def _status(frame: pd.DataFrame, q: np.ndarray, *, alpha: float) -> np.ndarray:
    significant = np.nan_to_num(q, nan=1.0) < alpha
    below = frame["below_four_fifths"].to_numpy(dtype=bool)
    too_few = (frame["test"] == "fisher").to_numpy(dtype=bool)
    return np.select(
        [
            frame["excluded_from_ir"].to_numpy(dtype=bool),
            frame["reference"].to_numpy(dtype=bool),
            too_few,
            below & significant,
            below,
            significant,
        ],
        [
            "excluded",
            "reference",
            "too_few_to_test",
            "below_four_fifths_significant",
            "below_four_fifths_not_significant",
            "significant_passes_four_fifths",
        ],
        default="no_evidence",
    )


def add_significance(
    frame: pd.DataFrame, *, alpha: float = 0.05, p_column: str = "p_value"
) -> pd.DataFrame:
    """Benjamini-Hochberg q-values over every test in `frame` where the normal approximation
    holds (`test` is "z"), and each row's status.

    Status: too few to test (`test` is "fisher": an expected count under 5); below four-fifths
    and significant (q < alpha); below four-fifths but not significant; passes four-fifths but
    significant; no evidence; plus "reference" for the comparator group and "excluded" for
    groups under the minimum share. `impact_tables` uses a larger family (every pair that could
    have been the comparison with the comparator).

    Examples
    --------
    >>> frame = pd.DataFrame({"p_value": [0.001, 0.04, 0.5], "below_four_fifths": [True, False, True],
    ...                       "reference": False, "excluded_from_ir": False, "test": "z"})
    >>> add_significance(frame)["status"].tolist()
    ['below_four_fifths_significant', 'no_evidence', 'below_four_fifths_not_significant']
    """
    out = frame.copy()
    p = out[p_column].to_numpy(dtype=float)
    tested = ~np.isnan(p) & (out["test"] == "z").to_numpy(dtype=bool)
    q = np.full(len(out), np.nan)
    if tested.any():
        q[tested] = multipletests(p[tested], alpha=alpha, method="fdr_bh")[1]
    out["q_value"] = q
    out["status"] = _status(out, q, alpha=alpha)
    return out


def impact_tables(
    counts: pd.DataFrame,
    *,
    table_columns: Sequence[str],
    family_columns: Sequence[str] | None = None,
    unknowns: pd.DataFrame | None = None,
    min_share: float = MIN_SHARE,
    min_comparator_share: float = MIN_COMPARATOR_SHARE,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """`impact_table` for every table (rows sharing `table_columns`), with q-values and status.

    Multiple testing: Benjamini-Hochberg over one family per value of `family_columns` (a subset
    of `table_columns`; None: one family for everything). A family holds, for every table in it,
    the score-test p-value of every pair of ranked groups of which at least one is large enough
    to be the comparator (normal approximation holding). A row's `q_value` is the BH q of its
    comparison with the comparator. Testing only the comparisons with the comparator would
    ignore that the comparator was picked for having the highest rate (on null data a table of
    seven groups then flags at about 8%, not 5%); the pairs' family holds the nominal level.

    `unknowns` (optional) has the `table_columns` plus `unknown_n` and `unknown_selected`.
    """
    check_comparator_share(min_comparator_share)
    keys = list(table_columns)
    family_keys = keys if family_columns is None else list(family_columns)
    if family_columns is not None and not set(family_keys) <= set(keys):
        raise ValueError("family_columns must be among table_columns")
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
    family_index = [keys.index(k) for k in family_keys] if family_columns is not None else []
    parts: dict[str, list] = {}
    families: dict[tuple, list[np.ndarray]] = {}
    row_family: list[tuple] = []
    row_position: list[np.ndarray] = []
    deferred: list[_DeferredCis] = []
    for rows in np.split(order, bounds):
        key = tuple(key_values[rows[0]])
        nu, su = unknown_lookup.get(key, (0, 0))
        out, family_p, position = _table_arrays(
            n_all[rows],
            s_all[rows],
            min_share=min_share,
            min_comparator_share=max(min_share, min_comparator_share),
            unknown_n=nu,
            unknown_selected=su,
            level=0.95,
            deferred_cis=deferred,
        )
        for column, values in out.items():
            parts.setdefault(column, []).append(values)
        family = tuple(key[i] for i in family_index)
        members = families.setdefault(family, [])
        offset = sum(len(part) for part in members)
        members.append(family_p)
        row_family.append(family)
        row_position.append(np.where(position >= 0, position + offset, -1))
    _fill_deferred_cis(deferred, level=0.95)
    q_by_family = {}
    for family, members in families.items():
        p = np.concatenate(members) if members else np.zeros(0)
        q_by_family[family] = (
            multipletests(p, alpha=alpha, method="fdr_bh")[1] if len(p) else np.zeros(0)
        )
    q_parts = []
    for family, position in zip(row_family, row_position, strict=True):
        q_family = q_by_family[family]
        q_parts.append(
            np.where(
                position >= 0, q_family[np.maximum(position, 0)] if len(q_family) else 0, np.nan
            )
        )
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
    q = np.concatenate(q_parts) if q_parts else np.zeros(0)
    frame["q_value"] = q
    frame["status"] = _status(frame, q, alpha=alpha)
    return frame
