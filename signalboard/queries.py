"""The SQL library in queries/: parse each file's header, bind typed parameters, run it.

A query file starts with a header of `--` comments (see queries/README.md):

    -- grain: one row per application
    -- title: Application journeys
    -- description: Every application with the time it reached each stage and its outcome.
    -- param: as_of timestamp = null | cut-off; null means the warehouse's as-of

Parameters are always bound (`$as_of` in the SQL), never formatted into the text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import duckdb

if TYPE_CHECKING:
    import pandas as pd  # annotations only: see signalboard.db

from signalboard.db import query_df
from signalboard.settings import get_settings

ParamType = Literal["text", "integer", "number", "date", "timestamp", "boolean", "text[]"]
PARAM_TYPES: tuple[str, ...] = (
    "text",
    "integer",
    "number",
    "date",
    "timestamp",
    "boolean",
    "text[]",
)

_HEADER_LINE = re.compile(r"^--\s*(grain|title|description|param):\s*(.*?)\s*$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[a-z]+(?:\[\])?)\s*=\s*(?P<default>.*?)\s*(?:\|\s*(?P<doc>.*))?$"
)


class QueryError(ValueError):
    """A query file or its parameters are not usable; the message says what to fix."""


@dataclass(frozen=True)
class Param:
    """One declared parameter of a query file."""

    name: str
    type: ParamType
    default: Any
    description: str = ""

    def parse(self, raw: Any) -> Any:
        """Convert a value (often text from a command line or widget) to this parameter's type."""
        return parse_value(raw, self.type, name=self.name)


@dataclass(frozen=True)
class Query:
    """A parsed file of the SQL library."""

    name: str
    path: Path
    sql: str
    title: str
    grain: str
    description: str
    params: tuple[Param, ...]

    def bind(self, values: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Typed values for every declared parameter: given ones parsed, the rest defaulted."""
        values = dict(values or {})
        declared = {p.name for p in self.params}
        unknown = sorted(set(values) - declared)
        if unknown:
            known = ", ".join(sorted(declared)) or "none"
            raise QueryError(
                f"{self.name}: unknown parameter {', '.join(unknown)} (parameters: {known})"
            )
        bound: dict[str, Any] = {}
        for param in self.params:
            bound[param.name] = (
                param.parse(values[param.name]) if param.name in values else param.default
            )
        return bound


def parse_value(raw: Any, type_: str, *, name: str = "value") -> Any:
    """Parse `raw` as `type_`; None and the text 'null' stay None. Raises QueryError when malformed."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in ("null", "none")):
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if type_ == "text":
            return str(text)
        if type_ == "text[]":
            # A list of values: a Python sequence, or comma-separated text from a command line.
            items = text.split(",") if isinstance(text, str) else list(text)
            cleaned = [str(item).strip() for item in items if str(item).strip()]
            return cleaned or None
        if type_ == "integer":
            if isinstance(text, bool) or (isinstance(text, float) and not text.is_integer()):
                raise ValueError
            return int(text)
        if type_ == "number":
            return float(text)
        if type_ == "boolean":
            if isinstance(text, bool):
                return text
            lowered = str(text).lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
            raise ValueError
        if type_ == "date":
            if isinstance(text, dt.datetime):
                return text.date()
            if isinstance(text, dt.date):
                return text
            return dt.date.fromisoformat(str(text))
        if type_ == "timestamp":
            if isinstance(text, dt.datetime):
                return text
            if isinstance(text, dt.date):
                return dt.datetime.combine(text, dt.time())
            return dt.datetime.fromisoformat(str(text))
    except (TypeError, ValueError):
        raise QueryError(f"parameter {name}: {raw!r} is not a valid {type_}") from None
    raise QueryError(f"parameter {name}: unknown type {type_!r} (one of {', '.join(PARAM_TYPES)})")


def parse_query_file(path: Path) -> Query:
    """Parse one .sql file of the library; raises QueryError if its header is incomplete."""
    return parse_query_text(path.read_text(encoding="utf-8"), name=path.stem, path=path)


def parse_query_text(
    sql: str, *, name: str, path: Path | None = None, require_header: bool = True
) -> Query:
    """Parse SQL text with a library header (`-- grain:`, `-- title:`, `-- description:`,
    `-- param:` lines before the first statement line).

    `require_header=False` (ad-hoc SQL): grain, title and description may be missing; any
    `-- param:` lines still declare typed parameters. Raises QueryError for a malformed
    parameter line or, with `require_header`, a missing field.
    """
    label = path.name if path is not None else name
    fields: dict[str, str] = {}
    params: list[Param] = []
    for line in sql.splitlines():
        if not line.startswith("--"):
            if line.strip():
                break
            continue
        match = _HEADER_LINE.match(line)
        if not match:
            continue
        key, value = match.groups()
        if key == "param":
            pm = _PARAM.match(value)
            if not pm or pm["type"] not in PARAM_TYPES:
                raise QueryError(f"{label}: malformed parameter line: {line!r}")
            type_ = pm["type"]
            params.append(
                Param(
                    name=pm["name"],
                    type=type_,  # type: ignore[arg-type]
                    default=parse_value(pm["default"], type_, name=pm["name"]),
                    description=(pm["doc"] or "").strip(),
                )
            )
        else:
            fields[key] = (fields.get(key, "") + " " + value).strip()
    missing = [k for k in ("grain", "title", "description") if not fields.get(k)]
    if missing and require_header:
        raise QueryError(f"{label}: header lacks {', '.join(missing)}")
    return Query(
        name=name,
        path=path if path is not None else Path(f"{name}.sql"),
        sql=sql,
        title=fields.get("title", ""),
        grain=fields.get("grain", ""),
        description=fields.get("description", ""),
        params=tuple(params),
    )


@lru_cache(maxsize=256)
def _load_cached(path: str, mtime_ns: int) -> Query:
    return parse_query_file(Path(path))


def load_query(name_or_path: str | Path, *, queries_dir: Path | None = None) -> Query:
    """A query by name (`application_journeys`) or by file path.

    A name is looked up in the analysts' library (`queries_dir`, default the shipped
    queries/library or SIGNALBOARD_QUERIES_DIR) and then among the sections' inputs
    (queries/analysis); the two sets of names are disjoint (a test checks).
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".sql" and candidate.exists():
        path = candidate
    else:
        settings = get_settings()
        folders = (queries_dir or settings.queries_dir, settings.analysis_queries_dir)
        found = [folder / f"{name_or_path}.sql" for folder in folders]
        path = next((p for p in found if p.exists()), found[0])
        if not path.exists():
            raise QueryError(
                f"no query named {name_or_path!r} in the library (see `signalboard query --list`)"
            )
    return _load_cached(str(path.resolve()), path.stat().st_mtime_ns)


def list_queries(*, queries_dir: Path | None = None) -> list[Query]:
    """Every query of the analysts' library, sorted by name (the sections' inputs are not listed)."""
    folder = queries_dir or get_settings().queries_dir
    return [load_query(p, queries_dir=folder) for p in sorted(folder.glob("*.sql"))]


def run_query(
    con: duckdb.DuckDBPyConnection,
    name_or_path: str | Path,
    params: Mapping[str, Any] | None = None,
    *,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """Run a library query with its parameters bound (defaults for those not given)."""
    query = load_query(name_or_path, queries_dir=queries_dir)
    return query_df(con, query.sql, query.bind(params))
