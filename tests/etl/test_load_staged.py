"""A file loaded into an empty table is written once, straight into a table shaped like the
target, which replaces the empty one when every row is valid: the warehouse it leaves is the one
the temp-table path leaves (same columns, types and rows), and a later file upserts into it."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from tests.load_helpers import EXPORTS, ROWS, load, settings_for, write_exports


def frame(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


COLUMNS = (
    "select table_name, column_name, column_index, data_type, is_nullable "
    "from duckdb_columns() where database_name = current_database() order by all"
)


def test_staged_and_temp_table_paths_leave_the_same_warehouse(tmp_path: Path) -> None:
    """Scores into an empty table take the staged path; the same rows after a reject take the
    temp-table path. Columns, types, constraints and rows match, every table."""
    key = tmp_path / "pseudonym.key"
    databases = []
    extra = "A2,g9,human,code_quality,abc,2024-01-30 10:00:00\n"
    for name, scores in (
        ("staged", EXPORTS["scores.csv"]),
        ("temp", EXPORTS["scores.csv"] + extra),
    ):
        settings = settings_for(tmp_path / name)
        settings = type(settings)(db_path=settings.db_path, pseudonym_key_file=key)
        load([write_exports(tmp_path / name / "in", scores=scores)], settings)
        databases.append(settings.db_path)
    pd.testing.assert_frame_equal(frame(databases[0], COLUMNS), frame(databases[1], COLUMNS))
    for table in ROWS:
        pd.testing.assert_frame_equal(
            frame(databases[0], f"select * from {table} order by all"),
            frame(databases[1], f"select * from {table} order by all"),
        )


def test_a_second_file_of_the_same_load_upserts_into_the_staged_table(tmp_path: Path) -> None:
    header, *rows = EXPORTS["scores.csv"].splitlines()
    first = "\n".join([header, *rows]) + "\n"
    changed = rows[0].replace(",4,", ",1,")  # A1 g1 code_quality scored again
    second = "\n".join([header, changed, "A2,g2,human,code_quality,5,2024-02-01 10:00:00"]) + "\n"
    folder = write_exports(tmp_path / "in", scores=first)
    (folder / "scores_2024-02.csv").write_text(second)
    settings = settings_for(tmp_path)
    result = load([folder], settings)
    files = {f.file_name: (f.rows_loaded, f.rows_replaced) for f in result.files}
    assert files["scores.csv"] == (ROWS["scores"], 0)
    assert files["scores_2024-02.csv"] == (2, 2)
    stored = frame(
        settings.db_path,
        "select grader_id, axis, score from scores where grader_id in ('g1', 'g2') "
        "and axis = 'code_quality' order by all",
    )
    assert stored.values.tolist() == [["g1", "code_quality", 1.0], ["g2", "code_quality", 5.0]]
    assert len(frame(settings.db_path, "select * from scores")) == ROWS["scores"]
