"""The SQL path of the Fairness tables (queries/fairness_cells.sql, which the page and the report
run so that a million applications reach pandas as a few thousand rows) against the
per-application path (`cells_from_frames`, which the hand-computed tests of test_fairness.py and
test_ll144.py pin): the same cells and exactly the same published tables, with and without the
sidebar filters; and the fallback when the self-ID values do not fit the query's bit fields."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from etl.contract import STAGES
from etl.warehouse import build_derived, connect_writable, create_schema
from signalboard.analysis import fairness
from signalboard.db import query_df, readonly
from signalboard.queries import run_query
from signalboard.settings import Settings
from signalboard.stats.fairness_cells import cells_from_frames, furthest_from_mask

KEYS = ["track", "reached_mask", "undecided", "llm_score", "attribute", "group"]


def _filters(con) -> list[dict]:
    roles = query_df(con, "select distinct role from applications order by role")["role"]
    cohorts = query_df(con, "select distinct cohort_id from applications order by 1")["cohort_id"]
    return [
        {},
        {"roles": roles.tolist()[:1]},
        {"cohorts": cohorts.tolist()[:4], "start_date": dt.date(2025, 3, 1)},
        {"roles": roles.tolist()[1:3], "end_date": dt.date(2025, 9, 30)},
    ]


def _normalised(cells: pd.DataFrame) -> pd.DataFrame:
    out = cells.copy()
    # DuckDB may add a mean's terms in another order in two queries; the analysis rounds to 9
    # decimals before comparing scores, so the cells are compared the same way.
    out["llm_score"] = out["llm_score"].astype(float).round(9)
    out["reached_mask"] = out["reached_mask"].astype("int64")
    out["undecided"] = out["undecided"].astype(bool)
    out["first_at"] = pd.to_datetime(out["first_at"]).astype("datetime64[us]")
    out["last_at"] = pd.to_datetime(out["last_at"]).astype("datetime64[us]")
    out = out.groupby(KEYS, dropna=False, sort=True).agg(
        applications=("applications", "sum"),
        first_at=("first_at", "min"),
        last_at=("last_at", "max"),
    )
    return out.reset_index()


def test_sql_cells_equal_the_per_application_cells(sample_settings: Settings) -> None:
    with readonly(sample_settings.db_path) as con:
        for params in _filters(con):
            sql = fairness.load_cells(con, params=params)
            rows = cells_from_frames(
                *fairness.load_inputs(con, settings=sample_settings, params=params)
            )
            assert len(sql) > 100, params
            assert_frame_equal(_normalised(sql), _normalised(rows), obj=str(params))


@pytest.mark.parametrize("k", [5, 11])
def test_published_tables_are_identical_on_both_paths(sample_settings: Settings, k: int) -> None:
    settings = Settings(
        db_path=sample_settings.db_path,
        pseudonym_key_file=sample_settings.pseudonym_key_file,
        min_cell_size=k,
    )
    with readonly(settings.db_path) as con:
        for params in _filters(con) if k == 5 else [{}]:
            fast = fairness.fairness_tables_from_db(con, params=params, k=k)
            slow = fairness.fairness_tables(
                *fairness.load_inputs(con, settings=settings, params=params), k=k
            )
            for name in ("adverse_impact", "unknowns", "ll144_triage"):
                assert_frame_equal(
                    getattr(fast, name), getattr(slow, name), check_exact=True, obj=name
                )
            assert fast.ll144_summary_html == slow.ll144_summary_html
            assert fast.ll144_notes == slow.ll144_notes


def test_furthest_stage_is_the_highest_bit() -> None:
    masks = np.array([0, 0b10, 0b110, 1 << 8 | 0b10, 0b100000])
    assert furthest_from_mask(masks).tolist() == [0, 1, 2, 8, 5]
    assert len(STAGES) == 9


def test_too_many_values_fall_back_to_the_rows(tmp_path: Path) -> None:
    """Ten attributes with 9,000 values each need 140 bits: the query refuses, and load_cells
    counts the per-application rows instead (same cells, nothing lost)."""
    path = tmp_path / "wide.duckdb"
    con = connect_writable(path)
    create_schema(con)
    con.execute(
        "insert into applications (application_id, candidate_id, track, cohort_id, role, "
        "applied_at) select 'a' || i, 'c' || i, 'micro_internship', 'C1', 'analyst', "
        "timestamp '2025-01-01' from range(3) t(i)"
    )
    con.execute(
        "insert into stage_events select 'a' || i, 'selected', timestamp '2025-01-02' "
        "from range(2) t(i)"
    )
    con.execute(
        "insert into loads values (1, timestamp '2025-02-01', timestamp '2025-02-01', "
        "timestamp '2025-02-01', false, null, 1, 3, 3, 0, null)"
    )
    con.execute(
        "insert into demographic_attributes select 'x' || (i % 9000), 'attr' || (i // 9000), "
        "'v' || (i % 9000) from range(90000) t(i)"
    )
    con.execute(
        "insert into demographic_attributes values ('c0', 'sex', 'Female'), "
        "('c1', 'sex', 'Male'), ('c0', 'race_ethnicity', 'White')"
    )
    build_derived(con)
    con.close()
    settings = Settings(db_path=path, pseudonym_key_file=tmp_path / "key")
    with readonly(path) as con:
        with pytest.raises(duckdb.Error, match=fairness.TOO_MANY_BITS):
            run_query(con, "fairness_cells")
        cells = fairness.load_cells(con)
        rows = cells_from_frames(*fairness.load_inputs(con, settings=settings))
    assert_frame_equal(_normalised(cells), _normalised(rows))
    sex = cells[cells["attribute"] == "sex"].groupby("group")["applications"].sum()
    assert sex.to_dict() == {"Female": 1, "Male": 1, "Unknown": 1}


def test_report_publishes_tables_and_files_from_one_computation(
    sample_settings: Settings, tmp_path: Path
) -> None:
    """`fairness.report` gives the same tables and summary as the two single hooks, and
    `signalboard report` writes exactly those (one computation, published twice)."""
    from signalboard.report import write_report

    with readonly(sample_settings.db_path) as con:
        section = fairness.report(con, settings=sample_settings)
        tables = {t.name: t.frame for t in fairness.report_tables(con, settings=sample_settings)}
        files = fairness.report_files(con, settings=sample_settings)
    assert [t.name for t in section.tables] == ["adverse_impact", "unknowns", "ll144_triage"]
    assert len(tables["adverse_impact"]) > 100
    for table in section.tables:
        assert_frame_equal(table.frame, tables[table.name])
    assert section.files == files
    out = tmp_path / "out"
    write_report(settings=sample_settings, out_dir=out)
    assert (out / "ll144_summary.html").read_text(encoding="utf-8") == files["ll144_summary.html"]
    written = (out / "adverse_impact.csv").read_text(encoding="utf-8")
    assert written == tables["adverse_impact"].to_csv(index=False)
