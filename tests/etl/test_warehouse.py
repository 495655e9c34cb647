"""Derived tables: stored in pseudonym order, the same on every build, and built in two steps when
the one-statement build runs out of DuckDB's memory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from etl.generate import GeneratorConfig, generate
from etl.warehouse import DERIVED_ORDER, build_derived
from tests.load_helpers import load, settings_for


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("derived")
    exports = root / "exports"
    generate(exports, config=GeneratorConfig(n_applications=3000, seed=7))
    settings = settings_for(root)
    load([exports], settings)
    return settings.db_path


@pytest.fixture
def con(warehouse: Path, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A writable copy of the loaded warehouse."""
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(warehouse.read_bytes())
    connection = duckdb.connect(str(copy))
    try:
        yield connection
    finally:
        connection.close()


def journeys(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Every row in stored order (rowid), not sorted by the query."""
    return con.execute("select * from application_journeys order by rowid").fetchall()


class SortRunsOutOfMemory:
    """A connection whose one-statement derived build fails as DuckDB's does at 10M applications:
    the join's hash table and the sort do not fit in the memory limit together."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self.statements: list[str] = []

    def execute(self, sql: str, *args: Any) -> Any:
        self.statements.append(sql)
        if sql.startswith("create or replace table") and "with" in sql and "order by" in sql:
            raise duckdb.OutOfMemoryException("could not allocate block of size 256.0 KiB")
        return self.con.execute(sql, *args)


def test_journeys_are_stored_in_application_id_order_and_rebuild_identically(
    con: duckdb.DuckDBPyConnection,
) -> None:
    first = journeys(con)
    ids = [row[0] for row in first]
    assert len(ids) == 3000 and ids == sorted(ids)
    build_derived(con)
    assert journeys(con) == first


def test_a_build_that_runs_out_of_memory_sorts_in_a_second_statement_to_the_same_table(
    con: duckdb.DuckDBPyConnection,
) -> None:
    expected = journeys(con)
    con.execute("delete from application_journeys")
    failing = SortRunsOutOfMemory(con)
    build_derived(failing)  # type: ignore[arg-type]
    assert journeys(con) == expected
    key = DERIVED_ORDER["application_journeys"]
    assert (
        'create or replace table "application_journeys" as select * from '
        f'"application_journeys" order by "{key}"'
    ) in failing.statements
    assert failing.statements.count("rollback") == 1
