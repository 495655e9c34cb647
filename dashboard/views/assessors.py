"""Assessors page: how reliable the grading is, which graders are harsher or lenient than
co-graders on the same work, grader x group bias, and how the LLM scorer agrees with humans.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import auth, ui
from dashboard.escape import markdown_text
from dashboard.figures.assessors import d_study_figure, drift_figure, severity_figure
from signalboard.analysis import assessors, findings
from signalboard.present import humanize

# Rows drawn for a long table (decision flips: ~10,000 at a million applications); the download
# has every row (a rerun redraws every table shown).
MAX_SHOWN = 1000


def show(
    full: pd.DataFrame, name: str, *, axis: str | None = None, max_rows: int | None = None
) -> None:
    """Show the rows of the chosen axis (all rows without one); the download is the whole table.

    Shown for people (signalboard.present); the download keeps machine names and precision.
    """
    shown = full if axis is None or "axis" not in full.columns else full[full["axis"] == axis]
    shown = shown.head(max_rows) if max_rows else shown
    # For people: labels and formatted text (which also holds "<k" beside numbers).
    st.dataframe(humanize(shown), hide_index=True, width="stretch")
    if len(full) <= MAX_SHOWN:
        ui.download_csv(full, name)
        return
    # A long table's CSV is written when the button is clicked, not on every rerun (Streamlit
    # accepts a callable as download_button data); same label, key and file name as
    # ui.download_csv.
    auth.download_button(
        f"Download {name}.csv",
        data=lambda: full.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"download_{name}",
    )


# Built on self-identification data: checked here as well as in the navigation.
auth.require("demographics", "the Assessors page")
st.title("Assessors")
st.caption(
    "For reviewers auditing graders. Each deliverable is scored by a few of many human graders "
    "on each rubric axis, plus an LLM score. 'total' is a grader's mean over the rubric's axes "
    "(the scale of the pass mark). Method notes: docs/assessors.md."
)

if not ui.warehouse_ready():
    ui.missing_warehouse_message()
    st.stop()


settings = ui.settings()
params = ui.filters().as_params()
with st.spinner("Fitting the deliverable x grader model..."):
    res = ui.cached_on_warehouse(
        assessors.compute,
        params,
        threshold=settings.severity_threshold,
        min_cell_size=settings.min_cell_size,
    )
if res.empty:
    ui.empty_selection_message("human scores")
    st.stop()

if res.reliability.empty:
    st.info(
        "Too few double-scored deliverables for the current filters: reliability, severity and "
        "bias compare graders on the same deliverables. Widen the filters in the sidebar."
    )
    st.stop()

ui.findings_block(findings.assessor_findings(res.graders, res.grader_bias, res.llm_agreement))

axes = [assessors.TOTAL] + sorted(a for a in res.reliability["axis"].unique() if a != "total")
axis = st.selectbox("Rubric axis", axes, key="assessor_axis")
threshold = settings.severity_threshold

# --- reliability ------------------------------------------------------------------------------
st.header("Reliability")
rel = res.reliability[res.reliability["axis"] == axis].set_index("metric")
variance = res.variance[res.variance["axis"] == axis]
c1, c2, c3, c4 = st.columns(4)
c1.metric("ICC(A,1) absolute agreement", f"{rel.loc['icc_a_1', 'value']:.2f}")
c2.metric("ICC(C,1) consistency", f"{rel.loc['icc_c_1', 'value']:.2f}")
c3.metric("Krippendorff's alpha (interval)", f"{rel.loc['alpha_interval', 'value']:.2f}")
needed = variance["graders_for_phi_80"].iloc[0] if len(variance) else None
c4.metric(
    "Graders per deliverable for Phi >= 0.80",
    "not reachable" if needed is None or needed != needed else f"{int(needed)}",
)
gap = rel.loc["icc_c_1", "value"] - rel.loc["icc_a_1", "value"]
st.markdown(
    f"{assessors.SEVERITY_NOTE} Here ICC(C,1) - ICC(A,1) = {gap:.2f}. ICCs come from the variance components of the sparse "
    "deliverable x grader design (no deliverable is dropped for lacking some grader); their "
    "intervals are McGraw-Wong F intervals, alpha's a bootstrap over deliverables."
)
show(res.reliability, "reliability", axis=axis)
left, right = st.columns(2)
with left:
    st.subheader("D-study")
    curve = res.d_study[res.d_study["axis"] == axis]
    st.plotly_chart(ui.cached_figure(d_study_figure, curve), key="assessor_dstudy")
    show(res.variance, "assessor_variance")
with right:
    st.subheader("Grading design")
    show(res.design, "assessor_design", axis=axis)
    components = res.design.query("metric == 'connected_components' and axis == @axis")
    if len(components) and components["value"].iloc[0] > 1:
        st.warning(
            "The graders form more than one disconnected group (no shared deliverables link "
            "them): severities compare graders only within their component, never across."
        )
st.subheader("Graders: ratings, double scoring, co-graders, component")
show(res.grader_design, "grader_design")
with st.expander("Grader pairs and how many deliverables they share"):
    show(res.overlap, "grader_overlap")

# --- severity ---------------------------------------------------------------------------------
st.header("Severity")
st.markdown(
    "Severity is how many rubric points lower a grader scores than co-graders on the same "
    "deliverables (positive = harsher), so it is adjusted for which deliverables the grader saw. "
    f"It is shrunk towards 0 for graders with few ratings and flagged only when the whole 95% "
    f"interval lies beyond ±{threshold} points. The fair mean is the grader's expected score "
    "on the average deliverable, beside the raw mean."
)
graders = res.graders[res.graders["axis"] == axis]
flagged = graders[graders["flagged"].astype(bool)]
if len(flagged):
    names = [
        f"{markdown_text(g)} ({s:+.2f})"
        for g, s in flagged[["grader_id", "severity"]].itertuples(index=False)
    ]
    # A finding, not a failure: red error boxes are kept for things that went wrong.
    st.warning("Flagged: " + ", ".join(names), icon=":material/flag:")
else:
    st.success(f"No grader's severity interval lies beyond ±{threshold} points on this axis.")
st.plotly_chart(
    ui.cached_figure(severity_figure, graders, threshold=threshold), key="assessor_severity"
)
show(res.graders, "graders", axis=axis)

st.subheader("Would the decision flip?")
st.caption(
    "Deliverables whose rubric pass/fail (mean human total against the pass mark) changes once "
    "each grader's severity is removed."
)
if res.flips.empty:
    st.info("No pass/fail decision changes once severity is removed.")
elif len(res.flips) > MAX_SHOWN:
    st.caption(
        f"{len(res.flips):,} decisions flip; the {MAX_SHOWN:,} closest to the pass mark are shown, "
        "the download has all of them."
    )
show(res.flips, "decision_flips", max_rows=MAX_SHOWN)

st.subheader("Drift: severity by month")
st.plotly_chart(
    ui.cached_figure(
        drift_figure,
        res.drift,
        threshold=threshold,
        flagged_graders=tuple(sorted(flagged["grader_id"].astype(str))),
    ),
    key="assessor_drift",
)
show(res.drift, "grader_drift")

st.subheader("Rating style")
st.caption(
    "Scale use: the SD of a grader's scores, the share at the scale's ends and at its midpoint. "
    "Halo: the mean correlation between one grader's scores on two axes of the same deliverable "
    "(near 1 = one overall impression given to every axis)."
)
show(res.style, "rating_style")

# --- differential rater functioning ---------------------------------------------------------
st.header("Grader x group bias")
st.warning(assessors.SHARED_BIAS_NOTE)
st.markdown(
    "For each grader and group, on the rubric axis chosen above: how much lower (negative) or "
    "higher the grader scores the group than co-graders score the same deliverables, beyond the "
    "grader's severity toward everyone else (its difference from co-graders on the group's "
    "deliverables minus that on its other deliverables), with SE, a t test on the grader's pooled variance and a "
    "Benjamini-Hochberg q over all grader x group tests of the axis. Flagged when q < 0.05 and "
    f"|bias| >= {threshold} points; a flagged grader's severity above leaves those ratings out. "
    f"Cells under {settings.min_cell_size} are shown as <{settings.min_cell_size} without "
    "statistics."
)
bias = res.grader_bias
bias_flagged = bias[bias["flagged"].eq(True)]
if len(bias_flagged):
    cells = bias_flagged[["grader_id", "attribute", "group", "axis"]].itertuples(index=False)
    st.warning(
        "Flagged: "
        + "; ".join(
            f"{markdown_text(g)} on {markdown_text(a)} = {markdown_text(v)} ({markdown_text(x)})"
            for g, a, v, x in cells
        ),
        icon=":material/flag:",
    )
show(bias, "grader_bias", axis=axis)
st.subheader("Omnibus test per attribute")
show(res.bias_omnibus, "grader_bias_omnibus", axis=axis)

# --- LLM vs humans ----------------------------------------------------------------------------
st.header("LLM vs human graders")
st.markdown(
    "Williamson, Xi & Breyer (2012) gates: quadratic weighted kappa and Pearson r >= 0.70, "
    "degradation against human-human agreement no worse than -0.10, |standardized mean "
    "difference| <= 0.15 overall and <= 0.10 per subgroup. Every LLM x human pair on a "
    "deliverable counts."
)
llm = res.llm_agreement
overall = llm[(llm["axis"] == axis) & (llm["attribute"] == "all")]
if len(overall):
    row = overall.iloc[0]
    d1, d2, d3, d4 = st.columns(4)
    d1.metric("QWK", f"{row['qwk']:.2f}", help=f"human-human {row['hh_qwk']:.2f}")
    d2.metric("Pearson r", f"{row['pearson_r']:.2f}")
    d3.metric("Standardized mean difference", f"{row['smd']:+.2f}")
    failing = [
        gate
        for gate, column in (
            ("QWK", "qwk_pass"),
            ("r", "r_pass"),
            ("SMD", "smd_pass"),
            ("degradation", "degradation_pass"),
        )
        if not row[column]
    ]
    d4.metric("Gates", "all pass" if not failing else "fail: " + ", ".join(failing))
show(llm, "llm_agreement", axis=axis)
