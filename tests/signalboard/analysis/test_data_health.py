"""signalboard.analysis.data_health: given hand-made bookkeeping rows, expect these tables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import duckdb
import pandas as pd
import pytest

from etl.contract import APPLICATIONS, COHORTS, SCORES, TABLES, Column
from etl.warehouse import create_schema
from signalboard.analysis import data_health
from signalboard.db import connect_memory, query_df, query_scalar
from signalboard.settings import Settings


@pytest.fixture
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory warehouse with the schema, two loads, their files and three rejects."""
    con = connect_memory()
    create_schema(con)
    con.execute(
        """
        insert into loads values
        (1, '2025-05-01 09:00', '2025-05-01 09:02', '2025-04-30', false, null, 2, 13, 10, 3, 't'),
        (2, '2025-06-01 09:00', '2025-06-01 09:00:30', '2025-05-31', true, 'greenhouse.toml',
         1, 5, 5, 0, 't')
        """
    )
    con.execute(
        """
        insert into load_files values
        (1, 'applications.csv', '/x/applications.csv', 'applications', 'aa', 'csv', 'utf-8', ',',
         8, 6, 2, 0),
        (1, 'scores.csv', '/x/scores.csv', 'scores', 'bb', 'csv', 'utf-8', ',', 5, 4, 1, 0),
        (2, 'applications.csv', '/y/applications.csv', 'applications', 'cc', 'csv', 'utf-8', ';',
         5, 5, 0, 2)
        """
    )
    con.execute(
        """
        insert into rejects values
        (1, 'applications.csv', 'applications', 4, 'country', 'not an ISO 3166-1 code', 'ZZ'),
        (1, 'applications.csv', 'applications', 7, 'country', 'not an ISO 3166-1 code', 'QQ'),
        (1, 'scores.csv', 'scores', 3, 'score', 'outside the axis range 1..5', '9')
        """
    )
    con.execute(
        "insert into applications (application_id, candidate_id, track, role, applied_at, "
        "country) select 'a' || i, 'c' || i, 'traditional', 'analyst', "
        "timestamp '2025-01-01', 'US' from range(9) t(i)"
    )
    try:
        yield con
    finally:
        con.close()


def test_row_counts_cover_every_warehouse_table() -> None:
    """The table list in data_health_table_rows.sql is spelled out: it must match the schema."""
    con = connect_memory()
    create_schema(con)
    schema = set(query_df(con, "select table_name from information_schema.tables")["table_name"])
    listed = data_health.table_rows(con)
    assert set(listed["table_name"]) == schema
    assert listed["table_name"].tolist()[: len(TABLES)] == [t.name for t in TABLES]
    assert (listed["rows_in_warehouse"] == 0).all()
    assert listed["last_load_id"].isna().all()


def test_row_counts_with_the_latest_load_per_table(con: duckdb.DuckDBPyConnection) -> None:
    rows = data_health.table_rows(con).set_index("table_name")
    assert rows.loc["applications", "rows_in_warehouse"] == 9
    assert rows.loc["loads", "rows_in_warehouse"] == 2
    assert rows.loc["rejects", "kind"] == "bookkeeping"
    # applications: the latest load that brought it is load 2; scores last came with load 1.
    applications = rows.loc["applications"]
    assert (applications["last_load_id"], applications["rows_read"]) == (2, 5)
    assert (applications["rows_rejected"], applications["rows_replaced"]) == (0, 2)
    scores = rows.loc["scores"]
    assert (scores["last_load_id"], scores["rows_loaded"], scores["rows_rejected"]) == (1, 4, 1)
    assert pd.isna(rows.loc["cohorts", "last_load_id"])


def test_loads_log_newest_first(con: duckdb.DuckDBPyConnection) -> None:
    loads = data_health.loads_log(con)
    assert loads["load_id"].tolist() == [2, 1]
    assert loads["duration_seconds"].tolist() == [30.0, 120.0]
    assert loads["mapping"].tolist() == ["greenhouse.toml", None]


def test_load_files_with_hashes(con: duckdb.DuckDBPyConnection) -> None:
    files = data_health.load_files(con)
    assert list(
        zip(files["load_id"], files["file_name"], files["content_sha256"], strict=True)
    ) == [
        (2, "applications.csv", "cc"),
        (1, "applications.csv", "aa"),
        (1, "scores.csv", "bb"),
    ]
    assert data_health.load_files(con, load_id=1)["content_sha256"].tolist() == ["aa", "bb"]


@pytest.mark.parametrize(
    ("file_names", "reasons", "expected"),
    [
        (
            None,
            None,
            [
                ("applications.csv", "country", "not an ISO 3166-1 code", 2, 4),
                ("scores.csv", "score", "outside the axis range 1..5", 1, 3),
            ],
        ),
        (["scores.csv"], None, [("scores.csv", "score", "outside the axis range 1..5", 1, 3)]),
        (
            [],
            ["not an ISO 3166-1 code"],
            [("applications.csv", "country", "not an ISO 3166-1 code", 2, 4)],
        ),  # fmt: skip
        (["scores.csv"], ["not an ISO 3166-1 code"], []),
    ],
)
def test_reject_reasons(
    con: duckdb.DuckDBPyConnection,
    file_names: list[str] | None,
    reasons: list[str] | None,
    expected: list[tuple[object, ...]],
) -> None:
    frame = data_health.reject_reasons(con, file_names=file_names, reasons=reasons)
    columns = ["file_name", "column_name", "reason", "rejected_rows", "first_line"]
    assert list(frame[columns].itertuples(index=False, name=None)) == expected


def test_rejected_rows_keep_the_original_text_and_cap(con: duckdb.DuckDBPyConnection) -> None:
    rows = data_health.rejected_rows(con, reasons=["not an ISO 3166-1 code"])
    assert rows[["line", "original_text"]].values.tolist() == [[4, "ZZ"], [7, "QQ"]]
    assert len(data_health.rejected_rows(con, max_rows=2)) == 2


def test_health_summary_docstring_example() -> None:
    rows = pd.DataFrame({"table_name": ["applications"], "rows_in_warehouse": [3000]})
    loads = pd.DataFrame(
        {
            "load_id": [2, 1],
            "as_of": pd.to_datetime(["2025-06-30", "2025-05-31"]),
            "finished_at": pd.to_datetime(["2025-07-01", "2025-06-01"]),
            "rows_rejected": [4, 9],
        }
    )
    s = data_health.health_summary(rows, loads)
    assert (s.as_of.date().isoformat(), s.loads, s.last_load_id) == ("2025-06-30", 2, 2)
    assert (s.applications, s.rows_rejected_last_load) == (3000, 4)


def test_health_summary_on_the_fixture_and_without_loads(con: duckdb.DuckDBPyConnection) -> None:
    s = data_health.health_summary(data_health.table_rows(con), data_health.loads_log(con))
    assert s.as_of == dt.datetime(2025, 5, 31)
    assert (s.loads, s.last_load_id, s.applications, s.rows_rejected_last_load) == (2, 2, 9, 0)
    empty = data_health.health_summary(
        pd.DataFrame({"table_name": [], "rows_in_warehouse": []}),
        data_health.loads_log(con).head(0),
    )
    assert empty == data_health.HealthSummary(None, 0, None, None, 0, 0)


@pytest.mark.parametrize(
    ("column", "spec", "expected"),
    [
        (SCORES.column("grader_kind"), SCORES, "one of: human, llm"),
        (SCORES.column("axis"), SCORES, "part of the key (application_id, grader_id, axis)"),
        (COHORTS.column("cohort_id"), COHORTS, "key"),
        (COHORTS.column("estimated_hours"), COHORTS, "at least 0"),
        (APPLICATIONS.column("email"), APPLICATIONS, "personal data: never stored"),
        (
            APPLICATIONS.column("application_id"),
            APPLICATIONS,
            "key; stored as a keyed pseudonym (application)",
        ),
        (Column("x", "number", minimum=1, maximum=5), SCORES, "between 1 and 5"),
        (Column("x", "number", maximum=2.5), SCORES, "at most 2.5"),
        (APPLICATIONS.column("source"), APPLICATIONS, ""),
    ],
)
def test_column_rules(column: Column, spec, expected: str) -> None:
    assert data_health.column_rules(column, spec) == expected


def test_the_contract_tables_list_every_column() -> None:
    tables = data_health.contract_tables()
    assert list(tables) == [t.name for t in TABLES]
    for spec in TABLES:
        frame = tables[spec.name]
        assert frame["column"].tolist() == [c.name for c in spec.columns]
        assert frame["required"].tolist() == [c.required for c in spec.columns]
    applications = tables["applications"].set_index("column")
    assert applications.loc["applied_at", "stored_as"] == "TIMESTAMP"
    assert applications.loc["full_name", "stored_as"] == ""
    long = data_health.contract_long()
    assert long.columns[0] == "file"
    assert len(long) == sum(len(t.columns) for t in TABLES)


def test_report_tables_have_their_public_names(con: duckdb.DuckDBPyConnection) -> None:
    tables = data_health.report_tables(con, settings=Settings())
    assert tuple(t.name for t in tables) == data_health.REPORT_TABLE_NAMES
    by_name = {t.name: t for t in tables}
    assert "as of 2025-05-31" in by_name["data_health"].description
    assert by_name["data_health_rejects"].frame["rejected_rows"].sum() == query_scalar(
        con, "select count(*) from rejects"
    )


def test_overview_is_the_page_in_one_call(con: duckdb.DuckDBPyConnection) -> None:
    health = data_health.overview(con)
    assert (health.summary.loads, health.summary.last_load_id, health.summary.applications) == (
        2,
        2,
        9,
    )
    assert len(health.files) == 3
    assert int(health.reject_reasons["rejected_rows"].sum()) == 3


@pytest.mark.parametrize(
    ("show_self_id_text", "expected"),
    [(False, "(hidden: self-ID data)"), (True, "Female,Asian")],
)
def test_reject_drill_hides_self_id_text_unless_allowed(
    con: duckdb.DuckDBPyConnection, show_self_id_text: bool, expected: str
) -> None:
    # A warehouse loaded before the loader stopped keeping self-ID values in rejects.
    con.execute(
        "insert into rejects values (1, 'demographics.csv', 'demographics', 2, 'candidate_id', "
        "'blank id', 'Female,Asian')"
    )
    drill = data_health.reject_drill(con, max_rows=10, show_self_id_text=show_self_id_text)
    texts = drill.rows.set_index("table_name")["original_text"]
    assert texts["demographics"] == expected
    assert set(texts.drop("demographics")) == {"ZZ", "QQ", "9"}
    assert not drill.truncated
    assert data_health.reject_drill(con, max_rows=2).truncated
