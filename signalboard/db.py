"""The one module that opens DuckDB connections.

DuckDB allows one writer process or many readers, never both. So the load never writes to the
warehouse file that readers have open: it builds a new file beside it and swaps it in with an
atomic rename (see etl/load.py). Readers open read-only connections and reopen when the file's
identity (inode and mtime) changes, so a running dashboard serves the old state during a load and
the new one after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    # Only for the annotations: the CLI imports this module, and importing pandas would slow
    # every command's start for a type name.
    import pandas as pd


class WarehouseMissingError(FileNotFoundError):
    """The warehouse file does not exist yet: run `signalboard load` or `signalboard demo`."""


@dataclass(frozen=True)
class WarehouseVersion:
    """Identity of the warehouse file; changes when a load swaps a new file in."""

    path: str
    inode: int
    mtime_ns: int
    size: int


def warehouse_version(path: str | Path) -> WarehouseVersion | None:
    """The current identity of the warehouse file, or None when there is none."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return WarehouseVersion(str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)


WAREHOUSE_ALIAS = "warehouse"
"""The name a read-only connection attaches the warehouse file under (and `use`s)."""


def connect_readonly(path: str | Path, *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse file as it is now; raises WarehouseMissingError.

    `duckdb.connect(path, read_only=True)` hands back the database instance the process already
    has open for that path, so while any connection to the old file lives, a "reopen" after a load
    swapped a new file in still reads the old one. Attaching the file to a fresh in-memory
    database opens it anew every time: each warehouse version gets its own instance, and readers
    mid-query keep the old inode they already hold. Unqualified names mean the warehouse (`use`);
    a `.cursor()` of this connection starts in the in-memory catalog and must `use` it again.
    """
    path = Path(path)
    if not path.exists():
        raise WarehouseMissingError(
            f"No warehouse at {path}. Run `signalboard demo` for the sample, "
            "or `signalboard load DIR` with your exports."
        )
    config: dict[str, Any] = {}
    if threads is not None:
        config["threads"] = threads
    con = duckdb.connect(":memory:", config=config)
    try:
        # The alias is a constant identifier; the path is a bound value.
        con.execute(f"attach $path as {WAREHOUSE_ALIAS} (read_only)", {"path": str(path)})
        con.execute(f"use {WAREHOUSE_ALIAS}")
    except BaseException:
        con.close()
        raise
    return con


def connect_sandbox(
    path: str | Path, *, memory_limit: str, threads: int
) -> duckdb.DuckDBPyConnection:
    """A locked-down connection for ad-hoc SQL, with the warehouse attached read-only as default.

    DuckDB refuses a second connection to a file already open in the process with another
    configuration (the dashboard keeps a plain read-only one), so the sandbox is its own in-memory
    instance that ATTACHes the warehouse (read_only). Then external access goes off (no file reads
    or writes, no further ATTACH, COPY, INSTALL or LOAD), extension autoloading is off so a
    function name cannot pull one in, and the configuration is locked last so neither `SET` nor
    `PRAGMA` can turn any of it back on.

    DuckDB adds every attached file (and its WAL) to `allowed_paths` when external access goes
    off, and refuses to change `allowed_paths` from then on, so `read_blob`, `read_duckdb` or
    `read_text` on the warehouse's own path would still read it. The second wall is
    `disabled_filesystems = 'LocalFileSystem'`, set after ATTACH: the attached warehouse keeps
    reading through the handle it already holds, and every new open of a local path (the warehouse
    by name, its WAL, `glob`, a temp folder) fails. With no file system there is nowhere to spill,
    so `temp_directory` is emptied too (an oversized query stops at the memory limit instead), and
    Python replacement scans are off so a name in the SQL cannot read a DataFrame of the caller.
    """
    path = Path(path)
    if not path.exists():
        raise WarehouseMissingError(
            f"No warehouse at {path}. Run `signalboard demo` for the sample, "
            "or `signalboard load DIR` with your exports."
        )
    config: dict[str, Any] = {
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        "allow_community_extensions": False,
        "memory_limit": memory_limit,
        "threads": threads,
    }
    con = duckdb.connect(":memory:", config=config)
    try:
        con.execute("attach $path as warehouse (read_only)", {"path": str(path)})
        con.execute("use warehouse")
        # A long query would otherwise draw DuckDB's progress bar on the server's terminal.
        con.execute("set enable_progress_bar = false")
        # EXPLAIN then also prints the unoptimized logical plan, whose scans name every table a
        # statement reads (the sandbox checks them for demographic tables before running it).
        con.execute("set explain_output = 'all'")
        con.execute("set python_enable_replacements = false")
        con.execute("set temp_directory = ''")
        con.execute("set enable_external_access = false")
        # Only after external access is off: DuckDB refuses to turn it off once the local file
        # system is gone (it re-lists the attached files then).
        con.execute("set disabled_filesystems = 'LocalFileSystem'")
        con.execute("set lock_configuration = true")
    except BaseException:
        con.close()
        raise
    return con


def connect_memory() -> duckdb.DuckDBPyConnection:
    """An in-memory database, for tests and for computing on DataFrames with SQL."""
    return duckdb.connect(":memory:")


@contextmanager
def readonly(path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """`with readonly(path) as con:` closes the connection (and releases the file) afterwards."""
    con = connect_readonly(path)
    try:
        yield con
    finally:
        con.close()


def query_df(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Run one statement with bound `$name` parameters and return the whole result as a DataFrame.

    DuckDB 2.0 streams results and an unfinished result blocks its connection, so every read
    goes through here (or `query_rows`) and fetches to the end.
    """
    return con.execute(sql, dict(params or {})).df()


def query_rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one statement with bound parameters and return all rows as tuples."""
    return con.execute(sql, dict(params or {})).fetchall()


def query_scalar(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> Any:
    """Run one statement and return the first column of the first row (None when no rows)."""
    rows = query_rows(con, sql, params)
    return rows[0][0] if rows else None


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        query_scalar(
            con,
            "select count(*) from information_schema.tables where table_name = $name",
            {"name": name},
        )
    )


def quote_identifier(name: str) -> str:
    """Quote a table or column name for SQL text. Values are always bound; only identifiers that
    cannot be parameters (a table name from the contract) pass through here.

    >>> quote_identifier('scores')
    '"scores"'
    >>> quote_identifier('x"; drop table t; --')
    '"x""; drop table t; --"'
    """
    if "\x00" in name:
        raise ValueError("identifier contains a NUL byte")
    return '"' + name.replace('"', '""') + '"'
