"""Fairness page: adverse-impact audit across the funnel, unknowns, and the LL144 tables of the
LLM triage. Every demographic number on it is suppressed below SIGNALBOARD_MIN_CELL_SIZE."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, ui
from dashboard.escape import markdown_text
from dashboard.figures.fairness import FOUR_FIFTHS, impact_ratio_figure, ll144_figure
from signalboard.analysis import fairness, findings
from signalboard.stats.adverse_impact import STATUS_TEXT
from signalboard.stats.suppression import for_display

# Ratios under four-fifths are marked red in the tables as in the charts.
BELOW = {"impact_ratio": FOUR_FIFTHS}

# Built on self-identification data: checked here as well as in the navigation.
auth.require("demographics", "the Fairness page")
st.title("Fairness")
st.caption(
    "Adverse impact at every step of the funnel by sex, race/ethnicity, their intersection and "
    "every other self-identified attribute: the four-fifths rule with significance, and the NYC "
    "Local Law 144 tables for the LLM triage. docs/fairness.md defines every column."
)

if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()

k = ui.settings().min_cell_size
# Counted in DuckDB and cached as the small published tables, keyed by the warehouse state and
# the filters: a rerun unpickles a few hundred rows, never the million applications behind them.
tables = ui.cached_on_warehouse(
    fairness.fairness_tables_from_db,
    params=ui.filters().as_params(),
    k=k,
    min_comparator_share=ui.settings().min_comparator_share,
)
audit = tables.adverse_impact
if audit.empty:
    ui.empty_selection_message()
    st.stop()

ui.findings_block(findings.fairness_findings(audit, tables.ll144_triage))

counts = audit["status"].value_counts()
flagged, fragile, significant, tested = st.columns(4)
flagged.metric(
    "Below four-fifths and significant",
    int(counts.get("below_four_fifths_significant", 0)),
    help=STATUS_TEXT["below_four_fifths_significant"],
)
fragile.metric(
    "Below four-fifths, not significant",
    int(counts.get("below_four_fifths_not_significant", 0)),
    help=STATUS_TEXT["below_four_fifths_not_significant"],
)
significant.metric(
    "Passes four-fifths, significant",
    int(counts.get("significant_passes_four_fifths", 0)),
    help=STATUS_TEXT["significant_passes_four_fifths"],
)
tested.metric(
    "Groups tested",
    int(audit["q_value"].notna().sum()),
    help="Compared with the comparator; rows with an expected count under 5 are too few to test.",
)

st.header("Adverse impact by step")
steps = list(dict.fromkeys(audit["step"]))
pick_step, pick_track, pick_attribute = st.columns(3)
step = pick_step.selectbox("Step", steps, key="fair_step")
tracks = list(dict.fromkeys(audit.loc[audit["step"] == step, "track"]))
track = pick_track.selectbox("Track", tracks, key="fair_track")
attributes = list(
    dict.fromkeys(audit.loc[(audit["step"] == step) & (audit["track"] == track), "attribute"])
)
attribute = pick_attribute.selectbox("Attribute", attributes, key="fair_attribute")
view = audit[
    (audit["step"] == step) & (audit["track"] == track) & (audit["attribute"] == attribute)
]
if view.empty:
    st.info("No applicants reached this step with the current filters.")
else:
    st.plotly_chart(
        ui.cached_figure(impact_ratio_figure, view, title=f"{step}, {track}, {attribute}"),
        width="stretch",
    )
    ui.table(for_display(view), "adverse_impact_view", key="dl_fair_view", below=BELOW)
    unknown = tables.unknowns[
        (tables.unknowns["step"] == step)
        & (tables.unknowns["track"] == track)
        & (tables.unknowns["attribute"] == attribute)
    ]
    if len(unknown):
        st.caption(
            f"Unknown {markdown_text(attribute)}: {unknown['unknown_n'].iloc[0]} of "
            f"{unknown['n_total'].iloc[0]} applicants, left out of this table; the ir_bound_low "
            "and ir_bound_high columns say how far each ratio could move had they been known."
        )
with st.expander("What the statuses mean"):
    for key, text in STATUS_TEXT.items():
        st.markdown(f"- **{key}**: {text}")
    st.markdown(
        "Four-fifths: flagged when 5 x selected x n_max < 4 x selected_max x n (exactly 0.80 "
        "is not flagged). Each group is compared with the comparator (the highest-rate group "
        "holding at least "
        f"{ui.settings().min_comparator_share:.0%} of the table): the interval and the p-value "
        "are the same score comparison, so they agree. Where an expected count is under 5 the "
        "row is too few to test (Fisher's exact p shown). Benjamini-Hochberg q per step, over "
        "every pair of groups that could have been the comparison. "
        f"Counts under {k} show as <{k}; * hides a count that would give one away."
    )

st.subheader("Every table")
ui.table(for_display(audit), "adverse_impact", key="dl_fair_all", below=BELOW)
st.subheader("Unknown attributes per table")
ui.table(for_display(tables.unknowns), "unknowns", key="dl_fair_unknowns")

st.header("LL144: LLM triage")
st.caption(
    "NYC DCWP rule 6 RCNY 5-301: selection rate (triage pass) and scoring rate (LLM score above "
    "the full sample's median) by sex, race/ethnicity and the 14 intersectional categories."
)
for note in tables.ll144_notes:
    st.markdown(f"- {markdown_text(note)}")
ll144 = tables.ll144_triage
mode = st.radio("Rate", ["selection", "scoring"], horizontal=True, key="fair_ll144_mode")
for name, label in (
    ("sex", "Sex"),
    ("race_ethnicity", "Race/ethnicity"),
    ("intersectional", "Intersectional"),
):
    st.subheader(label)
    part = for_display(ll144[(ll144["mode"] == mode) & (ll144["table"] == name)])
    st.plotly_chart(
        ui.cached_figure(ll144_figure, part, title=f"{label}, {mode} rate"),
        key=f"fair_ll144_{name}",
    )
    ui.table(part, f"ll144_{mode}_{name}", key=f"dl_fair_ll144_{name}", below=BELOW)
ui.download_csv(for_display(ll144), "ll144_triage", key="dl_fair_ll144")
auth.download_button(
    "Download the one-page LL144 summary (HTML)",
    data=tables.ll144_summary_html.encode("utf-8"),
    file_name="ll144_summary.html",
    mime="text/html",
    key="dl_fair_ll144_html",
)
