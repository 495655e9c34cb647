# Time to hire page: the classic median among hires beside the censoring-aware view, time in
# each stage, and the micro-internship vs traditional comparison. Numbers come from
# signalboard.analysis.time_to_hire.

from __future__ import annotations

import math
from typing import Any

import streamlit as st

from dashboard import ui
from dashboard.figures import funnel as figures
from signalboard.analysis import findings
from signalboard.analysis import time_to_hire as tth

st.title("Time to hire")
st.caption(
    "How long hiring takes, in calendar days, counting the applications still in progress "
    "instead of ignoring them."
)

findings_slot = st.container()

with st.expander("Glossary"):
    st.markdown(
        "- **Clocks**: *applied to hired*; *cohort start to hired* (micro-internship "
        "applications selected into a cohort); *applied to selected*.\n"
        "- **Median among hires**: what ATS reports show. It ignores everyone still in "
        "progress and everyone rejected or withdrawn, so recent slow hires are missing from it.\n"
        "- **P(hired by day t)**: the Aalen-Johansen cumulative incidence. In-progress "
        "applications are right-censored at the warehouse's as-of; rejection and withdrawal are "
        "competing outcomes. Shaded: 95% pointwise confidence band. P25/P50/P75/P90: the first "
        "day the curve reaches 25/50/75/90%; blank when it never does (most applicants are not "
        "hired, so P50 of applied-to-hired is usually not reached).\n"
        "- **Time in stage**: Kaplan-Meier, counting applications still in the stage.\n"
        "- **Ratio of medians**: median days among hires, micro-internship / traditional, with a "
        "95% bootstrap CI (2,000 resamples, seeded). **Log-rank**: compares the hazard of the "
        "clock's end event between the groups."
    )

if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()

params = ui.filters().as_params()
# Counted in DuckDB: a few thousand rows at a million applications, so every view below is a
# cheap function of them, cached on the counts.
day_counts = ui.cached_on_warehouse(tth.load_day_counts, params)


def view(name: str, **options: Any) -> Any:
    """An analysis function of signalboard.analysis.time_to_hire on the filtered counts, cached."""
    return ui.cached(getattr(tth, name), day_counts, **options)


if view("row_count") == 0:
    ui.empty_selection_message()
    st.stop()

summary = view("time_to_hire_table")
comparison = view("track_comparison", clock="applied_to_hired")
with findings_slot:
    ui.findings_block(
        findings.time_to_hire_findings(
            summary,
            claimed_reduction=ui.settings().claimed_time_reduction,
            ci=(comparison.ci_low, comparison.ci_high),
        )
    )

# --- the claim ----------------------------------------------------------------------------------
st.header("Micro-internship vs traditional")
c1, c2, c3 = st.columns(3)
if math.isnan(comparison.ratio):
    c1.metric("Measured ratio (micro / traditional)", "–")
    st.info(
        "The comparison needs hires on both tracks in the current selection; "
        f"it has {comparison.hired_a} micro-internship and {comparison.hired_b} traditional hires."
    )
else:
    c1.metric(
        "Measured ratio (micro / traditional)",
        f"{comparison.ratio:.2f}",
        delta=f"{(1 - comparison.ratio):.0%} faster"
        if comparison.ratio < 1
        else f"{comparison.ratio - 1:.0%} slower",
        delta_color="off",
        help="Median days from applied to hired among hires, micro-internship / traditional.",
    )
    c2.metric("95% bootstrap CI", f"{comparison.ci_low:.2f} – {comparison.ci_high:.2f}")
    claimed = ui.settings().claimed_time_reduction
    c3.metric(
        "Claimed reduction",
        f"{claimed:.0%} shorter",
        help="The claimed time-to-hire reduction of micro-internships "
        "(SIGNALBOARD_CLAIMED_TIME_REDUCTION).",
    )
    st.caption(
        f"Median days to hire among hires: micro-internship {comparison.median_a:.0f} "
        f"({comparison.hired_a} hires of {comparison.n_a}), traditional {comparison.median_b:.0f} "
        f"({comparison.hired_b} of {comparison.n_b}). Log-rank chi-square "
        f"{comparison.logrank_statistic:.1f}, p = {comparison.p_value:.3g}."
    )

# --- curves -------------------------------------------------------------------------------------
st.header("P(hired by day t)")
left, right = st.columns(2)
clock = left.radio(
    "Clock", tth.CLOCKS, format_func=tth.CLOCK_LABELS.get, horizontal=True, key="tth_clock"
)
group_by = right.radio("Curves by", ["track", "role"], horizontal=True, key="tth_by")
curves = view("incidence_curves", clock=clock, by=group_by)
if curves.empty:
    st.info("No application in the selection is on this clock (for example, no cohort started).")
else:
    st.plotly_chart(ui.cached_figure(figures.incidence_figure, curves), key="tth_curves")

st.subheader("Summary by clock, track and role")
st.caption(
    "median_days_among_hired is the ATS number; p_hired_by_* and *_days_cif are censoring-aware."
)
ui.table(summary, "time_to_hire", key="download_time_to_hire")

# --- roles --------------------------------------------------------------------------------------
st.subheader("Roles against each other")
roles = view("role_comparisons", clock=clock)
ui.table(roles, "time_to_hire_roles", key="download_time_to_hire_roles")

# --- stages -------------------------------------------------------------------------------------
st.header("Time in each stage")
durations = view("stage_duration_table")
track_pick = st.radio(
    "Track", sorted(durations["track"].unique()), horizontal=True, key="tth_stage_track"
)
shown = durations.loc[durations["track"] == track_pick]
st.plotly_chart(ui.cached_figure(figures.stage_duration_figure, shown), key="tth_stages")
ui.table(durations, "stage_durations", key="download_stage_durations")
