"""Data health: what is loaded, when, from which files, what was rejected and why, and the contract.

Every number here comes from the warehouse's own bookkeeping (`loads`, `load_files`, `rejects`)
and row counts, through the data_health_*.sql files in queries/. No Streamlit here: the Data
health page and `signalboard report` both call these functions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from etl.contract import DUCKDB_TYPES, TABLES, Column, TableSpec
from signalboard.analysis.tables import ReportTable
from signalboard.queries import run_query
from signalboard.sandbox import PROTECTED_TABLES
from signalboard.settings import Settings

# Public names of the report tables (`<name>.csv`); users script against them, keep them stable.
REPORT_TABLE_NAMES: tuple[str, ...] = (
    "data_health",
    "data_health_loads",
    "data_health_files",
    "data_health_rejects",
)


def _list_or_none(values: Sequence[str] | None) -> list[str] | None:
    return list(values) if values else None


def table_rows(con: duckdb.DuckDBPyConnection, *, queries_dir: Path | None = None) -> pd.DataFrame:
    """Rows in every warehouse table, with the latest load's read/loaded/rejected per table.

    One row per table (contract tables first, then `demographic_attributes` and the load's
    bookkeeping), columns `table_name, kind, rows_in_warehouse, last_load_id, files_in_last_load,
    rows_read, rows_loaded, rows_rejected, rows_replaced`. The load columns are empty for a table
    no load has brought a file for.
    """
    return run_query(con, "data_health_table_rows", queries_dir=queries_dir)


def loads_log(con: duckdb.DuckDBPyConnection, *, queries_dir: Path | None = None) -> pd.DataFrame:
    """Every load that landed, newest first (id, as-of, start, end, files and row counts)."""
    return run_query(con, "data_health_loads", queries_dir=queries_dir)


def load_files(
    con: duckdb.DuckDBPyConnection,
    *,
    load_id: int | None = None,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """Every file each load read, with its SHA-256 and rows read/loaded/rejected/replaced."""
    return run_query(con, "data_health_load_files", {"load_id": load_id}, queries_dir=queries_dir)


def reject_reasons(
    con: duckdb.DuckDBPyConnection,
    *,
    file_names: Sequence[str] | None = None,
    reasons: Sequence[str] | None = None,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """Rejected rows counted by load, file, column and reason (most frequent first).

    `file_names` and `reasons` restrict the counts; None or empty means all.
    """
    params = {"file_names": _list_or_none(file_names), "reasons": _list_or_none(reasons)}
    return run_query(con, "data_health_reject_reasons", params, queries_dir=queries_dir)


def rejected_rows(
    con: duckdb.DuckDBPyConnection,
    *,
    file_names: Sequence[str] | None = None,
    reasons: Sequence[str] | None = None,
    max_rows: int = 1000,
    queries_dir: Path | None = None,
) -> pd.DataFrame:
    """The rejected rows themselves (file, line, column, reason, original text), at most `max_rows`."""
    params = {
        "file_names": _list_or_none(file_names),
        "reasons": _list_or_none(reasons),
        "max_rows": max_rows,
    }
    return run_query(con, "data_health_rejects", params, queries_dir=queries_dir)


@dataclass(frozen=True)
class HealthSummary:
    """The headline of the Data health page."""

    as_of: dt.datetime | None
    loads: int
    last_load_id: int | None
    last_load_finished_at: dt.datetime | None
    applications: int
    rows_rejected_last_load: int


def _timestamp(value: object) -> dt.datetime | None:
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).to_pydatetime()


def health_summary(table_rows_frame: pd.DataFrame, loads_frame: pd.DataFrame) -> HealthSummary:
    """Summarise `table_rows()` and `loads_log()` output: the warehouse as-of and latest load.

    The warehouse as-of is the latest load's as-of (`select max(as_of) from loads`), the cut-off
    against which in-progress applications are judged.

    Examples
    --------
    >>> rows = pd.DataFrame({"table_name": ["applications"], "rows_in_warehouse": [3000]})
    >>> loads = pd.DataFrame({"load_id": [2, 1], "as_of": pd.to_datetime(["2025-06-30", "2025-05-31"]),
    ...                       "finished_at": pd.to_datetime(["2025-07-01", "2025-06-01"]),
    ...                       "rows_rejected": [4, 9]})
    >>> s = health_summary(rows, loads)
    >>> (s.as_of.date().isoformat(), s.loads, s.last_load_id, s.applications, s.rows_rejected_last_load)
    ('2025-06-30', 2, 2, 3000, 4)
    """
    counts = dict(
        zip(table_rows_frame["table_name"], table_rows_frame["rows_in_warehouse"], strict=True)
    )
    applications = int(counts.get("applications", 0) or 0)
    if loads_frame.empty:
        return HealthSummary(None, 0, None, None, applications, 0)
    latest = loads_frame.sort_values("load_id").iloc[-1]
    return HealthSummary(
        as_of=_timestamp(loads_frame["as_of"].max()),
        loads=len(loads_frame),
        last_load_id=int(latest["load_id"]),
        last_load_finished_at=_timestamp(latest["finished_at"]),
        applications=applications,
        rows_rejected_last_load=int(latest["rows_rejected"]),
    )


@dataclass(frozen=True)
class DataHealth:
    """The Data health section: headline, per-table counts, loads, files and reject reasons."""

    summary: HealthSummary
    table_rows: pd.DataFrame
    loads: pd.DataFrame
    files: pd.DataFrame
    reject_reasons: pd.DataFrame


def overview(con: duckdb.DuckDBPyConnection, *, queries_dir: Path | None = None) -> DataHealth:
    """Everything the Data health page shows above its reject drill-through, in one call."""
    rows = table_rows(con, queries_dir=queries_dir)
    loads = loads_log(con, queries_dir=queries_dir)
    return DataHealth(
        summary=health_summary(rows, loads),
        table_rows=rows,
        loads=loads,
        files=load_files(con, queries_dir=queries_dir),
        reject_reasons=reject_reasons(con, queries_dir=queries_dir),
    )


@dataclass(frozen=True)
class RejectDrill:
    """Rejected rows narrowed by file and reason: the counts and the first `max_rows` rows."""

    reasons: pd.DataFrame
    rows: pd.DataFrame
    truncated: bool


def reject_drill(
    con: duckdb.DuckDBPyConnection,
    *,
    file_names: Sequence[str] | None = None,
    reasons: Sequence[str] | None = None,
    max_rows: int = 1000,
    show_self_id_text: bool = False,
    queries_dir: Path | None = None,
) -> RejectDrill:
    """`reject_reasons` and `rejected_rows` for one selection, ready to publish.

    Without `show_self_id_text` the original text of a rejected row from a self-identification
    table is replaced by a note: whatever such a row holds is a person's demographic answer (the
    loader stores none of it, and this keeps warehouses loaded by older versions safe too).
    """
    counts = reject_reasons(con, file_names=file_names, reasons=reasons, queries_dir=queries_dir)
    rows = rejected_rows(
        con, file_names=file_names, reasons=reasons, max_rows=max_rows, queries_dir=queries_dir
    )
    if not show_self_id_text and not rows.empty:
        hidden = rows["table_name"].isin(PROTECTED_TABLES)
        rows["original_text"] = rows["original_text"].mask(hidden, "(hidden: self-ID data)")
    return RejectDrill(reasons=counts, rows=rows, truncated=len(rows) == max_rows)


# --- the data contract, rendered from etl/contract.py ---------------------------------------


def _number(value: float) -> str:
    return f"{value:g}"


def column_rules(column: Column, spec: TableSpec) -> str:
    """The validation rules of one contract column, as a short sentence for people.

    Examples
    --------
    >>> from etl.contract import SCORES
    >>> column_rules(SCORES.column("grader_kind"), SCORES)
    'one of: human, llm'
    """
    rules: list[str] = []
    if column.name in spec.key:
        rules.append("key" if len(spec.key) == 1 else f"part of the key ({', '.join(spec.key)})")
    if column.allowed:
        rules.append("one of: " + ", ".join(column.allowed))
    if column.minimum is not None and column.maximum is not None:
        rules.append(f"between {_number(column.minimum)} and {_number(column.maximum)}")
    elif column.minimum is not None:
        rules.append(f"at least {_number(column.minimum)}")
    elif column.maximum is not None:
        rules.append(f"at most {_number(column.maximum)}")
    if column.privacy == "drop":
        rules.append("personal data: never stored")
    elif column.privacy in ("application", "candidate"):
        rules.append(f"stored as a keyed pseudonym ({column.privacy})")
    return "; ".join(rules)


def contract_table(spec: TableSpec) -> pd.DataFrame:
    """One export of the data contract as a table: column, type, required, rules, description.

    `type` is the contract type, `stored_as` the DuckDB type in the warehouse (empty for personal
    data that never reaches it).
    """
    rows = [
        {
            "column": c.name,
            "type": c.type,
            "stored_as": "" if c.privacy == "drop" else DUCKDB_TYPES[c.type],
            "required": c.required,
            "rules": column_rules(c, spec),
            "description": c.description,
        }
        for c in spec.columns
    ]
    return pd.DataFrame(
        rows, columns=["column", "type", "stored_as", "required", "rules", "description"]
    )


def contract_tables() -> dict[str, pd.DataFrame]:
    """Every export of the data contract, by file stem (`cohorts` for cohorts.csv), in load order."""
    return {spec.name: contract_table(spec) for spec in TABLES}


def contract_long() -> pd.DataFrame:
    """The whole contract as one table (a `file` column, then `contract_table`'s columns)."""
    frames = [frame.assign(file=f"{name}.csv") for name, frame in contract_tables().items()]
    combined = pd.concat(frames, ignore_index=True)
    return combined[["file", *combined.columns.drop("file")]]


# --- signalboard report -----------------------------------------------------------------------


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """The data-health tables of `signalboard report`.

    - `data_health`: one row per warehouse table, its rows and the latest load's read/loaded/
      rejected/replaced for it.
    - `data_health_loads`: the loads log.
    - `data_health_files`: one row per load and file, with content hashes.
    - `data_health_rejects`: rejected rows counted by load, file, column and reason.
    """
    queries_dir = settings.queries_dir
    rows = table_rows(con, queries_dir=queries_dir)
    loads = loads_log(con, queries_dir=queries_dir)
    summary = health_summary(rows, loads)
    as_of = summary.as_of.isoformat(sep=" ") if summary.as_of else "no load yet"
    return [
        ReportTable(
            name="data_health",
            title="Warehouse tables",
            frame=rows,
            description=(
                f"Rows in every warehouse table as of {as_of}, and what the latest load that "
                "touched each table read, loaded, rejected and replaced."
            ),
        ),
        ReportTable(
            name="data_health_loads",
            title="Loads",
            frame=loads,
            description="Every load that landed, newest first. Failed loads never land.",
        ),
        ReportTable(
            name="data_health_files",
            title="Files per load",
            frame=load_files(con, queries_dir=queries_dir),
            description="Every file each load read, with its SHA-256 content hash.",
        ),
        ReportTable(
            name="data_health_rejects",
            title="Rejected rows by reason",
            frame=reject_reasons(con, queries_dir=queries_dir),
            description=(
                "Rows kept out of the warehouse, by load, file, column and reason. The rejected "
                "rows themselves (with line and original text) are in the warehouse's rejects "
                "table and on the Data health page."
            ),
        ),
    ]
