"""A cohort still running at the as-of date: its in-progress applications are pending at the
step they can still reach, not drop-outs, however long ago that step's window closed; the
cohort alerts do not test it there. Checked on a tiny real warehouse, on the pandas path and
the SQL path the report and the page use, against the same warehouse once the cohort is over.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl.warehouse import build_derived, connect_writable, create_schema
from signalboard.analysis import funnel
from signalboard.queries import run_query

# Three finished cohorts (8 of 10 pass triage in each) and a fourth, 2025-03-01..2025-05-31,
# whose 10 applications were all submitted on 2025-03-05: 2 passed triage, 8 wait for it.
# Triage's 14-day window closed on 2025-03-19; the cohort runs until the end of 2025-05-31.
COHORTS = [
    ("c1", dt.date(2024, 9, 1), dt.date(2024, 9, 30)),
    ("c2", dt.date(2024, 10, 1), dt.date(2024, 10, 31)),
    ("c3", dt.date(2024, 11, 1), dt.date(2024, 11, 30)),
    ("c4", dt.date(2025, 3, 1), dt.date(2025, 5, 31)),
]
RUNNING_AS_OF = dt.datetime(2025, 5, 31, 23, 59)
OVER_AS_OF = dt.datetime(2025, 6, 1, 0, 0)


def build(path: Path) -> duckdb.DuckDBPyConnection:
    con = connect_writable(path)
    create_schema(con)
    for cohort_id, starts, ends in COHORTS:
        con.execute(
            "insert into cohorts (cohort_id, starts_on, ends_on) values ($c, $s, $e)",
            {"c": cohort_id, "s": starts, "e": ends},
        )
        start = dt.datetime.combine(starts, dt.time())
        for i in range(10):
            app_id = f"{cohort_id}-{i}"
            applied = start - dt.timedelta(days=10)
            con.execute(
                "insert into applications (application_id, candidate_id, track, cohort_id, "
                "role, applied_at) values ($a, $k, 'micro_internship', $c, 'analyst', $t)",
                {"a": app_id, "k": f"cand-{app_id}", "c": cohort_id, "t": applied},
            )
            events = [
                ("applied", applied),
                ("selected", applied + dt.timedelta(days=2)),
                ("submitted", start + dt.timedelta(days=4)),
            ]
            passes = i < (2 if cohort_id == "c4" else 8)
            if passes:
                events.append(("triage_passed", start + dt.timedelta(days=6)))
            if cohort_id != "c4" or passes:
                # decided: hired after triage, or rejected at it
                events.append(("hired" if passes else "rejected", start + dt.timedelta(days=20)))
            for event, at in events:
                con.execute(
                    "insert into stage_events (application_id, event, occurred_at) "
                    "values ($a, $e, $t)",
                    {"a": app_id, "e": event, "t": at},
                )
    return con


def set_as_of(con: duckdb.DuckDBPyConnection, as_of: dt.datetime) -> None:
    con.execute("delete from loads")
    con.execute(
        "insert into loads by name select 1 as load_id, $a as started_at, $a as finished_at, "
        "$a as as_of, false as strict, 1 as files, 1 as rows_read, 1 as rows_loaded, "
        "0 as rows_rejected",
        {"a": as_of},
    )
    build_derived(con)


def triage_row(trends: pd.DataFrame, cohort: str) -> pd.Series:
    rows = trends[(trends["cohort_id"] == cohort) & (trends["stage"] == "triage_passed")]
    assert len(rows) == 1
    return rows.iloc[0]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    con = build(tmp_path_factory.mktemp("running") / "w.duckdb")
    yield con
    con.close()


@pytest.mark.parametrize(("as_of", "running"), [(RUNNING_AS_OF, True), (OVER_AS_OF, False)])
def test_running_cohort_is_pending_and_not_tested(warehouse, as_of, running):
    set_as_of(warehouse, as_of)
    journeys = run_query(warehouse, "application_journeys")
    c4 = journeys[journeys["cohort_id"] == "c4"]
    table = funnel.funnel_table(c4).set_index("stage")
    # The 8 waiting applications: pending while the cohort runs, drop-outs once it is over.
    assert table.loc["triage_passed", "pending"] == (8 if running else 0)
    assert table.loc["triage_passed", "n"] == (2 if running else 10)
    assert table.loc["triage_passed", "drop_off"] == (0 if running else 8)
    trends = funnel.cohort_trends(journeys)
    row = triage_row(trends, "c4")
    assert bool(row["complete"]) is not running
    if running:
        # outcome not final: neither tested in the family nor flagged
        assert pd.isna(row["p_adjusted"]) and not row["flagged"]
        assert "c4" not in set(funnel.funnel_alerts(trends).query("complete")["cohort_id"])
    else:
        # 2 of 10 against 24 of 30 before: the same cohort, over, is tested and flagged
        assert row["flagged"]
    # The finished cohorts are tested as before, and the SQL path gives the same numbers.
    assert triage_row(trends, "c3")["complete"]
    sql_trends = funnel.cohort_trends_from_counts(
        funnel.stage_counts(warehouse, by=list(funnel.TREND_KEYS))
    )
    pd.testing.assert_frame_equal(sql_trends, trends, check_dtype=False)
    sql_table = funnel.funnel_table_from_counts(
        funnel.stage_counts(warehouse, by=["cohort_id"]), by=["cohort_id"]
    )
    pandas_table = funnel.funnel_table(journeys, by=["cohort_id"])
    pd.testing.assert_frame_equal(sql_table, pandas_table)
