"""The SQL path of the funnel (counts per segment and stage state aggregated in DuckDB) gives the
same tables as the pandas path on one row per application: on the sample warehouse, with filters,
changed windows, several breakdowns and self-ID attributes, and on hand-made rows whose pending
status flips at a window's edge.

The pandas path is pinned to hand-computed numbers in tests/signalboard/analysis/test_funnel.py; equality here carries
those numbers over to the path the report and the page use at scale (issue 7).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from etl.warehouse import build_derived, connect_writable, create_schema
from signalboard.analysis import funnel
from signalboard.db import query_df
from signalboard.queries import run_query

WINDOW_CASES = [
    None,
    {"selected": 3},
    {"traditional": {"selected": 400, "take_home_passed": 1}, "submitted": 5},
    {"micro_internship": {"triage_passed": 0.5, "submitted": funnel.COHORT_LENGTH}},
]
BREAKDOWNS = [(), ("role",), ("track", "sex"), ("cohort_id", "source"), ("region",)]


@pytest.fixture(scope="module")
def sample(sample_db):
    from signalboard.db import connect_readonly

    con = connect_readonly(sample_db)
    journeys = run_query(con, "application_journeys")
    demographics = run_query(con, "funnel_demographic_attributes")
    yield con, journeys, demographics
    con.close()


@pytest.mark.parametrize("windows", WINDOW_CASES)
@pytest.mark.parametrize("by", BREAKDOWNS)
def test_sql_funnel_equals_pandas_funnel(sample, by, windows):
    con, journeys, demographics = sample
    expected = funnel.funnel_table(journeys, by=by, windows=windows, demographics=demographics)
    counts = funnel.stage_counts(con, by=by, windows=windows)
    pd.testing.assert_frame_equal(funnel.funnel_table_from_counts(counts, by=by), expected)


@pytest.mark.parametrize("windows", WINDOW_CASES[:2])
def test_sql_trends_equal_pandas_trends(sample, windows):
    con, journeys, _ = sample
    counts = funnel.stage_counts(con, by=funnel.TREND_KEYS, windows=windows)
    pd.testing.assert_frame_equal(
        funnel.cohort_trends_from_counts(counts), funnel.cohort_trends(journeys, windows=windows)
    )


def test_report_counts_give_the_pandas_report(sample):
    con, journeys, demographics = sample
    counts = funnel.report_counts(con)
    pd.testing.assert_frame_equal(
        funnel.report_funnel_from_counts(counts, k=5),
        funnel.report_funnel(journeys, demographics, k=5),
    )
    pd.testing.assert_frame_equal(
        funnel.funnel_alerts(funnel.cohort_trends_from_counts(counts["trends"])),
        funnel.funnel_alerts(funnel.cohort_trends(journeys)),
    )
    assert funnel.funnel_summary(counts["all"]) == {
        "applications": len(journeys),
        "hired": int(journeys["reached_hired_at"].notna().sum()),
        "in_progress": int((journeys["outcome"] == "in_progress").sum()),
    }


def test_filters_apply_to_the_sql_path(sample):
    con, _, _ = sample
    role = query_df(con, "select min(role) as r from applications")["r"].item()
    params = {"roles": [role], "start_date": dt.date(2025, 3, 1), "end_date": None}
    journeys = run_query(con, "application_journeys", params)
    counts = funnel.stage_counts(con, by=["region"], params=params)
    pd.testing.assert_frame_equal(
        funnel.funnel_table_from_counts(counts, by=["region"]),
        funnel.funnel_table(journeys, by=["region"]),
    )


def test_pending_at_the_window_edge_matches(tmp_path):
    """Hand-made warehouse: selected 2025-01-03 into a 14-day cohort starting 2025-01-10, so the
    submission window closes 2025-01-24 00:00; an as-of one microsecond before is pending, at
    the edge is not. A traditional application 20 days at applied waits in its 60-day window.
    """
    path = tmp_path / "w.duckdb"
    con = connect_writable(path)
    create_schema(con)
    applied = dt.datetime(2025, 1, 1)
    con.execute(
        "insert into cohorts (cohort_id, starts_on, ends_on) values "
        "('c1', date '2025-01-10', date '2025-01-23')"
    )
    for app_id, track, cohort in [("a", "micro_internship", "c1"), ("t", "traditional", None)]:
        con.execute(
            "insert into applications (application_id, candidate_id, track, cohort_id, role, "
            "applied_at) values ($a, $c, $t, $k, 'analyst', $at)",
            {"a": app_id, "c": f"cand-{app_id}", "t": track, "k": cohort, "at": applied},
        )
    con.execute(
        "insert into stage_events (application_id, event, occurred_at) values "
        "('a', 'applied', $t0), ('a', 'selected', $t1), ('t', 'applied', $t0)",
        {"t0": applied, "t1": dt.datetime(2025, 1, 3)},
    )
    results = {}
    for as_of in (dt.datetime(2025, 1, 23, 23, 59, 59, 999999), dt.datetime(2025, 1, 24)):
        con.execute("delete from loads")
        con.execute(
            "insert into loads by name select 1 as load_id, $a as started_at, $a as finished_at, "
            "$a as as_of, false as strict, 1 as files, 3 as rows_read, 3 as rows_loaded, "
            "0 as rows_rejected",
            {"a": as_of},
        )
        build_derived(con)
        journeys = run_query(con, "application_journeys")
        expected = funnel.funnel_table(journeys, by=["track"])
        got = funnel.funnel_table_from_counts(funnel.stage_counts(con, by=["track"]), by=["track"])
        pd.testing.assert_frame_equal(got, expected)
        results[as_of.day] = got.set_index(["track", "stage"])["pending"]
    assert results[23][("micro_internship", "submitted")] == 1
    assert results[24][("micro_internship", "submitted")] == 0
    assert results[24][("traditional", "selected")] == 1
    con.close()


@pytest.mark.parametrize("stage", ["applied", "selected", "submitted", "hired"])
@pytest.mark.parametrize("status", ["reached", "pending", "dropped", "denominator"])
@pytest.mark.parametrize(
    "segment", [None, {"track": "traditional"}, {"region": funnel.BLANK, "role": "data_analyst"}]
)
def test_sql_drill_through_equals_pandas_drill_through(sample, stage, status, segment):
    con, journeys, _ = sample
    expected = funnel.drill_through(journeys, stage=stage, status=status, segment=segment)
    rows, total = funnel.drill_through_rows(
        con, stage=stage, status=status, segment=segment, limit=None
    )
    assert total == len(expected)
    pd.testing.assert_frame_equal(rows, expected)
    first, total_again = funnel.drill_through_rows(
        con, stage=stage, status=status, segment=segment, limit=3
    )
    assert total_again == total
    pd.testing.assert_frame_equal(first, expected.head(3))


def test_sql_drill_through_refuses_demographic_segments(sample):
    con, _, _ = sample
    with pytest.raises(ValueError, match="aggregate only"):
        funnel.drill_through_rows(con, stage="selected", segment={"sex": "Male"})


def random_warehouse(path, seed: int) -> None:
    """A small warehouse of random journeys with the awkward cases: applications without any
    event, with only a rejection, with events out of funnel order, repeated events, a cohort
    without dates, a cohort id that is not in cohorts, blank sources and regions."""
    rng = np.random.default_rng(seed)
    con = connect_writable(path)
    create_schema(con)
    start = dt.datetime(2025, 1, 1)
    cohort_rows = pd.DataFrame(
        {
            "cohort_id": ["c1", "c2", "c3"],
            "starts_on": [dt.date(2025, 1, 20), dt.date(2025, 3, 1), None],
            "ends_on": [dt.date(2025, 2, 10), dt.date(2025, 3, 30), None],
        }
    )
    con.register("cohort_rows", cohort_rows)
    con.execute("insert into cohorts by name select * from cohort_rows")
    n = 400
    apps = pd.DataFrame(
        {
            "application_id": [f"a{i:04d}" for i in range(n)],
            "candidate_id": [f"k{i % 350:04d}" for i in range(n)],
            "track": rng.choice(["micro_internship", "traditional"], n),
            "role": rng.choice(["analyst", "designer"], n),
            "applied_at": [start + dt.timedelta(hours=int(h)) for h in rng.integers(0, 2400, n)],
            "source": rng.choice(["referral", "board", None], n),
            "country": rng.choice(["US", "GB"], n),
            "region": rng.choice(["US-CA", None], n),
        }
    )
    apps["cohort_id"] = np.where(
        apps["track"] == "micro_internship", rng.choice(["c1", "c2", "c3", "c9"], n), None
    )
    con.register("apps", apps)
    con.execute("insert into applications by name select * from apps")
    events = []
    for _, row in apps.iterrows():
        furthest = int(rng.integers(-1, len(funnel.STAGES)))
        at = row["applied_at"]
        for s in range(furthest + 1):
            if s > 0 and rng.random() < 0.15:
                continue  # a skipped stage (the traditional track has no submission event)
            at = at + dt.timedelta(hours=int(rng.integers(1, 900)))
            events.append((row["application_id"], funnel.STAGES[s], at))
            if rng.random() < 0.05:
                events.append((row["application_id"], funnel.STAGES[s], at + dt.timedelta(1)))
        ending = rng.choice(["rejected", "withdrew", "both", None])
        if furthest < len(funnel.STAGES) - 1 and ending is not None:
            end = at + dt.timedelta(hours=int(rng.integers(1, 500)))
            for event in ("rejected", "withdrew") if ending == "both" else (ending,):
                events.append((row["application_id"], event, end))
    con.register("events", pd.DataFrame(events, columns=["application_id", "event", "occurred_at"]))
    con.execute("insert into stage_events by name select * from events")
    con.execute(
        "insert into demographic_attributes select candidate_id, 'sex', "
        "case when hash(candidate_id) % 3 = 0 then 'Female' when hash(candidate_id) % 3 = 1 "
        "then 'Male' else 'Unknown' end "
        "from (select distinct candidate_id from applications) where hash(candidate_id) % 5 <> 0"
    )
    as_of = dt.datetime(2025, 4, 20)
    con.execute(
        "insert into loads by name select 1 as load_id, $a as started_at, $a as finished_at, "
        "$a as as_of, false as strict, 1 as files, 3 as rows_read, 3 as rows_loaded, "
        "0 as rows_rejected",
        {"a": as_of},
    )
    build_derived(con)
    con.close()


@pytest.mark.parametrize("windows", WINDOW_CASES[:3])
@pytest.mark.parametrize("params", [None, {"roles": ["data_analyst"]}, {"roles": ["nobody"]}])
def test_overview_equals_the_three_passes(sample, windows, params):
    """The page's one-pass overview gives the same summary, table and trends as three passes."""
    con, _, _ = sample
    overview = funnel.funnel_overview(con, params=params, windows=windows, k=5)
    assert overview.summary == funnel.funnel_summary(
        funnel.stage_counts(con, params=params, windows=windows)
    )
    pd.testing.assert_frame_equal(
        overview.table, funnel.funnel_table_sql(con, params=params, windows=windows, k=5)
    )
    trends = funnel.cohort_trends_sql(con, params=params, windows=windows)
    pd.testing.assert_frame_equal(overview.trends, trends)
    # What the report publishes from the trends is what the page draws.
    pd.testing.assert_frame_equal(overview.alerts, funnel.funnel_alerts(trends))
    pd.testing.assert_frame_equal(overview.monthly, funnel.monthly_trends(trends))


@pytest.mark.parametrize("seed", range(2))
def test_sql_paths_equal_pandas_paths_on_random_journeys(tmp_path, seed):
    path = tmp_path / "random.duckdb"
    random_warehouse(path, seed)
    from signalboard.db import connect_readonly

    con = connect_readonly(path)
    try:
        journeys = run_query(con, "application_journeys")
        demographics = run_query(con, "funnel_demographic_attributes")
        for by in [(), ("track", "cohort_id"), ("source", "region"), ("role", "sex")]:
            for windows in (None, {"selected": 40, "traditional": {"submitted": 5}}):
                pd.testing.assert_frame_equal(
                    funnel.funnel_table_sql(con, by=by, windows=windows),
                    funnel.funnel_table(
                        journeys, by=by, windows=windows, demographics=demographics
                    ),
                )
        pd.testing.assert_frame_equal(funnel.cohort_trends_sql(con), funnel.cohort_trends(journeys))
        counts = funnel.report_counts(con)
        pd.testing.assert_frame_equal(
            funnel.report_funnel_from_counts(counts),
            funnel.report_funnel(journeys, demographics),
        )
        for stage in ("applied", "selected", "take_home_passed", "hired"):
            for status in ("reached", "pending", "dropped", "denominator"):
                rows, total = funnel.drill_through_rows(con, stage=stage, status=status, limit=None)
                expected = funnel.drill_through(journeys, stage=stage, status=status)
                assert total == len(expected)
                pd.testing.assert_frame_equal(rows, expected)
        from signalboard.analysis import time_to_hire as tth

        counts = tth.load_day_counts(con)
        pd.testing.assert_frame_equal(
            tth.time_to_hire_table(counts), tth.time_to_hire_table(journeys)
        )
        pd.testing.assert_frame_equal(
            tth.stage_duration_table(counts), tth.stage_duration_table(journeys)
        )
    finally:
        con.close()
