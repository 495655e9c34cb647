"""Shared Streamlit plumbing for the pages: the warehouse connection, cached queries, global
filters, download buttons and empty states. Pages import from here; analysis code never does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import duckdb
import pandas as pd
import streamlit as st

from dashboard import auth
from dashboard.escape import markdown_text
from signalboard.analysis.findings import Finding
from signalboard.csv_safety import to_csv_bytes
from signalboard.db import (
    WAREHOUSE_ALIAS,
    WarehouseVersion,
    connect_readonly,
    query_df,
    query_scalar,
    table_exists,
    warehouse_version,
)
from signalboard.present import column_for, humanize
from signalboard.queries import run_query
from signalboard.settings import Settings, get_settings

T = TypeVar("T")


def settings() -> Settings:
    return get_settings()


def current_version() -> WarehouseVersion | None:
    """Identity of the warehouse file now; a load swaps in a new file and this changes."""
    return warehouse_version(settings().db_path)


def open_snapshot(path: str | Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the warehouse file as it is now, independent of earlier ones
    (see `signalboard.db.connect_readonly` for why this attaches the file afresh)."""
    return connect_readonly(path)


@st.cache_resource(max_entries=2, show_spinner=False)
def _connection(version: WarehouseVersion) -> duckdb.DuckDBPyConnection:
    # Keyed by the file's identity, so after a load swaps the file in the next rerun opens the
    # new one, while sessions mid-render keep reading the old inode they already hold.
    return open_snapshot(version.path)


def _cursor_for(version: WarehouseVersion) -> duckdb.DuckDBPyConnection:
    cur = _connection(version).cursor()
    # A cursor starts in the in-memory catalog; unqualified table names must mean the warehouse.
    cur.execute(f"use {WAREHOUSE_ALIAS}")
    return cur


def cursor() -> duckdb.DuckDBPyConnection | None:
    """A fresh cursor on the current warehouse (thread-safe per use), or None without one.

    None also when the file exists but cannot be opened; `warehouse_info()` says why.
    """
    version = current_version()
    if version is None:
        return None
    try:
        return _cursor_for(version)
    except duckdb.Error:
        return None


WarehouseState = Literal["missing", "unreadable", "no_schema", "empty", "ready"]


@dataclass(frozen=True)
class WarehouseInfo:
    """What the sidebar and the empty states say about the warehouse file."""

    path: str
    state: WarehouseState
    as_of: dt.datetime | None = None
    last_load_id: int | None = None
    loads: int = 0
    applications: int = 0
    error: str = ""


@st.cache_data(max_entries=8, show_spinner=False)
def _warehouse_info(version: WarehouseVersion) -> WarehouseInfo:
    try:
        con = _cursor_for(version)
    except duckdb.Error as error:
        return WarehouseInfo(version.path, "unreadable", error=str(error).splitlines()[0])
    try:
        if not (table_exists(con, "applications") and table_exists(con, "loads")):
            return WarehouseInfo(version.path, "no_schema")
        loads = query_df(
            con, "select count(*) as n, max(as_of) as as_of, max(load_id) as last from loads"
        ).iloc[0]
        applications = int(query_scalar(con, "select count(*) from applications") or 0)
        last = loads["last"]
        return WarehouseInfo(
            version.path,
            "ready" if applications else "empty",
            as_of=None if pd.isna(loads["as_of"]) else pd.Timestamp(loads["as_of"]).to_pydatetime(),
            last_load_id=None if pd.isna(last) else int(last),
            loads=int(loads["n"]),
            applications=applications,
        )
    finally:
        con.close()


def warehouse_info() -> WarehouseInfo:
    """State of the current warehouse file: missing, unreadable, without schema, empty or ready."""
    version = current_version()
    if version is None:
        return WarehouseInfo(str(settings().db_path), "missing")
    return _warehouse_info(version)


def warehouse_ready() -> bool:
    """True when a warehouse with loaded applications exists."""
    return warehouse_info().state == "ready"


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_query(
    version: WarehouseVersion, name: str, params: tuple[tuple[str, Any], ...]
) -> pd.DataFrame:
    con = _cursor_for(version)
    try:
        return run_query(con, name, dict(params), queries_dir=settings().queries_dir)
    finally:
        con.close()


def _freeze(params: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items()))


def query(name: str, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Run a library query (queries/NAME.sql) on the current warehouse, cached per warehouse state."""
    version = current_version()
    if version is None:
        return pd.DataFrame()
    frozen = _freeze(params or {})
    result = _cached_query(version, name, frozen)
    return result.copy()


def cached(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call an analysis function through Streamlit's data cache, keyed by warehouse state and args.

    Caching lives here, in the dashboard, so analysis functions stay free of Streamlit. The
    function is keyed by its dotted name (Streamlit cannot hash function objects); arguments must
    be hashable by Streamlit (DataFrames, dataclasses, plain values).
    """
    name = f"{function.__module__}.{function.__qualname__}"
    return _cached_call(current_version(), name, function, args, tuple(sorted(kwargs.items())))


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_call(
    version: WarehouseVersion | None,
    function_name: str,
    _function: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
) -> T:
    # `version` and `function_name` are hashed into the key; `_function` (underscore) is not.
    return _function(*args, **dict(kwargs))


def cached_on_warehouse(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(cursor, *args, **kwargs)` on the current warehouse, through the data cache.

    For analysis functions that aggregate in DuckDB and return a small result: the cache keeps
    that result (cheap to unpickle on every rerun) instead of the rows behind it, and the key is
    the warehouse state and the plain arguments, never a large frame to hash.
    """
    name = f"{function.__module__}.{function.__qualname__}"
    return _cached_on_warehouse(
        current_version(), name, function, args, tuple(sorted(kwargs.items()))
    )


@st.cache_data(max_entries=256, show_spinner=False)
def _cached_on_warehouse(
    version: WarehouseVersion | None,
    function_name: str,
    _function: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: tuple[tuple[str, Any], ...],
) -> T:
    if version is None:
        raise RuntimeError("no warehouse: check warehouse_ready() first")
    con = _cursor_for(version)
    try:
        return _function(con, *args, **dict(kwargs))
    finally:
        con.close()


def cached_figure(builder: Callable[..., Any], frame: pd.DataFrame, **options: Any) -> Any:
    """`builder(frame, **options)` through the resource cache, keyed by the small input frame.

    Building a plotly figure validates every trace, which costs more than the page's analysis on
    a warm rerun; cache_resource hands back the same figure without pickling it on every hit.
    """
    name = f"{builder.__module__}.{builder.__qualname__}"
    return _cached_figure(name, builder, frame, tuple(sorted(options.items())))


@st.cache_resource(max_entries=64, show_spinner=False)
def _cached_figure(
    name: str,
    _builder: Callable[..., Any],
    frame: pd.DataFrame,
    options: tuple[tuple[str, Any], ...],
) -> Any:
    return _builder(frame, **dict(options))


# --- global filters -------------------------------------------------------------------------

FILTER_KEYS = ("f_start", "f_end", "f_roles", "f_cohorts")


@dataclass(frozen=True)
class GlobalFilters:
    """The sidebar filters every page applies: applied date range, roles and cohorts."""

    start_date: dt.date | None = None
    end_date: dt.date | None = None
    roles: tuple[str, ...] = ()
    cohorts: tuple[str, ...] = ()

    def as_params(self) -> dict[str, Any]:
        """Bound parameters for queries that take the standard filter parameters."""
        return {
            "start_date": self.start_date,
            "end_date": self.end_date,
            "roles": list(self.roles) or None,
            "cohorts": list(self.cohorts) or None,
        }

    @property
    def is_default(self) -> bool:
        return not (self.start_date or self.end_date or self.roles or self.cohorts)


def _restore_from_url() -> None:
    # Shareable state lives in plain query parameters (?roles=a,b&from=2024-01-01), never pickles.
    qp = st.query_params
    if "f_start" not in st.session_state and qp.get("from"):
        try:
            st.session_state["f_start"] = dt.date.fromisoformat(qp["from"])
        except ValueError:
            pass
    if "f_end" not in st.session_state and qp.get("to"):
        try:
            st.session_state["f_end"] = dt.date.fromisoformat(qp["to"])
        except ValueError:
            pass
    if "f_roles" not in st.session_state and qp.get("roles"):
        st.session_state["f_roles"] = [r for r in qp["roles"].split(",") if r]
    if "f_cohorts" not in st.session_state and qp.get("cohorts"):
        st.session_state["f_cohorts"] = [c for c in qp["cohorts"].split(",") if c]


def _write_to_url(filters: GlobalFilters) -> None:
    pairs = {
        "from": filters.start_date.isoformat() if filters.start_date else None,
        "to": filters.end_date.isoformat() if filters.end_date else None,
        "roles": ",".join(filters.roles) or None,
        "cohorts": ",".join(filters.cohorts) or None,
    }
    for key, value in pairs.items():
        if value is None:
            if key in st.query_params:
                del st.query_params[key]
        elif st.query_params.get(key) != value:
            st.query_params[key] = value


def sidebar_filters() -> GlobalFilters:
    """Draw the global filters in the sidebar; their state persists across pages.

    Called once by the app's entry point before the page runs, so every page sees the same values.
    """
    _restore_from_url()
    options = query("filter_options") if warehouse_ready() else pd.DataFrame()
    roles = sorted(options.loc[options["kind"] == "role", "value"]) if len(options) else []
    cohorts = sorted(options.loc[options["kind"] == "cohort", "value"]) if len(options) else []
    with st.sidebar:
        st.subheader("Filters")
        start = st.date_input("Applied from", value=None, key="f_start")
        end = st.date_input("Applied to", value=None, key="f_end")
        # Drop remembered choices that the current warehouse no longer has, instead of erroring.
        for key, allowed in (("f_roles", roles), ("f_cohorts", cohorts)):
            if key in st.session_state:
                st.session_state[key] = [v for v in st.session_state[key] if v in allowed]
        chosen_roles = st.multiselect("Role", roles, key="f_roles")
        chosen_cohorts = st.multiselect("Cohort", cohorts, key="f_cohorts")
        if start and end and start > end:
            st.warning("'Applied from' is after 'Applied to': no application can match.")
        st.button("Clear filters", on_click=clear_filters, key="clear_filters")
        st.caption("The filters apply to every analysis page; copy the URL to share them.")
        st.divider()
        warehouse_caption()
    filters = GlobalFilters(
        start_date=start if isinstance(start, dt.date) else None,
        end_date=end if isinstance(end, dt.date) else None,
        roles=tuple(chosen_roles),
        cohorts=tuple(chosen_cohorts),
    )
    st.session_state["global_filters"] = filters
    _write_to_url(filters)
    return filters


def clear_filters() -> None:
    """Reset the global filters (a button callback: runs before the widgets are drawn)."""
    st.session_state["f_start"] = None
    st.session_state["f_end"] = None
    st.session_state["f_roles"] = []
    st.session_state["f_cohorts"] = []


def warehouse_caption() -> None:
    """Which warehouse the app reads and its as-of, for the sidebar."""
    info = warehouse_info()
    name = Path(info.path).name
    if info.state == "missing":
        st.caption(f"Warehouse: `{name}` (not built yet)")
    elif info.state == "unreadable":
        st.caption(f"Warehouse: `{name}` (cannot be opened)")
    elif info.as_of is None:
        st.caption(f"Warehouse: `{name}` (no load yet)")
    else:
        st.caption(
            f"Warehouse: `{name}`  \n"
            f"As of {info.as_of:%Y-%m-%d %H:%M} (load {info.last_load_id}, "
            f"{info.applications:,} applications)",
            help=info.path,
        )


def filters() -> GlobalFilters:
    """The global filters chosen in the sidebar (defaults if the sidebar has not run)."""
    value = st.session_state.get("global_filters")
    return value if isinstance(value, GlobalFilters) else GlobalFilters()


# --- common elements ------------------------------------------------------------------------


def missing_warehouse_message() -> None:
    """Explain what to do when there is no warehouse or it holds no applications."""
    info = warehouse_info()
    path = info.path
    load_hint = f"`signalboard load PATH_TO_EXPORTS --db {path}`"
    if info.state == "missing":
        st.info(
            f"No warehouse yet: `{path}` does not exist.\n\n"
            "- To explore the bundled sample, stop this app and run `signalboard demo`.\n"
            f"- To load your own exports, run {load_hint}; this page picks the new "
            "warehouse up on its next refresh.\n\n"
            "The Data health page lists the files and columns signalboard expects."
        )
    elif info.state == "unreadable":
        st.error(
            f"The warehouse `{path}` cannot be opened: {markdown_text(info.error)}\n\n"
            f"Rebuild it: delete the file and run {load_hint} (or `signalboard demo`)."
        )
    else:
        what = "has no tables" if info.state == "no_schema" else "holds no applications"
        st.info(
            f"The warehouse `{path}` {what} yet.\n\n"
            f"- Load your exports with {load_hint}; this page picks them up on its next refresh.\n"
            "- The Data health page shows every load and the rows it rejected, with reasons."
        )


def empty_selection_message(what: str = "applications") -> None:
    st.info(
        f"No {what} match the current filters. Widen the date range or clear the role and "
        "cohort filters in the sidebar."
    )


def download_csv(frame: pd.DataFrame, file_name: str, *, key: str | None = None) -> None:
    """A download button for a table as CSV (every table on every page gets one), written
    when clicked, not on every rerun: a page redraws all its tables on each widget change and
    a long table's CSV is megabytes."""
    auth.download_button(
        f"Download {file_name}.csv",
        # Formula-like text is prefixed with ' (OWASP CSV injection rule); numbers stay exact.
        data=lambda: to_csv_bytes(frame),
        file_name=f"{file_name}.csv",
        mime="text/csv",
        key=key or f"download_{file_name}",
    )


def table(
    frame: pd.DataFrame,
    file_name: str,
    *,
    key: str | None = None,
    height: Literal["auto", "content"] | int = "auto",
    max_rows: int | None = None,
    pinned: tuple[str, ...] = (),
    below: Mapping[str, float] | None = None,
) -> None:
    """The one table-with-download of every page: the table for people (human labels, units,
    formats, key columns first; every cell text, never markup) and a CSV download that keeps
    the machine column names and full precision.

    `height="content"` shows every row of a short table (the default shows at most ten);
    `max_rows` draws the first rows only (the download has all, written when clicked);
    `below` marks the cells of a column under a limit (impact ratios under 0.8) in red.
    """
    shown = frame.head(max_rows) if max_rows else frame
    if max_rows and len(frame) > max_rows:
        st.caption(f"The first {max_rows:,} of {len(frame):,} rows; the download has all.")
    people = humanize(shown, pinned=pinned)
    st.dataframe(
        marked_below(shown, people, below or {}), hide_index=True, width="stretch", height=height
    )
    download_csv(frame, file_name, key=key)


BELOW_STYLE = "background-color: #f8d7da; color: #8e1c12; font-weight: bold"
MAX_STYLED_CELLS = 100_000  # pandas' Styler renders every cell; past this the table stays plain


def marked_below(
    frame: pd.DataFrame, people: pd.DataFrame, below: Mapping[str, float]
) -> pd.DataFrame | Any:
    """`people` (humanized `frame`) with the cells whose machine value in `frame` is under the
    limit of its column in `below` styled in red; `people` itself when none is."""
    styles = pd.DataFrame("", index=people.index, columns=people.columns)
    for name, limit in below.items():
        label = column_for(name, frame[name]).label if name in frame.columns else None
        if label in styles.columns:
            under = pd.to_numeric(frame[name], errors="coerce").lt(limit).to_numpy()
            styles.loc[under, label] = BELOW_STYLE
    if not styles.eq(BELOW_STYLE).any(axis=None) or styles.size > MAX_STYLED_CELLS:
        return people
    return people.style.apply(lambda _: styles, axis=None)


def findings_block(findings: list[Finding], *, title: str = "Findings") -> None:
    """A page's findings in plain sentences, before its detail. Sentences hold data strings
    (cohort ids, group names), so they are drawn as text, never markdown."""
    st.subheader(title)
    if not findings:
        st.text("Nothing to report for this selection.")
    labels = {"flag": "Flag", "ok": "OK", "too_few": "Too few to tell"}
    with st.container(border=True, key="findings"):
        for finding in findings:
            detail = f" (detail: {finding.table} below)" if finding.table else ""
            st.text(f"{labels[finding.severity]}: {finding.text}{detail}")
