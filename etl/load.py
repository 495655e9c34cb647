"""The load: validate, pseudonymize and upsert exports into the warehouse, atomically.

    load_paths([Path("exports/")], settings=get_settings())

How a load runs (docs/warehouse.md explains it for users):

1. Take the writer lock (`<db>.lock`, fcntl.flock): concurrent loads queue, never interleave.
2. Copy the live warehouse to `<db>.loading-<pid>-<n>` beside it (or start a fresh file) and
   delete stale temp files a killed load left behind. The live file is never opened for writing,
   so readers (dashboard, report) keep their read-only connections during the whole load.
3. In one transaction on the copy, per file (tables in reference order): read it as text
   (etl/read.py), rename columns and values by the mapping, validate every row set-based in SQL,
   send bad rows to `rejects`, replace rows by key in the target table (delete, then insert).
   A CSV is read unnumbered first (on every core) and again numbered only if a row needs its
   line; into an empty table (but applications and demographics) that first read writes a table
   shaped like the target, which replaces it when every row is valid.
4. Record the load in `loads` / `load_files`, rebuild the derived tables (etl/derived/, e.g. the
   application journeys every analysis reads) from the rows now there, commit, CHECKPOINT, close, fsync, and os.replace()
   the copy over the live file. A load killed before the rename leaves the live file untouched.

A file whose content hash was already loaded into the same table is skipped ("unchanged"), so
loading the same files again changes nothing; when nothing changes, no load is recorded.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from tqdm import tqdm

from etl.contract import (
    DUCKDB_TYPES,
    RACE_ETHNICITY_VALUES,
    SEX_VALUES,
    TABLES_BY_NAME,
    UNKNOWN,
    Column,
    TableSpec,
)
from etl.mapped import FileInspection, MappedError, inspect_file, open_mapped
from etl.mapping import EMPTY, Mapping, MappingError, TableMapping, load_mapping
from etl.privacy import (
    DEFAULT_DEMOGRAPHIC_ATTRIBUTES,
    allowed_attributes,
    attribute_name,
    screen_by_name,
    screen_by_values,
    shown_column_name,
    value_screen_sql,
)
from etl.pseudonym import PseudonymKeyError, key_layers, key_params, pseudonym_sql, write_key
from etl.read import (
    LINE,
    MAX_LINE_BYTES,
    RawFile,
    ReadError,
    WrongEncoding,
    close_raw,
    file_format,
    finish_raw,
    first_long_line,
    ident,
)
from etl.sources import ConvertedFile, convert
from etl.warehouse import (
    LoadTarget,
    build_derived,
    connect_writable,
    create_schema,
    missing_derived,
)
from etl.warehouse_key import KeyMismatchError, LoadKey, bind_key, key_for_load

LOAD_ORDER: tuple[str, ...] = (
    "rubrics",
    "cohorts",
    "applications",
    "demographics",
    "scores",
    "stage_events",
    "cost_of_living",
    "fx_rates",
)
"""Tables load in this order so references (cohort -> rubric, score -> application) resolve."""

LOAD_MEMORY_LIMIT = "auto"
"""DuckDB's memory cap on the load connection by default: see `load_memory_cap`.
SIGNALBOARD_LOAD_MEMORY_LIMIT sets a fixed one; past the cap, the load spills to `<copy>.tmp`."""

LOAD_MEMORY_FLOOR = 1_500_000_000
"""The automatic cap's least value. DuckDB's default (80% of RAM) let a 1M-application load grow
past its 2 GB budget; 1500MB kept it at 1.63 GB for the same CPU time, and a lower cap spilled
more and cost CPU (docs/performance.md)."""


def load_memory_cap(setting: str, *, input_bytes: int, ram_bytes: int | None) -> str:
    """The memory limit DuckDB gets for a load: `setting` itself, unless it is `auto`.

    `auto` is the exports' size on disk and a quarter more, at least 1500MB and at most 40% of
    the machine's memory. A bigger cap spills less, and 10M applications load markedly faster
    under it than under the floor, while 1M applications keep the floor and its 2 GB budget
    (docs/performance.md has the measurements).

    Examples
    --------
    >>> load_memory_cap("auto", input_bytes=480_000_000, ram_bytes=24_000_000_000)
    '1500MB'
    >>> load_memory_cap("auto", input_bytes=4_850_000_000, ram_bytes=24_000_000_000)
    '6062MB'
    >>> load_memory_cap("auto", input_bytes=4_850_000_000, ram_bytes=8_000_000_000)
    '3200MB'
    >>> load_memory_cap("4GB", input_bytes=4_850_000_000, ram_bytes=24_000_000_000)
    '4GB'
    """
    if setting.strip().lower() != "auto":
        return setting
    cap = max(LOAD_MEMORY_FLOOR, input_bytes * 5 // 4)
    if ram_bytes is not None:
        cap = max(LOAD_MEMORY_FLOOR, min(cap, ram_bytes * 2 // 5))
    return f"{cap // 1_000_000}MB"


def _ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


DECLINED = ("decline to state", "declined to state", "prefer not to say", "decline", "declined")
"""Self-ID answers that mean "not disclosed"; they count as Unknown."""

PERSONAL_COLUMNS = frozenset(
    {"full_name", "name", "first_name", "last_name", "email", "email_address", "phone", "address"}
)
"""Columns never kept, even as extra demographic attributes: the warehouse holds no identities."""

_ISO_COUNTRY = r"^[A-Z]{2}$"
_ISO_REGION = r"^[A-Z]{2}-[A-Z0-9]{1,3}$"
_ISO_CURRENCY = r"^[A-Z]{3}$"


class LoadError(Exception):
    """The load cannot go ahead; the one-line message says which file and why."""


@dataclass
class FileResult:
    """What happened to one file."""

    path: Path
    table: str
    status: str  # "loaded" | "unchanged"
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_replaced: int = 0
    seconds: float = 0.0
    content_sha256: str = ""
    file_format: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    previous_load_id: int | None = None
    note: str = ""
    # Columns the load would not store, as (column name in the file, reason); never values.
    dropped_columns: list[tuple[str, str]] = field(default_factory=list)
    rows_merged: int = 0
    inspection: FileInspection | None = None

    @property
    def file_name(self) -> str:
        return self.path.name

    def log_record(self) -> dict[str, Any]:
        return {
            "event": "load_file",
            "file": str(self.path),
            "table": self.table,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_rejected": self.rows_rejected,
            "rows_replaced": self.rows_replaced,
            "rows_merged": self.rows_merged,
            "seconds": round(self.seconds, 3),
            "dropped_columns": [
                {"column": column, "reason": reason} for column, reason in self.dropped_columns
            ],
            **({"mapping": self.inspection.record()} if self.inspection else {}),
        }


@dataclass
class LoadResult:
    """The outcome of `load_paths`."""

    db_path: Path
    load_id: int | None
    as_of: dt.datetime | None
    files: list[FileResult] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    changed: bool = True
    seconds: float = 0.0
    key_created: Path | None = None
    checked: bool = False
    # Why the load is refused (--check lists them; a load raises the first).
    problems: list[str] = field(default_factory=list)
    # --check: per file, (column, reason, rows, first line) of the rows that would be rejected.
    rejected_reasons: dict[str, list[tuple[str | None, str, int, int | None]]] = field(
        default_factory=dict
    )

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_rejected(self) -> int:
        return sum(f.rows_rejected for f in self.files)

    def mapping_lines(self) -> list[str]:
        """Per file: events merged by the earliest-event rule, values no mapping rule maps."""
        lines = []
        for f in self.files:
            if f.rows_merged:
                lines.append(
                    f"{f.file_name}: {f.rows_merged} events merged into the earliest of the "
                    "same stage (docs/mappings.md, 'Several stages, one event')"
                )
            for column, values in (f.inspection.unmapped if f.inspection else {}).items():
                shown = ", ".join(f"{v!r} ({n} rows)" for v, n in values[:8])
                more = f" and {len(values) - 8} more" if len(values) > 8 else ""
                lines.append(f"{f.file_name}: unmapped {column} values: {shown}{more}")
        return lines

    def summary_text(self) -> str:
        """Read / loaded / rejected per file, the skipped files, and the load's as-of."""
        if self.changed:
            head = f"load {self.load_id} into {self.db_path}, as of {self.as_of:%Y-%m-%d %H:%M:%S}"
        else:
            head = f"nothing to load into {self.db_path}: every file was already loaded"
        rows = [("file", "table", "read", "loaded", "rejected", "replaced", "")]
        for f in self.files:
            note = (
                f"unchanged since load {f.previous_load_id}" if f.status == "unchanged" else f.note
            )
            rows.append(
                (
                    f.file_name,
                    f.table,
                    str(f.rows_read),
                    str(f.rows_loaded),
                    str(f.rows_rejected),
                    str(f.rows_replaced),
                    note,
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = [head]
        for r in rows:
            cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1])]
            cells += [r[i].rjust(widths[i]) for i in range(2, 6)]
            lines.append(("  ".join(cells) + "  " + r[6]).rstrip())
        for f in self.files:
            for column, reason in f.dropped_columns:
                lines.append(
                    f"dropped column {shown_column_name(column)} of {f.file_name}: {reason}"
                )
        for path, reason in self.skipped:
            lines.append(f"skipped {path.name}: {reason}")
        lines += self.mapping_lines()
        if self.rows_rejected:
            lines.append(
                f"{self.rows_rejected} rejected rows: see the rejects table "
                f"(select * from rejects where load_id = {self.load_id})"
            )
        if self.key_created is not None:
            lines.append(
                f"created a new pseudonym key {self.key_created} for this new warehouse: back it "
                "up with the warehouse (docs/warehouse.md, 'The pseudonym key')"
            )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Finding the files


@dataclass(frozen=True)
class _Planned:
    path: Path
    table: str
    converted: ConvertedFile | None = None


def table_for_name(file_name: str) -> str | None:
    """The contract table a canonical file name holds: `applications_2024-06.csv.gz` -> applications."""
    fmt = file_format(Path(file_name))
    if fmt is None:
        return None
    stem = file_name.lower()[: -len(fmt) - 1]
    for spec in sorted(TABLES_BY_NAME.values(), key=lambda s: -len(s.name)):
        for base in (spec.name, *spec.file_stems):
            if stem == base or (stem.startswith(base) and stem[len(base)] in "_-. "):
                return spec.name
    return None


def _plan(paths: Sequence[Path], mapping: Mapping) -> tuple[list[_Planned], list[tuple[Path, str]]]:
    files: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path)
        else:
            raise LoadError(f"{path}: no such file or folder")
    planned: list[_Planned] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for path in files:
        resolved = path.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        tables = mapping.tables_for_file(path.name) or [
            t for t in [table_for_name(path.name)] if t is not None
        ]
        if tables:
            if file_format(path) is None:
                skipped.append((path, "not a .csv, .csv.gz or .parquet file"))
            else:
                planned += [_Planned(path, table) for table in tables]
            continue
        try:
            converted = convert(path)
        except Exception as error:  # a converter that chokes names the file, never crashes
            raise LoadError(f"{path.name}: could not convert: {error}") from None
        if converted is None:
            skipped.append((path, "not a recognised export (see docs/data-contract.md)"))
        elif converted.table not in TABLES_BY_NAME:
            raise LoadError(f"{path.name}: converter returned unknown table {converted.table!r}")
        else:
            planned.append(_Planned(path, converted.table, converted))
    order = {name: i for i, name in enumerate(LOAD_ORDER)}
    planned.sort(key=lambda p: (order[p.table], p.path.name))
    return planned, skipped


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# Validation SQL, per table


@dataclass(frozen=True)
class _Check:
    column: str
    condition: str  # true when the row is bad
    reason: str  # SQL text expression


def _lit(text: str) -> str:
    """A SQL string literal for text written in this module (never for values from files)."""
    return "'" + text.replace("'", "''") + "'"


def _typed_sql(column: Column, formats: dict[str, str], params: dict[str, Any]) -> str:
    raw = ident(column.name)
    if column.type == "number":
        return f"try_cast({raw} as double)"
    if column.type == "integer":
        return f"try_cast({raw} as bigint)"
    if column.type in ("date", "timestamp"):
        if column.name in formats:
            params[f"fmt_{column.name}"] = formats[column.name]
            parsed = f"try_strptime({raw}, $fmt_{column.name})"
            return f"cast({parsed} as {column.type})"
        if column.type == "date":
            return f"coalesce(try_cast({raw} as date), cast(try_cast({raw} as timestamp) as date))"
        # Through timestamptz with the session in UTC: offsets (+02:00, Z) convert to UTC and
        # naive values stay as written. A plain cast to timestamp silently drops the offset.
        # Only a value longer than 'YYYY-MM-DD HH:MM:SS' can carry an offset (Z, +02, -0500,
        # +02:00); testing characters is half the cost of a regular expression on every value.
        offset = (
            f"length({raw}) > 19 and (ends_with({raw}, 'Z') or substr({raw}, -6, 1) in ('+', '-') "
            f"or substr({raw}, -5, 1) in ('+', '-') or substr({raw}, -3, 1) in ('+', '-'))"
        )
        return (
            f"case when {offset} then cast(try_cast({raw} as timestamptz) as timestamp) "
            f"else try_cast({raw} as timestamp) end"
        )
    if column.allowed is not None:
        return f"lower({raw})"
    if column.name in ("country", "stipend_currency", "currency"):
        return f"upper({raw})"
    if column.name == "region":
        return f"upper({raw})"
    return raw


def _column_checks(spec: TableSpec) -> list[_Check]:
    checks: list[_Check] = []
    for column in spec.stored_columns:
        raw, typed = ident(column.name), ident(f"t_{column.name}")
        if column.required:
            checks.append(_Check(column.name, f"{raw} is null", _lit("required value is blank")))
        if column.type != "text":
            checks.append(
                _Check(
                    column.name,
                    f"{raw} is not null and {typed} is null",
                    f"'not a {column.type}: ' || {raw}",
                )
            )
        if column.allowed is not None:
            allowed = ", ".join(_lit(a) for a in column.allowed)
            checks.append(
                _Check(
                    column.name,
                    f"{typed} is not null and {typed} not in ({allowed})",
                    f"'not one of {', '.join(column.allowed)}: ' || {raw}",
                )
            )
        if column.minimum is not None:
            checks.append(
                _Check(
                    column.name,
                    f"{typed} < {column.minimum}",
                    f"'below the minimum {column.minimum:g}: ' || {raw}",
                )
            )
    return checks


def _format_check(column: str, pattern: str, what: str) -> _Check:
    typed = ident(f"t_{column}")
    return _Check(
        column,
        f"{typed} is not null and not regexp_full_match({typed}, {_lit(pattern)})",
        f"'not {what}: ' || {ident(column)}",
    )


def _positive(column: str) -> _Check:
    return _Check(column, f"t_{column} <= 0", f"'must be greater than 0: ' || {ident(column)}")


# Per table: extra joins (against the warehouse tables, which already hold this load's earlier
# files) and row rules beyond single columns. References resolve against the union of what was
# loaded before and what this load brought, because earlier tables of this load are already in.
_JOINS: dict[str, str] = {
    "cohorts": """
        left join (select distinct rubric_version from rubrics) as ref_rubric
            on ref_rubric.rubric_version = t.t_rubric_version
    """,
    "applications": """
        left join (select cohort_id from cohorts group by cohort_id) as ref_cohort
            on ref_cohort.cohort_id = t.t_cohort_id
    """,
    "scores": """
        left join (
            select applications.application_id, applications.cohort_id, cohorts.rubric_version
            from applications
            left join (select cohort_id, any_value(rubric_version) as rubric_version
                       from cohorts group by cohort_id) as cohorts
                on cohorts.cohort_id = applications.cohort_id
        ) as ref_app on ref_app.application_id = t.p_application_id
        left join rubrics as ref_axis
            on ref_axis.rubric_version = ref_app.rubric_version and ref_axis.axis = t.t_axis
    """,
    "stage_events": """
        left join (select application_id, applied_at from applications) as ref_app
            on ref_app.application_id = t.p_application_id
    """,
}

_JOIN_COLUMNS: dict[str, str] = {
    "cohorts": "ref_rubric.rubric_version as ref_rubric_version",
    "applications": "ref_cohort.cohort_id as ref_cohort_id",
    "scores": (
        "ref_app.application_id as ref_application_id, ref_app.cohort_id as ref_app_cohort, "
        "ref_app.rubric_version as ref_rubric_version, ref_axis.axis as ref_axis, "
        "ref_axis.min_score as ref_min, ref_axis.max_score as ref_max"
    ),
    "stage_events": (
        "ref_app.application_id as ref_application_id, ref_app.applied_at as ref_applied_at"
    ),
}

_ROW_CHECKS: dict[str, list[_Check]] = {
    "rubrics": [
        _Check(
            "max_score",
            "t_min_score >= t_max_score",
            "'max_score ' || max_score || ' is not greater than min_score ' || min_score",
        ),
        _Check(
            "pass_mark",
            "t_pass_mark < t_min_score or t_pass_mark > t_max_score",
            "'pass_mark ' || pass_mark || ' outside ' || min_score || '..' || max_score",
        ),
    ],
    "cohorts": [
        _Check(
            "ends_on",
            "t_ends_on < t_starts_on",
            "'ends_on ' || ends_on || ' is before starts_on ' || starts_on",
        ),
        _positive("estimated_hours"),
        _Check(
            "rubric_version",
            "t_rubric_version is not null and ref_rubric_version is null",
            "'unknown rubric_version (not in rubrics): ' || rubric_version",
        ),
    ],
    "applications": [
        _Check(
            "cohort_id",
            "t_track = 'micro_internship' and t_cohort_id is null",
            _lit("cohort_id is required for micro_internship"),
        ),
        _Check(
            "cohort_id",
            "t_track = 'traditional' and t_cohort_id is not null",
            _lit("cohort_id must be blank for traditional"),
        ),
        _Check(
            "cohort_id",
            "t_cohort_id is not null and ref_cohort_id is null",
            "'unknown cohort_id (not in cohorts): ' || cohort_id",
        ),
        _format_check("country", _ISO_COUNTRY, "an ISO 3166-1 alpha-2 country code"),
        _format_check("region", _ISO_REGION, "an ISO 3166-2 subdivision code"),
        _format_check("metro", r"^[0-9]{5}$", "a 5-digit CBSA code"),
        _format_check("stipend_currency", _ISO_CURRENCY, "an ISO 4217 currency code"),
        _Check(
            "stipend_currency",
            "t_stipend_amount is not null and t_stipend_currency is null",
            _lit("stipend_currency is required when stipend_amount is given"),
        ),
    ],
    "scores": [
        _Check(
            "application_id",
            "t_application_id is not null and ref_application_id is null",
            _lit("unknown application_id (no such application loaded)"),
        ),
        _Check(
            "axis",
            "ref_application_id is not null and ref_app_cohort is not null and t_axis is not null "
            "and ref_axis is null",
            "'axis ' || axis || ' is not in rubric ' || coalesce(ref_rubric_version, '?')",
        ),
        _Check(
            "score",
            "ref_axis is not null and (t_score < ref_min or t_score > ref_max)",
            "'score ' || score || ' outside ' || cast(ref_min as varchar) || '..' "
            "|| cast(ref_max as varchar) || ' for axis ' || axis",
        ),
    ],
    "stage_events": [
        _Check(
            "application_id",
            "t_application_id is not null and ref_application_id is null",
            _lit("unknown application_id (no such application loaded)"),
        ),
        _Check(
            "occurred_at",
            "t_occurred_at < ref_applied_at",
            "'occurred_at ' || cast(t_occurred_at as varchar) "
            "|| ' is before the application''s applied_at ' || cast(ref_applied_at as varchar)",
        ),
    ],
    "cost_of_living": [
        _positive("price_level"),
        _format_check("country", _ISO_COUNTRY, "an ISO 3166-1 alpha-2 country code"),
    ],
    "fx_rates": [
        _positive("usd_per_unit"),
        _format_check("currency", _ISO_CURRENCY, "an ISO 4217 currency code"),
    ],
}


def _stored_sql(column: Column) -> str:
    """The value that goes into the warehouse for a column of a valid row."""
    if column.privacy in ("application", "candidate"):
        return ident(f"p_{column.name}")
    return ident(f"t_{column.name}")


def _normalised_sex(expr: str) -> str:
    recognised = " ".join(f"when {_lit(v.lower())} then {_lit(v)}" for v in SEX_VALUES)
    declined = ", ".join(_lit(d) for d in DECLINED)
    return (
        f"case when {expr} is null or lower({expr}) in ({declined}) then {_lit(UNKNOWN)} "
        f"else case lower({expr}) {recognised} else {expr} end end"
    )


def _normalised_race(expr: str) -> str:
    recognised = " ".join(f"when {_lit(v.lower())} then {_lit(v)}" for v in RACE_ETHNICITY_VALUES)
    return f"coalesce(case lower({expr}) {recognised} end, {_lit(UNKNOWN)})"


def _normalised_attribute(expr: str) -> str:
    declined = ", ".join(_lit(d) for d in DECLINED)
    return (
        f"case when {expr} is null or lower({expr}) in ({declined}, 'unknown') "
        f"then {_lit(UNKNOWN)} else {expr} end"
    )


# --------------------------------------------------------------------------------------------
# One file


def _attribute_name(column: str) -> str:
    return attribute_name(column)


def _resolve_columns(
    raw: RawFile,
    spec: TableSpec,
    table_mapping: TableMapping,
    file_name: str,
    *,
    allowed: frozenset[str] = frozenset(),
    dropped: list[tuple[str, str]] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Contract column -> file column, and (demographics) extra attribute -> file column.

    An extra demographics column is kept only when `allowed` declares it and its name does not
    say it holds an identifier (etl/privacy.py); the others go to `dropped` as (column, reason).
    """
    known = {c.name for c in spec.columns}
    resolved: dict[str, str] = {}
    extras: dict[str, str] = {}
    ignored = {i.strip().lower() for i in table_mapping.ignore}
    for column in raw.columns:
        if column.strip().lower() in ignored:
            continue
        target = _attribute_name(table_mapping.rename(column))
        if target in known:
            if target in resolved:
                raise LoadError(
                    f"{file_name}: columns {resolved[target]!r} and {column!r} both map to {target}"
                )
            resolved[target] = column
        elif spec.keeps_extra_columns and target:
            reason = (
                "personal data (never stored)"
                if target in PERSONAL_COLUMNS
                else screen_by_name(target, allowed)
            )
            if reason is not None:
                if dropped is not None:
                    dropped.append((column, reason))
            elif target in extras:
                if dropped is not None:
                    dropped.append((column, f"a second column for attribute {target}"))
            else:
                extras[target] = column
    missing = [c for c in spec.required_columns if c not in resolved]
    if missing:
        if len(raw.columns) == 1 and len(spec.required_columns) > 1:
            raise LoadError(
                f"{file_name}: could not detect the delimiter (the header reads as one column "
                f"{raw.columns[0][:60]!r}); use comma, semicolon, tab or pipe"
            )
        raise LoadError(
            f"{file_name}: missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} for {spec.name} (found: {', '.join(raw.columns)[:200]})"
        )
    return resolved, extras


def _clean_sql(expr: str) -> str:
    """Trimmed text, blank -> NULL. trim() only runs on values with an edge space: trimming every
    value costs more than the whole CSV read. One test with LIKE prefix/suffix patterns is cheaper
    than three branches (docs/performance.md)."""
    return (
        f"case when {expr} like ' %' or {expr} like '% ' or {expr} = '' "
        f"then nullif(trim({expr}), '') else {expr} end"
    )


def _value_sql(expr: str, renames: dict[str, str], params: dict[str, Any], prefix: str) -> str:
    if not renames:
        return expr
    params[f"{prefix}_from"] = list(renames.keys())
    params[f"{prefix}_to"] = list(renames.values())
    # A vendor value listed in the mapping becomes the contract's value; others stay as they are.
    return f"coalesce(list_extract(${prefix}_to, list_position(${prefix}_from, {expr})), {expr})"


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None) -> list:
    """Execute with just the parameters the SQL names (DuckDB refuses unused ones); fetch all."""
    used = set(re.findall(r"\$(\w+)", sql))
    return con.execute(sql, {k: v for k, v in (params or {}).items() if k in used}).fetchall()


_CACHE_PREFIX = "__pseudonyms_"


def _pseudonym_cache(con: duckdb.DuckDBPyConnection, kind: str) -> str:
    """Temp table of raw id -> pseudonym for ids this load has met; returns its name.

    HMAC costs four SHA-256 blocks per id, so scores and events (which repeat application ids)
    look their ids up here and hash only the ids it lacks. It is a TEMP table: it lives in this
    connection's memory and is never written to the warehouse file.
    """
    cache = f"{_CACHE_PREFIX}{kind}"
    _run(con, f"create temp table if not exists {cache} (id varchar, pseudonym varchar)")
    return cache


def _forget_pseudonyms(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the pseudonym caches once every file is loaded (outside a transaction, so their
    memory is freed at once)."""
    for kind in ("application", "candidate"):
        _run(con, f"drop table if exists {_CACHE_PREFIX}{kind}")


def _remember_pseudonyms(
    con: duckdb.DuckDBPyConnection, checked: str, column: str, kind: str, unique: bool
) -> None:
    """Add the ids of `column` that the cache lacked (flag `__new_<column>`) to the cache.

    `unique`: no id repeats in the file, so no grouping is needed.
    """
    cache = _pseudonym_cache(con, kind)
    raw_id, new = ident(f"__id_{column}"), ident(f"__new_{column}")
    if unique:
        sql = f"insert into {cache} select {raw_id}, {ident(column)} from {checked} where {new}"
    else:
        sql = (
            f"insert into {cache} select {raw_id}, any_value({ident(column)}) "
            f"from {checked} where {new} group by {raw_id}"
        )
    _run(con, sql)


def _checked_sql(
    con: duckdb.DuckDBPyConnection,
    raw: RawFile,
    spec: TableSpec,
    table_mapping: TableMapping,
    resolved: dict[str, str],
    extras: dict[str, str],
    base_params: dict[str, Any],
    checked: str,
    staged: bool = False,
) -> tuple[str, dict[str, Any], list[tuple[str, str]]]:
    """The statement that reads the file once into temp table `checked`: per row its line, the
    values it would store, its problems and (for rejects) its text; with the pseudonymized ids'
    source text (`__id_<column>`) and whether the cache lacked them (`__new_<column>`).

    `staged`: instead, a warehouse table `checked` with exactly the target's columns, where a
    bad row has a NULL in its first required key column (see `_STAGED`).

    Returns the SQL, its parameters and the pseudonymized (column, kind) pairs.
    """
    params = dict(base_params)

    # Clean text: trimmed, blank -> NULL, vendor values renamed. Cleaning every value in the one
    # pass costs about what a separate pass finding the padded columns would, and saves reading
    # the file twice.
    def cleaned(source: str) -> str:
        return _clean_sql(ident(source))

    clean_exprs: dict[str, str] = {}
    for column in spec.columns:
        if column.privacy == "drop":
            continue  # personal data is never selected, so it cannot reach any table
        if column.name in resolved:
            clean_exprs[column.name] = _value_sql(
                cleaned(resolved[column.name]),
                table_mapping.values.get(column.name, {}),
                params,
                f"v_{column.name}",
            )
        else:
            clean_exprs[column.name] = "cast(null as varchar)"
    for attribute, source in extras.items():
        clean_exprs["x_" + attribute] = cleaned(source)
    clean = [LINE] + [f"{expr} as {ident(name)}" for name, expr in clean_exprs.items()]

    typed = []
    pseudonym_joins = []
    id_columns = []
    for column in spec.stored_columns:
        typed.append(f"{_typed_sql(column, table_mapping.formats, params)} as t_{column.name}")
        if column.privacy in ("application", "candidate"):
            # Ids the cache knows (an application's id in scores and events) are looked up; the
            # others (each application's own ids) are hashed in place: coalesce evaluates the
            # HMAC only for the rows the lookup missed.
            cache = _pseudonym_cache(con, column.privacy)
            alias = f"ps_{column.name}"
            raw_id = f"clean.{ident(column.name)}"
            typed.append(
                f"coalesce({alias}.pseudonym, {pseudonym_sql(column.privacy, raw_id, layers=key_layers(base_params))}) "
                f"as p_{column.name}"
            )
            typed.append(
                f"{alias}.pseudonym is null and {raw_id} is not null as {ident('__new_' + column.name)}"
            )
            pseudonym_joins.append(f"left join {cache} as {alias} on {alias}.id = {raw_id}")
            # The source id only where the cache lacked it (scores and events: rows of unknown
            # applications), so 3M rows do not carry a copy of their id to the temp table.
            new_id = ident("__new_" + column.name)
            id_columns.append(
                f"case when {new_id} then {ident(column.name)} end as {ident('__id_' + column.name)}"
            )
            id_columns.append(ident("__new_" + column.name))

    checks = _column_checks(spec) + _ROW_CHECKS.get(spec.name, [])
    problems = ", ".join(
        f"case when {c.condition} then {{'column': {_lit(c.column)}, 'reason': {c.reason}}} end"
        for c in checks
    )
    # Build the problem list only for rows that have one: most rows are clean.
    any_bad = " or ".join(f"coalesce({c.condition}, false)" for c in checks)
    joins = _JOINS.get(spec.name, "")
    join_columns = _JOIN_COLUMNS.get(spec.name)

    # The text of a rejected row: no personal data (names and emails were never selected) and
    # ids as their pseudonyms.
    def shown(column: Column) -> str:
        value = _stored_sql(column) if column.privacy else ident(column.name)
        return f"'{column.name}=' || coalesce(cast({value} as varchar), '')"

    original = [shown(c) for c in spec.stored_columns]
    original += [f"'{a}=' || coalesce({ident('x_' + a)}, '')" for a in extras]

    # What each valid row stores; demographics are normalised here (blank/declined -> Unknown).
    def stored(column: Column) -> str:
        if spec.name == "demographics" and column.name == "sex":
            return _normalised_sex(ident("sex"))
        if spec.name == "demographics" and column.name == "race_ethnicity":
            return _normalised_race(ident("race_ethnicity"))
        return _stored_sql(column)

    outputs = [f"{stored(c)} as {ident(c.name)}" for c in spec.stored_columns]
    outputs += [f"{_normalised_attribute(ident('x_' + a))} as {ident('x_' + a)}" for a in extras]
    select_ids = "".join(", " + c for c in id_columns)
    with_sql = f"""
        with clean as (select {", ".join(clean)} from {raw.source} as src),
        t as (select clean.*, {", ".join(typed)} from clean {" ".join(pseudonym_joins)}),
        j as (select t.*{", " + join_columns if join_columns else ""} from t {joins}),
        k as (
            select *, {any_bad} as __bad
            from j
        )"""
    pseudonymized = [
        (c.name, c.privacy)
        for c in spec.stored_columns
        if c.privacy in ("application", "candidate")
    ]
    if staged:
        marker = _stage_marker(spec)
        columns = []
        for column in spec.stored_columns:
            value = f"cast({stored(column)} as {DUCKDB_TYPES[column.type]})"
            if column.name == marker:
                value = f"case when not __bad then {value} end"
            columns.append(f"{value} as {ident(column.name)}")
        names = [c.name for c in spec.stored_columns]
        # Key order, not the export's (see the insert in `_load_file`); by position, since `k`
        # also has the key's raw text under the same name.
        order = ", ".join(str(names.index(k) + 1) for k in spec.key)
        sql = (
            f"create table {checked} as {with_sql} select {', '.join(columns)} from k "
            f"order by {order}"
        )
        return sql, {**params, **raw.params}, []
    sql = f"""
        create temp table {checked} as {with_sql}
        select {LINE}, {", ".join(outputs)},
            case when __bad
                then list_filter([{problems}], lambda p: p is not null)
                else []
            end as __problems,
            case when __bad then concat_ws(', ', {", ".join(original)}) end as __original
            {select_ids}
        from k
        """
    return sql, {**params, **raw.params}, pseudonymized


_STAGED_EXCLUDED = frozenset({"applications", "demographics"})
"""Tables that always go through the temp table: applications fill the pseudonym cache from the
source ids it keeps, demographics fill demographic_attributes from the extra columns it keeps."""


def _stage_marker(spec: TableSpec) -> str | None:
    """The column a staged table leaves NULL on a bad row: its first required key column."""
    return next((k for k in spec.key if spec.column(k).required), None)


def _read_checked(
    con: duckdb.DuckDBPyConnection,
    planned: _Planned,
    spec: TableSpec,
    table_mapping: TableMapping,
    base_params: dict[str, Any],
    name: str,
    checked: str,
    numbered: bool,
    staged: bool = False,
    *,
    allowed: frozenset[str] = frozenset(),
    dropped: list[tuple[str, str]] | None = None,
) -> tuple[RawFile, dict[str, str], list[tuple[str, str]]]:
    """Read the file once into temp table `checked` (see `_checked_sql`), as UTF-8 or else
    Latin-1. Returns the raw file, its extra attribute columns and the pseudonymized columns."""
    file_name = planned.path.name
    for encoding in ("utf-8", "latin-1"):
        try:
            raw = open_mapped(
                con,
                planned.path,
                name,
                table_mapping,
                converted=planned.converted,
                encoding=encoding,
                numbered=numbered,
            )
        except ReadError as error:
            raise LoadError(f"{file_name}: {error}") from None
        except duckdb.OutOfMemoryException:
            raise  # the load's memory cap, not the file: load_paths says so
        except duckdb.Error as error:
            raise LoadError(f"{file_name}: unreadable ({str(error).splitlines()[0]})") from None
        if dropped is not None:
            dropped.clear()
        resolved, extras = _resolve_columns(
            raw, spec, table_mapping, file_name, allowed=allowed, dropped=dropped
        )
        sql, params, pseudonymized = _checked_sql(
            con, raw, spec, table_mapping, resolved, extras, base_params, checked, staged
        )
        try:
            _run(con, sql, params)
        except duckdb.OutOfMemoryException:
            raise  # the load's memory cap, not the file: load_paths says so
        except duckdb.Error as error:
            close_raw(con, raw)
            raise LoadError(f"{file_name}: unreadable ({str(error).splitlines()[0]})") from None
        try:
            finish_raw(con, raw, checked)
        except WrongEncoding:
            _run(con, f"drop table {checked}")
            continue
        except ReadError as error:
            raise LoadError(f"{file_name}: {error}") from None
        return raw, extras, pseudonymized
    raise AssertionError("a Latin-1 read never raises WrongEncoding")


def _load_file(
    con: duckdb.DuckDBPyConnection,
    planned: _Planned,
    *,
    load_id: int,
    mapping: Mapping,
    base_params: dict[str, Any],
    content_sha256: str,
    index: int,
    allowed: frozenset[str] = frozenset(),
    table_mapping: TableMapping | None = None,
) -> FileResult:
    started = time.perf_counter()
    dropped: list[tuple[str, str]] = []
    spec = TABLES_BY_NAME[planned.table]
    file_name = planned.path.name
    _check_line_sizes(planned)
    table_mapping = table_mapping or mapping.for_table(spec.name)
    checked = f"__checked_{index}"
    key_names = ", ".join(spec.key)
    key_list = ", ".join(ident(k) for k in spec.key)
    # Counting distinct 64-bit key hashes is much cheaper than grouping by text keys; a hash
    # collision only sends us down the exact path below, which then finds nothing to reject.
    # The same scan counts the valid and rejected rows, which is all it takes when no key repeats.
    counts = (
        "count(*) filter (where len(__problems) = 0), count(*) filter (where len(__problems) > 0)"
    )
    count_sql = (
        f"select {counts}, count(distinct hash({key_list})) filter (where len(__problems) = 0) "
        f"from {checked}"
    )
    # A CSV is read first without line numbers, on both cores; only a file with a row that needs
    # its line (a reject, a repeated key, an unparseable line) is read again numbered, on one
    # thread (`with ordinality`), which DuckDB cannot run in parallel.
    numbered = file_format(planned.path) not in ("csv", "csv.gz") or planned.converted is not None
    target_empty = not _run(con, f"select count(*) from (select 1 from {spec.name} limit 1)")[0][0]
    marker = _stage_marker(spec)
    if not numbered and target_empty and marker and spec.name not in _STAGED_EXCLUDED:
        # Into an empty table, the unnumbered read writes a warehouse table shaped like the
        # target, which replaces it if every row is valid and no key repeats: the rows are
        # written once instead of to a temp table and then again. Otherwise it is dropped and
        # the file read again.
        staged = f"__staged_{index}"
        raw, _, _ = _read_checked(
            con, planned, spec, table_mapping, base_params, f"__raw_{index}", staged, False, True
        )
        good = f"{ident(marker)} is not null"
        rows_loaded, rows_rejected, distinct_keys = _run(
            con,
            f"select count(*) filter (where {good}), count(*) filter (where not ({good})), "
            f"count(distinct hash({key_list})) filter (where {good}) from {staged}",
        )[0]
        if not (rows_rejected or raw.malformed or distinct_keys != rows_loaded):
            _run(con, f"drop table {spec.name}")
            _run(con, f"alter table {staged} rename to {spec.name}")
            return _file_loaded(
                con, planned, spec, raw, load_id, content_sha256, started, rows_loaded, 0, 0
            )
        _run(con, f"drop table {staged}")
        numbered = True
    while True:
        raw, extras, pseudonymized = _read_checked(
            con,
            planned,
            spec,
            table_mapping,
            base_params,
            f"__raw_{index}",
            checked,
            numbered,
            allowed=allowed,
            dropped=dropped,
        )
        rows_loaded, rows_rejected, distinct_keys = _run(con, count_sql)[0]
        if numbered or not (rows_rejected or raw.malformed or distinct_keys != rows_loaded):
            break
        _run(con, f"drop table {checked}")
        numbered = True
    if extras:
        extras = _screen_attribute_values(con, checked, extras, dropped)
    for column, kind in pseudonymized:
        # Every row valid and no key repeating: a column that is the whole key repeats no id.
        unique = spec.key == (column,) and not rows_rejected and distinct_keys == rows_loaded
        _remember_pseudonyms(con, checked, column, kind, unique)

    rows_merged = 0
    if distinct_keys != rows_loaded and table_mapping.merges_events():
        rows_merged = _merge_events(con, checked, spec)
        rows_loaded, rows_rejected, distinct_keys = _run(con, count_sql)[0]

    # Duplicate keys inside the file: the last valid row wins, the earlier ones are rejected.
    if distinct_keys != rows_loaded:
        # The earlier rows' text, from what they would have stored (ids are pseudonyms already).
        kept_text = ", ".join(
            f"'{c.name}=' || coalesce(cast({ident(c.name)} as varchar), '')"
            for c in spec.stored_columns
        )
        _run(
            con,
            f"""
            create or replace temp table {checked} as
            select * exclude (__problems, __original, __kept_line),
                case when __kept_line is not null and {LINE} < __kept_line
                    then [{{'column': {_lit(key_names)},
                            'reason': 'duplicate key ({key_names}): line '
                                      || cast(__kept_line as varchar)
                                      || ' has the same key and is kept'}}]
                    else __problems end as __problems,
                case when __kept_line is not null and {LINE} < __kept_line
                    then concat_ws(', ', {kept_text})
                    else __original end as __original
            from (
                select *, max({LINE}) filter (where len(__problems) = 0)
                    over (partition by {key_list}) as __kept_line
                from {checked}
            )
            """,
        )
        rows_loaded, rows_rejected = _run(con, f"select {counts} from {checked}")[0]

    # Rejects: one row per bad line, with every problem it has and its text (none for
    # demographics: a self-identification answer is the data the warehouse keeps apart).
    withhold = spec.name in _VALUES_WITHHELD
    _run(
        con,
        f"""
        insert into rejects
        select $load_id, $file_name, $table_name, {LINE},
            array_to_string(list_sort(list_distinct([p.column for p in __problems])), ', '),
            array_to_string([p.reason for p in __problems], '; '),
            -- demographics: file, line, column and reason only, never a value
            case when $withhold then null else __original end
        from {checked}
        where len(__problems) > 0
        """,
        {
            "load_id": load_id,
            "file_name": file_name,
            "table_name": spec.name,
            "withhold": withhold,
        },
    )
    if raw.malformed:
        _run(
            con,
            """
            insert into rejects
            select $load_id, $file_name, $table_name, m.line, null,
                'line could not be parsed (' || m.message || ')',
                -- withheld: a line that does not split into fields cannot have its names,
                -- emails and ids removed
                null
            from (select unnest($lines) as line, unnest($messages) as message) as m
            """,
            {
                "load_id": load_id,
                "file_name": file_name,
                "table_name": spec.name,
                "lines": [line for line, _ in raw.malformed],
                # The reader's message can quote the line's fields: demographics keep its kind.
                "messages": [
                    message.split(":", 1)[0] if withhold else message
                    for _, message in raw.malformed
                ],
            },
        )

    # Upsert: rows of this file replace the rows with the same key, then go in.
    valid = f"(select * from {checked} where len(__problems) = 0)"
    rows_rejected += len(raw.malformed)
    match = " and ".join(
        f"target.{ident(k)} is not distinct from new_keys.{ident(k)}"
        if not spec.column(k).required
        else f"target.{ident(k)} = new_keys.{ident(k)}"
        for k in spec.key
    )
    rows_replaced = 0
    if not target_empty:
        rows_replaced = _run(
            con,
            f"delete from {spec.name} as target "
            f"using (select distinct {key_list} from {valid}) as new_keys where {match}",
        )[0][0]
    if spec.name == "demographics":
        _run(
            con,
            f"delete from demographic_attributes where candidate_id in "
            f"(select candidate_id from {valid})",
        )
        values = ["sex", "race_ethnicity"] + [ident("x_" + a) for a in extras]
        # Each candidate's attributes side by side (one scan, unnested), not one scan per
        # attribute: the five rows of a candidate share its pseudonym, which then compresses as
        # a dictionary instead of FSST over millions of random strings (less CPU and disk).
        # The candidates are sorted before the unnest, a fifth of the rows to sort; DuckDB keeps
        # a subquery's order through the unnest into the insert (preserve_insertion_order).
        _run(
            con,
            f"insert into demographic_attributes select candidate_id, unnest($attribute_names), "
            f"unnest([{', '.join(values)}]) from (select * from {valid} order by candidate_id)",
            {"attribute_names": ["sex", "race_ethnicity", *extras]},
        )
    columns_sql = ", ".join(ident(c.name) for c in spec.stored_columns)
    # In key order (pseudonyms first), not the export's: with rows in file order, a copy of
    # the export would pair each pseudonym with its id by position. DuckDB keeps the order of
    # an INSERT ... ORDER BY (preserve_insertion_order, on by default).
    _run(
        con,
        f"insert into {spec.name} ({columns_sql}) select {columns_sql} from {valid} "
        f"order by {key_list}",
    )
    _run(con, f"drop table {checked}")
    result = _file_loaded(
        con,
        planned,
        spec,
        raw,
        load_id,
        content_sha256,
        started,
        rows_loaded,
        rows_rejected,
        rows_replaced,
    )
    result.dropped_columns = list(dropped)
    result.rows_merged = rows_merged
    return result


def _check_line_sizes(planned: _Planned) -> None:
    """Refuse a CSV with a record over `MAX_LINE_BYTES` before DuckDB reads it (see there)."""
    fmt = file_format(planned.path)
    if planned.converted is not None or fmt not in ("csv", "csv.gz"):
        return
    line = first_long_line(planned.path, fmt)
    if line is not None:
        raise LoadError(
            f"{planned.path.name}: line {line} is longer than {MAX_LINE_BYTES >> 20} MiB (a "
            "quote that never closes, or a field no export holds); the load is refused and the "
            "warehouse is unchanged"
        )


_VALUES_WITHHELD = frozenset({"demographics"})
"""Tables whose rejected rows keep no text: their columns are self-identified demographics."""


def _screen_attribute_values(
    con: duckdb.DuckDBPyConnection,
    checked: str,
    extras: dict[str, str],
    dropped: list[tuple[str, str]],
) -> dict[str, str]:
    """The extra attributes whose values pass `etl.privacy.screen_by_values`; the others go to
    `dropped` with their reason. Reads the values from the temp table, never prints them."""
    names = list(extras)
    columns = [
        f"case when {ident('x_' + a)} = {_lit(UNKNOWN)} then null else {ident('x_' + a)} end"
        for a in names
    ]
    counts = _run(con, value_screen_sql(checked, columns))[0]
    kept: dict[str, str] = {}
    for attribute, column_counts in zip(names, counts, strict=True):
        reason = screen_by_values(column_counts)
        if reason is None:
            kept[attribute] = extras[attribute]
        else:
            dropped.append((extras[attribute], reason))
    return kept


def _file_loaded(
    con: duckdb.DuckDBPyConnection,
    planned: _Planned,
    spec: TableSpec,
    raw: RawFile,
    load_id: int,
    content_sha256: str,
    started: float,
    rows_loaded: int,
    rows_rejected: int,
    rows_replaced: int,
) -> FileResult:
    """Record a loaded file in `load_files` and return its result."""
    result = FileResult(
        path=planned.path,
        table=spec.name,
        status="loaded",
        rows_read=raw.rows,
        rows_loaded=int(rows_loaded),
        rows_rejected=int(rows_rejected),
        rows_replaced=int(rows_replaced),
        seconds=time.perf_counter() - started,
        content_sha256=content_sha256,
        file_format=raw.file_format,
        encoding=raw.encoding,
        delimiter=raw.delimiter,
        note=planned.converted.note
        if planned.converted
        else ("read as Latin-1 (not UTF-8)" if raw.encoding == "latin-1" else ""),
    )
    _run(
        con,
        """
        insert into load_files values (
            $load_id, $file_name, $file_path, $table_name, $sha, $format, $encoding, $delimiter,
            $rows_read, $rows_loaded, $rows_rejected, $rows_replaced
        )
        """,
        {
            "load_id": load_id,
            "file_name": planned.path.name,
            "file_path": str(planned.path.resolve()),
            "table_name": spec.name,
            "sha": content_sha256,
            "format": raw.file_format,
            "encoding": raw.encoding,
            "delimiter": raw.delimiter,
            "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded,
            "rows_rejected": result.rows_rejected,
            "rows_replaced": result.rows_replaced,
        },
    )
    return result


# --------------------------------------------------------------------------------------------
# Mappings that tell what they did (etl/mapped.py): formats, unmapped values, merged events


def _inspect(
    con: duckdb.DuckDBPyConnection,
    planned: _Planned,
    table_mapping: TableMapping,
    index: int,
    *,
    has_mapping: bool,
) -> tuple[TableMapping, FileInspection]:
    """The file's column map, date formats and unmapped values, from one read of its own (a
    sample when nothing needs the whole file); returns the mapping with its date formats settled.
    """
    spec = TABLES_BY_NAME[planned.table]
    file_name = planned.path.name
    name = f"__inspect_{index}"
    for encoding in ("utf-8", "latin-1"):
        try:
            raw = open_mapped(
                con,
                planned.path,
                name,
                table_mapping,
                converted=planned.converted,
                encoding=encoding,
                numbered=False,
            )
        except ReadError as error:
            raise LoadError(f"{file_name}: {error}") from None
        except duckdb.OutOfMemoryException:
            raise  # the load's memory cap, not the file: load_paths says so
        except duckdb.Error as error:
            raise LoadError(f"{file_name}: unreadable ({str(error).splitlines()[0]})") from None
        try:
            resolved, extras = _resolve_columns(raw, spec, table_mapping, file_name)
            ignored = {i.strip().lower() for i in table_mapping.ignore}
            used = {*resolved.values(), *extras.values()}
            inspection = FileInspection(
                columns=resolved,
                extra_columns=extras,
                ignored=[c for c in raw.columns if c.strip().lower() in ignored],
                unused=[
                    c for c in raw.columns if c not in used and c.strip().lower() not in ignored
                ],
                stage_columns=[s.column for s in table_mapping.stage_columns],
            )
            settled = inspect_file(con, raw, spec, table_mapping, inspection, file_name)
            csv = raw.file_format in ("csv", "csv.gz")
            if encoding == "utf-8" and csv and _invalid_utf8(con, raw):
                continue
        except MappedError as error:
            raise LoadError(str(error)) from None
        except ReadError as error:
            raise LoadError(f"{file_name}: {error}") from None
        finally:
            close_raw(con, raw)
        if not has_mapping:
            inspection.unmapped.clear()
        return settled, inspection
    raise AssertionError("a Latin-1 read never finds invalid UTF-8")


def _invalid_utf8(con: duckdb.DuckDBPyConnection, raw: RawFile) -> bool:
    exists = _run(
        con, "select count(*) from duckdb_tables() where table_name = $t", {"t": raw.temp_tables[0]}
    )[0][0]
    if not exists:
        return False  # the inspection did not read the file (no date or mapped column)
    errors = ident(raw.temp_tables[0])
    rows = _run(con, f"select count(*) from {errors} where error_type = 'INVALID ENCODING'")
    return bool(rows[0][0])


def _merge_events(con: duckdb.DuckDBPyConnection, checked: str, spec: TableSpec) -> int:
    """Keep one valid event per application and event: the earliest (then the first line).

    Several vendor stages (or stage columns) mapped to one funnel stage mean the application
    reached that stage when it entered the first of them, so the earliest time is the stage's.
    The others are merged, not rejected. Returns how many rows were merged away.
    """
    key_list = ", ".join(ident(k) for k in spec.key)
    before = _run(con, f"select count(*) from {checked}")[0][0]
    _run(
        con,
        f"""
        create or replace temp table {checked} as
        select * exclude (__rank) from (
            select *, case when len(__problems) = 0 then row_number() over (
                partition by {key_list}, len(__problems) = 0
                order by occurred_at, {LINE}
            ) end as __rank
            from {checked}
        )
        where __rank is null or __rank = 1
        """,
    )
    return int(before - _run(con, f"select count(*) from {checked}")[0][0])


REFERENCE_TABLES = ("cost_of_living", "fx_rates")
"""Public reference data, loaded on its own schedule: a load of only these may leave
`applications` empty (docs/stipends.md)."""


def _problems(con: duckdb.DuckDBPyConnection, result: LoadResult, *, strict: bool) -> list[str]:
    """Why this load must not land, as one-line messages (empty: it may)."""
    problems: list[str] = []
    if strict:
        for f in result.files:
            if f.inspection is None:
                continue
            for column, values in f.inspection.unmapped.items():
                shown = ", ".join(repr(v) for v, _ in values[:5])
                problems.append(
                    f"--strict: {f.file_name}: {len(values)} value{'s' if len(values) > 1 else ''} "
                    f"of {column} that no rule of the mapping maps ({shown}); add them to "
                    f"[{f.table}.values.{column}]; the warehouse is unchanged"
                )
    applications = _run(con, "select count(*) from (select 1 from applications limit 1)")[0][0]
    fed = [f for f in result.files if f.status == "loaded"]
    if not applications and any(f.table not in REFERENCE_TABLES for f in fed):
        skipped = ", ".join(p.name for p, _ in result.skipped[:3])
        hint = (
            f" (not recognised: {skipped}{', ...' if len(result.skipped) > 3 else ''}; "
            "a vendor export needs --mapping)"
            if result.skipped
            else ""
        )
        problems.append(
            f"the load would leave applications empty: no file loaded any application{hint}; "
            "the warehouse is unchanged"
        )
    return problems


def _rejected_reasons(
    con: duckdb.DuckDBPyConnection, load_id: int
) -> dict[str, list[tuple[str | None, str, int, int | None]]]:
    """Per file, the rows a load would reject grouped by column and reason (values cut off)."""
    rows = _run(
        con,
        """
        select file_name, column_name, regexp_replace(reason, ': .*$', '') as why,
            count(*) as n, min(line)
        from rejects where load_id = $id
        group by all order by file_name, n desc, why
        """,
        {"id": load_id},
    )
    reasons: dict[str, list[tuple[str | None, str, int, int | None]]] = {}
    for file_name, column, why, n, line in rows:
        reasons.setdefault(file_name, []).append((column, why, int(n), line))
    return reasons


# --------------------------------------------------------------------------------------------
# The pseudonym key, bound to the warehouse (etl/warehouse_key.py)


def _key_for_load(key_file: Path) -> LoadKey:
    try:
        return key_for_load(key_file)
    except (KeyMismatchError, PseudonymKeyError) as error:
        raise LoadError(str(error)) from None


def _bind_key(con: duckdb.DuckDBPyConnection, load_key: LoadKey) -> None:
    try:
        bind_key(con, load_key)
    except KeyMismatchError as error:
        raise LoadError(str(error)) from None


def _write_new_key(load_key: LoadKey) -> None:
    """Write a key this load created, just before its warehouse is swapped in: a load that fails
    leaves no key behind, and a warehouse never lands without its key."""
    if not load_key.created:
        return
    try:
        write_key(load_key.path, load_key.key, replace=False)
    except (OSError, PseudonymKeyError) as error:
        why = getattr(error, "strerror", None) or str(error).splitlines()[0]
        raise LoadError(
            f"cannot create pseudonym key file {load_key.path}: {why}; nothing was written "
            "and the warehouse is unchanged"
        ) from None


# --------------------------------------------------------------------------------------------
# The atomic swap


@contextmanager
def _writer_lock(db_path: Path) -> Iterator[None]:
    lock_path = db_path.with_name(db_path.name + ".lock")
    with open(lock_path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # blocks until the running load finishes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_TEMP_MARK = ".loading-"
_counter = itertools.count()


def _temp_files(db_path: Path) -> list[Path]:
    return sorted(db_path.parent.glob(db_path.name + _TEMP_MARK + "*"))


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse_as_of(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        if isinstance(value, dt.datetime) and value.tzinfo is not None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    try:
        parsed = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise LoadError(
            f"--as-of {value!r} is not a timestamp (use e.g. 2024-06-30 or 2024-06-30T18:00)"
        ) from None
    return _parse_as_of(parsed)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _version() -> str | None:
    try:
        from importlib.metadata import version

        return version("signalboard")
    except Exception:
        return None


def load_paths(
    paths: Sequence[Path],
    *,
    settings: LoadTarget,
    as_of: str | dt.datetime | None = None,
    mapping: Path | None = None,
    strict: bool = False,
    progress: bool = True,
    demographic_attributes: Sequence[str] = DEFAULT_DEMOGRAPHIC_ATTRIBUTES,
    check: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
    memory_limit: str = LOAD_MEMORY_LIMIT,
) -> LoadResult:
    """Validate, pseudonymize and load exports into the warehouse in one atomic step.

    Parameters
    ----------
    paths
        Folders (every recognised file in them) and files: .csv, .csv.gz, .parquet, or anything a
        converter in `etl.sources.CONVERTERS` recognises.
    settings
        `db_path` is the warehouse; `pseudonym_key_file` holds the HMAC secret (created on first
        use).
    as_of
        The time the exports were taken; default the latest applied_at / occurred_at / scored_at
        in the warehouse, never earlier than the previous load's as-of.
    mapping
        A vendor mapping TOML (etl/mappings/greenhouse.toml is an example).
    strict
        Refuse the whole load (LoadError, warehouse unchanged) if any row is rejected or any
        value of a mapped column is one no rule of the mapping maps.
    progress
        Show a progress bar on stderr.
    demographic_attributes
        Demographics columns kept besides sex and race_ethnicity (with the mapping's
        `[demographics] attributes`); every other extra column is dropped and reported, and so
        is a declared one that looks like an identifier (etl/privacy.py).
    check
        A dry run: every file is read, mapped and validated in a copy that is then thrown away;
        the warehouse and the key file are not touched (a new warehouse's key is never written).
        `LoadResult.problems` says why the load would be refused, `rejected_reasons` what it
        would reject.
    on_file
        Called with each file's result as soon as the file is done.
    memory_limit
        DuckDB's memory cap for the load (`1500MB`, `4GB`, or `auto`: see `load_memory_cap`);
        past it the load spills to disk beside the warehouse, and a load that still does not fit
        is refused (LoadError) with the warehouse unchanged.

    Returns
    -------
    LoadResult
        Per file rows read, loaded, rejected and replaced; `summary_text()` prints them.
    """
    started_at = _now()
    clock = time.perf_counter()
    db_path = Path(settings.db_path)
    explicit_as_of = _parse_as_of(as_of)
    try:
        vendor = load_mapping(mapping) if mapping is not None else EMPTY
    except MappingError as error:
        raise LoadError(str(error)) from None
    planned, skipped = _plan(list(paths), vendor)
    if not planned:
        where = ", ".join(str(p) for p in paths)
        raise LoadError(
            f"no recognised exports in {where}: expected files named like applications.csv, "
            "scores.csv.gz or stage_events.parquet (see docs/data-contract.md)"
        )
    memory_limit = load_memory_cap(
        memory_limit,
        input_bytes=sum(item.path.stat().st_size for item in planned),
        ram_bytes=_ram_bytes(),
    )
    load_key = _key_for_load(settings.pseudonym_key_file)
    bar = tqdm(
        total=len(planned) + 1, disable=not progress, unit="file", file=sys.stderr, leave=False
    )
    options: dict[str, Any] = {
        "load_key": load_key,
        "mapping": vendor,
        "explicit_as_of": explicit_as_of,
        "strict": strict,
        "started_at": started_at,
        "bar": bar,
        "on_file": on_file,
        "memory_limit": memory_limit,
        "allowed": allowed_attributes(
            demographic_attributes, vendor.for_table("demographics").attributes
        ),
    }
    try:
        if check:
            try:
                result = _check_paths(db_path, planned, skipped, **options)
            finally:
                bar.close()
            result.seconds = time.perf_counter() - clock
            return result
        db_path.parent.mkdir(parents=True, exist_ok=True)
        result = _load_locked(db_path, planned, skipped, **options)
    except duckdb.OutOfMemoryException:
        raise LoadError(
            f"the load needs more memory than its {memory_limit} cap; set "
            "SIGNALBOARD_LOAD_MEMORY_LIMIT higher (docs/performance.md); the warehouse and the key "
            "are unchanged"
        ) from None
    except (OSError, duckdb.IOException) as error:
        # A full disk or a folder without write permission, while copying, writing or
        # swapping: the copy is removed and the live file was never opened for writing.
        why = getattr(error, "strerror", None) or str(error).splitlines()[0]
        where = getattr(error, "filename", None) or db_path
        raise LoadError(f"{where}: {why}; the warehouse and the key are unchanged") from None
    result.seconds = time.perf_counter() - clock
    return result


def _load_locked(
    db_path: Path,
    planned: list[_Planned],
    skipped: list[tuple[Path, str]],
    **options: Any,
) -> LoadResult:
    """Steps 1, 2 and 4 of the module docstring around `_load_into` (step 3)."""
    load_key: LoadKey = options["load_key"]
    bar: tqdm = options["bar"]
    # Hash every file on a worker thread while DuckDB reads them (hashlib releases the GIL).
    with ThreadPoolExecutor(max_workers=1) as pool, _writer_lock(db_path):
        hashes: dict[Path, Future[str]] = {p.path: pool.submit(_sha256, p.path) for p in planned}
        for stale in _temp_files(db_path):
            _remove(stale)  # a killed load's leftovers (copy, WAL, spill folder); we hold the lock
        temp = db_path.with_name(f"{db_path.name}{_TEMP_MARK}{os.getpid()}-{next(_counter)}")
        try:
            if db_path.exists():
                shutil.copyfile(db_path, temp)
                wal = db_path.with_name(db_path.name + ".wal")
                if wal.exists():
                    shutil.copyfile(wal, temp.with_name(temp.name + ".wal"))
            result = _load_into(temp, planned, skipped, hashes=hashes, **options)
            result.db_path = db_path
            if result.changed:
                _fsync(temp)
                _write_new_key(load_key)
                os.replace(temp, db_path)
                if load_key.created:
                    result.key_created = load_key.path
                try:
                    _fsync(db_path.parent)
                except OSError:
                    pass  # the swap is done; only its durability across a power cut is unsure
        finally:
            bar.close()
            for leftover in (temp, *(temp.with_name(temp.name + s) for s in (".wal", ".tmp"))):
                _remove(leftover)
    return result


def _check_paths(
    db_path: Path, planned: list[_Planned], skipped: list[tuple[Path, str]], **options: Any
) -> LoadResult:
    """--check: the load into a throwaway copy in a temp folder, rolled back; no lock is taken
    and nothing beside the warehouse is written (a copy of a file that is only ever replaced by
    rename is a consistent snapshot)."""
    with tempfile.TemporaryDirectory(prefix="signalboard-check-") as folder:
        temp = Path(folder) / db_path.name
        if db_path.exists():
            shutil.copyfile(db_path, temp)
            wal = db_path.with_name(db_path.name + ".wal")
            if wal.exists():
                shutil.copyfile(wal, temp.with_name(temp.name + ".wal"))
        hashes: dict[Path, Future[str]] = {}
        for item in planned:
            future: Future[str] = Future()
            future.set_result(_sha256(item.path))
            hashes[item.path] = future
        result = _load_into(temp, planned, skipped, hashes=hashes, check=True, **options)
    result.db_path = db_path
    result.checked = True
    result.changed = False
    return result


def _load_into(
    temp: Path,
    planned: list[_Planned],
    skipped: list[tuple[Path, str]],
    *,
    hashes: dict[Path, Future[str]],
    load_key: LoadKey,
    mapping: Mapping,
    explicit_as_of: dt.datetime | None,
    strict: bool,
    started_at: dt.datetime,
    bar: tqdm,
    allowed: frozenset[str] = frozenset(),
    check: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
    memory_limit: str = LOAD_MEMORY_LIMIT,
) -> LoadResult:
    try:
        con = connect_writable(temp, memory_limit=memory_limit)
    except duckdb.Error as error:
        # The copy of the live file does not open: it is not a DuckDB file, or another version's.
        raise LoadError(
            f"cannot open the warehouse copy ({str(error).splitlines()[0]}); the live file is "
            "unchanged"
        ) from None
    try:
        con.execute("set TimeZone = 'UTC'")
        # a warehouse written before a derived table existed gets it now, even from a load
        # that changes nothing else
        upgraded = bool(missing_derived(con))
        create_schema(con)
        con.execute("begin transaction")
        _bind_key(con, load_key)
        key_params_ = key_params(load_key.key)
        load_id = int(_run(con, "select coalesce(max(load_id), 0) + 1 from loads")[0][0])
        previous_as_of = _run(con, "select max(as_of) from loads")[0][0]
        result = LoadResult(db_path=temp, load_id=load_id, as_of=None, skipped=list(skipped))
        for index, item in enumerate(planned):
            bar.set_description(item.path.name)
            sha = hashes[item.path].result()
            previous = _run(
                con,
                "select max(load_id) from load_files where table_name = $t and content_sha256 = $h",
                {"t": item.table, "h": sha},
            )[0][0]
            if previous is not None:
                file_result = FileResult(
                    path=item.path,
                    table=item.table,
                    status="unchanged",
                    content_sha256=sha,
                    previous_load_id=int(previous),
                )
            else:
                table_mapping, inspection = _inspect(
                    con,
                    item,
                    mapping.for_table(item.table),
                    index,
                    has_mapping=bool(mapping.sha256),
                )
                file_result = _load_file(
                    con,
                    item,
                    load_id=load_id,
                    mapping=mapping,
                    base_params=key_params_,
                    content_sha256=sha,
                    index=index,
                    allowed=allowed,
                    table_mapping=table_mapping,
                )
                file_result.inspection = inspection
            result.files.append(file_result)
            if on_file is not None:
                on_file(file_result)
            bar.update(1)
        loaded = [f for f in result.files if f.status == "loaded"]
        result.problems = _problems(con, result, strict=strict)
        if check:
            result.rejected_reasons = _rejected_reasons(con, load_id)
            con.execute("rollback")
            return result
        if result.problems:
            raise LoadError(result.problems[0])
        if strict and result.rows_rejected:
            first = _run(
                con,
                "select file_name, line, reason from rejects where load_id = $id "
                "order by file_name, line limit 1",
                {"id": load_id},
            )[0]
            per_file = ", ".join(
                f"{f.file_name}: {f.rows_rejected}" for f in loaded if f.rows_rejected
            )
            raise LoadError(
                f"--strict: {result.rows_rejected} rows rejected ({per_file}); first: "
                f"{first[0]} line {first[1]}: {first[2]}; the warehouse is unchanged"
            )
        if (
            not loaded
            and not upgraded
            and (explicit_as_of is None or explicit_as_of == previous_as_of)
        ):
            con.execute("rollback")
            result.changed = False
            result.load_id = None
            result.as_of = previous_as_of
            return result
        data_max = [
            _run(con, f"select max({column}) from {table}")[0][0]
            for table, column in (
                ("applications", "applied_at"),
                ("stage_events", "occurred_at"),
                ("scores", "scored_at"),
            )
        ]
        candidates = [v for v in (*data_max, previous_as_of) if v is not None]
        result.as_of = explicit_as_of or (max(candidates) if candidates else started_at)
        _run(
            con,
            """
            insert into loads values (
                $load_id, $started_at, $finished_at, $as_of, $strict, $mapping, $files,
                $rows_read, $rows_loaded, $rows_rejected, $version
            )
            """,
            {
                "load_id": load_id,
                "started_at": started_at,
                "finished_at": _now(),
                "as_of": result.as_of,
                "strict": strict,
                "mapping": mapping.path.name if mapping.sha256 else None,
                "files": len(loaded),
                "rows_read": result.rows_read,
                "rows_loaded": result.rows_loaded,
                "rows_rejected": result.rows_rejected,
                "version": _version(),
            },
        )
        # Commit the rows, then drop the pseudonym caches before the derived tables: DuckDB keeps
        # what a transaction wrote to a temp table in memory until it commits, so dropping them
        # inside the load's transaction frees nothing (at 10M applications they hold ~4.4 GB,
        # and the derived tables then ran out of memory under the cap). The load is still atomic:
        # it writes a copy of the warehouse that replaces the live file only once all of it,
        # derived tables included (each in a transaction of its own), is committed; a failure
        # here discards the copy.
        con.execute("commit")
        _forget_pseudonyms(con)
        build_derived(con)
        con.execute("checkpoint")
        bar.update(1)
        return result
    finally:
        con.close()
