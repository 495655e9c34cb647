"""Plotly figure builders for the Assessors page. They return figures and never show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values
from signalboard.stats.reliability import PHI_TARGET


def severity_figure(graders: pd.DataFrame, *, threshold: float) -> go.Figure:
    """Each human grader's shrunk severity with its interval; dashed lines at +/- threshold.

    `graders`: rows of graders.csv for one axis.
    """
    data = graders[(graders["grader_kind"] == "human") & graders["severity"].notna()]
    data = data.sort_values("severity")
    colours = ["#c0392b" if f else "#34495e" for f in data["flagged"].astype(bool)]
    fig = go.Figure(
        go.Scatter(
            x=data["severity"].astype(float),
            y=plotly_values(data["grader_id"]),
            mode="markers",
            marker={"color": colours, "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": (data["severity_ci_high"] - data["severity"]).astype(float),
                "arrayminus": (data["severity"] - data["severity_ci_low"]).astype(float),
            },
            customdata=data[["n_scored", "raw_mean", "fair_mean"]].to_numpy(),
            hovertemplate="%{y}: %{x:.2f} points<br>ratings %{customdata[0]}<br>"
            "raw mean %{customdata[1]:.2f}, fair mean %{customdata[2]:.2f}<extra></extra>",
            name="severity",
        )
    )
    for x in (-threshold, threshold):
        fig.add_vline(x=x, line_dash="dash", line_color="#888")
    fig.add_vline(x=0, line_color="#bbb")
    fig.update_layout(
        xaxis_title="Severity, rubric points (positive = harsher than co-graders)",
        yaxis_title="Grader",
        height=max(300, 28 * len(data) + 120),
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


def d_study_figure(curve: pd.DataFrame) -> go.Figure:
    """Phi and E rho^2 against graders per deliverable, with the 0.80 target."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["graders"], y=curve["phi"], name="Phi (pass/fail)"))
    fig.add_trace(go.Scatter(x=curve["graders"], y=curve["e_rho2"], name="E rho² (ranking)"))
    fig.add_hline(y=PHI_TARGET, line_dash="dash", line_color="#888")
    fig.update_layout(
        xaxis_title="Graders per deliverable",
        yaxis_title="Coefficient",
        yaxis_range=[0, 1],
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig


# Distinct colours for the graders a reader must tell apart (the flagged ones): Okabe-Ito's
# colour-blind-safe set, then Tableau 10's. Unflagged graders are grey, one legend entry.
HIGHLIGHT_COLORS: tuple[str, ...] = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#7f3c8d", "#8c564b", "#1b9e77",
    "#bcbd22", "#17becf", "#f0027f", "#666600",
)  # fmt: skip
UNFLAGGED_COLOR = "#b8bec6"
FLAG_COLOR = "#c0392b"


def drift_figure(
    drift: pd.DataFrame, *, threshold: float, flagged_graders: tuple[str, ...] = ()
) -> go.Figure:
    """Severity by month: graders with a flagged month, or flagged overall (`flagged_graders`), in
    a colour of their own, the rest grey in one trace, flagged grader-months as red crosses.

    Reused colours mislead once graders outnumber a palette (14 graders, 10 colours); grey keeps
    the unflagged graders as context without asking the reader to tell them apart. Beyond the
    palette, flagged graders also differ by dash.
    """
    data = drift.loc[drift["severity"].notna() & drift["month"].notna()].sort_values(
        ["grader_id", "month"]
    )
    flagged_rows = data["flagged"].astype(bool)
    present = set(data["grader_id"].astype(str))
    highlighted = sorted(
        set(data.loc[flagged_rows, "grader_id"].astype(str)) | (set(flagged_graders) & present)
    )
    fig = go.Figure()
    rest = data.loc[~data["grader_id"].astype(str).isin(highlighted)]
    if len(rest):
        # One trace for every unflagged grader: a None between graders breaks the line.
        xs: list = []
        ys: list = []
        names: list = []
        for grader_id, part in rest.groupby("grader_id", sort=True):
            xs += [*part["month"], None]
            ys += [*part["severity"].astype(float), None]
            names += [plotly_text(grader_id)] * len(part) + [None]
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                text=names,
                mode="lines+markers",
                name="other graders (not flagged)",
                line={"color": UNFLAGGED_COLOR, "width": 1},
                marker={"size": 4},
                hovertemplate="%{text}: %{y:.2f} points<extra></extra>",
            )  # fmt: skip
        )
    dashes = ("solid", "dash", "dot", "dashdot")
    for index, grader_id in enumerate(highlighted):
        part = data.loc[data["grader_id"].astype(str) == grader_id]
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=part["severity"].astype(float),
                mode="lines+markers",
                name=plotly_text(grader_id),
                line={
                    "color": HIGHLIGHT_COLORS[index % len(HIGHLIGHT_COLORS)],
                    "width": 2.5,
                    "dash": dashes[index // len(HIGHLIGHT_COLORS) % len(dashes)],
                },
                hovertemplate="%{y:.2f} points<extra>%{fullData.name}</extra>",
            )  # fmt: skip
        )
    marks = data.loc[flagged_rows]
    if len(marks):
        fig.add_trace(
            go.Scatter(
                x=marks["month"],
                y=marks["severity"].astype(float),
                mode="markers",
                name="flagged month",
                text=plotly_values(marks["grader_id"].astype(str)),
                marker={"symbol": "x", "size": 11, "color": FLAG_COLOR},
                hovertemplate="%{text}: %{y:.2f} points<extra>flagged</extra>",
            )  # fmt: skip
        )
    for y in (-threshold, threshold):
        fig.add_hline(y=y, line_dash="dash", line_color="#888")
    fig.update_layout(
        xaxis_title="Month scored",
        yaxis_title="Severity, rubric points",
        legend_title=None,
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig
