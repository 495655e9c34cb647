"""The counted paths of the time-to-hire analysis give the same numbers as the plain ones (issue 7).

The report and the page count applications per (clock or stage, track, role, calendar day,
outcome) in DuckDB (`queries/time_to_hire_day_counts.sql`) and run every estimator on those
counts. Here: the query's counts equal `day_counts` of the `application_journeys` rows, every
table is the same from counts and from rows, and the counted Kaplan-Meier and log-rank give
scipy.stats' floats.

The plain paths are pinned to hand-computed values, lifelines and scipy in test_time_to_hire.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalboard.analysis import time_to_hire as tth
from signalboard.db import connect_readonly
from signalboard.queries import run_query

FILTERS = [
    {},
    {"roles": ["data_analyst"], "start_date": "2025-03-01"},
    {"cohorts": ["DA-2025-11-24"]},
    {"start_date": "2027-01-01"},  # nothing applied then: empty counts
]


@pytest.fixture(scope="module")
def sample_con(sample_db):
    con = connect_readonly(sample_db)
    yield con
    con.close()


@pytest.mark.parametrize("params", FILTERS, ids=["all", "role-and-date", "cohort", "empty"])
def test_query_counts_are_the_journeys_counts(sample_con, params):
    counts = tth.load_day_counts(sample_con, params)
    journeys = run_query(sample_con, "application_journeys", params)
    pd.testing.assert_frame_equal(counts, tth.day_counts(journeys))
    assert list(counts.columns) == list(tth.DAY_COUNT_COLUMNS)
    assert tth.row_count(counts) == len(journeys)


@pytest.mark.parametrize("params", FILTERS[:2], ids=["all", "role-and-date"])
def test_tables_from_counts_are_the_tables_from_rows(sample_con, params):
    counts = tth.load_day_counts(sample_con, params)
    journeys = run_query(sample_con, "application_journeys", params)
    pd.testing.assert_frame_equal(tth.time_to_hire_table(counts), tth.time_to_hire_table(journeys))
    pd.testing.assert_frame_equal(
        tth.stage_duration_table(counts), tth.stage_duration_table(journeys)
    )
    assert tth.track_comparison(counts) == tth.track_comparison(journeys)
    for clock in tth.CLOCKS:
        pd.testing.assert_frame_equal(
            tth.role_comparisons(counts, clock=clock), tth.role_comparisons(journeys, clock=clock)
        )
        for by in ("track", "role"):
            pd.testing.assert_frame_equal(
                tth.incidence_curves(counts, clock=clock, by=by),
                tth.incidence_curves(journeys, clock=clock, by=by),
            )


def test_counts_match_one_row_per_application(sample_con):
    """Each clock's counts are its `clock_durations` rows counted: nothing lost or doubled."""
    journeys = run_query(sample_con, "application_journeys")
    counts = tth.load_day_counts(sample_con)
    for clock in tth.CLOCKS:
        durations = tth.clock_durations(journeys, clock)
        on_clock = counts.loc[(counts["kind"] == "clock") & (counts["measure"] == clock)]
        assert on_clock["applications"].sum() == len(durations)
        for event in (tth.CENSORED, tth.EVENT, tth.COMPETING):
            got = on_clock.loc[on_clock["outcome"] == event, "applications"].sum()
            assert got == (durations["event"] == event).sum()
        hires = on_clock.loc[on_clock["outcome"] == tth.EVENT]
        assert np.repeat(hires["days"], hires["applications"]).sum() == (
            durations.loc[durations["event"] == tth.EVENT, "days"].sum()
        )


def test_report_tables_are_the_public_functions(sample_con, sample_settings):
    journeys = run_query(sample_con, "application_journeys")
    tables = {t.name: t for t in tth.report_tables(sample_con, settings=sample_settings)}
    pd.testing.assert_frame_equal(tables["time_to_hire"].frame, tth.time_to_hire_table(journeys))
    pd.testing.assert_frame_equal(
        tables["stage_durations"].frame, tth.stage_duration_table(journeys)
    )
    comparison = tth.track_comparison(journeys)
    assert (
        f"{comparison.ratio:.2f} (95% bootstrap CI {comparison.ci_low:.2f}-"
        f"{comparison.ci_high:.2f}; log-rank p = {comparison.p_value:.3g})"
    ) in tables["time_to_hire"].notes[1]


@pytest.mark.parametrize("seed", range(5))
def test_counted_kaplan_meier_is_scipys(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(1, 80))
        # Whole days make ties; all-ended, none-ended and mixed samples.
        days = rng.integers(0, 12, n).astype(float)
        ended = rng.random(n) < rng.choice([0.0, 0.4, 1.0])
        counted = tth._kaplan_meier_counts(tth._durations_histogram(days, ended.astype(int)))
        plain = tth.kaplan_meier(days, ended)
        np.testing.assert_array_equal(counted.time, plain.time)
        np.testing.assert_array_equal(counted.survival, plain.survival)
        assert (counted.n, counted.censored) == (plain.n, plain.censored)


@pytest.mark.parametrize("seed", range(5))
def test_counted_logrank_is_scipys(seed):
    """The log-rank on counts gives scipy.stats.logrank's floats exactly."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(2, 300))
        # Whole days make ties; no censoring, no events in one group, mixed.
        days = rng.integers(0, 30, n).astype(float)
        event = rng.choice([0, 1, 2], n, p=rng.dirichlet(np.ones(3)))
        if rng.random() < 0.2:
            event[:] = tth.EVENT
        in_a = rng.random(n) < rng.uniform(0.1, 0.9)
        frame = pd.DataFrame({"days": days, "event": event})
        with np.errstate(invalid="ignore", divide="ignore"):
            # Zero variance (e.g. one group empty at every event time): scipy returns NaN too.
            plain = tth.logrank(frame[in_a], frame[~in_a])
        counted = tth._logrank_counts(
            tth._durations_histogram(days[in_a], event[in_a]),
            tth._durations_histogram(days[~in_a], event[~in_a]),
        )
        np.testing.assert_array_equal(counted, plain)


def test_counted_logrank_does_not_overflow_at_scale():
    """At a million applications the products of at-risk counts pass 2**63 (integer arithmetic,
    as scipy's, would wrap around); in floats the counted log-rank of 2 million applications
    matches lifelines' logrank_test given the same counts as case weights."""
    from lifelines.statistics import logrank_test

    rng = np.random.default_rng(8)
    days = rng.integers(0, 200, 400).astype(float)
    event = rng.choice([0, 1, 2], 400, p=[0.2, 0.3, 0.5])
    in_a = rng.random(400) < 0.5
    k = 5_000
    a = tth._durations_histogram(days[in_a], event[in_a])
    b = tth._durations_histogram(days[~in_a], event[~in_a])
    big_a, big_b = tth._Histogram(a.days, a.counts * k), tth._Histogram(b.days, b.counts * k)
    statistic, p_value = tth._logrank_counts(big_a, big_b)

    def weighted(histogram):
        rows = np.argwhere(histogram.counts > 0)
        days_, outcome = histogram.days[rows[:, 0]], rows[:, 1]
        return days_, outcome == tth.EVENT, histogram.counts[rows[:, 0], rows[:, 1]]

    (days_a, hit_a, w_a), (days_b, hit_b, w_b) = weighted(big_a), weighted(big_b)
    ref = logrank_test(days_a, days_b, hit_a, hit_b, weights_A=w_a, weights_B=w_b)
    assert big_a.n + big_b.n == 2_000_000
    assert statistic == pytest.approx(ref.test_statistic, rel=1e-9)
    assert p_value == pytest.approx(ref.p_value, rel=1e-6, abs=1e-300)


def test_calendar_days_count_dates_not_hours():
    """23:00 to 01:00 the next day is one calendar day; 00:10 to 23:50 the same day is none."""
    start = np.array(["2025-01-01T23:00", "2025-01-01T00:10", "NaT"], dtype="datetime64[us]")
    end = np.array(["2025-01-02T01:00", "2025-01-01T23:50", "2025-01-03"], dtype="datetime64[us]")
    days = tth._calendar_days(end, start)
    assert days[:2].tolist() == [1.0, 0.0] and np.isnan(days[2])
