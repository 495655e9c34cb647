"""Stipends page: pay equity adjusted for cost of living. docs/stipends.md defines
every column. Demographic numbers are suppressed below SIGNALBOARD_MIN_CELL_SIZE."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, ui
from dashboard.escape import markdown_text
from dashboard.figures.stipends import gap_figure
from signalboard.analysis import findings, stipends
from signalboard.present import humanize
from signalboard.stats.suppression import for_display

DEFAULT_REFERENCE = "Highest paid (default)"
LATEST_VINTAGE = "Latest of each place"
TIER_COLUMNS = ("cohort_id", "tier", "min_usd", "max_usd")
DISPLAY_ROWS = 1_000

# Built on self-identification data: checked here as well as in the navigation.
auth.require("demographics", "the Stipends page")
st.title("Stipends")
st.caption(
    "Stipend equity adjusted for cost of living: real stipends (US dollars / (price level / 100)), "
    "raw and adjusted gaps by group with and without location, outliers against a group-neutral "
    "prediction, a remediation plan, policy checks and the EU/UK reporting view. "
    "docs/stipends.md defines every column."
)

if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()

chosen = ui.filters()
params = chosen.as_params()
# Small results only: counts and vintages first, then the analysis, each cached on the warehouse
# state and plain arguments: caching the per-application frames would cost seconds of hashing
# and unpickling on every rerun at a million applications.
overview = ui.cached_on_warehouse(stipends.page_overview, params)
if overview.n_applications == 0:
    ui.empty_selection_message("applications with a stipend")
    st.stop()

settings = ui.settings()
k = settings.min_cell_size
with st.expander("Settings", expanded=False):
    left, middle, right = st.columns(3)
    tolerance = left.slider(
        "Remediation tolerance (%)",
        min_value=0.0,
        max_value=25.0,
        value=5.0,
        step=0.5,
        key="stip_tolerance",
        help="Raise everyone paid more than this below the group-neutral prediction.",
    )
    floor = middle.number_input(
        "Pay floor per estimated hour (USD)",
        min_value=0.0,
        value=float(settings.pay_floor_per_hour),
        step=1.0,
        key="stip_floor",
    )
    vintage = right.selectbox(
        "Price-level vintage", [LATEST_VINTAGE, *overview.vintages], key="stip_vintage"
    )
    uploaded = st.file_uploader(
        "Tier table (CSV with cohort_id, tier, min_usd, max_usd)",
        type=["csv"],
        key="stip_tiers",
    )

tiers = None
if uploaded is not None:
    tiers = pd.read_csv(uploaded)
    missing = [c for c in TIER_COLUMNS if c not in tiers.columns]
    if missing:
        st.error(f"The tier table lacks {', '.join(missing)}; the tier check is skipped.")
        tiers = None

reference = dict(st.session_state.get("stip_reference_choices", {}))
result = ui.cached_on_warehouse(
    stipends.page_view,
    params,
    vintage=None if vintage == LATEST_VINTAGE else vintage,
    reference=tuple(sorted(reference.items())),
    tolerance_pct=float(tolerance),
    pay_floor_per_hour=float(floor),
    tiers=tiers,
    k=k,
)
tables = result.tables

ui.findings_block(findings.stipend_findings(tables["stipends"]))

for warning in result.warnings:
    st.warning(markdown_text(warning))

m1, m2, m3, m4 = st.columns(4)
m1.metric("Applications with a stipend", int(result.n_applications))
m2.metric(
    "Median real stipend (USD)",
    f"{result.median_real_usd:,.0f}" if result.median_real_usd is not None else "-",
)
m3.metric("Flags", int(result.n_flags))
m4.metric("Remediation cost (USD)", f"{result.remediation_cost_usd:,.0f}")


def long_table(frame: pd.DataFrame, file_name: str, *, key: str) -> None:
    """The first DISPLAY_ROWS rows on screen; the download (made on click) has them all."""
    if len(frame) > DISPLAY_ROWS:
        st.caption(f"The first {DISPLAY_ROWS:,} of {len(frame):,} rows; the download has all.")
    st.dataframe(humanize(frame.head(DISPLAY_ROWS)), hide_index=True, width="stretch")
    auth.download_button(
        f"Download {file_name}.csv",
        data=lambda: frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{file_name}.csv",
        mime="text/csv",
        key=key,
    )


st.header("Gaps by group")
gaps = tables["stipends"]
if gaps.empty:
    st.info("No self-identification data to compare groups with.")
else:
    attribute_names = list(dict.fromkeys(gaps["attribute"]))
    pick_attribute, pick_reference = st.columns(2)
    attribute = pick_attribute.selectbox("Attribute", attribute_names, key="stip_attribute")
    view = gaps[gaps["attribute"] == attribute]
    options = [DEFAULT_REFERENCE, *view["group"].tolist()]
    current = reference.get(attribute, DEFAULT_REFERENCE)
    picked = pick_reference.selectbox(
        "Reference group",
        options,
        index=options.index(current) if current in options else 0,
        key=f"stip_reference_{attribute}",
    )
    wanted = {**reference}
    if picked == DEFAULT_REFERENCE:
        wanted.pop(attribute, None)
    else:
        wanted[attribute] = picked
    if wanted != reference:
        st.session_state["stip_reference_choices"] = wanted
        st.rerun()
    st.plotly_chart(ui.cached_figure(gap_figure, view, title=attribute), width="stretch")
    ui.table(for_display(view), "stipends_view", key="dl_stip_view", height="content")
    st.caption(
        "Raw gap: 100 x (group mean / reference mean - 1). Adjusted: exp(beta) - 1 from OLS of log "
        "real stipend on role, cohort length and log estimated hours (HC3); 'with location' adds "
        "the cost-of-living tier and log price level. If the gap disappears with location, pay "
        "differences come from where people live."
    )
    ui.table(for_display(gaps), "stipends", key="dl_stipends")
    tests = tables["stipend_cohort_tests"]
    if len(tests):
        st.subheader("Too few to model: within-cohort tests")
        st.caption(
            f"Comparisons with fewer than {stipends.MIN_MODEL_N} people or fewer than "
            f"{stipends.MIN_SMALLER_GROUP} in the smaller group: Welch t-test and Mann-Whitney U "
            "per cohort instead of a regression."
        )
        ui.table(for_display(tests), "stipend_cohort_tests", key="dl_stip_tests")

st.header("Outliers and remediation")
st.write(
    f"{result.n_raises} applications are paid more than {tolerance:g}% below the "
    "group-neutral prediction (role, cohort length, estimated hours, location; no demographic "
    f"input). Raising them costs ${result.remediation_cost_usd:,.2f}."
)
long_table(tables["remediation"], "remediation", key="dl_remediation")
st.subheader("Adjusted gaps after the raises")
ui.table(
    for_display(tables["stipend_remediation_effect"]),
    "stipend_remediation_effect",
    key="dl_stip_effect",
)

st.header("Policy checks")
flags = tables["stipend_flags"]
if flags.empty:
    st.success("No unpaid trials, no stipend below the floor, no missing data.")
else:
    st.text(", ".join(f"{reason}: {n}" for reason, n in result.flag_counts))
long_table(flags, "stipend_flags", key="dl_stip_flags")

st.header("EU/UK reporting")
st.caption(
    "Gender pay gap on stipend per estimated hour: 100 x (men - women) / men, mean and median; "
    "UK quartile pay bands (regulation 13, ties spread evenly); EU directive 2023/970 flag where "
    "a role's mean gap is 5% or more."
)
ui.table(
    for_display(tables["stipend_pay_gap_reporting"]),
    "stipend_pay_gap_reporting",
    key="dl_stip_gpg",
)
ui.table(
    for_display(tables["stipend_pay_quartiles"]),
    "stipend_pay_quartiles",
    key="dl_stip_quartiles",
    height="content",
)
ui.table(
    for_display(tables["stipend_pay_categories"]),
    "stipend_pay_categories",
    key="dl_stip_categories",
)
if result.n_without_fx:
    st.info(f"{result.n_without_fx} stipends have no market exchange rate: see Policy checks.")
