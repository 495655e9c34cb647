"""What a mapping does to one file: wide exports unpivoted to events, date formats declared or
detected, and the values no rule maps.

Dates are never guessed row by row. Per date column of a file the load uses, in order:

1. the column's `formats` entry, else the table's or the mapping's `date_format`; a declared
   format that leaves values unread which the day/month-swapped format reads is refused (the
   export is not in the declared format);
2. else ISO 8601 when every value reads as ISO (a sample of `SAMPLE_ROWS` rows decides when no
   value rule needs the whole file; a later non-ISO value is then rejected on its row);
3. else, when no value of the whole column is ISO, a day/month order detected from all of it:
   values `a/b/yyyy` (or with `.`/`-`) with some a > 12 are day first, with some b > 12 month
   first; when every a and b is at most 12 the file is refused with a message asking for
   `date_format` in the mapping. A column mixing ISO and other dates loads its ISO values and
   rejects the others on their rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import duckdb

from etl.contract import TableSpec
from etl.mapping import TableMapping
from etl.read import RawFile, ReadError, ident, open_raw
from etl.sources import ConvertedFile

SAMPLE_ROWS = 2000
"""Rows read to confirm that a file without value rules or declared formats is ISO 8601."""

TIME_SUFFIXES = ("", " %H:%M", " %H:%M:%S")
"""A date format given for a timestamp column also reads the date followed by these times."""

_DAY_MONTH = r"^([0-9]{1,2})([/.-])([0-9]{1,2})[/.-]([0-9]{4})"


class MappedError(ValueError):
    """The file cannot load as the mapping says; the one-line message names the column."""


@dataclass
class FileInspection:
    """What the load made of one file's columns: the column map, the date format per date
    column (and where it came from), and the values of mapped columns that no rule maps."""

    columns: dict[str, str] = field(default_factory=dict)  # contract column -> file column
    extra_columns: dict[str, str] = field(default_factory=dict)  # attribute -> file column
    ignored: list[str] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    date_formats: dict[str, str] = field(default_factory=dict)  # column -> "ISO 8601", ...
    unmapped: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    stage_columns: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "extra_columns": self.extra_columns,
            "ignored": self.ignored,
            "unused": self.unused,
            "stage_columns": self.stage_columns,
            "date_formats": self.date_formats,
            "unmapped_values": {
                column: [{"value": v, "rows": n} for v, n in values]
                for column, values in self.unmapped.items()
            },
        }


# --------------------------------------------------------------------------------------------
# Wide exports: one row per application, one column per stage


def open_mapped(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    name: str,
    table_mapping: TableMapping,
    *,
    converted: ConvertedFile | None = None,
    encoding: str = "utf-8",
    numbered: bool = True,
) -> RawFile:
    """`open_raw`, then (for `stage_columns`) one row per filled stage cell: the file's other
    columns, `event` (the stage's event, or the value of its `event_from` column) and
    `occurred_at` (the cell). Each event row keeps its source row's line."""
    raw = open_raw(con, path, name, converted=converted, encoding=encoding, numbered=numbered)
    if not table_mapping.stage_columns:
        return raw
    by_lower = {c.strip().lower(): c for c in raw.columns}

    def find(column: str) -> str:
        found = column if column in raw.columns else by_lower.get(column.strip().lower())
        if found is None:
            raise ReadError(
                f"stage column {column!r} named in the mapping is not in the file "
                f"(found: {', '.join(raw.columns)[:200]})"
            )
        return found

    stages = [(find(s.column), s) for s in table_mapping.stage_columns]
    sources = [find(s.event_from) for _, s in stages if s.event_from is not None]
    for taken in ("event", "occurred_at", "__stage"):
        if taken in by_lower:
            raise ReadError(f"the file has a column {taken!r}, which its stage columns produce")
    params = dict(raw.params)
    cases = []
    for i, (column, stage) in enumerate(stages):
        params[f"stage_col_{i}"] = column
        if stage.event is not None:
            params[f"stage_event_{i}"] = stage.event
            cases.append(f"when $stage_col_{i} then $stage_event_{i}")
        else:
            assert stage.event_from is not None
            source = find(stage.event_from)
            cases.append(f"when $stage_col_{i} then coalesce({ident(source)}, $stage_col_{i})")
    excluded = ", ".join(ident(c) for c in ["__stage", *dict.fromkeys(sources)])
    on = ", ".join(ident(c) for c, _ in stages)
    source = f"""(
        select * exclude ({excluded}), case __stage {" ".join(cases)} end as "event"
        from (unpivot {raw.source} on {on} into name __stage value "occurred_at")
    )"""
    kept = [c for c in raw.columns if c not in {c for c, _ in stages} and c not in sources]
    return replace(raw, source=source, params=params, columns=[*kept, "event", "occurred_at"])


# --------------------------------------------------------------------------------------------
# Date formats and unmapped values


def _swap_day_month(fmt: str) -> str | None:
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


def declared_formats(fmt: str) -> list[str]:
    """strptime formats a declared date format reads (with the times a timestamp may carry)."""
    if "%H" in fmt:
        return [fmt]
    return [fmt + suffix for suffix in TIME_SUFFIXES]


def _clean(column: str) -> str:
    return f"nullif(trim({ident(column)}), '')"


def inspect_file(
    con: duckdb.DuckDBPyConnection,
    raw: RawFile,
    spec: TableSpec,
    table_mapping: TableMapping,
    inspection: FileInspection,
    file_name: str,
    *,
    whole: bool = False,
) -> TableMapping:
    """Fill `inspection` with the date formats and unmapped values of `raw` (opened unnumbered
    for this read only); return the table mapping with every date column's format settled.

    `whole`: read every row even when no value rule or declared format needs it (a sample of
    the file had a date that is not ISO 8601). Raises MappedError when a declared format does not
    fit or day and month are ambiguous.
    """
    resolved = inspection.columns
    dates = [
        c.name
        for c in spec.stored_columns
        if c.type in ("date", "timestamp") and c.name in resolved
    ]
    declared: dict[str, list[str]] = {}
    for column in dates:
        if column in table_mapping.formats:
            declared[column] = [table_mapping.formats[column]]
        elif table_mapping.date_format:
            declared[column] = declared_formats(table_mapping.date_format)
    value_rules = {
        c: rules
        for c, rules in table_mapping.values.items()
        if c in resolved and c in {s.name for s in spec.stored_columns}
    }
    params: dict[str, Any] = dict(raw.params)
    aggregates: list[str] = []
    for i, column in enumerate(dates):
        x = _clean(resolved[column])
        iso = (
            f"(try_cast({x} as timestamp) is not null or try_cast({x} as timestamptz) is not null)"
        )
        aggregates += [
            f"count({x})",
            f"count(*) filter (where {iso})",
            f"count(*) filter (where regexp_matches({x}, '{_DAY_MONTH}'))",
            f"max(try_cast(regexp_extract({x}, '{_DAY_MONTH}', 1) as integer))",
            f"max(try_cast(regexp_extract({x}, '{_DAY_MONTH}', 3) as integer))",
            f"any_value(regexp_extract({x}, '{_DAY_MONTH}', 2)) filter "
            f"(where regexp_matches({x}, '{_DAY_MONTH}'))",
            f"any_value({x}) filter (where regexp_matches({x}, '{_DAY_MONTH}'))",
            f"any_value({x}) filter (where not {iso})",
        ]
        if column in declared:
            swapped = [s for s in (_swap_day_month(f) for f in declared[column]) if s]
            params[f"declared_{i}"] = declared[column]
            params[f"swapped_{i}"] = swapped or declared[column]
            unread = f"try_strptime({x}, $declared_{i}) is null"
            other = f"try_strptime({x}, $swapped_{i}) is not null" if swapped else "false"
            aggregates += [
                f"count(*) filter (where {unread} and {other})",
                f"any_value({x}) filter (where {unread} and {other})",
            ]
        else:
            aggregates += ["0", "null"]
    for i, (column, rules) in enumerate(value_rules.items()):
        x = _clean(resolved[column])
        allowed = spec.column(column).allowed or ()
        params[f"known_{i}"] = [*rules.keys(), *rules.values(), *allowed]
        aggregates.append(
            f"histogram({x}) filter (where {x} is not null and "
            f"not list_contains($known_{i}, {x}) and not list_contains($known_{i}, lower({x})))"
        )
    if not aggregates:
        return table_mapping
    whole = whole or bool(value_rules) or bool(declared)
    source = raw.source if whole else f"(select * from {raw.source} limit {SAMPLE_ROWS})"
    sql = f"select {', '.join(aggregates)} from {source} as src"
    used = set(re.findall(r"\$(\w+)", sql))
    try:
        row = list(con.execute(sql, {k: v for k, v in params.items() if k in used}).fetchall()[0])
    except duckdb.OutOfMemoryException:
        raise  # the load's memory cap, not the file: load_paths says so
    except duckdb.Error as error:
        raise ReadError(f"unreadable ({str(error).splitlines()[0]})") from None
    formats = dict(table_mapping.formats)
    for column in dates:
        stats, row = row[:10], row[10:]
        n, n_iso, n_dm, max_a, max_b, sep, example, non_iso, n_swapped, swapped_example = stats
        where = f"{file_name}: column {resolved[column]!r} ({column})"
        if column in declared:
            if n_swapped:
                raise MappedError(
                    f"{where}: {n_swapped} values such as {swapped_example!r} do not fit the "
                    f"declared date format {declared[column][0]!r} but fit it with day and month "
                    "swapped; fix date_format in the mapping (docs/mappings.md)"
                )
            formats[column] = declared[column]  # type: ignore[assignment]
            source_text = "formats" if column in table_mapping.formats else "date_format"
            inspection.date_formats[column] = f"{declared[column][0]} (declared: {source_text})"
            continue
        if n == n_iso:
            inspection.date_formats[column] = "ISO 8601"
            continue
        if not whole:
            # The sample is not all ISO: settle the format on the whole column.
            inspection.date_formats.clear()
            return inspect_file(con, raw, spec, table_mapping, inspection, file_name, whole=True)
        if n_dm == 0 or n_iso:
            # A column that mixes ISO dates with others is not in one format: its ISO values
            # load, the others are rejected on their rows with their text.
            inspection.date_formats[column] = f"ISO 8601 (values such as {non_iso!r} rejected)"
            continue
        day_first = (max_a or 0) > 12
        month_first = (max_b or 0) > 12
        if day_first == month_first:
            if day_first:
                inspection.date_formats[column] = (
                    f"none: values such as {example!r} read neither day nor month first"
                )
                continue
            raise MappedError(
                f"{where}: dates such as {example!r} read as day/month or month/day; declare the "
                f'format in the mapping, e.g. date_format = "%d{sep}%m{sep}%Y" (docs/mappings.md)'
            )
        order = f"%d{sep}%m{sep}%Y" if day_first else f"%m{sep}%d{sep}%Y"
        formats[column] = declared_formats(order)  # type: ignore[assignment]
        inspection.date_formats[column] = f"{order} (detected)"
    for i, column in enumerate(value_rules):
        histogram = row[i] or {}
        unmapped = sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0]))
        if unmapped:
            inspection.unmapped[column] = [(str(v), int(n)) for v, n in unmapped]
    return replace(table_mapping, formats=formats)
