"""Vendor mappings: a TOML file that renames an ATS's columns and stage names to the contract.

    name = "greenhouse"

    [stage_events]                                   # one section per contract table
    files = ["greenhouse_stage_history*"]            # file-name globs that hold this table
    ignore = ["Recruiter"]                           # columns to drop without a look
    [stage_events.columns]                           # vendor column -> contract column
    "Application ID" = "application_id"
    [stage_events.values.event]                      # vendor value -> contract value, per column
    "Phone Screen" = "selected"
    [stage_events.formats]                           # strptime formats for date/timestamp columns
    occurred_at = "%m/%d/%Y %H:%M"

Column names match exactly or case-insensitively; values match after trimming whitespace.
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
class TableMapping:
    table: str
    files: tuple[str, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)
    ignore: tuple[str, ...] = ()
    # demographics: further attributes to keep (every undeclared column is dropped).
    attributes: tuple[str, ...] = ()

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

    def table_for_file(self, file_name: str) -> str | None:
        for table in self.tables.values():
            if table.matches(file_name):
                return table.table
        return None

    def for_table(self, table: str) -> TableMapping:
        return self.tables.get(table, TableMapping(table))


EMPTY = Mapping(name="", path=Path(), sha256="", tables={})


def _strings(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise MappingError(f"{where} must be a table of text = text")
    return dict(value)


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
    for key, section in data.items():
        if key == "name":
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
        tables[key] = TableMapping(
            table=key,
            files=tuple(str(f) for f in files),
            columns=columns,
            values=values,
            formats=formats,
            ignore=tuple(str(i) for i in ignore),
            attributes=tuple(str(a) for a in attributes),
        )
    return Mapping(
        name=str(data.get("name", path.stem)),
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        tables=tables,
    )
