"""Stipends page: pay equity adjusted for cost of living (issue 6). docs/stipends.md defines
every column. Demographic numbers are suppressed below SIGNALBOARD_MIN_CELL_SIZE."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import ui
from dashboard.analysis import stipends
from dashboard.analysis.stipend_figures import gap_figure
from dashboard.analysis.suppression import for_display

DEFAULT_REFERENCE = "Highest paid (default)"
LATEST_VINTAGE = "Latest of each place"
TIER_COLUMNS = ("cohort_id", "tier", "min_usd", "max_usd")

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
latest = ui.query("stipend_applications", params)
if latest.empty:
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
    vintages = sorted(latest["col_vintage"].dropna().astype(str).unique())
    vintage = right.selectbox(
        "Price-level vintage", [LATEST_VINTAGE, *vintages], key="stip_vintage"
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

applications = (
    latest
    if vintage == LATEST_VINTAGE
    else ui.query("stipend_applications", {**params, "vintage": vintage})
)
attributes = ui.query("stipend_attributes", params)
reference = dict(st.session_state.get("stip_reference_choices", {}))
analysis = ui.cached(
    stipends.analyze,
    applications,
    attributes,
    reference=reference,
    tolerance_pct=float(tolerance),
    pay_floor_per_hour=float(floor),
    tiers=tiers,
    k=k,
)
tables = ui.cached(stipends.public_tables, analysis, k=k)

for warning in analysis.warnings:
    st.warning(warning)

paid = applications["stipend_usd"].notna()
with_real = applications["real_stipend_usd"].notna()
m1, m2, m3, m4 = st.columns(4)
m1.metric("Applications with a stipend", int(len(applications)))
m2.metric(
    "Median real stipend (USD)",
    f"{applications.loc[with_real, 'real_stipend_usd'].median():,.0f}" if with_real.any() else "-",
)
m3.metric("Flags", int(len(analysis.flags)))
m4.metric("Remediation cost (USD)", f"{analysis.remediation_cost_usd:,.0f}")

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
    st.plotly_chart(gap_figure(view, title=attribute), width="stretch")
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
    f"{len(analysis.remediation)} applications are paid more than {tolerance:g}% below the "
    "group-neutral prediction (role, cohort length, estimated hours, location; no demographic "
    f"input). Raising them costs ${analysis.remediation_cost_usd:,.2f}."
)
ui.table(tables["remediation"], "remediation", key="dl_remediation")
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
    counts = flags["reason"].value_counts()
    st.write(", ".join(f"{reason}: {n}" for reason, n in counts.items()))
ui.table(flags, "stipend_flags", key="dl_stip_flags")

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
if not paid.all():
    st.info(f"{int((~paid).sum())} stipends have no market exchange rate: see Policy checks.")
