"""Warehouse tables: the contract's tables plus the load's bookkeeping. See docs/warehouse.md."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import duckdb

from etl.contract import DUCKDB_TYPES, TABLES, TableSpec


class LoadTarget(Protocol):
    """Where a load writes: the warehouse file and the pseudonym key that goes with it.

    `signalboard.settings.Settings` is one; etl/ takes the shape, not the class, so the ETL layer
    imports nothing from the library above it.
    """

    @property
    def db_path(self) -> Path: ...

    @property
    def pseudonym_key_file(self) -> Path: ...


def connect_writable(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-write connection. Only the load uses this, and only on a file no reader has open
    (it builds a new file beside the warehouse and swaps it in; see etl/load.py)."""
    return duckdb.connect(str(path))


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


def create_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every warehouse table that does not exist yet (idempotent)."""
    for spec in TABLES:
        con.execute(table_ddl(spec))
    for ddl in META_DDL:
        con.execute(ddl)
