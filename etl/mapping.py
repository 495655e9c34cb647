"""Vendor mappings: a TOML file that renames an ATS's columns and stage names to the contract.

    name = "greenhouse"
    date_format = "%m/%d/%Y"                         # every date column (optional)

    [stage_events]                                   # one section per contract table
    files = ["greenhouse_stage_history*"]            # file-name globs that hold this table
    ignore = ["Recruiter"]                           # columns to drop without a look
    [stage_events.columns]                           # vendor column -> contract column
    "Application ID" = "application_id"
    [stage_events.values.event]                      # vendor value -> contract value, per column
    "Phone Screen" = "selected"
    [stage_events.formats]                           # strptime formats for date/timestamp columns
    occurred_at = "%m/%d/%Y %H:%M"

A wide export (one row per application, one column per stage) becomes one event per filled cell:

    [stage_events.stage_columns]                     # vendor column -> event at that time
    "Hired At" = "hired"
    "Archived At" = { event_from = "Archive Reason" } # the event is that column's (mapped) value

`date_format` (top level or per table) applies to every date and timestamp column without a
`formats` entry; for a timestamp it also accepts the date followed by " %H:%M" or " %H:%M:%S".
Column names match exactly or case-insensitively; values match after trimming whitespace.
docs/mappings.md documents the syntax for users.
"""

from __future__ import annotations

import fnmatch
import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from etl.contract import TABLES_BY_NAME


class MappingError(ValueError):
    """The mapping file is unreadable or names something the contract does not have."""


@dataclass(frozen=True)
class StageColumn:
    """One stage column of a wide export: its filled cells are events at the time they hold."""

    column: str
    event: str | None = None
    event_from: str | None = None


@dataclass(frozen=True)
class TableMapping:
    table: str
    files: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    # demographics: further attributes to keep (every undeclared column is dropped).
    attributes: tuple[str, ...] = ()
    date_format: str | None = None
    # Wide-to-events: (vendor column, event) or (vendor column, column holding the event).
    stage_columns: tuple[StageColumn, ...] = ()

    def merges_events(self) -> bool:
        """Whether several vendor values or columns can become one event of an application."""
        if self.table != "stage_events":
            return False
        targets = list(self.values.get("event", {}).values())
        fixed = [s.event for s in self.stage_columns if s.event is not None]
        from_columns = any(s.event_from is not None for s in self.stage_columns)
        return (
            len(set(targets)) < len(targets)
            or len(set(fixed)) < len(fixed)
            or (from_columns and bool(fixed))
        )

    def matches(self, file_name: str) -> bool:
        name = file_name.lower()
        return any(fnmatch.fnmatch(name, pattern.lower()) for pattern in self.files)

    def rename(self, column: str) -> str:
        """The contract name for a vendor column (unchanged when the mapping does not name it)."""
        if column in self.columns:
            return self.columns[column]
        lowered = {k.strip().lower(): v for k, v in self.columns.items()}
        return lowered.get(column.strip().lower(), column)


@dataclass(frozen=True)
class Mapping:
    name: str
    path: Path
    sha256: str
    tables: dict[str, TableMapping]
    date_format: str | None = None

    def table_for_file(self, file_name: str) -> str | None:
        tables = self.tables_for_file(file_name)
        return tables[0] if tables else None

    def tables_for_file(self, file_name: str) -> list[str]:
        """Every table whose `files` match: one wide export can feed applications and events."""
        return [t.table for t in self.tables.values() if t.matches(file_name)]

    def for_table(self, table: str) -> TableMapping:
        return self.tables.get(table, TableMapping(table, date_format=self.date_format))


EMPTY = Mapping(name="", path=Path(), sha256="", tables={})


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MappingError(f"{where} must be a table of text = text")
    return dict(value)


def _check_format(fmt: str, file_name: str) -> None:
    if "%" not in fmt or "%Y" not in fmt and "%y" not in fmt:
        raise MappingError(
            f'mapping {file_name}: date format {fmt!r} has no year (%Y); write e.g. "%d/%m/%Y"'
        )


def _stage_columns(section: object, table: str, file_name: str) -> tuple[StageColumn, ...]:
    if section is None:
        return ()
    if table != "stage_events":
        raise MappingError(f"mapping {file_name}: stage_columns belong in [stage_events]")
    if not isinstance(section, dict):
        raise MappingError(f"mapping {file_name}: [stage_events.stage_columns] must be a table")
    parsed = []
    for column, target in section.items():
        if isinstance(target, str):
            parsed.append(StageColumn(column, event=target))
        elif (
            isinstance(target, dict)
            and set(target) == {"event_from"}
            and isinstance(target["event_from"], str)
        ):
            parsed.append(StageColumn(column, event_from=target["event_from"]))
        else:
            raise MappingError(
                f"mapping {file_name}: [stage_events.stage_columns] {column!r} must be an event "
                'name or { event_from = "column" }'
            )
    return tuple(parsed)


def load_mapping(path: Path) -> Mapping:
    """Parse and check a mapping file; raises MappingError with a one-line message."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except FileNotFoundError:
        raise MappingError(f"mapping file {path} does not exist") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise MappingError(f"mapping file {path} is not valid TOML: {error}") from None
    tables: dict[str, TableMapping] = {}
    default_format = data.get("date_format")
    if default_format is not None and not isinstance(default_format, str):
        raise MappingError(f'mapping {path.name}: date_format must be text like "%d/%m/%Y"')
    if default_format is not None:
        _check_format(default_format, path.name)
    for key, section in data.items():
        if key in ("name", "date_format"):
            continue
        if key not in TABLES_BY_NAME or not isinstance(section, dict):
            known = ", ".join(TABLES_BY_NAME)
            raise MappingError(f"mapping {path.name}: [{key}] is not a contract table ({known})")
        spec = TABLES_BY_NAME[key]
        known_columns = {c.name for c in spec.columns}
        columns = _strings(section.get("columns", {}), f"[{key}.columns]")
        for target in columns.values():
            if target not in known_columns and not spec.keeps_extra_columns:
                raise MappingError(
                    f"mapping {path.name}: [{key}.columns] maps to {target!r}, "
                    f"which is not a column of {key}"
                )
        values_section = section.get("values", {})
        if not isinstance(values_section, dict):
            raise MappingError(f"mapping {path.name}: [{key}.values] must be a table")
        values = {
            column: _strings(renames, f"[{key}.values.{column}]")
            for column, renames in values_section.items()
        }
        formats = _strings(section.get("formats", {}), f"[{key}.formats]")
        for column in formats:
            if column not in known_columns or spec.column(column).type not in ("date", "timestamp"):
                raise MappingError(
                    f"mapping {path.name}: [{key}.formats] {column!r} is not a date or "
                    f"timestamp column of {key}"
                )
        files = section.get("files", [])
        ignore = section.get("ignore", [])
        attributes = section.get("attributes", [])
        if not all(isinstance(v, list) for v in (files, ignore, attributes)):
            raise MappingError(f"mapping {path.name}: files, ignore and attributes must be lists")
        if attributes and not spec.keeps_extra_columns:
            raise MappingError(
                f"mapping {path.name}: [{key}] attributes: only demographics keeps attributes"
            )
        date_format = section.get("date_format", default_format)
        if date_format is not None and not isinstance(date_format, str):
            raise MappingError(f"mapping {path.name}: [{key}] date_format must be text")
        for fmt in [*formats.values(), *([date_format] if date_format else [])]:
            _check_format(fmt, path.name)
        tables[key] = TableMapping(
            table=key,
            files=tuple(str(f) for f in files),
            columns=columns,
            values=values,
            formats=formats,
            ignore=tuple(str(i) for i in ignore),
            attributes=tuple(str(a) for a in attributes),
            date_format=date_format,
            stage_columns=_stage_columns(section.get("stage_columns"), key, path.name),
        )
    return Mapping(
        name=str(data.get("name", path.stem)),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        tables=tables,
        date_format=default_format,
    )
