"""Read one export file into a temporary DuckDB table of text columns plus its line numbers.

Everything is read as text (`all_varchar`) so type sniffing never loses a value: the load casts and
validates in SQL afterwards and sends what does not cast to `rejects`. Lines DuckDB cannot parse
(too many or too few fields) become rejects too, via `store_rejects`, instead of failing the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from etl.sources import ConvertedFile

LINE = "__line"
"""Column holding the 1-based line in the source file (CSV header = line 1; Parquet row = line)."""


class ReadError(ValueError):
    """The file cannot be used at all (empty, unreadable); the message names the problem."""


@dataclass
class RawFile:
    """A file read into temp table `name`: its columns as text, plus `__line`."""

    name: str
    columns: list[str]
    rows: int
    file_format: str
    encoding: str | None = None
    delimiter: str | None = None
    # Lines the CSV reader could not split into the header's fields: (line, message).
    malformed: list[tuple[int, str]] = field(default_factory=list)


def ident(name: str) -> str:
    """Quote an identifier for SQL (column names come from files, so they are never trusted)."""
    return '"' + name.replace('"', '""') + '"'


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    return None


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    rows = con.execute(f"select column_name from (describe {ident(table)})").fetchall()
    return [r[0] for r in rows]


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"select count(*) from {ident(table)}").fetchall()[0][0])


def _read_csv(
    con: duckdb.DuckDBPyConnection, path: Path, name: str, encoding: str
) -> list[tuple[int, str, str]]:
    errors, scans = f"{name}_errors", f"{name}_scans"
    con.execute(f"drop table if exists {ident(name)}")
    con.execute(
        f"""
        create temp table {ident(name)} as
        select * exclude (ordinality), ordinality + 1 as {LINE}
        from read_csv(
            $path, all_varchar = true, header = true, encoding = $encoding,
            store_rejects = true, rejects_table = '{errors}', rejects_scan = '{scans}'
        ) with ordinality
        """,
        {"path": str(path), "encoding": encoding},
    )
    rows = con.execute(
        # One line can be reported once per missing field: keep one report per line.
        f"select line, arg_min(error_type, column_idx), arg_min(error_message, column_idx) "
        f"from {ident(errors)} group by line order by line"
    ).fetchall()
    con.execute(f"drop table if exists {ident(errors)}")
    con.execute(f"drop table if exists {ident(scans)}")
    return [(int(line), str(kind), str(message)) for line, kind, message in rows]


def _delimiter(con: duckdb.DuckDBPyConnection, path: Path, encoding: str) -> str | None:
    try:
        rows = con.execute(
            "select Delimiter from sniff_csv($path, encoding = $encoding)",
            {"path": str(path), "encoding": encoding},
        ).fetchall()
    except duckdb.Error:
        return None
    return str(rows[0][0]) if rows else None


def _number_lines(
    con: duckdb.DuckDBPyConnection, source: str, name: str, malformed: list[int]
) -> None:
    """Give each parsed row its line in the file.

    Row k (0-based, in file order: `with ordinality`) is on line k + 2, pushed down by every malformed line
    before it. The j-th malformed line L_j (1-based j) sits before row k when
    k >= L_j - 1 - j, so an as-of join on that threshold counts them set-based.
    """
    con.execute("drop table if exists __malformed")
    con.execute(
        "create temp table __malformed as select unnest($lines) as line", {"lines": malformed}
    )
    con.execute(
        f"""
        create temp table {ident(name)} as
        with thresholds as (
            select line - 1 - row_number() over (order by line) as threshold,
                   row_number() over (order by line) as passed
            from __malformed
        ),
        steps as (
            select threshold, max(passed) as passed from thresholds group by threshold
        ),
        rows as (select * exclude ({LINE}), {LINE} - 2 as __k from {ident(source)})
        select rows.* exclude (__k), rows.__k + 2 + coalesce(steps.passed, 0) as {LINE}
        from rows asof left join steps on rows.__k >= steps.threshold
        """
    )
    con.execute("drop table __malformed")
    con.execute(f"drop table {ident(source)}")


def read_raw(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    *,
    converted: ConvertedFile | None = None,
) -> RawFile:
    """Read `path` (or a converter's rows from it) into temp table `name`.

    Raises ReadError for an empty file. CSV: delimiter sniffed (comma, semicolon, tab, pipe),
    UTF-8 with or without BOM, Latin-1 when the bytes are not valid UTF-8, gzip by extension.
    """
    if converted is not None:
        return _read_converted(con, converted, name)
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise ReadError("the file is empty (0 bytes)")
    if fmt == "parquet":
        return _read_parquet(con, path, name)
    source = f"{name}_src"
    encoding = "utf-8"
    errors = _read_csv(con, path, source, encoding)
    if any(kind == "INVALID ENCODING" for _, kind, _ in errors):
        # Not UTF-8: spreadsheet exports from Windows are Latin-1 (cp1252's printable subset).
        encoding = "latin-1"
        errors = _read_csv(con, path, source, encoding)
    columns = [c for c in _columns(con, source) if c != LINE]
    rows = _count(con, source)
    if rows == 0 and not errors:
        con.execute(f"drop table {ident(source)}")
        if columns == ["column0"]:
            raise ReadError("the file is empty (no header, no rows)")
        raise ReadError("the file has a header but no data rows")
    if errors:
        _number_lines(con, source, name, [line for line, _, _ in errors])
    else:
        con.execute(f"alter table {ident(source)} rename to {ident(name)}")
    malformed = [
        (line, f"{kind.lower()}: {message.splitlines()[0]}") for line, kind, message in errors
    ]
    return RawFile(
        name=name,
        columns=columns,
        rows=rows + len(malformed),
        file_format=fmt or "csv",
        encoding=encoding,
        delimiter=_delimiter(con, path, encoding),
        malformed=malformed,
    )


def _read_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> RawFile:
    try:
        described = con.execute(
            "select column_name from (describe select * from read_parquet($path))",
            {"path": str(path)},
        ).fetchall()
    except duckdb.Error as error:
        raise ReadError(f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
    columns = [r[0] for r in described]
    casts = ", ".join(f"cast({ident(c)} as varchar) as {ident(c)}" for c in columns)
    con.execute(
        f"""
        create temp table {ident(name)} as
        select {casts}, file_row_number + 1 as {LINE}
        from read_parquet($path, file_row_number = true)
        """,
        {"path": str(path)},
    )
    rows = _count(con, name)
    if rows == 0:
        raise ReadError("the file has no rows")
    return RawFile(name=name, columns=columns, rows=rows, file_format="parquet")


def _read_converted(con: duckdb.DuckDBPyConnection, converted: ConvertedFile, name: str) -> RawFile:
    frame = converted.frame.reset_index(drop=True)
    if frame.empty:
        raise ReadError("the converter returned no rows")
    lines = converted.lines if converted.lines is not None else list(range(1, len(frame) + 1))
    frame = frame.assign(**{LINE: pd.Series(lines, dtype="int64")})
    columns = [str(c) for c in frame.columns if c != LINE]
    view = f"{name}_frame"
    con.register(view, frame)
    casts = ", ".join(f"cast({ident(c)} as varchar) as {ident(c)}" for c in columns)
    con.execute(
        f"create temp table {ident(name)} as select {casts}, {LINE} from {ident(view)} "
        f"order by {LINE}"
    )
    con.unregister(view)
    return RawFile(name=name, columns=columns, rows=len(frame), file_format="converted")
