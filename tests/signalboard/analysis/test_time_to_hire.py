"""Time to hire: hand-computed tiny fixtures for every number, and the estimators against an
independent implementation (lifelines, test-only) on randomized data.

Hand values: Aalen-Johansen F(t) = sum_{t_i <= t} S(t_i-) d1_i / n_i with S the all-cause
Kaplan-Meier; the comments show the arithmetic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lifelines import AalenJohansenFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test
from lifelines.utils import qth_survival_time

from etl.contract import STAGES
from signalboard.analysis import time_to_hire as tth
from signalboard.db import connect_readonly
from signalboard.queries import run_query

T0 = pd.Timestamp("2025-01-01")

AJ_CASES = [
    # days, events, {t: F(t)}
    # at risk 4,3,2,1; S after t=1: 3/4, t=2: 1/2; F(3) = 1/4 + (1/2)(1/2) = 1/2
    ([1, 2, 3, 4], [1, 2, 1, 0], {0.5: 0.0, 1: 0.25, 2: 0.25, 3: 0.5, 4: 0.5}),
    # no competing events, no censoring: 1 - KM
    ([1, 2, 3, 4], [1, 1, 1, 1], {1: 0.25, 2: 0.5, 3: 0.75, 4: 1.0}),
    # censored at 2: F(3) = 1/3 + S(3-) * 1/1 = 1/3 + 2/3
    ([1, 2, 3], [1, 0, 1], {1: 1 / 3, 2: 1 / 3, 3: 1.0}),
    # only competing events
    ([1, 2], [2, 2], {1: 0.0, 2: 0.0}),
    # a tie of both kinds at 2: F(2) = 1/3, S = 1/3; F(3) = 1/3 + 1/3
    ([2, 2, 3], [1, 2, 1], {2: 1 / 3, 3: 2 / 3}),
]


@pytest.mark.parametrize(("days", "events", "expected"), AJ_CASES)
def test_aalen_johansen_by_hand(days, events, expected):
    result = tth.aalen_johansen(days, events)
    for t, value in expected.items():
        assert result.at(t) == pytest.approx(value), t
    assert (result.ci_low <= result.cif + 1e-12).all() and (
        result.cif <= result.ci_high + 1e-12
    ).all()


@pytest.mark.parametrize(
    ("q", "expected"), [(0.25, 1.0), (0.5, 2.0), (0.75, 3.0), (0.9, 4.0), (1.0, 4.0)]
)
def test_cumulative_incidence_quantiles_by_hand(q, expected):
    assert tth.aalen_johansen([1, 2, 3, 4], [1, 1, 1, 1]).quantile(q) == expected


def test_quantile_not_reached_is_nan():
    result = tth.aalen_johansen([1, 2, 3, 4], [1, 2, 2, 0])
    assert np.isnan(result.quantile(0.5))
    assert np.isnan(result.quantile_ci(0.5)[1])


def test_aalen_johansen_refuses_bad_input():
    with pytest.raises(ValueError):
        tth.aalen_johansen([1, -1], [1, 1])
    with pytest.raises(ValueError):
        tth.aalen_johansen([1, 2], [1, 3])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aalen_johansen_matches_lifelines(seed):
    """Point estimate, Collett variance and log(-log) CI against lifelines' AalenJohansenFitter."""
    rng = np.random.default_rng(seed)
    n = 150
    days = rng.exponential(40.0, n)  # continuous: no ties, so lifelines does not jitter
    events = rng.choice([0, 1, 2], n, p=[0.3, 0.3, 0.4])
    events[np.argmax(days)] = 0  # the last one censored: the variance stays finite
    ours = tth.aalen_johansen(days, events)
    ref = AalenJohansenFitter(calculate_variance=True).fit(days, events, event_of_interest=1)
    times = ref.cumulative_density_.index.to_numpy()
    index = np.searchsorted(ours.time, times)
    np.testing.assert_allclose(ours.time[index], times)
    np.testing.assert_allclose(ours.cif[index], ref.cumulative_density_.iloc[:, 0], atol=1e-12)
    np.testing.assert_allclose(ours.variance[index], ref.variance_.to_numpy(), atol=1e-12)
    # lifelines labels its columns the other way round: "upper" holds exp(-exp(. + z se)), the
    # lower bound. Compare where both are defined (F > 0).
    ci = ref.confidence_interval_.to_numpy()
    lower, upper = np.minimum(ci[:, 0], ci[:, 1]), np.maximum(ci[:, 0], ci[:, 1])
    defined = ~np.isnan(lower)
    np.testing.assert_allclose(ours.ci_low[index][defined], lower[defined], atol=1e-10)
    np.testing.assert_allclose(ours.ci_high[index][defined], upper[defined], atol=1e-10)


KM_CASES = [
    # days, ended, {q: first day by which a share q has ended}
    # S: 3/4 at 1; censored at 2; 3/4 * 1/2 = 3/8 at 3; 0 at 4
    ([1, 2, 3, 4], [True, False, True, True], {0.25: 1.0, 0.5: 3.0, 0.75: 4.0}),
    ([5, 5, 10, 20], [True, True, True, True], {0.5: 5.0, 0.75: 10.0, 0.9: 20.0}),
    # never reaches half: S = 2/3 at 1, then only censored
    ([1, 4, 6], [True, False, False], {0.25: 1.0, 0.5: np.nan}),
]


@pytest.mark.parametrize(("days", "ended", "expected"), KM_CASES)
def test_kaplan_meier_by_hand(days, ended, expected):
    km = tth.kaplan_meier(days, ended)
    for q, value in expected.items():
        np.testing.assert_equal(km.quantile(q), value)


@pytest.mark.parametrize("seed", [3, 4])
def test_kaplan_meier_matches_lifelines(seed):
    rng = np.random.default_rng(seed)
    days = rng.gamma(2.0, 5.0, 120)
    ended = rng.random(120) < 0.7
    ours = tth.kaplan_meier(days, ended)
    ref = KaplanMeierFitter().fit(days, ended).survival_function_
    times = ref.index.to_numpy()[1:]  # lifelines starts with a row at 0
    index = np.searchsorted(ours.time, times)
    np.testing.assert_allclose(ours.survival[index], ref.to_numpy()[1:, 0], atol=1e-12)
    for q in (0.5, 0.75):
        # lifelines: the first time the survival function is at or below 1 - q
        expected = qth_survival_time(1 - q, KaplanMeierFitter().fit(days, ended).survival_function_)
        assert ours.quantile(q) == pytest.approx(expected)


@pytest.mark.parametrize("seed", [5, 6])
def test_logrank_matches_lifelines(seed):
    rng = np.random.default_rng(seed)
    a = pd.DataFrame({"days": rng.exponential(30, 80), "event": rng.choice([0, 1, 2], 80)})
    b = pd.DataFrame({"days": rng.exponential(45, 90), "event": rng.choice([0, 1, 2], 90)})
    statistic, p_value = tth.logrank(a, b)
    ref = logrank_test(a["days"], b["days"], a["event"] == 1, b["event"] == 1)
    assert statistic == pytest.approx(ref.test_statistic, rel=1e-9)
    assert p_value == pytest.approx(ref.p_value, rel=1e-9)


def journey(
    app_id: str,
    *,
    track: str = "micro_internship",
    outcome: str,
    outcome_day: float | None = None,
    reached: dict[str, float] | None = None,
    cohort_start_day: float | None = 10,
    as_of_day: float = 100,
    role: str = "analyst",
) -> dict:
    """One application_journeys row; days are counted from T0 (applied_at)."""
    row = {
        "application_id": app_id,
        "track": track,
        "role": role,
        "cohort_id": "c1" if track == "micro_internship" else None,
        "applied_at": T0,
        "cohort_starts_on": T0 + pd.Timedelta(days=cohort_start_day)
        if cohort_start_day is not None and track == "micro_internship"
        else pd.NaT,
        "outcome": outcome,
        "outcome_at": T0 + pd.Timedelta(days=outcome_day) if outcome_day is not None else pd.NaT,
        "as_of": T0 + pd.Timedelta(days=as_of_day),
    }
    days = {"applied": 0.0} | (reached or {})
    for stage in STAGES:
        row[f"reached_{stage}_at"] = (
            T0 + pd.Timedelta(days=days[stage]) if stage in days else pd.NaT
        )
    return row


CLOCK_ROWS = [
    journey("hired", outcome="hired", outcome_day=40, reached={"selected": 5, "hired": 40}),
    journey("rejected", outcome="rejected", outcome_day=8, reached={"selected": 5}),
    journey("early-no", outcome="withdrew", outcome_day=3),
    journey("waiting", outcome="in_progress"),
    journey("future", outcome="in_progress", reached={"selected": 50}, cohort_start_day=120),
    journey("trad", track="traditional", outcome="hired", outcome_day=70, reached={"hired": 70}),
]

CLOCK_CASES = [
    # clock, {application_id: (days, event)}
    (
        "applied_to_hired",
        {
            "hired": (40, 1),
            "rejected": (8, 2),
            "early-no": (3, 2),
            "waiting": (100, 0),
            "future": (100, 0),
            "trad": (70, 1),
        },
    ),
    # selected micro-internship applications only; a cohort that has not started is not at risk
    ("cohort_start_to_hired", {"hired": (30, 1), "rejected": (0, 2)}),
    # 'trad' has no selected event but was hired, so it was selected by day 70
    (
        "applied_to_selected",
        {
            "hired": (5, 1),
            "rejected": (5, 1),
            "early-no": (3, 2),
            "waiting": (100, 0),
            "future": (50, 1),
            "trad": (70, 1),
        },
    ),
]


@pytest.mark.parametrize(("clock", "expected"), CLOCK_CASES, ids=[c[0] for c in CLOCK_CASES])
def test_clock_durations_by_hand(clock, expected):
    out = tth.clock_durations(pd.DataFrame(CLOCK_ROWS), clock).set_index("application_id")
    got = {k: (float(v.days), int(v.event)) for k, v in out.iterrows()}
    assert got == {k: (float(d), e) for k, (d, e) in expected.items()}


def test_summary_numbers_by_hand():
    # days 10 (hired), 20 (hired), 40 (rejected), 50 (censored): F(10) = 1/4,
    # F(20) = 1/4 + (3/4)(1/3) = 1/2, flat after; median among hires (10 + 20) / 2 = 15.
    durations = pd.DataFrame({"days": [10.0, 20.0, 40.0, 50.0], "event": [1, 1, 2, 0]})
    summary = tth.summarize_clock(durations)
    assert summary["n"] == 4 and summary["hired"] == 2
    assert summary["median_days_among_hired"] == 15.0
    assert summary["p_hired_by_30d"] == pytest.approx(0.5)
    assert summary["p_hired_by_60d"] == pytest.approx(0.5)
    assert summary["p25_days_cif"] == 10.0
    assert summary["median_days_cif"] == 20.0
    assert np.isnan(summary["p75_days_cif"])


def test_time_to_hire_table_columns_and_groups():
    table = tth.time_to_hire_table(pd.DataFrame(CLOCK_ROWS))
    assert list(table.columns[:12]) == [
        "clock",
        "track",
        "segment",
        "n",
        "hired",
        "median_days_among_hired",
        "p_hired_by_30d",
        "p_hired_by_60d",
        "p_hired_by_90d",
        "median_days_cif",
        "median_ci_low",
        "median_ci_high",
    ]
    row = table.loc[
        (table["clock"] == "applied_to_hired")
        & (table["track"] == "traditional")
        & (table["segment"] == "all")
    ].iloc[0]
    assert (row["n"], row["hired"], row["median_days_among_hired"]) == (1, 1, 70.0)
    assert row["p_hired_by_60d"] == 0.0 and row["p_hired_by_90d"] == 1.0


def test_stage_durations_by_hand():
    rows = pd.DataFrame(
        [
            # selected day 2, submitted day 5: 3 days in 'selected'
            journey("a", outcome="in_progress", reached={"selected": 2, "submitted": 5}),
            # selected day 2, still there at the as-of (day 10): censored at 8
            journey("b", outcome="in_progress", reached={"selected": 2}, as_of_day=10),
            # selected day 2, rejected day 6: 4 days
            journey("c", outcome="rejected", outcome_day=6, reached={"selected": 2}),
        ]
    )
    rows["as_of"] = T0 + pd.Timedelta(days=10)
    table = tth.stage_durations(rows).set_index("stage")
    selected = table.loc["selected"]
    # KM over 3 (ended), 4 (ended), 8 (censored): S = 2/3 at 3, 1/3 at 4: median 4.
    assert (selected["n"], selected["still_in_stage"], selected["median_days"]) == (3, 1, 4.0)
    assert np.isnan(selected["p75_days"])
    assert table.loc["applied", "median_days"] == 2.0
    assert "hired" not in table.index


def test_ratio_of_medians_and_bootstrap():
    ratio, low, high = tth.bootstrap_ratio_of_medians(np.array([6.0, 6.0]), np.array([10.0] * 3))
    assert (ratio, low, high) == (0.6, 0.6, 0.6)
    rng = np.random.default_rng(0)
    a, b = rng.gamma(4, 15, 60), rng.gamma(4, 25, 70)
    first = tth.bootstrap_ratio_of_medians(a, b, seed=3)
    assert first == tth.bootstrap_ratio_of_medians(a, b, seed=3)  # seeded: reproducible
    assert first[1] < first[0] < first[2]
    assert first[0] == pytest.approx(np.median(a) / np.median(b))


@pytest.mark.parametrize("n", [201, 200])
def test_sampled_bootstrap_medians_follow_the_exact_distribution(n):
    """The direct sampler of a resample's median against the binomial formula and resampling.

    Odd n = 2k - 1: P(median* <= x_(j)) = P(Binomial(n, j/n) >= k). Coarse values make ties.
    """
    rng = np.random.default_rng(n)
    values = np.sort(np.round(rng.gamma(4, 15, n)))
    sampled = tth._sampled_medians(values, 20_000, np.random.default_rng(1))
    resampled = tth._bootstrap_medians(values, 20_000, np.random.default_rng(2))
    grid = np.unique(values)
    cdf_sampled = np.searchsorted(np.sort(sampled), grid, side="right") / len(sampled)
    cdf_resampled = np.searchsorted(np.sort(resampled), grid, side="right") / len(resampled)
    # Two empirical CDFs of 20,000 draws each: sup distance ~0.014 at the 5% level.
    assert np.max(np.abs(cdf_sampled - cdf_resampled)) < 0.02
    if n % 2:
        from scipy import stats

        j = np.searchsorted(values, grid, side="right")  # x_(j) = the last copy of each value
        exact = stats.binom.sf((n + 1) // 2 - 1, n, j / n)
        assert np.max(np.abs(cdf_sampled - exact)) < 0.015


def test_bootstrap_ratio_routes_agree_within_monte_carlo_error(monkeypatch):
    """Above EXACT_BOOTSTRAP_ROWS the medians are drawn directly; forcing the one-by-one
    resamples on the same data gives the same ratio and a CI within Monte Carlo error."""
    rng = np.random.default_rng(11)
    a, b = rng.gamma(4, 15, 6_001), rng.gamma(4, 25, 5_400)
    direct = tth.bootstrap_ratio_of_medians(a, b, seed=5)
    monkeypatch.setattr(tth, "EXACT_BOOTSTRAP_ROWS", 10_000)
    resampled = tth.bootstrap_ratio_of_medians(a, b, seed=5)
    assert direct[0] == resampled[0] == np.median(a) / np.median(b)
    # The CI half-width is ~0.015 here; 2,000 resamples put its endpoints within ~0.001.
    np.testing.assert_allclose(direct[1:], resampled[1:], atol=0.006)
    assert direct[1] < direct[0] < direct[2]


def test_compare_groups_by_hand():
    durations = pd.DataFrame(
        {
            "track": ["micro_internship"] * 3 + ["traditional"] * 3,
            "days": [30.0, 60.0, 5.0, 50.0, 100.0, 7.0],
            "event": [1, 1, 2, 1, 1, 0],
        }
    )
    result = tth.compare_groups(
        durations, by="track", group_a="micro_internship", group_b="traditional"
    )
    # medians among hires: 45 and 75
    assert (result.median_a, result.median_b, result.ratio) == (45.0, 75.0, 0.6)
    assert (result.n_a, result.hired_a, result.n_b, result.hired_b) == (3, 2, 3, 2)
    assert 0 <= result.p_value <= 1


# --- on the sample warehouse ---------------------------------------------------------------------


def test_sample_track_ratio_is_near_the_generators_speed_up(sample_con):
    """The generator makes the traditional path slower; the measured ratio says by how much."""
    journeys = run_query(sample_con, "application_journeys")
    result = tth.track_comparison(journeys)
    assert result.hired_a > 0 and result.hired_b > 0
    assert result.ci_low < result.ratio < result.ci_high < 1.0
    assert result.p_value < 0.05


def test_report_tables_have_the_issue_columns(sample_settings, sample_db: Path):
    con = connect_readonly(sample_db)
    try:
        tables = {t.name: t.frame for t in tth.report_tables(con, settings=sample_settings)}
    finally:
        con.close()
    assert set(tables) == {"time_to_hire", "stage_durations"}
    assert set(tables["time_to_hire"]["clock"]) == set(tth.CLOCKS)
    for column in ("stage", "n", "still_in_stage", "median_days", "p75_days", "p90_days"):
        assert column in tables["stage_durations"].columns
    durations = tables["stage_durations"]
    assert (durations["still_in_stage"] <= durations["n"]).all()


def test_resampling_docstring_example() -> None:
    """The sampler shared with the stipends analysis: its printed example holds."""
    import doctest

    from signalboard.stats import resampling

    result = doctest.testmod(resampling)
    assert result.attempted > 0 and result.failed == 0
