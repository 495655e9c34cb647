"""Adverse-impact statistics pinned to published values (EEOC, NYC DCWP rule) and to
independent implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import fisher_exact
from statsmodels.stats.proportion import confint_proportions_2indep

from signalboard.stats.adverse_impact import (
    add_significance,
    below_four_fifths,
    impact_ratio_ci,
    impact_table,
    impact_tables,
    two_group_p_value,
)

# NYC DCWP 6 RCNY 5-301(b), example A (selection rates), race/ethnicity table: n, selected, and
# the impact ratio the rule prints. Copied from ../shared/oracles/ll144-examples.csv.
EXAMPLE_A_RACE = [
    ("Hispanic or Latino", 408, 204, 0.97),
    ("White", 797, 412, 1.00),
    ("Black or African American", 390, 170, 0.84),
    ("Native Hawaiian or Pacific Islander", 119, 52, 0.85),
    ("Asian", 616, 302, 0.95),
    ("Native American or Alaska Native", 41, 18, 0.85),
    ("Two or More Races", 213, 96, 0.87),
]


def test_eeoc_qa_example() -> None:
    """EEOC 1979 Q&A: hiring rates 60% (white), 45% (American Indian), 48% (Hispanic), 51%
    (Black): ratios 0.75 flagged, 0.80 not flagged, 0.85 not flagged (29 CFR 1607.4(D))."""
    frame = pd.DataFrame(
        {
            "group": ["White", "American Indian", "Hispanic", "Black"],
            "n": [100, 100, 100, 100],
            "selected": [60, 45, 48, 51],
        }
    )
    out = impact_table(frame)
    assert out["impact_ratio"].round(2).tolist() == [1.0, 0.75, 0.8, 0.85]
    assert out["below_four_fifths"].tolist() == [False, True, False, False]
    assert out["reference"].tolist() == [True, False, False, False]


@pytest.mark.parametrize(
    ("s", "n", "s_max", "n_max", "flagged"),
    [
        # (2/3) / (5/6) is exactly 0.8 but 0.7999999999999999 in floating point: not flagged
        (2, 3, 5, 6, False),
        (4, 10, 5, 10, False),  # exactly 0.80
        (8, 20, 10, 20, False),
        (79, 100, 100, 100, True),  # 0.79
        (399, 1000, 500, 1000, True),  # 0.798
        (401, 1000, 500, 1000, False),
        (0, 10, 1, 10, True),
        (45, 100, 60, 100, True),  # EEOC 0.75
    ],
)
def test_four_fifths_exact_arithmetic(
    s: int, n: int, s_max: int, n_max: int, flagged: bool
) -> None:
    """Edge cases from ../shared/oracles/four-fifths.md: compare 5*s*n_max < 4*s_max*n."""
    assert below_four_fifths(s, n, s_max, n_max) is flagged


def test_float_would_get_it_wrong() -> None:
    assert (2 / 3) / (5 / 6) < 0.8  # the trap
    frame = pd.DataFrame({"group": ["a", "b"], "n": [6, 3], "selected": [5, 2]})
    out = impact_table(frame, min_share=0)
    assert not out["below_four_fifths"].any()


def test_z_and_fisher_values_from_example_a() -> None:
    """Values in ../shared/oracles/four-fifths.md computed from example A's counts: Black vs White
    z = -2.623, p = 0.0087, Fisher p = 0.0094; Female vs Male z = -0.502, p = 0.616, Fisher 0.634."""
    p, test = two_group_p_value(170, 390, 412, 797)
    assert test == "z"
    assert p == pytest.approx(0.0087, abs=5e-5)
    fisher = fisher_exact([[170, 220], [412, 385]]).pvalue
    assert fisher == pytest.approx(0.0094, abs=5e-5)
    p, _ = two_group_p_value(555, 1181, 667, 1390)
    assert p == pytest.approx(0.616, abs=5e-4)
    assert fisher_exact([[555, 626], [667, 723]]).pvalue == pytest.approx(0.634, abs=5e-4)


@pytest.mark.parametrize(
    ("s1", "n1", "s2", "n2", "test"),
    [
        (1, 8, 15, 25, "fisher"),  # expected selected in the group 8 x 16/33 = 3.9 < 5
        (2, 20, 15, 25, "z"),  # 20 x 17/45 = 7.6: Cochran's rule holds under 30 applicants
        (3, 400, 4, 500, "fisher"),  # large groups, rare selection: 400 x 7/900 = 3.1
        (0, 40, 30, 40, "z"),  # 40 x 30/80 = 15
    ],
)
def test_exact_test_where_an_expected_count_is_under_five(s1, n1, s2, n2, test) -> None:
    """Cochran's rule (every expected count >= 5) picks the z-test, Fisher's exact otherwise."""
    p, used = two_group_p_value(s1, n1, s2, n2)
    assert used == test
    if test == "fisher":
        assert p == pytest.approx(fisher_exact([[s1, n1 - s1], [s2, n2 - s2]]).pvalue)


def test_passes_four_fifths_yet_significant() -> None:
    """Example A: Black vs White has IR 0.843 (passes) but p = 0.0087: the third state (alone;
    with all six comparisons of the race table BH lifts its q above 0.05)."""
    frame = pd.DataFrame(
        {"group": ["White", "Black or African American"], "n": [797, 390], "selected": [412, 170]}
    )
    out = add_significance(impact_table(frame, min_share=0))
    black = out.set_index("group").loc["Black or African American"]
    assert not black["below_four_fifths"]
    assert black["status"] == "significant_passes_four_fifths"


def test_example_a_race_ratios() -> None:
    """6 RCNY 5-301(b) example A race table: impact ratios as printed (two decimals)."""
    frame = pd.DataFrame(
        [(g, n, s) for g, n, s, _ in EXAMPLE_A_RACE], columns=["group", "n", "selected"]
    )
    out = impact_table(frame, min_share=0)
    assert out["impact_ratio"].round(2).tolist() == [r for *_, r in EXAMPLE_A_RACE]


def test_small_groups_excluded_from_ranking() -> None:
    """A group under 2% is shown with n and rate but neither ranked nor tested, even when its
    rate is the highest."""
    frame = pd.DataFrame(
        {"group": ["a", "b", "tiny"], "n": [500, 500, 10], "selected": [250, 200, 9]}
    )
    out = impact_table(frame)
    tiny = out.set_index("group").loc["tiny"]
    assert tiny["excluded_from_ir"]
    assert np.isnan(tiny["impact_ratio"])
    assert tiny["selection_rate"] == pytest.approx(0.9)
    assert out.set_index("group").loc["a", "reference"]
    assert out.set_index("group").loc["b", "impact_ratio"] == pytest.approx(0.8)


def test_score_ci_matches_statsmodels_koopman() -> None:
    """Independent implementation: statsmodels' score interval for the ratio of two proportions
    without the Miettinen-Nurminen variance factor (correction=False: Koopman 1984), on random
    counts including a zero in the group."""
    rng = np.random.default_rng(3)
    for i in range(30):
        n1, n2 = rng.integers(5, 400, size=2)
        s1, s2 = (0 if i < 3 else rng.integers(1, n1)), rng.integers(1, n2)
        ours = impact_ratio_ci(s1, n1, s2, n2)
        theirs = confint_proportions_2indep(
            s1, n1, s2, n2, compare="ratio", method="score", correction=False
        )
        assert ours[1] == pytest.approx(float(theirs[1]), rel=1e-8)
        # statsmodels' root finder stops near 0 when the group has nobody selected
        assert ours[0] == pytest.approx(float(theirs[0]), rel=1e-8, abs=1e-9)


def test_score_test_matches_statsmodels_and_example_a() -> None:
    """The test the interval inverts: statsmodels' score test of ratio 1 (correction=False), and
    on example A's Black vs White counts z = -2.623, p = 0.0087 (../shared/oracles/four-fifths.md);
    the interval then lies below 1."""
    from statsmodels.stats.proportion import test_proportions_2indep

    from signalboard.stats.adverse_impact import ratio_score_test, ratio_score_z

    assert float(ratio_score_z(170, 390, 412, 797, 1.0)) == pytest.approx(-2.623, abs=5e-4)
    assert float(ratio_score_test(170, 390, 412, 797)) == pytest.approx(0.0087, abs=5e-5)
    assert impact_ratio_ci(170, 390, 412, 797)[1] < 1
    rng = np.random.default_rng(5)
    for _ in range(20):
        n1, n2 = rng.integers(10, 400, size=2)
        s1, s2 = rng.integers(1, n1), rng.integers(1, n2)
        theirs = test_proportions_2indep(
            s1, n1, s2, n2, compare="ratio", method="score", correction=False, value=1
        )
        assert float(ratio_score_test(s1, n1, s2, n2)) == pytest.approx(theirs.pvalue, rel=1e-9)


def test_shortfall_and_flip_flop() -> None:
    """Shortfall = n_g x overall rate - s_g; flip-flop = one more selected undoes the flag."""
    frame = pd.DataFrame({"group": ["a", "b"], "n": [100, 20], "selected": [50, 7]})
    out = impact_table(frame, min_share=0).set_index("group")
    overall = 57 / 120
    assert out.loc["b", "shortfall"] == pytest.approx(20 * overall - 7)
    # 7/20 = 0.35 -> IR 0.70, flagged; 8/20 = 0.40 -> IR 0.80, not flagged: fragile
    assert out.loc["b", "below_four_fifths"] and out.loc["b", "flip_flop"]
    sturdy = impact_table(
        pd.DataFrame({"group": ["a", "b"], "n": [100, 100], "selected": [50, 20]}), min_share=0
    ).set_index("group")
    assert sturdy.loc["b", "below_four_fifths"] and not sturdy.loc["b", "flip_flop"]


def test_unknown_bounds() -> None:
    """All 20 unknowns (10 selected) in group b: b's rate becomes 30/120; proportionally: b gets
    half of them."""
    frame = pd.DataFrame({"group": ["a", "b"], "n": [100, 100], "selected": [50, 20]})
    out = impact_table(frame, unknown_n=20, unknown_selected=10).set_index("group")
    assert out.loc["b", "ir_unknowns_in_group"] == pytest.approx((30 / 120) / 0.5)
    assert out.loc["b", "ir_unknowns_proportional"] == pytest.approx((25 / 110) / (55 / 110))
    # all unknowns in a: a's rate 60/120 = 0.5 -> b unchanged 0.4; lowest is the observed 0.4
    assert out.loc["b", "ir_bound_low"] == pytest.approx(0.4)
    assert out.loc["b", "ir_bound_high"] == pytest.approx(0.5)


def test_bh_over_all_tables_and_states() -> None:
    counts = pd.DataFrame(
        {
            "table": ["t1", "t1", "t2", "t2"],
            "group": ["a", "b", "a", "b"],
            "n": [1000, 1000, 20, 20],
            "selected": [500, 300, 10, 7],
        }
    )
    out = impact_tables(counts, table_columns=["table"], min_share=0)
    tested = out.dropna(subset=["p_value"])
    assert len(tested) == 2
    # BH with two tests: q of the larger p is itself, of the smaller min(2p, larger)
    ps = tested["p_value"].to_numpy()
    assert tested["q_value"].max() == pytest.approx(ps.max())
    assert out["status"].tolist() == [
        "reference",
        "below_four_fifths_significant",
        "reference",
        "below_four_fifths_not_significant",
    ]


def test_z_test_matches_an_independent_chi_square() -> None:
    """Independent implementation on randomized data: the pooled z-test's p equals the p of the
    uncorrected 2x2 chi-square test (z^2 = chi^2)."""
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(11)
    for _ in range(25):
        n1, n2 = rng.integers(30, 500, size=2)
        s1, s2 = rng.integers(n1 // 4, 3 * n1 // 4), rng.integers(n2 // 4, 3 * n2 // 4)
        p, test = two_group_p_value(s1, n1, s2, n2)
        chi = chi2_contingency([[s1, n1 - s1], [s2, n2 - s2]], correction=False)
        assert test == "z"
        assert p == pytest.approx(chi.pvalue, rel=1e-9)


def test_interval_and_p_value_are_the_comparison_with_the_comparator() -> None:
    """Example A's Black vs White: the p-value and the interval both compare the group with the
    comparator (White): p = 0.0087 and an interval below 1, next to an impact ratio of 0.84."""
    frame = pd.DataFrame(
        {"group": ["White", "Black", "Asian"], "n": [797, 390, 616], "selected": [412, 170, 302]}
    )
    out = impact_table(frame).set_index("group")
    assert out.loc["Black", "p_value"] == pytest.approx(0.0087, abs=5e-5)
    assert out.loc["Black", "ir_ci_high"] < 1 < out.loc["Asian", "ir_ci_high"]
    assert out.loc["Black", "ir_ci_low"] < out.loc["Black", "impact_ratio"]
    assert np.isnan(out.loc["White", "p_value"])  # the reference group is not tested
    assert np.isnan(out.loc["White", "ir_ci_low"])


def test_a_small_group_cannot_be_the_comparator() -> None:
    """A 21-person group (2.1%: ranked under the LL144 rule) with the highest rate is compared
    with the comparator, not made the comparator; at a 2% comparator share it would be."""
    frame = pd.DataFrame(
        {"group": ["a", "b", "small"], "n": [600, 379, 21], "selected": [300, 180, 15]}
    )
    out = impact_table(frame, min_comparator_share=0.05).set_index("group")
    assert out["reference"].idxmax() == "a"
    assert not out.loc["small", "excluded_from_ir"]
    assert out.loc["small", "impact_ratio"] == pytest.approx((15 / 21) / 0.5)
    legacy = impact_table(frame, min_comparator_share=0.02).set_index("group")
    assert legacy["reference"].idxmax() == "small"


def test_comparator_share_is_never_under_the_rule() -> None:
    from signalboard.stats.adverse_impact import check_comparator_share

    with pytest.raises(ValueError, match="2%"):
        check_comparator_share(0.01)
    counts = pd.DataFrame({"t": "x", "group": ["a", "b"], "n": [10, 10], "selected": [5, 4]})
    with pytest.raises(ValueError, match="2%"):
        impact_tables(counts, table_columns=["t"], min_comparator_share=0.019)


def test_too_few_to_test_is_not_a_flag() -> None:
    """An expected count under 5: Fisher's exact p in p_exact, status too_few_to_test, no q,
    even with a ratio far below four-fifths."""
    counts = pd.DataFrame(
        {"t": "x", "group": ["a", "b", "c"], "n": [500, 400, 8], "selected": [250, 200, 1]}
    )
    out = impact_tables(counts, table_columns=["t"], min_share=0).set_index("group")
    assert out.loc["c", "below_four_fifths"]
    assert out.loc["c", "test"] == "fisher"
    assert out.loc["c", "status"] == "too_few_to_test"
    assert np.isnan(out.loc["c", "q_value"])
    assert out.loc["c", "p_exact"] == pytest.approx(fisher_exact([[1, 7], [250, 250]]).pvalue)
    assert np.isnan(out.loc["b", "p_exact"])


def test_bh_family_is_every_pair_that_could_be_the_comparison() -> None:
    """One family per step: the pairs of ranked groups of every table of the step, of which at
    least one could be the comparator; a row's q is that of its pair with the comparator."""
    from statsmodels.stats.multitest import multipletests

    from signalboard.stats.adverse_impact import ratio_score_test

    counts = pd.DataFrame(
        {
            "step": ["s1"] * 5 + ["s2"] * 2,
            "attribute": ["sex", "sex", "race", "race", "race", "sex", "sex"],
            "group": ["F", "M", "A", "B", "C", "F", "M"],
            "n": [500, 500, 400, 300, 300, 200, 200],
            "selected": [250, 200, 200, 150, 120, 100, 60],
        }
    )
    out = impact_tables(
        counts, table_columns=["step", "attribute"], family_columns=["step"], min_share=0
    )
    pairs = [(250, 500, 200, 500), (200, 400, 150, 300), (200, 400, 120, 300), (150, 300, 120, 300)]
    p = [float(ratio_score_test(*pair)) for pair in pairs]
    q = multipletests(p, method="fdr_bh")[1]
    got = out.set_index(["step", "group"])["q_value"]
    assert got[("s1", "M")] == pytest.approx(q[0])
    assert got[("s1", "B")] == pytest.approx(q[1])
    assert got[("s1", "C")] == pytest.approx(q[2])
    # the other step is its own family of one pair
    assert got[("s2", "M")] == pytest.approx(float(ratio_score_test(60, 200, 100, 200)))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 400), st.floats(0, 1)), min_size=2, max_size=8),
    st.sampled_from([0.02, 0.05, 0.2]),
)
def test_interval_below_one_exactly_when_significant_and_lower(groups, share) -> None:
    """Property over random tables: for every tested row, the interval lies entirely below 1 if
    and only if p < 0.05 with the group's rate below the comparator's (and above 1 likewise):
    the interval and the p-value are one comparison."""
    n = [size for size, _ in groups]
    selected = [int(round(size * rate)) for size, rate in groups]
    frame = pd.DataFrame({"group": [str(i) for i in range(len(n))], "n": n, "selected": selected})
    out = impact_table(frame, min_share=0, min_comparator_share=share)
    tested = out[out["p_value"].notna()]
    for row in tested.itertuples():
        significant = row.p_value < 0.05
        assert (row.ir_ci_high < 1) == (significant and row.impact_ratio < 1), row
        assert (row.ir_ci_low > 1) == (significant and row.impact_ratio > 1), row
        assert row.ir_ci_low <= row.impact_ratio <= row.ir_ci_high, row


def test_docstring_examples() -> None:
    """The numbers printed in the numpydoc Examples blocks of the fairness modules."""
    import doctest

    from signalboard.analysis import ll144
    from signalboard.stats import adverse_impact, suppression

    for module in (adverse_impact, ll144, suppression):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried > 0 and failures == 0, module.__name__


def test_impact_ratio_figure_draws_the_shown_ratios() -> None:
    """Hidden (suppressed) and excluded groups draw no bar; the others carry their ratio."""
    from dashboard.figures.fairness import impact_ratio_figure

    table = pd.DataFrame(
        {
            "group": ["a", "b", "c"],
            "impact_ratio": [1.0, 0.7, None],
            "ir_ci_low": [0.9, 0.6, None],
            "ir_ci_high": [1.1, 0.8, None],
            "status": ["reference", "below_four_fifths_significant", "excluded"],
        }
    )
    fig = impact_ratio_figure(table)
    bars = {trace.name: (list(trace.y), list(trace.x)) for trace in fig.data}
    assert bars == {"reference": (["a"], [1.0]), "below four fifths significant": (["b"], [0.7])}


def test_vectorized_p_values_equal_the_scalar_test() -> None:
    """`two_group_p_values` (the audit's arrays) gives exactly `two_group_p_value`'s numbers and
    test names, on random counts spanning Fisher (< 30), z, empty groups and all-or-nothing."""
    from signalboard.stats.adverse_impact import two_group_p_values

    rng = np.random.default_rng(7)
    n1 = rng.integers(0, 400, 300)
    n2 = rng.integers(0, 4000, 300)
    s1 = (n1 * rng.random(300)).astype(int)
    s2 = (n2 * rng.random(300)).astype(int)
    s1[:10], s2[:10] = 0, 0  # nobody selected in either group
    s1[10:20], s2[10:20] = n1[10:20], n2[10:20]  # everybody selected
    p, tests = two_group_p_values(s1, n1, s2, n2)
    for i in range(300):
        expected, test = two_group_p_value(s1[i], n1[i], s2[i], n2[i])
        assert tests[i] == test
        assert (np.isnan(p[i]) and np.isnan(expected)) or p[i] == expected, i
    assert {"z", "fisher"} <= set(tests)
