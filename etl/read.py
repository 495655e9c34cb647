"""Open one export file for reading as text columns plus its line numbers.

Everything is read as text (`all_varchar`) so type sniffing never loses a value: the load casts and
validates in SQL afterwards and sends what does not cast to `rejects`. Lines DuckDB cannot parse
(too many or too few fields) become rejects too, via `store_rejects`, instead of failing the file.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from etl.sources import ConvertedFile

if TYPE_CHECKING:
    import numpy as np

LINE = "__line"
"""Column holding the 1-based line in the source file (CSV header = line 1; Parquet row = line)."""


class ReadError(ValueError):
    """The file cannot be used at all (empty, unreadable); the message names the problem."""


class WrongEncoding(ReadError):
    """The file is not UTF-8: open it again as Latin-1 (raised by `finish_raw`)."""


@dataclass
class RawFile:
    """A file opened for one read: `source` is SQL for its rows, text columns plus `__line`.

    The load reads `source` once, straight into its validation query (no copy of the text), then
    calls `finish_raw` on the table it wrote: that counts the rows, collects the lines the reader
    could not parse and numbers the rows by their line in the file.
    """

    name: str
    source: str
    params: dict[str, Any]
    columns: list[str]
    file_format: str
    encoding: str | None = None
    delimiter: str | None = None
    rows: int = 0
    # Lines the CSV reader could not split into the header's fields: (line, message).
    malformed: list[tuple[int, str]] = field(default_factory=list)
    # Temp tables to drop once `source` has been read.
    temp_tables: list[str] = field(default_factory=list)
    # False: `__line` is NULL (a CSV read on every core); the caller reads the file again
    # numbered if any row needs its line.
    numbered: bool = True


def ident(name: str) -> str:
    """Quote an identifier for SQL (column names come from files, so they are never trusted)."""
    return '"' + name.replace('"', '""') + '"'


def file_format(path: Path) -> str | None:
    name = path.name.lower()
    for suffix in (".csv.gz", ".csv", ".parquet"):
        if name.endswith(suffix):
            return suffix.lstrip(".")
    return None


def _count(con: duckdb.DuckDBPyConnection, query: str, params: dict[str, Any]) -> int:
    return int(con.execute(f"select count(*) from ({query})", params).fetchall()[0][0])


def _csv_source(name: str, encoding: str, numbered: bool) -> tuple[str, str]:
    """SQL reading the CSV at `$raw_path` as text with line numbers; and its rejects table.

    Unnumbered, `__line` is NULL and the read runs on every core: `with ordinality` makes DuckDB
    read the file and run everything downstream of it in the same statement on one thread.
    """
    errors = f"{name}_errors"
    read = f"""read_csv(
            $raw_path, all_varchar = true, header = true, encoding = '{encoding}',
            store_rejects = true, rejects_table = '{errors}', rejects_scan = '{name}_scans'
        )"""
    if numbered:
        source = (
            f"(select * exclude (ordinality), ordinality + 1 as {LINE} from {read} with ordinality)"
        )
    else:
        source = f"(select *, cast(null as bigint) as {LINE} from {read})"
    return source, errors


def _sniff(
    con: duckdb.DuckDBPyConnection, path: Path, encoding: str
) -> tuple[list[str], str | None]:
    """The header's column names and the delimiter, from one sniff with the read's own options.

    One sniff instead of two (a `describe` of the read, then `sniff_csv` for the delimiter):
    each reads a sample on one thread. Tolerating bad
    lines as the read does (store_rejects): otherwise one too-long line in the sample made the
    sniffer answer '|', or fail and abort the load's transaction; a Latin-1 file sniffed as
    UTF-8 does not fail either.
    """
    rows = con.execute(
        "select Columns, Delimiter from sniff_csv($path, header = true, all_varchar = true, "
        "encoding = $encoding, ignore_errors = true)",
        {"path": str(path), "encoding": encoding},
    ).fetchall()
    columns = [str(c["name"]) for c in rows[0][0]] if rows else []
    return columns, (str(rows[0][1]) if rows and rows[0][1] is not None else None)


def _number_lines(con: duckdb.DuckDBPyConnection, table: str, malformed: list[int]) -> None:
    """Give each parsed row of `table` its line in the file.

    Row k (0-based, in file order: `with ordinality`) is on line k + 2, pushed down by every malformed line
    before it. The j-th malformed line L_j (1-based j) sits before row k when
    k >= L_j - 1 - j, so an as-of join on that threshold counts them set-based.
    """
    numbered = f"{table}_numbered"
    con.execute("drop table if exists __malformed")
    con.execute(
        "create temp table __malformed as select unnest($lines) as line", {"lines": malformed}
    )
    con.execute(
        f"""
        create temp table {ident(numbered)} as
        with thresholds as (
            select line - 1 - row_number() over (order by line) as threshold,
                   row_number() over (order by line) as passed
            from __malformed
        ),
        steps as (
            select threshold, max(passed) as passed from thresholds group by threshold
        ),
        rows as (select * exclude ({LINE}), {LINE} - 2 as __k from {ident(table)})
        select rows.* exclude (__k), rows.__k + 2 + coalesce(steps.passed, 0) as {LINE}
        from rows asof left join steps on rows.__k >= steps.threshold
        """
    )
    con.execute("drop table __malformed")
    con.execute(f"drop table {ident(table)}")
    con.execute(f"alter table {ident(numbered)} rename to {ident(table)}")


def open_raw(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    *,
    converted: ConvertedFile | None = None,
    encoding: str = "utf-8",
    numbered: bool = True,
) -> RawFile:
    """Open `path` (or a converter's rows from it) for one read as text; nothing is read yet.

    Raises ReadError for an empty file. CSV: delimiter sniffed (comma, semicolon, tab, pipe),
    UTF-8 with or without BOM, gzip by extension; `finish_raw` raises WrongEncoding when the
    bytes are not UTF-8, and the caller opens the file again with `encoding="latin-1"`.
    """
    if converted is not None:
        return _read_converted(con, converted, name)
    fmt = file_format(path)
    if path.stat().st_size == 0:
        raise ReadError("the file is empty (0 bytes)")
    if fmt == "parquet":
        return _open_parquet(con, path, name)
    source, errors = _csv_source(name, encoding, numbered)
    params = {"raw_path": str(path)}
    columns, delimiter = _sniff(con, path, encoding)
    if columns == ["column0"] and not _count(con, f"select 1 from {source}", params):
        raise ReadError("the file is empty (no header, no rows)")
    return RawFile(
        name=name,
        source=source,
        params=params,
        columns=columns,
        file_format=fmt or "csv",
        encoding=encoding,
        delimiter=delimiter,
        temp_tables=[errors, f"{name}_scans"],
        numbered=numbered,
    )


def finish_raw(con: duckdb.DuckDBPyConnection, raw: RawFile, table: str) -> None:
    """After `raw.source` was read into `table`: count rows, collect unparseable lines, number
    the rows by their line in the file, drop the reader's temp tables.

    Raises WrongEncoding (UTF-8 read of a non-UTF-8 file) or ReadError (no rows at all).
    """
    try:
        errors: list[tuple[int, str, str]] = []
        if raw.file_format in ("csv", "csv.gz"):
            rows = con.execute(
                # One line can be reported once per missing field: keep one report per line.
                f"select line, arg_min(error_type, column_idx), arg_min(error_message, column_idx) "
                f"from {ident(raw.temp_tables[0])} group by line order by line"
            ).fetchall()
            errors = [(int(line), str(kind), str(message)) for line, kind, message in rows]
        if (
            raw.encoding == "utf-8"
            and any(kind == "INVALID ENCODING" for _, kind, _ in errors)
            and not has_utf8_text(Path(raw.params["raw_path"]), raw.file_format)
        ):
            # Not UTF-8: spreadsheet exports from Windows are Latin-1 (cp1252's printable subset).
            # A UTF-8 file with a few damaged bytes stays UTF-8: those lines become rejects.
            raise WrongEncoding("not UTF-8")
        parsed = _count(con, f"select 1 from {ident(table)}", {})
        if parsed == 0 and not errors:
            raise ReadError(
                "the file has no rows"
                if raw.file_format == "parquet"
                else "the file has a header but no data rows"
            )
        if raw.numbered and raw.file_format in ("csv", "csv.gz"):
            errors = _number_csv_lines(con, raw, table, errors, parsed)
        raw.malformed = [
            (line, f"{kind.lower()}: {message.splitlines()[0]}") for line, kind, message in errors
        ]
        raw.rows = parsed + len(raw.malformed)
    finally:
        close_raw(con, raw)


def _number_csv_lines(
    con: duckdb.DuckDBPyConnection,
    raw: RawFile,
    table: str,
    errors: list[tuple[int, str, str]],
    parsed: int,
) -> list[tuple[int, str, str]]:
    """Number the rows of a numbered CSV read by their physical line in the file; the
    unparseable lines' numbers (`errors`) come back as physical lines too.

    DuckDB counts lines as the newlines outside quoted fields (a quoted field spanning two
    lines is one line to it), counts blank lines in the malformed lines it reports, and skips
    them in `with ordinality`. Where the file has neither blank lines nor multi-line fields,
    both are its physical lines and only the unparseable lines shift the rows below them
    (`_number_lines`); otherwise each row's line is looked up in a map of the file's lines.
    """
    import numpy as np  # here: a clean file is never numbered, and the load needs no numpy

    lines = _csv_lines(Path(raw.params["raw_path"]), raw.file_format)
    if lines is None:
        if errors:
            _number_lines(con, table, [line for line, _, _ in errors])
        return errors
    physical, blank = lines
    malformed = {line for line, _, _ in errors}
    if any(not 1 <= line <= len(physical) for line in malformed):
        # Not the numbering this map assumes: keep DuckDB's (never worse than before).
        if errors:
            _number_lines(con, table, sorted(malformed))
        return errors
    is_malformed = np.zeros(len(physical), dtype=bool)
    is_malformed[np.array(sorted(malformed), dtype=np.int64) - 1] = True
    first = int(np.argmax(~blank))  # the header: the first line that is not blank
    data = np.flatnonzero(~blank & ~is_malformed)
    data = data[data > first]
    if len(data) != parsed:
        if errors:
            _number_lines(con, table, sorted(malformed))
        return errors
    import pyarrow as pa  # here: only a file with a blank line or a multi-line field needs it

    # Row k (with ordinality, 1-based; `__line` = k + 1 now) is the k-th data line.
    line_of_row = pa.table(
        {"row_line": np.arange(2, parsed + 2, dtype=np.int64), "file_line": physical[data]}
    )
    numbered = f"{table}_numbered"
    con.register("__line_map", line_of_row)
    try:
        con.execute(
            f"""
            create temp table {ident(numbered)} as
            select rows.* exclude ({LINE}), line_map.file_line as {LINE}
            from {ident(table)} as rows
            inner join __line_map as line_map on line_map.row_line = rows.{LINE}
            order by line_map.row_line
            """
        )
    finally:
        con.unregister("__line_map")
    con.execute(f"drop table {ident(table)}")
    con.execute(f"alter table {ident(numbered)} rename to {ident(table)}")
    return [(int(physical[line - 1]), kind, message) for line, kind, message in errors]


def _csv_lines(path: Path, fmt: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The physical line (1-based) on which each line DuckDB counts starts, and which are blank;
    None when they are the physical lines one to one (no blank line, no multi-line field).

    A newline ends a line unless it is inside a quoted field: an odd number of quote characters
    before it (a doubled quote inside a field adds two, so the parity holds). Quote and newline
    are single ASCII bytes in UTF-8 and Latin-1 alike.
    """
    import numpy as np

    if fmt == "csv.gz":
        with gzip.open(path, "rb") as handle:
            content = handle.read()
    else:
        content = path.read_bytes()
    data = np.frombuffer(content, dtype=np.uint8)
    newlines = np.flatnonzero(data == ord("\n"))
    quotes = np.flatnonzero(data == ord('"'))
    inside = (np.searchsorted(quotes, newlines) % 2).astype(bool)
    ends = newlines[~inside]
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(data)]])
    if starts[-1] >= len(data):  # the file ends with a newline: no line after it
        starts, stops = starts[:-1], stops[:-1]
    length = stops - starts
    carriage_return = length == 1
    carriage_return[carriage_return] = data[starts[carriage_return]] == ord("\r")
    blank = (length == 0) | carriage_return
    if not inside.any() and not blank.any():
        return None
    physical = np.searchsorted(newlines, starts) + 1  # newlines before a line's start, plus one
    return physical.astype(np.int64), blank


def close_raw(con: duckdb.DuckDBPyConnection, raw: RawFile) -> None:
    for temp in raw.temp_tables:
        con.execute(f"drop table if exists {ident(temp)}")


def _open_parquet(con: duckdb.DuckDBPyConnection, path: Path, name: str) -> RawFile:
    params = {"raw_path": str(path)}
    try:
        described = con.execute(
            "select column_name from (describe select * from read_parquet($raw_path))", params
        ).fetchall()
        # From the footer's metadata: no data is read.
        rows = _count(con, "select 1 from read_parquet($raw_path)", params)
    except duckdb.OutOfMemoryException:
        raise  # the load's memory cap, not the file: load_paths says so
    except duckdb.Error as error:
        raise ReadError(f"not a readable Parquet file ({str(error).splitlines()[0]})") from None
    if rows == 0:
        raise ReadError("the file has no rows")
    columns = [r[0] for r in described]
    casts = ", ".join(f"cast({ident(c)} as varchar) as {ident(c)}" for c in columns)
    source = f"""(
        select {casts}, file_row_number + 1 as {LINE}
        from read_parquet($raw_path, file_row_number = true)
    )"""
    return RawFile(name=name, source=source, params=params, columns=columns, file_format="parquet")


def _read_converted(con: duckdb.DuckDBPyConnection, converted: ConvertedFile, name: str) -> RawFile:
    import pandas as pd  # here, not at the top: a load of CSV files never needs its import time

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
    return RawFile(
        name=name,
        source=ident(name),
        params={},
        columns=columns,
        file_format="converted",
        temp_tables=[name],
    )


MAX_LINE_BYTES = 1 << 20
"""Longest CSV line (a record: quoted newlines included) a load reads: 1 MiB.

DuckDB does not stop at its own max_line_size when a quoted field spans many lines: it gives up
on the field and reports every physical line inside it as a malformed row, so a 5 MB field with
a million newlines made two million reject reports and took a load to 7 GB. No export field of
the contract comes near 1 MiB; a longer record is an unclosed quote or a hostile file.
"""

_SCAN_CHUNK = 8 << 20


def first_long_line(path: Path, fmt: str, *, limit: int = MAX_LINE_BYTES) -> int | None:
    """The physical line (1-based) on which the first record longer than `limit` bytes starts,
    or None. Reads the file once in 8 MiB chunks (memory stays bounded whatever its size).

    A newline ends a record unless it is inside quotes: an odd number of quote characters since
    the file's start (a doubled quote inside a field adds two, so the parity holds).
    """
    import numpy as np

    opener = gzip.open if fmt == "csv.gz" else open
    parity = 0  # quote characters seen so far, mod 2
    offset = 0  # bytes before this chunk
    newlines_before = 0  # newlines before this chunk
    start = 0  # byte offset where the open record starts
    start_line = 1
    with opener(path, "rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            data = np.frombuffer(chunk, dtype=np.uint8)
            newlines = np.flatnonzero(data == 10)
            quotes = np.flatnonzero(data == 34)
            inside = (np.searchsorted(quotes, newlines) + parity) % 2 == 1
            ends_at = np.flatnonzero(~inside)  # indexes into `newlines`
            ends = newlines[ends_at] + offset
            starts = np.concatenate([[start], ends[:-1] + 1])
            too_long = np.flatnonzero(ends - starts > limit)
            if too_long.size:
                first = int(too_long[0])
                return start_line if first == 0 else newlines_before + int(ends_at[first - 1]) + 2
            if ends.size:
                start = int(ends[-1]) + 1
                start_line = newlines_before + int(ends_at[-1]) + 2
            offset += len(chunk)
            newlines_before += len(newlines)
            parity = (parity + len(quotes)) % 2
            if offset - start > limit:
                return start_line
    return None


_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def has_utf8_text(path: Path, fmt: str) -> bool:
    """True when the file holds a valid UTF-8 multi-byte character: it is UTF-8, and bytes that
    do not decode are damage on their lines, not a sign that the whole file is Latin-1 (where
    such byte pairs, e.g. "Ã©", are practically absent from real text)."""
    opener = gzip.open if fmt == "csv.gz" else open
    tail = b""
    with opener(path, "rb") as handle:
        while chunk := handle.read(_SCAN_CHUNK):
            if _UTF8_MULTIBYTE.search(tail + chunk):
                return True
            tail = chunk[-3:]
    return False
