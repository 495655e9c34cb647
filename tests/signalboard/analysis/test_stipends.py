"""The stipend equity analysis (signalboard/analysis/stipends.py) on small generated frames.

Statistics are checked against statsmodels fitted independently here (formula API, HC3) and
against hand computations; calibration runs over seeded synthetic data (planted gap recovered
inside its CI; null data significant at no more than the nominal 5%).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from signalboard.analysis import stipends as sa
from signalboard.stats import pay_gap, pay_policy, pay_reporting
from tests.oracles import stipends as oracle

ROLES = np.array(["data_analyst", "engineer", "designer"])


def synthetic(
    n: int = 300, *, seed: int = 0, female_gap: float = 0.0, with_location_pay: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Applications whose log real stipend depends on role and hours; women get (1 + gap)."""
    rng = np.random.default_rng(seed)
    role = rng.choice(ROLES, n)
    hours = rng.choice([10.0, 20.0, 40.0], n)
    length = rng.choice([7, 14, 28], n)
    price = rng.choice([88.0, 100.0, 112.6, 117.55], n)
    sex = rng.choice(["Female", "Male"], n)
    race = rng.choice(["Asian", "White", "Black or African American"], n, p=[0.3, 0.5, 0.2])
    log_real = (
        6.0
        + 0.3 * (role == "engineer")
        + 0.02 * hours
        + np.log1p(female_gap) * (sex == "Female")
        + rng.normal(0, 0.15, n)
    )
    real = np.exp(log_real)
    usd = real * price / 100
    ids = [f"a{i:04d}" for i in range(n)]
    apps = pd.DataFrame(
        {
            "application_id": ids,
            "cohort_id": [f"c{i % 12}" for i in range(n)],
            "role": role,
            "cohort_length_days": length,
            "estimated_hours": hours,
            "hours_logged": np.nan,
            "country": "US",
            "region": "US-CA",
            "metro": None,
            "price_level": price,
            "col_source": "BEA MARPP",
            "col_vintage": "2023",
            "stipend_amount": usd,
            "stipend_currency": "USD",
            "stipend_usd": usd,
            "real_stipend_usd": real,
            "hourly_usd": usd / hours,
        }
    )
    attrs = pd.concat(
        [
            pd.DataFrame({"application_id": ids, "attribute": "sex", "value": sex}),
            pd.DataFrame({"application_id": ids, "attribute": "race_ethnicity", "value": race}),
        ],
        ignore_index=True,
    )
    return apps, attrs


def _sex_frame(apps: pd.DataFrame, attrs: pd.DataFrame) -> pd.DataFrame:
    groups = oracle.attribute_groups(attrs)
    return oracle._with_group(apps, groups["sex"])


def test_raw_gap_by_hand() -> None:
    """Means 100 vs 80 -> -20%; medians 100 vs 70 -> -30%; real means 100 vs 100 -> 0%."""
    frame = pd.DataFrame(
        {
            "group": ["M", "M", "M", "F", "F", "F"],
            "stipend_usd": [100.0, 100.0, 100.0, 70.0, 70.0, 100.0],
            "real_stipend_usd": [100.0, 100.0, 100.0, 100.0, 100.0, 100.0],
        }
    )
    gaps = oracle.raw_gaps(frame, reference="M").set_index("group")
    assert gaps.loc["F", "raw_gap_pct_nominal"] == pytest.approx(-20.0)
    assert gaps.loc["F", "median_gap_pct_nominal"] == pytest.approx(-30.0)
    assert gaps.loc["F", "raw_gap_pct_real"] == pytest.approx(0.0)
    assert gaps.loc["M", "raw_gap_pct_nominal"] == pytest.approx(0.0)
    assert np.isnan(gaps.loc["M", "raw_gap_pct_nominal_ci_low"])  # no interval vs itself
    low, high = gaps.loc["F", ["raw_gap_pct_nominal_ci_low", "raw_gap_pct_nominal_ci_high"]]
    assert low < -20.0 < high


def test_docstring_examples() -> None:
    frame = pd.DataFrame(
        {"group": ["a", "a", "b", "b"], "stipend_usd": [100.0, 100, 90, 90],
         "real_stipend_usd": [100.0, 100, 100, 100]}
    )  # fmt: skip
    assert oracle.raw_gaps(frame, reference="a").set_index("group").loc[
        "b", "raw_gap_pct_nominal"
    ] == (pytest.approx(-10.0))
    rng = np.random.default_rng(1)
    n = 200
    frame = pd.DataFrame(
        {"group": np.repeat(["a", "b"], n // 2), "role": "analyst", "cohort_length_days": 10,
         "estimated_hours": rng.choice([10, 20], n), "price_level": 100.0}
    )  # fmt: skip
    frame["real_stipend_usd"] = np.exp(
        6 + np.where(frame["group"] == "b", np.log(0.9), 0) + rng.normal(0, 0.05, n)
    )
    assert round(oracle.adjusted_gap(frame, group="b", reference="a").estimate_pct) == -10


@pytest.mark.parametrize("with_location", [False, True])
def test_adjusted_gap_matches_statsmodels_formula(with_location: bool) -> None:
    apps, attrs = synthetic(240, seed=3, female_gap=-0.08)
    frame = _sex_frame(apps, attrs)
    ours = oracle.adjusted_gap(frame, group="Female", reference="Male", with_location=with_location)
    data = frame.assign(
        y=np.log(frame["real_stipend_usd"]),
        female=(frame["group"] == "Female").astype(float),
        tier=pay_gap.col_tier(frame["price_level"]).astype(str),
    )
    formula = "y ~ female + C(role) + cohort_length_days + np.log(estimated_hours)"
    if with_location:
        formula += " + C(tier) + np.log(price_level)"
    independent = smf.ols(formula, data=data).fit(cov_type="HC3")
    beta, se = independent.params["female"], independent.bse["female"]
    # HC3 errors with a Student t reference on the smaller group's df (Welch-type)
    df = min(ours.n_group, ours.n_reference) - 1
    low, high = beta + np.array([-1, 1]) * stats.t.ppf(0.975, df) * se
    assert ours.method == "ols_hc3" and ours.n == 240
    assert ours.estimate_pct == pytest.approx(100 * (np.exp(beta) - 1), rel=1e-9)
    assert ours.ci_low == pytest.approx(100 * (np.exp(low) - 1), rel=1e-9)
    assert ours.ci_high == pytest.approx(100 * (np.exp(high) - 1), rel=1e-9)
    assert ours.p_value == pytest.approx(2 * stats.t.sf(abs(beta / se), df), rel=1e-7)


def test_planted_gap_recovered_inside_ci_over_seeds() -> None:
    """A planted -8% within-role gap: inside the 95% CI in at least 9 of 10 seeds."""
    covered = 0
    for seed in range(10):
        apps, attrs = synthetic(300, seed=seed, female_gap=-0.08)
        est = oracle.adjusted_gap(_sex_frame(apps, attrs), group="Female", reference="Male")
        covered += est.ci_low <= -8.0 <= est.ci_high
        assert est.p_value < 0.05
    assert covered >= 9


def test_null_data_false_positive_rate_at_nominal() -> None:
    """No planted gap: p < 0.05 for at most the nominal 5% (+ 2 binomial SE) of 200 seeds."""
    significant = 0
    seeds = 200
    for seed in range(seeds):
        apps, attrs = synthetic(120, seed=1000 + seed)
        est = oracle.adjusted_gap(_sex_frame(apps, attrs), group="Female", reference="Male")
        significant += est.p_value < 0.05
    rate = significant / seeds
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / seeds), rate


def test_small_comparison_gets_cohort_view() -> None:
    apps, attrs = synthetic(60, seed=5)
    frame = _sex_frame(apps, attrs)
    frame.loc[frame.index[:4], "group"] = "Tiny"
    est = oracle.adjusted_gap(frame, group="Tiny", reference="Male")
    assert est.method == "too_few_to_model" and np.isnan(est.estimate_pct)
    big = oracle.adjusted_gap(frame.iloc[:25], group="Female", reference="Male")
    assert big.method == "too_few_to_model"  # fewer than 30 people in the comparison
    view = oracle.cohort_view(frame, group="Female", reference="Male")
    row = view[(view["n_group"] >= 2) & (view["n_reference"] >= 2)].iloc[0]
    part = frame[frame["cohort_id"] == row["cohort_id"]]
    x = part.loc[part["group"] == "Female", "real_stipend_usd"]
    r = part.loc[part["group"] == "Male", "real_stipend_usd"]
    assert row["welch_p_value"] == pytest.approx(stats.ttest_ind(x, r, equal_var=False).pvalue)
    assert row["mann_whitney_p_value"] == pytest.approx(stats.mannwhitneyu(x, r).pvalue)


def test_gap_table_columns_reference_and_notes() -> None:
    apps, attrs = synthetic(300, seed=2, female_gap=-0.1)
    groups = oracle.attribute_groups(attrs)
    assert list(groups) == ["sex", "race_ethnicity", "sex / race_ethnicity"]
    gaps, cohort_tests = oracle.gap_table(apps, groups, n_boot=50)
    assert list(gaps.columns[: len(sa.STIPEND_COLUMNS)]) == list(sa.STIPEND_COLUMNS)
    sex = gaps[gaps["attribute"] == "sex"].set_index("group")
    assert set(sex["reference_group"]) == {"Male"}  # highest paid by default
    assert sex.loc["Male", "method"] == "reference"
    assert sex.loc["Female", "method"] == "ols_hc3"
    assert -16 < sex.loc["Female", "adjusted_gap_pct"] < -4
    chosen, _ = oracle.gap_table(apps, groups, reference={"sex": "Female"}, n_boot=0)
    assert set(chosen.loc[chosen["attribute"] == "sex", "reference_group"]) == {"Female"}
    # every intersection group is listed, modelled or explained
    inter = gaps[gaps["attribute"] == "sex / race_ethnicity"]
    assert len(inter) == 6 and inter["method"].notna().all()


def test_location_based_pay_separates_the_two_views() -> None:
    """Same nominal pay everywhere, but women mostly live in expensive metros: their real stipend
    is lower. Without location the adjusted gap shows it; with location it is about 0, so a
    reviewer sees the gap comes from where people live, not from pay within a place."""
    apps, attrs = synthetic(400, seed=8)
    frame = _sex_frame(apps, attrs)
    rng = np.random.default_rng(8)
    women = frame["group"] == "Female"
    expensive = rng.random(len(frame)) < np.where(women, 0.8, 0.2)
    frame["price_level"] = np.where(expensive, 117.55, 88.0)
    frame["real_stipend_usd"] = frame["stipend_usd"] / (frame["price_level"] / 100)
    plain = oracle.adjusted_gap(frame, group="Female", reference="Male")
    located = oracle.adjusted_gap(frame, group="Female", reference="Male", with_location=True)
    assert plain.method == located.method == "ols_hc3"
    assert plain.estimate_pct < -10 and plain.p_value < 0.001
    assert located.ci_low < 0 < located.ci_high or abs(located.estimate_pct) < 3
    # everyone of one group in one tier: the gap with location cannot be separated from it
    frame["price_level"] = np.where(women, 117.55, 88.0)
    confounded = oracle.adjusted_gap(frame, group="Female", reference="Male", with_location=True)
    assert confounded.method == "not_identifiable" and np.isnan(confounded.estimate_pct)


def test_outliers_and_remediation_are_group_blind() -> None:
    apps, attrs = synthetic(300, seed=4, female_gap=-0.12)
    apps.loc[7, ["stipend_usd", "real_stipend_usd"]] = (
        apps.loc[7, ["stipend_usd", "real_stipend_usd"]] * 0.4
    )
    preds = oracle.group_neutral_predictions(apps)
    assert bool(preds.set_index("application_id").loc["a0007", "low_outlier"])
    row = preds.set_index("application_id").loc["a0007"]
    assert row["residual_pct"] == pytest.approx(
        100 * (apps.loc[7, "real_stipend_usd"] / row["predicted_real_usd"] - 1)
    )
    plan = oracle.remediation_plan(apps, preds, tolerance_pct=5.0)
    assert list(plan.columns[:4]) == ["application_id", "current_usd", "proposed_usd", "raise_usd"]
    assert (plan["raise_usd"] > 0).all()
    assert np.allclose(plan["proposed_usd"] - plan["current_usd"], plan["raise_usd"], atol=0.011)
    # group-blind: the same plan whatever the group labels say
    shuffled = attrs.assign(value=attrs["value"].sample(frac=1, random_state=1).to_numpy())
    analysis = oracle.analyze(apps, attrs, reference={"sex": "Male"}, n_boot=0)
    reshuffled = oracle.analyze(apps, shuffled, reference={"sex": "Male"}, n_boot=0)
    pd.testing.assert_frame_equal(analysis.remediation, reshuffled.remediation)
    # after the raises the adjusted gap shrinks towards zero
    effect = analysis.remediation_effect.set_index(["attribute", "group"]).loc[("sex", "Female")]
    assert effect["adjusted_gap_pct_before"] < -8
    assert abs(effect["adjusted_gap_pct_after"]) < 0.75 * abs(effect["adjusted_gap_pct_before"])
    assert analysis.remediation_cost_usd == pytest.approx(plan["raise_usd"].sum())


def test_policy_flags() -> None:
    apps = pd.DataFrame(
        {
            "application_id": ["ok", "unpaid", "cheap", "tier", "nocol", "nofx"],
            "cohort_id": ["c1", "c1", "c1", "c2", "c1", "c1"],
            "stipend_amount": [600.0, 0.0, 150.0, 900.0, 600.0, 600.0],
            "stipend_currency": ["USD", "USD", "USD", "USD", "USD", "ZZZ"],
            "stipend_usd": [600.0, 0.0, 150.0, 900.0, 600.0, np.nan],
            "estimated_hours": [20.0, 20.0, 10.0, 20.0, 20.0, 20.0],
            "price_level": [100.0, 100.0, 100.0, 100.0, np.nan, 100.0],
            "country": ["US", "US", "US", "US", "XX", "US"],
            "region": ["US-CA", "US-CA", "US-CA", "US-CA", None, "US-CA"],
            "metro": [None, None, "41860", None, None, None],
        }
    )
    tiers = pd.DataFrame(
        {"cohort_id": ["c1", "c2"], "tier": ["A", "B"], "min_usd": [0, 400], "max_usd": [800, 800]}
    )
    flags = pay_policy.policy_flags(apps, pay_floor_per_hour=20.0, tiers=tiers)
    got = set(zip(flags["application_id"], flags["reason"], strict=True))
    assert got == {
        ("unpaid", "unpaid"),
        ("cheap", "below_pay_floor"),  # $15 per estimated hour
        ("tier", "outside_tier"),
        ("nocol", "missing_cost_of_living"),
        ("nofx", "missing_fx_rate"),
    }
    detail = flags.set_index("reason").loc["below_pay_floor", "detail"]
    assert "$15.00 per estimated hour" in detail
    assert set(pay_policy.policy_flags(apps, pay_floor_per_hour=10.0)["reason"]) == {
        "unpaid", "missing_cost_of_living", "missing_fx_rate",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("pay", "sex", "expected"),
    [
        # 8 people on one pay rate, 4 men and 4 women: each band 1 man and 1 woman (reg 13(2)).
        ([10.0] * 8, ["Male"] * 4 + ["Female"] * 4, {b: (1, 1) for b in range(1, 5)}),
        # Distinct pay: bands are the ranks in fours of two.
        (
            [1, 2, 3, 4, 5, 6, 7, 8],
            ["Female", "Female", "Female", "Male", "Female", "Male", "Male", "Male"],
            {1: (0, 2), 2: (1, 1), 3: (1, 1), 4: (2, 0)},
        ),
        # A tie of 4 men and 2 women across bands 2-4 (positions 3-8): 2 men 1 woman per 2 bands.
        (
            [1, 1, 5, 5, 5, 5, 5, 5],
            ["Female", "Male", "Male", "Male", "Female", "Male", "Male", "Female"],
            {1: (1, 1), 2: (1, 1), 3: (2, 0), 4: (1, 1)},
        ),
    ],
)
def test_uk_quartile_bands_tie_rule(pay, sex, expected) -> None:
    bands = pay_reporting.uk_quartile_bands(pd.Series(pay, dtype=float), pd.Series(sex))
    got = {}
    for band in range(1, 5):
        members = [s for s, b in zip(sex, bands, strict=True) if b == band]
        got[band] = (members.count("Male"), members.count("Female"))
    assert got == expected


def test_eu_uk_reporting_by_hand() -> None:
    """Men 20, 20, 30 (mean 23.33, median 20); women 15, 20 (mean 17.5, median 17.5):
    mean gap 100 * (23.33 - 17.5) / 23.33 = 25%, median gap 12.5%."""
    frame = pd.DataFrame(
        {
            "group": ["Male", "Male", "Male", "Female", "Female"],
            "hourly_usd": [20.0, 20.0, 30.0, 15.0, 20.0],
            "role": ["a", "a", "b", "a", "a"],
        }
    )
    summary, quartiles, categories = pay_reporting.pay_gap_reporting(frame)
    assert summary.loc[0, "mean_gap_pct"] == pytest.approx(25.0)
    assert summary.loc[0, "median_gap_pct"] == pytest.approx(12.5)
    assert len(quartiles) == 8
    assert quartiles.groupby("band")["pct"].sum().tolist() == pytest.approx([100.0] * 4)
    cat = categories.set_index("category")
    # role a: men 20, 20 vs women 15, 20 -> 12.5% >= 5%: flagged; role b has no women
    assert cat.loc["a", "mean_gap_pct"] == pytest.approx(12.5) and bool(cat.loc["a", "eu_flag"])
    assert not bool(cat.loc["b", "eu_flag"])


def test_vintage_warning() -> None:
    apps, _ = synthetic(10, seed=1)
    assert sa.vintage_warnings(apps) == ()
    apps.loc[0, ["col_source", "col_vintage"]] = ["World Bank PA.NUS.PRVT.PLI", "2021"]
    (warning,) = sa.vintage_warnings(apps)
    assert "2021, 2023" in warning and "World Bank PA.NUS.PRVT.PLI 2021: 1" in warning


def test_public_tables_suppress_small_groups() -> None:
    apps, attrs = synthetic(200, seed=6)
    attrs.loc[(attrs["attribute"] == "sex") & (attrs.index < 3), "value"] = "Another value"
    analysis = oracle.analyze(apps, attrs, n_boot=0, include_intersections=False)
    tables = sa.public_tables(analysis, k=5)
    assert {"stipends", "stipend_flags", "remediation"} <= set(tables)
    sex = tables["stipends"].set_index(["attribute", "group"]).loc["sex"]
    assert sex.loc["Another value", "n"] == "<5"
    assert pd.isna(sex.loc["Another value", "mean_real_usd"])
    assert sex["suppressed"].any()
    raw = analysis.gaps.set_index(["attribute", "group"]).loc["sex"]
    assert raw.loc["Another value", "n"] == 3


@pytest.mark.parametrize(
    "case", ["no_attributes", "no_price_levels", "one_application", "empty", "one_role"]
)
def test_analysis_survives_degenerate_inputs(case: str) -> None:
    apps, attrs = synthetic(50, seed=1)
    if case == "no_attributes":
        attrs = attrs.iloc[:0]
    elif case == "no_price_levels":
        apps = apps.assign(price_level=np.nan, real_stipend_usd=np.nan)
    elif case == "one_application":
        apps, attrs = apps.iloc[:1], attrs[attrs["application_id"] == "a0000"]
    elif case == "empty":
        apps, attrs = apps.iloc[:0], attrs.iloc[:0]
    else:
        apps = apps.assign(role="x", estimated_hours=10.0, cohort_length_days=7)
    analysis = oracle.analyze(apps, attrs, n_boot=20)
    tables = sa.public_tables(analysis)
    assert list(tables["stipends"].columns[: len(sa.STIPEND_COLUMNS)]) == list(sa.STIPEND_COLUMNS)
    if case == "no_price_levels":
        assert analysis.remediation.empty
        assert (analysis.flags["reason"] == "missing_cost_of_living").sum() == len(apps)


def test_public_tables_hide_n_and_n_real_together() -> None:
    """A group's n and n_real (with a price level) differ by the people without one: when one
    is hidden the other must be too, or it gives the hidden count back."""
    apps, attrs = synthetic(200, seed=6)
    # group "Another value": 3 people; race "Asian" loses 3 price levels
    attrs.loc[(attrs["attribute"] == "sex") & (attrs.index < 3), "value"] = "Another value"
    analysis = oracle.analyze(apps, attrs, n_boot=0, include_intersections=False)
    shown = sa.public_tables(analysis, k=5)["stipends"]
    hidden_n = shown["n"].map(lambda v: isinstance(v, str))
    hidden_real = shown["n_real"].map(lambda v: isinstance(v, str))
    assert hidden_n.any()
    assert (hidden_n == hidden_real).all()
    quartiles = sa.public_tables(analysis, k=5)["stipend_pay_quartiles"]
    assert len(quartiles) == 8 and "suppressed" in quartiles


def test_gap_figure_traces() -> None:
    from dashboard.figures.stipends import gap_figure

    apps, attrs = synthetic(300, seed=2, female_gap=-0.1)
    gaps, _ = oracle.gap_table(apps, oracle.attribute_groups(attrs), n_boot=0)
    sex = gaps[gaps["attribute"] == "sex"]
    figure = gap_figure(sex, title="sex")
    assert [t.name for t in figure.data] == ["raw (real)", "adjusted", "adjusted, with location"]
    adjusted = figure.data[1]
    assert list(adjusted.y) == ["Female"]  # the reference has no bar
    female = sex.set_index("group").loc["Female"]
    assert adjusted.x[0] == pytest.approx(female["adjusted_gap_pct"])
    assert adjusted.error_x.arrayminus[0] == pytest.approx(
        female["adjusted_gap_pct"] - female["adjusted_ci_low"]
    )
