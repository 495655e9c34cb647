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


def drift_figure(drift: pd.DataFrame, *, threshold: float) -> go.Figure:
    """Severity by month, one line per grader."""
    fig = go.Figure()
    for grader_id, part in drift.groupby("grader_id", sort=True):
        fig.add_trace(
            go.Scatter(
                x=part["month"],
                y=part["severity"],
                mode="lines+markers",
                name=plotly_text(grader_id),
            )
        )
    for y in (-threshold, threshold):
        fig.add_hline(y=y, line_dash="dash", line_color="#888")
    fig.update_layout(
        xaxis_title="Month scored",
        yaxis_title="Severity, rubric points",
        margin={"l": 10, "r": 10, "t": 30, "b": 10},
    )
    return fig
