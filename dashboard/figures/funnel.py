"""Plotly figures of the Funnel and Time to hire pages. Builders return figures, never show them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values
from etl.contract import STAGES

ALERT_COLOR = "#c62828"


def funnel_figure(funnel: pd.DataFrame) -> go.Figure:
    """Reached per stage (bars) with pending stacked apart; one bar group per segment.

    `funnel` is `signalboard.analysis.funnel.funnel_table` output. Suppressed counts (strings) are
    drawn as missing.
    """
    figure = go.Figure()
    for segment, rows in funnel.groupby("segment", sort=False):
        reached = pd.to_numeric(rows["reached"], errors="coerce")
        figure.add_bar(
            x=rows["stage"],
            y=reached,
            name=f"{plotly_text(segment)}: reached" if segment != "all" else "reached",
            customdata=np.stack(
                [rows["step_conversion"].astype(float), rows["overall_conversion"].astype(float)],
                axis=1,
            ),
            hovertemplate="%{x}: %{y} reached<br>step %{customdata[0]:.1%}, "
            "overall %{customdata[1]:.1%}<extra></extra>",
        )
        pending = pd.to_numeric(rows["pending"], errors="coerce")
        if pending.fillna(0).sum() > 0 and segment == "all":
            figure.add_bar(x=rows["stage"], y=pending, name="pending (in progress)", opacity=0.5)
    figure.update_layout(
        barmode="group",
        xaxis={"categoryorder": "array", "categoryarray": list(STAGES), "title": None},
        yaxis_title="applications",
        legend_title=None,
        margin={"t": 30},
    )
    return figure


def step_conversion_figure(funnel: pd.DataFrame) -> go.Figure:
    """Step conversion by stage, a line per segment (for comparing breakdown segments)."""
    figure = go.Figure()
    for segment, rows in funnel.groupby("segment", sort=False):
        rows = rows.loc[rows["stage"] != "applied"]
        figure.add_scatter(
            x=rows["stage"], y=rows["step_conversion"].astype(float), mode="lines+markers",
            name=plotly_text(segment),
        )  # fmt: skip
    figure.update_layout(
        yaxis={"title": "step conversion", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis={"categoryorder": "array", "categoryarray": list(STAGES[1:]), "title": None},
        margin={"t": 30},
    )
    return figure


def trend_figure(trends: pd.DataFrame, *, track: str, stage: str | None = None) -> go.Figure:
    """Step conversion by entry cohort: a line per step; alerts as red crosses, incomplete hollow.

    With `stage`, that step alone with its expected rate and lower control limit.
    """
    rows = trends.loc[(trends["track"] == track) & trends["rate"].notna()]
    if stage is not None:
        rows = rows.loc[rows["stage"] == stage]
    figure = go.Figure()
    for step, data in rows.groupby("stage_index", sort=True):
        name = STAGES[int(step)]
        figure.add_scatter(
            x=data["cohort_start"],
            y=data["rate"],
            mode="lines+markers",
            name=name,
            text=plotly_values(data["cohort_id"]),
            marker={
                "symbol": np.where(data["complete"], "circle", "circle-open").tolist(),
                "size": 7,
            },
            hovertemplate="%{text}: %{y:.1%}<extra>" + name + "</extra>",
        )
    if stage is not None and len(rows):
        figure.add_scatter(
            x=rows["cohort_start"], y=rows["expected_rate"], mode="lines", name="expected (earlier cohorts)",
            line={"dash": "dot", "color": "grey"},
        )  # fmt: skip
        figure.add_scatter(
            x=rows["cohort_start"], y=rows["lower_limit"], mode="lines", name="lower limit",
            line={"dash": "dash", "color": ALERT_COLOR},
        )  # fmt: skip
    flagged = rows.loc[rows["flagged"].astype(bool)]
    if len(flagged):
        figure.add_scatter(
            x=flagged["cohort_start"], y=flagged["rate"], mode="markers", name="alert",
            text=plotly_values(flagged["cohort_id"] + " " + flagged["stage"]),
            marker={"symbol": "x", "size": 14, "color": ALERT_COLOR},
            hovertemplate="%{text}: %{y:.1%}<extra>alert</extra>",
        )  # fmt: skip
    figure.update_layout(
        yaxis={"title": "step conversion", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis_title="entry cohort start",
        margin={"t": 30},
    )
    return figure


def incidence_figure(curves: pd.DataFrame, *, max_days: float | None = None) -> go.Figure:
    """Aalen-Johansen P(event by day t) per group, with the 95% band, as step functions."""
    figure = go.Figure()
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]
    for index, (group, rows) in enumerate(curves.groupby("group", sort=True)):
        if max_days is not None:
            rows = rows.loc[rows["days"] <= max_days]
        color = palette[index % len(palette)]
        figure.add_scatter(
            x=rows["days"], y=rows["ci_high"], mode="lines", line={"width": 0, "shape": "hv"},
            showlegend=False, hoverinfo="skip", legendgroup=plotly_text(group),
        )  # fmt: skip
        figure.add_scatter(
            x=rows["days"], y=rows["ci_low"], mode="lines", line={"width": 0, "shape": "hv"},
            fill="tonexty", fillcolor=_transparent(color), showlegend=False, hoverinfo="skip",
            legendgroup=plotly_text(group),
        )  # fmt: skip
        figure.add_scatter(
            x=rows["days"], y=rows["cumulative_incidence"], mode="lines", name=plotly_text(group),
            line={"shape": "hv", "color": color}, legendgroup=plotly_text(group),
            hovertemplate="day %{x:.0f}: %{y:.1%}<extra>%{fullData.name}</extra>",
        )  # fmt: skip
    figure.update_layout(
        xaxis_title="days",
        yaxis={"title": "cumulative incidence", "tickformat": ".0%", "rangemode": "tozero"},
        margin={"t": 30},
    )
    return figure


def _transparent(hex_color: str, alpha: float = 0.2) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def stage_duration_figure(durations: pd.DataFrame) -> go.Figure:
    """Median, P75 and P90 days in each stage (Kaplan-Meier), grouped bars."""
    figure = go.Figure()
    for column, label in (("median_days", "median"), ("p75_days", "P75"), ("p90_days", "P90")):
        figure.add_bar(x=durations["stage"], y=durations[column], name=label)
    figure.update_layout(barmode="group", yaxis_title="days in stage", margin={"t": 30})
    return figure
