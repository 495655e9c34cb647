"""SQL page: browse and run the queries/ library with typed parameters, write ad-hoc SQL beside a
schema browser, chart any result, download it as CSV or Parquet, and see this session's history.

Every statement runs through signalboard.sandbox: read-only, no file or network access, one
SELECT per run, a timeout and a row cap (settings: SIGNALBOARD_SQL_*).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import auth, ui
from dashboard.escape import markdown_text
from dashboard.figures.sql import result_figure
from signalboard.analysis.sql_library import (
    CHART_KINDS,
    HistoryEntry,
    add_to_history,
    adhoc_query,
    colour_columns,
    history_entry,
    history_frame,
    initial_values,
    library_index,
    mentions_demographics,
    numeric_columns,
    parquet_bytes,
    schema_frame,
)
from signalboard.queries import Param, Query, QueryError, list_queries
from signalboard.query_cli import run_library_query
from signalboard.sandbox import SandboxError, SandboxResult, run_sandboxed

DEFAULT_QUERY = "funnel_by_source"
SCREEN_ROWS = 1_000  # rows drawn on screen; the downloads hold the whole (capped) result
DEFAULT_SQL = """-- One SELECT statement. Tables and columns are listed on the right.
select role, track, count(*) as applications
from applications
group by role, track
order by applications desc
"""

auth.require("sql", "the SQL page")
# Row-level demographics only for admins, and only when SIGNALBOARD_SQL_ALLOW_DEMOGRAPHICS allows.
settings = auth.sql_settings(ui.settings())

st.title("SQL")
st.caption(
    "Run the SQL library or your own query against the warehouse. Every query runs read-only in "
    f"a sandbox: one SELECT statement, at most {settings.sql_timeout_seconds:g} s and "
    f"{settings.sql_max_rows:,} rows, no files, no network, no changes."
)


def remember(entry: HistoryEntry) -> None:
    st.session_state["sql_history"] = add_to_history(st.session_state.get("sql_history", []), entry)


def filter_value_options() -> dict[str, list[str]]:
    """The roles and cohorts in the warehouse: choices for `roles` and `cohorts` parameters."""
    filter_options = ui.query("filter_options")
    return {
        "roles": filter_options.loc[filter_options["kind"] == "role", "value"].tolist(),
        "cohorts": filter_options.loc[filter_options["kind"] == "cohort", "value"].tolist(),
    }


def param_widget(query: Query, param: Param, initial: Any, options: dict[str, list[str]]) -> Any:
    """A typed widget for one parameter; returns its value (None for an empty one)."""
    key = f"sqlp_{query.name}_{param.name}"
    label = f"{param.name} ({param.type})"
    help_text = param.description or None
    if param.type == "date":
        return st.date_input(label, value=initial, key=key, help=help_text)
    if param.type == "integer":
        return st.number_input(label, value=initial, step=1, key=key, help=help_text)
    if param.type == "number":
        start = None if initial is None else float(initial)
        return st.number_input(label, value=start, key=key, help=help_text)
    if param.type == "boolean":
        return st.checkbox(label, value=bool(initial), key=key, help=help_text)
    if param.type == "text[]":
        chosen = list(initial or [])
        choices = sorted(set(options.get(param.name, [])) | set(chosen))
        picked = st.multiselect(
            label, choices, default=chosen, key=key, help=help_text, accept_new_options=True
        )
        return picked or None
    if param.type == "timestamp":
        text = st.text_input(
            label,
            value="" if initial is None else initial.isoformat(sep=" "),
            placeholder="YYYY-MM-DD HH:MM:SS",
            key=key,
            help=help_text,
        )
        return text.strip() or None
    text = st.text_input(label, value=initial or "", key=key, help=help_text)
    return text if text != "" else None


def show_result(result: SandboxResult, *, file_name: str, key: str) -> None:
    """Rows on screen (capped), CSV and Parquet downloads of the whole result, and a chart."""
    frame = result.frame
    st.caption(
        f"{len(frame):,} rows, {len(frame.columns)} columns, in {result.elapsed_seconds:.2f} s."
    )
    if result.notice:
        st.warning(markdown_text(result.notice))
    if frame.empty:
        st.info("The query returned no rows.")
    st.dataframe(frame.head(SCREEN_ROWS), hide_index=True, width="stretch")
    if len(frame) > SCREEN_ROWS:
        st.caption(
            f"Showing the first {SCREEN_ROWS:,} of {len(frame):,} rows; the downloads hold them all."
        )
    csv_column, parquet_column = st.columns(2)
    with csv_column:
        ui.download_csv(frame, file_name, key=f"{key}_csv")
    with parquet_column:
        data = parquet_bytes(result)
        if data is None:
            st.caption("Parquet is not available for this result's column types.")
        else:
            auth.download_button(
                f"Download {file_name}.parquet",
                data=data,
                file_name=f"{file_name}.parquet",
                mime="application/vnd.apache.parquet",
                key=f"{key}_parquet",
            )
    numbers = numeric_columns(frame)
    if frame.empty or not numbers:
        return
    with st.expander("Chart", expanded=True):
        columns = [str(c) for c in frame.columns]
        kind_column, x_column, y_column, colour_column = st.columns(4)
        kind = kind_column.selectbox("Chart", CHART_KINDS, key=f"{key}_kind")
        default_x = next((c for c in columns if c not in numbers), columns[0])
        x = x_column.selectbox("x", columns, index=columns.index(default_x), key=f"{key}_x")
        # Position and key columns (stage_index, load_id) are numbers but not measures: offer
        # the measures first so the default chart plots one.
        measures = [c for c in numbers if c != x and not c.endswith(("_index", "_id", "_order"))]
        y_choices = measures + [c for c in numbers if c != x and c not in measures] or numbers
        y = y_column.selectbox("y", y_choices, key=f"{key}_y")
        colour = colour_column.selectbox(
            "Colour", [None, *colour_columns(frame)], key=f"{key}_colour"
        )
        figure = result_figure(frame.head(SCREEN_ROWS * 10), x=x, y=y, color=colour, kind=kind)
        st.plotly_chart(figure, key=f"{key}_figure")


def show_outcome(slot: str, *, file_name: str) -> None:
    """The last result (or refusal) of a tab, kept across reruns so the chart widgets work."""
    outcome = st.session_state.get(slot)
    if outcome is None:
        return
    if isinstance(outcome, Exception):
        st.error(markdown_text(outcome))
        return
    show_result(outcome, file_name=file_name, key=slot)


def _audit_outcome(outcome: object) -> dict[str, Any]:
    """What the audit trail keeps of a run: its row count, or the one-line refusal."""
    if isinstance(outcome, Exception):
        return {"status": "error", "error": str(outcome).splitlines()[0] if str(outcome) else ""}
    return {"status": "ok", "rows": len(outcome.frame)}


if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()

library_tab, adhoc_tab, history_tab = st.tabs(["Library", "Ad-hoc SQL", "History"])

with library_tab:
    try:
        queries = {query.name: query for query in list_queries(queries_dir=settings.queries_dir)}
    except QueryError as error:
        st.error(f"The SQL library has a broken file: {markdown_text(error)}")
        queries = {}
    index = library_index(settings.queries_dir) if queries else None
    if index is not None:
        with st.expander(f"All {len(index)} queries", expanded=False):
            ui.table(index, "sql_library", key="sql_library_csv")
    if queries:
        names = list(queries)
        name = st.selectbox(
            "Query",
            names,
            # Open on an analyst query rather than the alphabetically first building block.
            index=names.index(DEFAULT_QUERY) if DEFAULT_QUERY in names else 0,
            format_func=lambda n: f"{queries[n].title} ({n})",
            key="sql_query_name",
        )
        query = queries[name]
        st.subheader(query.title)
        st.write(query.description)
        st.caption(f"Grain: {query.grain}. File: queries/{query.name}.sql")
        with st.expander("SQL"):
            st.code(query.sql, language="sql")
        options = filter_value_options() if any(p.type == "text[]" for p in query.params) else {}
        values: dict[str, Any] = {}
        if query.params:
            st.caption("Parameters (the sidebar filters fill start_date, end_date, roles, cohorts)")
            starting = initial_values(query, ui.filters().as_params())
            widget_columns = st.columns(min(3, len(query.params)))
            for position, param in enumerate(query.params):
                with widget_columns[position % len(widget_columns)]:
                    values[param.name] = param_widget(query, param, starting[param.name], options)
        if st.button("Run query", key="sql_run_library", type="primary"):
            try:
                result = run_library_query(query, values, settings=settings)
            except (QueryError, SandboxError) as error:
                st.session_state["sql_library_outcome"] = error
                if isinstance(error, SandboxError):
                    remember(
                        history_entry(
                            source="library", name=name, sql=query.sql, params=values, error=error
                        )
                    )
            else:
                st.session_state["sql_library_outcome"] = result
                remember(
                    history_entry(
                        source="library", name=name, sql=query.sql, params=values, result=result
                    )
                )
            st.session_state["sql_library_outcome_name"] = name
            outcome = st.session_state["sql_library_outcome"]
            auth.audit("library_query", name, {"params": values, **_audit_outcome(outcome)})
        if st.session_state.get("sql_library_outcome_name") == name:
            show_outcome("sql_library_outcome", file_name=name)

with adhoc_tab:
    editor, browser = st.columns([3, 2])
    with browser:
        st.subheader("Schema")
        try:
            schema = ui.cached(schema_frame, settings)
        except SandboxError as error:
            st.error(markdown_text(error))
        else:
            tables = sorted(schema["table_name"].unique())
            st.caption(f"{len(tables)} tables: " + markdown_text(", ".join(tables)))
            chosen = st.selectbox("Table", tables, key="sql_schema_table")
            st.dataframe(
                schema.loc[schema["table_name"] == chosen, ["column_name", "data_type"]],
                hide_index=True,
                width="stretch",
            )
    with editor:
        if "sql_adhoc_text" not in st.session_state:
            st.session_state["sql_adhoc_text"] = DEFAULT_SQL
        sql = st.text_area("SQL", key="sql_adhoc_text", height=260)
        if mentions_demographics(sql or ""):
            st.warning(
                "This query reads self-identification data. Results on this page are not "
                "small-cell suppressed: do not share demographic breakdowns from here; the "
                "Fairness page publishes suppressed ones."
            )
        adhoc_values: dict[str, Any] = {}
        try:
            adhoc = adhoc_query(sql or "")
        except QueryError as error:
            adhoc = None
            st.error(markdown_text(error))
        if adhoc is not None and adhoc.params:
            st.caption(
                "Parameters: each `$name` in the SQL. Give one a type and a default with a "
                "`-- param: NAME TYPE = DEFAULT` line at the top, as the library files do."
            )
            adhoc_options = (
                filter_value_options() if any(p.type == "text[]" for p in adhoc.params) else {}
            )
            adhoc_columns = st.columns(min(3, len(adhoc.params)))
            for position, param in enumerate(adhoc.params):
                with adhoc_columns[position % len(adhoc_columns)]:
                    adhoc_values[param.name] = param_widget(
                        adhoc, param, param.default, adhoc_options
                    )
        st.session_state["sql_adhoc_ran"] = False
        if st.button("Run SQL", key="sql_run_adhoc", type="primary", disabled=adhoc is None):
            st.session_state["sql_adhoc_ran"] = True
            try:
                bound = adhoc.bind(adhoc_values) if adhoc is not None else {}
                result = run_sandboxed(sql or "", bound, settings=settings)
            except (QueryError, SandboxError) as error:
                st.session_state["sql_adhoc_outcome"] = error
                remember(
                    history_entry(
                        source="ad hoc",
                        name="ad hoc",
                        sql=sql or "",
                        params=adhoc_values,
                        error=error,
                    )
                )
            else:
                st.session_state["sql_adhoc_outcome"] = result
                remember(
                    history_entry(
                        source="ad hoc",
                        name="ad hoc",
                        sql=sql or "",
                        params=adhoc_values,
                        result=result,
                    )
                )
        if "sql_adhoc_outcome" in st.session_state and st.session_state.get("sql_adhoc_ran"):
            outcome = st.session_state["sql_adhoc_outcome"]
            auth.audit("sql", sql or "", {"params": adhoc_values, **_audit_outcome(outcome)})
    show_outcome("sql_adhoc_outcome", file_name="adhoc_query")


def _open_in_editor(sql: str) -> None:
    st.session_state["sql_adhoc_text"] = sql


with history_tab:
    history: list[HistoryEntry] = st.session_state.get("sql_history", [])
    if not history:
        st.info("No queries run in this session yet. Run one from the Library or Ad-hoc SQL tab.")
    else:
        ui.table(history_frame(history), "sql_history", key="sql_history_csv")
        pick = st.selectbox(
            "Query to reopen",
            range(len(history)),
            format_func=lambda i: (
                f"{history[i].ran_at:%H:%M:%S} {history[i].name} ({history[i].status})"
            ),
            key="sql_history_pick",
        )
        st.button(
            "Open in the ad-hoc editor",
            key="sql_history_open",
            on_click=_open_in_editor,
            args=(history[pick].sql,),
        )
        st.caption("The last 50 queries of this browser session; they are gone when it closes.")
