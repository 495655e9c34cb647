"""Warehouse tables: the contract's tables plus the load's bookkeeping. See docs/warehouse.md."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import duckdb

from etl.contract import DUCKDB_TYPES, TABLES, TableSpec
from etl.read import ident


class LoadTarget(Protocol):
    """Where a load writes: the warehouse file and the pseudonym key that goes with it.

    `signalboard.settings.Settings` is one; etl/ takes the shape, not the class, so the ETL layer
    imports nothing from the library above it.
    """

    @property
    def db_path(self) -> Path: ...

    @property
    def pseudonym_key_file(self) -> Path: ...


def connect_writable(
    path: str | Path, *, memory_limit: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-write connection. Only the load uses this, and only on a file no reader has open
    (it builds a new file beside the warehouse and swaps it in; see etl/load.py).

    `memory_limit` caps DuckDB's memory (default: DuckDB's own, 80% of RAM).
    """
    config = {} if memory_limit is None else {"memory_limit": memory_limit}
    return duckdb.connect(str(path), config=config)


# Bookkeeping tables. Every load that lands adds a row to `loads`; a load that fails never lands,
# so there is no "failed" status to filter on.
META_DDL: tuple[str, ...] = (
    """
    create table if not exists loads (
        load_id bigint not null,
        started_at timestamp not null,
        finished_at timestamp not null,
        as_of timestamp not null,
        strict boolean not null,
        mapping varchar,
        files bigint not null,
        rows_read bigint not null,
        rows_loaded bigint not null,
        rows_rejected bigint not null,
        signalboard_version varchar
    )
    """,
    """
    create table if not exists load_files (
        load_id bigint not null,
        file_name varchar not null,
        file_path varchar not null,
        table_name varchar not null,
        content_sha256 varchar not null,
        file_format varchar not null,
        encoding varchar,
        delimiter varchar,
        rows_read bigint not null,
        rows_loaded bigint not null,
        rows_rejected bigint not null,
        rows_replaced bigint not null
    )
    """,
    """
    create table if not exists rejects (
        load_id bigint not null,
        file_name varchar not null,
        table_name varchar not null,
        line bigint,
        column_name varchar,
        reason varchar not null,
        original_text varchar
    )
    """,
    # Every self-identification attribute in long form (sex, race_ethnicity and any further
    # column of demographics.csv), values normalised so blanks and "Decline to state" are Unknown.
    """
    create table if not exists demographic_attributes (
        candidate_id varchar not null,
        attribute varchar not null,
        value varchar not null
    )
    """,
)


def table_ddl(spec: TableSpec) -> str:
    """`create table` for one contract table (stored columns only, typed).

    Keys are enforced by the load (it replaces rows by key), not by constraints: a key column may
    be blank (cost_of_living.region for a whole country), which a primary key would refuse.
    """
    columns = [f"{c.name} {DUCKDB_TYPES[c.type]}" for c in spec.stored_columns]
    return f"create table if not exists {spec.name} (\n    " + ",\n    ".join(columns) + "\n)"


# Derived tables: built from the contract's tables by one SQL file each in etl/derived/, after
# every load that lands, so every reader sees them consistent with the data. The macros beside
# them are the single spelling of rules every query shares (the dashboard's global filter).
DERIVED_DIR = Path(__file__).resolve().parent / "derived"
DERIVED_TABLES: tuple[str, ...] = ("application_journeys",)
DERIVED_MACROS: tuple[str, ...] = ("filtered_journeys",)
DERIVED_ORDER: dict[str, str] = {"application_journeys": "application_id"}
"""The row order each derived table is stored in: a pseudonym, so rows follow no export's order,
and the same on every build (a hash aggregate's output order is not)."""


def derived_sql(name: str) -> str:
    """The SQL that builds the derived table or macro `name` (a file in etl/derived/)."""
    return (DERIVED_DIR / f"{name}.sql").read_text(encoding="utf-8")


def missing_derived(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The derived tables this warehouse lacks (a warehouse written before they existed)."""
    present = {
        row[0]
        for row in con.execute(
            "select table_name from duckdb_tables() where database_name = current_database()"
        ).fetchall()
    }
    return [name for name in DERIVED_TABLES if name not in present]


def build_derived(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)build every derived table and macro from the warehouse's current rows.

    Each table is built in a transaction of its own, so call this outside one. The load calls it
    last, in the copy of the warehouse it swaps in only afterwards, so readers see the derived
    tables together with the data they are derived from or not at all.
    """
    for name in DERIVED_TABLES:
        _materialize(con, name)
    for name in DERIVED_MACROS:
        con.execute(derived_sql(name))


def _materialize(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Store the query etl/derived/<name>.sql as the table `name`, sorted by DERIVED_ORDER.

    One statement (query, then sort) when it fits in DuckDB's memory limit. DuckDB keeps the
    query's join hash table in memory while the sort consumes the join's output, and that sort
    then cannot spill: at 10M applications it ran out of memory under caps of 1.3 and 2.7 GiB.
    Sorting the stored table in a second statement spills as any sort does, but costs a second
    write of the table, so it is the fallback, not the rule (docs/performance.md).
    """
    # Identifiers from this module's constants and SQL from the package's own files; no value
    # from data reaches this text.
    table, key = ident(name), ident(DERIVED_ORDER[name])
    model = derived_sql(name)
    try:
        _committed(con, f"create or replace table {table} as\n{model}\norder by {key}")
    except duckdb.OutOfMemoryException:
        _committed(
            con,
            f"create or replace table {table} as\n{model}",
            f"create or replace table {table} as select * from {table} order by {key}",
        )


def _committed(con: duckdb.DuckDBPyConnection, *statements: str) -> None:
    """Run `statements` in one transaction: all of them committed, or none (rolled back)."""
    con.execute("begin transaction")
    try:
        for statement in statements:
            con.execute(statement)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every warehouse table and macro that does not exist yet (idempotent).

    A derived table that does not exist is built from the rows there are (none, in a new file).
    """
    for spec in TABLES:
        con.execute(table_ddl(spec))
    for ddl in META_DDL:
        con.execute(ddl)
    for name in missing_derived(con):
        _materialize(con, name)
    for name in DERIVED_MACROS:
        con.execute(derived_sql(name))
