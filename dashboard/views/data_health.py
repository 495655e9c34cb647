"""Data health page: what is loaded, from which files, what was rejected and why, and the contract.

The global filters do not apply here: this page describes the whole warehouse.
"""

from __future__ import annotations

import streamlit as st

from dashboard import auth, ui
from etl.contract import TABLES
from signalboard.analysis import data_health

st.title("Data health")
st.caption(
    "What the warehouse holds, which loads and files it came from, the rows each load kept out "
    "and why, and the data contract the exports must follow. The sidebar filters do not apply here."
)

info = ui.warehouse_info()
if info.state in ("missing", "unreadable", "no_schema"):
    ui.missing_warehouse_message()
else:
    if info.state == "empty":
        ui.missing_warehouse_message()
    health = ui.cached_on_warehouse(data_health.overview)
    summary = health.summary

    as_of, n_loads, applications, rejected = st.columns(4)
    as_of.metric(
        "Warehouse as of",
        f"{summary.as_of:%Y-%m-%d}" if summary.as_of else "no load yet",
        help=(
            f"{summary.as_of:%Y-%m-%d %H:%M:%S}: the latest load's as-of. " if summary.as_of else ""
        )
        + "Applications without an outcome are in progress as of it.",
    )
    n_loads.metric("Loads", f"{summary.loads:,}")
    applications.metric("Applications", f"{summary.applications:,}")
    rejected.metric(
        "Rows rejected by the last load",
        f"{summary.rows_rejected_last_load:,}",
        help="Rows kept out of the warehouse; see 'Rejected rows' below for file, line and reason.",
    )

    st.header("Row counts per table")
    st.caption(
        "Rows in each warehouse table, and what the latest load that brought a file for the "
        "table read, loaded, rejected and replaced (rows of an older export superseded by key)."
    )
    ui.table(health.table_rows, "data_health", height="content")

    st.header("Loads")
    st.caption("Every load that landed, newest first. A load that fails never lands.")
    ui.table(health.loads, "data_health_loads")
    st.subheader("Files per load")
    st.caption("Each file a load read, with its SHA-256 content hash, format and row counts.")
    ui.table(health.files, "data_health_files")

    st.header("Rejected rows")
    all_reasons = health.reject_reasons
    if all_reasons.empty:
        st.success("No load rejected any row.")
    else:
        pick_file, pick_reason = st.columns(2)
        files = pick_file.multiselect(
            "File", sorted(all_reasons["file_name"].unique()), key="dh_files"
        )
        reasons = pick_reason.multiselect(
            "Reason", sorted(all_reasons["reason"].unique()), key="dh_reasons"
        )
        max_rows = 1000
        drill = ui.cached_on_warehouse(
            data_health.reject_drill,
            file_names=tuple(files),
            reasons=tuple(reasons),
            max_rows=max_rows,
            show_self_id_text=auth.can("demographics"),
        )
        st.subheader("By file, column and reason")
        ui.table(drill.reasons, "data_health_rejects")
        st.subheader("The rows")
        if drill.truncated:
            st.caption(
                f"The first {max_rows:,} rejected rows; narrow by file or reason, or query the "
                "warehouse's `rejects` table for all of them."
            )
        ui.table(drill.rows, "data_health_rejected_rows")

st.header("Data contract")
st.caption(
    "The files signalboard loads (CSV with a header row, also .csv.gz and Parquet). Extra columns "
    "are ignored, or kept as further attributes in demographics.csv. A row that breaks a rule is "
    "rejected with its file, line, column and reason; the rest of the file still loads."
)
contract = ui.cached(data_health.contract_tables)
for spec in TABLES:
    with st.expander(f"{spec.name}.csv: {spec.grain}"):
        key = ", ".join(spec.key)
        st.caption(f"{spec.description} Key: {key}.".strip())
        ui.table(contract[spec.name], f"contract_{spec.name}", height="content")
