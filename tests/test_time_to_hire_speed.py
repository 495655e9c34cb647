"""The fast paths of the time-to-hire analysis give the same numbers as the plain ones: the
`time_to_hire_applications` query (no text ids, fetched through Arrow) against the
`application_journeys` rows, the one-sort-per-stage Kaplan-Meier against scipy.stats.ecdf, and
the presorted Aalen-Johansen against the one that sorts (issue 7).

The plain paths are pinned to hand-computed values, lifelines and scipy in test_time_to_hire.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis import time_to_hire as tth
from signalboard.db import connect_readonly
from signalboard.queries import run_query


@pytest.fixture(scope="module")
def sample(sample_db):
    con = connect_readonly(sample_db)
    yield con, run_query(con, "application_journeys")
    con.close()


def test_clock_rows_give_the_journeys_tables(sample):
    con, journeys = sample
    rows = tth.load_clock_rows(con)
    assert len(rows) == len(journeys)
    pd.testing.assert_frame_equal(tth.time_to_hire_table(rows), tth.time_to_hire_table(journeys))
    pd.testing.assert_frame_equal(
        tth.stage_duration_table(rows), tth.stage_duration_table(journeys)
    )
    # Same order as the journeys (by application id), so the seeded bootstrap draws the same.
    assert tth.track_comparison(rows) == tth.track_comparison(journeys)
    pd.testing.assert_frame_equal(
        tth.role_comparisons(rows, clock="applied_to_selected"),
        tth.role_comparisons(journeys, clock="applied_to_selected"),
    )
    for clock in tth.CLOCKS:
        pd.testing.assert_frame_equal(
            tth.clock_durations(rows, clock),
            tth.clock_durations(journeys, clock)[["track", "role", "days", "event"]],
        )


def test_clock_rows_take_the_filters(sample):
    con, _ = sample
    role = "data_analyst"
    params = {"roles": [role], "start_date": "2025-03-01"}
    rows = tth.load_clock_rows(con, params)
    journeys = run_query(con, "application_journeys", params)
    assert len(rows) == len(journeys) and set(rows["role"]) <= {role}
    pd.testing.assert_frame_equal(tth.time_to_hire_table(rows), tth.time_to_hire_table(journeys))


@pytest.mark.parametrize("seed", range(5))
def test_presorted_kaplan_meier_is_scipys(seed):
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(1, 80))
        # Coarse times make ties; all-ended, none-ended and mixed samples.
        days = np.sort(rng.integers(0, 12, n) / rng.choice([1.0, 3.0]))
        ended = rng.random(n) < rng.choice([0.0, 0.4, 1.0])
        fast = tth._kaplan_meier_sorted(days, ended)
        plain = tth.kaplan_meier(days, ended)
        np.testing.assert_array_equal(fast.time, plain.time)
        np.testing.assert_array_equal(fast.survival, plain.survival)
        assert (fast.n, fast.censored) == (plain.n, plain.censored)


@pytest.mark.parametrize("seed", range(5))
def test_presorted_aalen_johansen_is_the_sorting_one(seed):
    rng = np.random.default_rng(seed)
    days = rng.integers(0, 40, 500) / 2.0
    events = rng.integers(0, 3, 500)
    plain = tth.aalen_johansen(days, events)
    order = np.argsort(days, kind="stable")
    fast = tth.aalen_johansen(days[order], events[order], presorted=True)
    for field in ("time", "cif", "ci_low", "ci_high", "variance", "at_risk"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(plain, field))


def test_daily_curves_are_the_same_steps_at_whole_days(sample):
    _, journeys = sample
    full = tth.incidence_curves(journeys, by="track")
    daily = tth.incidence_curves(journeys, by="track", resolution_days=1.0)
    assert len(daily) < len(full)
    for group, rows in full.groupby("group"):
        expected = values = None
        kept = daily.loc[daily["group"] == group]
        # A subset of the curve's own rows ...
        merged = kept.merge(rows, on=list(rows.columns), how="left", indicator=True)
        assert (merged["_merge"] == "both").all()
        # ... that gives the same value at the end of every day (just before the next bin).
        days = np.arange(0, int(rows["days"].max()) + 2) + 0.999999
        for curve in (rows, kept):
            index = np.searchsorted(curve["days"].to_numpy(), days, side="right") - 1
            values = curve["cumulative_incidence"].to_numpy()[index]
            if curve is rows:
                expected = values
        np.testing.assert_array_equal(values, expected)


def test_report_tables_are_the_public_functions(sample, sample_settings):
    """report_tables shares one computation of the clocks between the table and the track
    comparison; the results are those of time_to_hire_table, stage_duration_table and
    track_comparison."""
    con, journeys = sample
    tables = {t.name: t for t in tth.report_tables(con, settings=sample_settings)}
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
def test_sorted_logrank_is_scipys(seed):
    """The report's log-rank on presorted days gives scipy.stats.logrank's floats exactly."""
    rng = np.random.default_rng(seed)
    for _ in range(40):
        n = int(rng.integers(2, 300))
        # Coarse times make ties; no censoring, no events in one group, mixed.
        days = rng.integers(0, 30, n) / rng.choice([1.0, 4.0])
        event = rng.choice([0, 1, 2], n, p=rng.dirichlet(np.ones(3)))
        if rng.random() < 0.2:
            event[:] = tth.EVENT
        group = np.where(rng.random(n) < rng.uniform(0.1, 0.9), "a", "b")
        frame = pd.DataFrame({"g": group, "days": days, "event": event})
        plain = tth.logrank(frame[frame["g"] == "a"], frame[frame["g"] == "b"])
        order = np.argsort(days)
        fast = tth._logrank_sorted(days[order], event[order] == tth.EVENT, group[order] == "a")
        np.testing.assert_array_equal(fast, plain)
