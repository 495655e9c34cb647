# Funnel page: conversion by stage with pending apart, breakdowns, cohort trends with alerts,
# and the applications behind any number. All numbers come from signalboard.analysis.funnel.
# (A comment, not a docstring: Streamlit's magic would draw a page's docstring above its title.)

from __future__ import annotations

import streamlit as st

from dashboard import auth, ui
from dashboard.escape import markdown_text
from dashboard.figures import funnel as figures
from etl.contract import STAGES
from signalboard.analysis import findings, funnel

# Drill-through rows shown (and downloadable) at once; the caption gives the full count.
# (A comment: a string below an assignment is drawn on the page by Streamlit's magic.)
DRILL_LIMIT = 1000
# Rows of the alerts and trends tables drawn in the page (alerts first); the downloads have all.
# With thousands of entry cohorts these tables have tens of thousands of rows, which the browser
# would otherwise receive on every rerun.
TABLE_ROWS = 1000

st.title("Funnel")
st.caption(
    "How applications move from applied to hired: how many reached each stage, how many are "
    "still in progress, and which entry cohorts converted worse than the cohorts before them."
)

findings_slot = st.container()

with st.expander("Glossary"):
    st.markdown(
        "- **Reached**: applications whose furthest stage is this one or later. An application "
        "that reached a later stage counts as having passed the earlier ones, even when the "
        "export has no event for them (the traditional track records no submission or triage).\n"
        "- **Pending**: still in progress at the previous stage, inside this step's conversion "
        "window (below). In progress is not drop-out: pending applications are shown apart and "
        "left out of the step's denominator.\n"
        "- **n**: the step's denominator, reached at the previous stage minus pending.\n"
        "- **Step conversion**: reached / n. **Overall conversion**: reached / applied.\n"
        "- **Drop-off**: n - reached: rejected, withdrew, or stalled past the window.\n"
        "- **Entry cohort**: the micro-internship cohort, or the application month for the "
        "traditional track. A cohort with applications still pending at a step (or an earlier "
        "one) is *incomplete* there (hollow markers) and is never alerted on.\n"
        "- **Alert**: a complete cohort's step conversion is below the pooled conversion of the "
        "earlier complete cohorts of its track, by a one-sided exact (Fisher) test whose p-value "
        "is Holm-adjusted over every cohort and step tested (family-wise error 5%).\n"
        "- Demographic breakdowns are aggregates only: counts below the minimum cell size show as "
        "'<k', cells that would give them away by subtraction as '*', and their rates are hidden."
    )

if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()

params = ui.filters().as_params()
settings = ui.settings()


def window_inputs() -> dict[str, dict[str, float | str]]:
    """Number inputs for every step's conversion window, per track."""
    chosen: dict[str, dict[str, float | str]] = {}
    with st.expander("Conversion windows (days)"):
        st.caption(
            "An in-progress application counts as pending while the step's window is open, as "
            "drop-off after. Micro-internship submission uses the cohort's length unless you "
            "set days here (0 = use the cohort's length)."
        )
        for track, defaults in (
            ("micro_internship", funnel.STEP_WINDOWS_DAYS),
            ("traditional", funnel.TRADITIONAL_WINDOWS_DAYS),
        ):
            st.markdown(f"**{track}**")
            columns = st.columns(4)
            chosen[track] = {}
            for index, (stage, default) in enumerate(defaults.items()):
                is_cohort = default == funnel.COHORT_LENGTH
                value = columns[index % 4].number_input(
                    f"→ {stage}",
                    min_value=0,
                    max_value=730,
                    value=0 if is_cohort else int(default),
                    step=1,
                    key=f"fw_{track}_{stage}",
                )
                chosen[track][stage] = funnel.COHORT_LENGTH if is_cohort and value == 0 else value
    return chosen


windows = window_inputs()
# Everything below is counted in DuckDB and cached as small results: no page rerun
# fetches, hashes or unpickles a row per application. One pass over the applications gives the
# summary, the table without a breakdown and the trends; a breakdown is counted on its own.
overview = ui.cached_on_warehouse(
    funnel.funnel_overview, params=params, windows=windows, k=settings.min_cell_size
)
summary = overview.summary
if summary["applications"] == 0:
    ui.empty_selection_message()
    st.stop()

# Self-ID breakdowns only for roles that may see demographics; others are not offered them.
attributes = (
    ui.cached_on_warehouse(funnel.demographic_attribute_names_in)
    if auth.can("demographics")
    else []
)


dimension_labels = {
    "role": "role",
    "cohort_id": "cohort",
    "source": "source",
    "country": "country",
    "region": "region",
    "track": "track",
}
by = st.multiselect(
    "Break down by (several at once)",
    list(funnel.DIMENSIONS) + attributes,
    format_func=lambda d: dimension_labels.get(d, f"{d} (self-ID)"),
    key="funnel_by",
)

if any(d not in funnel.DIMENSIONS for d in by):
    # A demographic breakdown asked for some other way (a crafted session state) is refused.
    auth.require("demographics", "a demographic breakdown of the funnel")
table = (
    ui.cached_on_warehouse(
        funnel.funnel_table_sql,
        by=tuple(by),
        params=params,
        windows=windows,
        k=settings.min_cell_size,
    )
    if by
    else overview.table
)
# Applied, hired and in progress do not depend on the windows.
applied, hired, in_progress = (
    summary["applications"],
    summary["hired"],
    summary["in_progress"],
)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Applications", f"{applied:,}")
c2.metric("Hired", f"{hired:,}")
c3.metric("Overall conversion", f"{hired / applied:.1%}" if applied else "–")
c4.metric(
    "In progress", f"{in_progress:,}", help="No hire, rejection or withdrawal as of the as-of."
)

st.header("By stage")
if by:
    st.plotly_chart(ui.cached_figure(figures.step_conversion_figure, table), key="funnel_steps")
else:
    st.plotly_chart(ui.cached_figure(figures.funnel_figure, table), key="funnel_bars")
if "suppressed" in table:
    st.caption(funnel.DEMOGRAPHIC_NOTE)
ui.table(table, "funnel", key="download_funnel")

st.header("Trends by entry cohort")
trends = overview.trends
if trends.empty or trends["rate"].notna().sum() == 0:
    st.info("No cohort has applications at any step yet.")
else:
    tracks = sorted(trends["track"].unique())
    alerts = overview.alerts
    flagged = alerts.loc[alerts["flagged"]]
    left, middle, right = st.columns(3)
    track = left.radio("Track", tracks, horizontal=True, key="funnel_trend_track")
    steps = ["all steps", *STAGES[1:]]
    # Opens on the step of the first alert, where its band and crosses are read best.
    step = middle.selectbox(
        "Step",
        steps,
        index=steps.index(flagged["stage"].iloc[0]) if len(flagged) else 0,
        key="funnel_trend_step",
    )
    # Flagged cohorts first: the one a reader most likely wants to see apart.
    cohort_choices = list(dict.fromkeys([*flagged["cohort_id"], *trends["cohort_id"]]))
    cohort = right.selectbox(
        "Show one cohort", [None, *cohort_choices], format_func=lambda c: c or "none",
        key="funnel_trend_cohort",
    )  # fmt: skip
    st.plotly_chart(
        ui.cached_figure(
            figures.trend_figure,
            overview.monthly,
            track=track,
            stage=None if step == "all steps" else step,
            flagged=flagged,
            cohort=trends.loc[trends["cohort_id"] == cohort] if cohort else None,
        ),
        key="funnel_trend",
    )
    st.caption(
        "Entry cohorts pooled by the month they start in, with the 95% interval as a band; "
        "flagged cohorts are red crosses. Hollow: a cohort of that month still has applications "
        "in progress at the step."
    )
    with findings_slot:
        ui.findings_block(findings.funnel_findings(alerts))
    if len(flagged):
        # A finding, not a failure: red error boxes are kept for things that went wrong.
        st.warning(
            f"{len(flagged)} alert(s): "
            + "; ".join(
                f"{markdown_text(r.cohort_id)} {r.stage} {r.rate:.0%} vs {r.expected_rate:.0%} expected"
                for r in flagged.itertuples()
            ),
            icon=":material/flag:",
        )
    else:
        st.success("No complete cohort converts below its control limits.")
    st.subheader("Alerts")
    st.caption(
        "Every tested cohort and step, alerts first. p_value: one-sided exact test against the "
        "earlier cohorts; p_adjusted: Holm over all tests; lower_limit: the matching control limit."
    )
    ui.table(alerts, "funnel_alerts", key="download_funnel_alerts", max_rows=TABLE_ROWS)
    with st.expander("All cohorts and steps, with the change against the previous cohort"):
        ui.table(trends, "funnel_trends", key="download_funnel_trends", max_rows=TABLE_ROWS)

st.header("Drill through")
st.caption(
    "The pseudonymized applications behind a number. Demographic breakdowns are aggregate only, "
    "so this drills by role, cohort, source, country, region, track and entry cohort."
)
d1, d2 = st.columns(2)
drill_stage = d1.selectbox("Stage", STAGES, index=1, key="drill_stage")
status = d2.selectbox(
    "Applications that",
    ["reached", "pending", "dropped", "denominator"],
    format_func={
        "reached": "reached the stage",
        "pending": "are pending at the step",
        "dropped": "dropped off at the step",
        "denominator": "are in the step's denominator",
    }.get,
    key="drill_status",
)
segment: dict[str, str] = {}
drill_dims = [d for d in by if d in funnel.DIMENSIONS]
# The values to pick from are the breakdown's segments and the trends' entry cohorts.
choices = {d: table[d].astype("string") for d in drill_dims}
choices["entry_cohort"] = trends["cohort_id"].astype("string")
columns = st.columns(len(choices))
for column, (dim, values) in zip(columns, choices.items(), strict=True):
    picked = column.selectbox(
        dimension_labels.get(dim, dim.replace("_", " ")),
        ["any", *sorted(values.dropna().unique())],
        key=f"drill_{dim}",
    )
    if picked != "any":
        segment[dim] = picked
rows, total = ui.cached_on_warehouse(
    funnel.drill_through_rows,
    stage=drill_stage,
    status=status,
    segment=segment,
    params=params,
    windows=windows,
    limit=DRILL_LIMIT,
)
if total > len(rows):
    st.caption(f"{total:,} applications; the first {len(rows):,} by id shown and downloadable.")
else:
    st.caption(f"{total:,} applications.")
ui.table(rows, "funnel_drill_through", key="download_funnel_drill")
