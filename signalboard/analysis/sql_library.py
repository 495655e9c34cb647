"""Pure helpers behind the SQL page: the library index, the schema browser, parameter defaults,
the result chart and the session's query history. No Streamlit here; the page draws.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from signalboard.queries import Param, Query, list_queries, parse_query_text
from signalboard.sandbox import SandboxError, SandboxResult, check_statement, run_sandboxed
from signalboard.settings import Settings

ChartKind = Literal["bar", "line", "scatter"]
CHART_KINDS: tuple[ChartKind, ...] = ("bar", "line", "scatter")

# Parameters every per-application query takes; the page fills them from the sidebar filters.
FILTER_PARAMS = ("start_date", "end_date", "roles", "cohorts")

# Tables whose rows are demographic; results drawn from them are not small-cell suppressed here.
DEMOGRAPHIC_TABLES = ("demographics", "demographic_attributes")

SCHEMA_SQL = """
select table_name, column_name, data_type
from information_schema.columns
where table_catalog = current_database() and table_schema = 'main'
order by table_name, ordinal_position
"""


def library_index(queries_dir: Path) -> pd.DataFrame:
    """One row per library query: name, title, grain, description and its parameters as text.

    Examples
    --------
    >>> frame = library_index(queries_root() / "library")
    >>> frame.loc[frame["name"] == "applications_stuck_in_stage", "parameters"].iloc[0][:22]
    'min_days integer = 14,'
    """
    rows = []
    for query in list_queries(queries_dir=queries_dir):
        rows.append(
            {
                "name": query.name,
                "title": query.title,
                "grain": query.grain,
                "description": query.description,
                "parameters": ", ".join(
                    f"{p.name} {p.type} = {format_default(p.default)}" for p in query.params
                ),
            }
        )
    return pd.DataFrame(rows, columns=["name", "title", "grain", "description", "parameters"])


def format_default(value: Any) -> str:
    """A parameter default as its header writes it (`null`, `a,b`, `2024-01-01`)."""
    if value is None:
        return "null"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def initial_values(query: Query, filters: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Starting widget values: the query's defaults, with the sidebar filters where they are set."""
    values = {param.name: param.default for param in query.params}
    for name, value in (filters or {}).items():
        if name in values and name in FILTER_PARAMS and value not in (None, [], ()):
            values[name] = list(value) if isinstance(value, tuple) else value
    return values


def schema_frame(settings: Settings) -> pd.DataFrame:
    """Every warehouse table and column with its type, read through the sandbox."""
    return run_sandboxed(SCHEMA_SQL, settings=settings).frame


def parquet_bytes(result: SandboxResult) -> bytes | None:
    """The result as Parquet, or None when a column type has no Parquet form (e.g. INTERVAL)."""
    try:
        return result.to_parquet_bytes()
    except (pa.ArrowException, ValueError):
        return None


def mentions_demographics(sql: str) -> bool:
    """True when the SQL names a demographic table (its output is not small-cell suppressed)."""
    lowered = sql.lower()
    return any(re.search(rf"\b{name}\b", lowered) for name in DEMOGRAPHIC_TABLES)


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [str(c) for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]


def colour_columns(frame: pd.DataFrame, *, max_levels: int = 30) -> list[str]:
    """Columns with few enough distinct values to colour a chart by."""
    return [str(c) for c in frame.columns if frame[c].astype(str).nunique() <= max_levels]


@dataclass(frozen=True)
class HistoryEntry:
    """One query run in this session, as the History tab lists it."""

    ran_at: dt.datetime
    source: Literal["library", "ad hoc"]
    name: str
    sql: str
    params: str
    status: Literal["ok", "refused", "failed"]
    rows: int | None
    message: str = ""


def history_entry(
    *,
    source: Literal["library", "ad hoc"],
    name: str,
    sql: str,
    params: Mapping[str, Any] | None,
    result: SandboxResult | None = None,
    error: SandboxError | None = None,
    now: dt.datetime | None = None,
) -> HistoryEntry:
    """The history row for a run that returned `result` or raised `error`."""
    runtime = {"timeout", "memory", "sql_error", "missing_warehouse"}
    if error is not None:
        status: Literal["ok", "refused", "failed"] = (
            "failed" if error.reason in runtime else "refused"
        )
        message = str(error)
    else:
        status, message = "ok", (result.notice or "") if result else ""
    shown = ", ".join(f"{k}={format_default(v)}" for k, v in (params or {}).items())
    return HistoryEntry(
        ran_at=now or dt.datetime.now(),
        source=source,
        name=name,
        sql=sql,
        params=shown,
        status=status,
        rows=len(result.frame) if result is not None else None,
        message=message,
    )


def add_to_history(
    history: Sequence[HistoryEntry], entry: HistoryEntry, *, max_entries: int = 50
) -> list[HistoryEntry]:
    """Newest first, at most `max_entries`."""
    return [entry, *history][:max_entries]


def history_frame(history: Sequence[HistoryEntry]) -> pd.DataFrame:
    columns = ["ran_at", "source", "name", "params", "status", "rows", "message", "sql"]
    frame = pd.DataFrame([asdict(e) for e in history], columns=columns)
    return frame[columns]


ADHOC_NAME = "__adhoc"
UNDECLARED = "not declared in the SQL: text (declare a type with `-- param: NAME TYPE = DEFAULT`)"


def adhoc_query(sql: str) -> Query:
    """Ad-hoc SQL as a `Query`, so its `$name` placeholders get typed values like a library file's.

    Parameters are declared as in a library file, by `-- param: NAME TYPE = DEFAULT | text`
    lines in the leading comments; every other placeholder the statement uses (found by DuckDB's
    parser, so a '$' inside a string or a comment is not one) becomes a text parameter without a
    default, in the order the SQL first uses it. Raises QueryError for a malformed `-- param:`
    line; SQL that does not parse has no placeholders here (running it reports the error).

    Examples
    --------
    >>> q = adhoc_query("-- param: since date = 2025-01-01\\nselect * from applications "
    ...                 "where applied_at >= $since and role = $role and source <> '$x'")
    >>> [(p.name, p.type, str(p.default)) for p in q.params]
    [('since', 'date', '2025-01-01'), ('role', 'text', 'None')]
    """
    query = parse_query_text(sql, name=ADHOC_NAME, require_header=False)
    try:
        used = set(check_statement(sql).named_parameters)
    except SandboxError:
        used = set()
    declared = {param.name for param in query.params}
    first_use = {
        match.group(1): match.start()
        for match in reversed(list(re.finditer(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql)))
    }
    extra = tuple(
        Param(name=name, type="text", default=None, description=UNDECLARED)
        for name in sorted(used - declared, key=lambda n: (first_use.get(n, len(sql)), n))
    )
    return dataclasses.replace(query, params=query.params + extra)
