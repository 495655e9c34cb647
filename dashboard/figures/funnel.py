"""Plotly figures of the Funnel and Time to hire pages. Builders return figures, never show them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values
from etl.contract import STAGES

ALERT_COLOR = "#c62828"
REACHED_COLOR = "#4a6fa5"
PENDING_COLOR = "#f5b041"
PENDING_EDGE = "#8a5a00"
PENDING_NAME = "pending (in progress, stacked on reached)"


def funnel_figure(funnel: pd.DataFrame) -> go.Figure:
    """Reached per stage (bars) with pending stacked on top, hatched; one bar group per segment.

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
            offsetgroup=str(segment),
            marker_color=REACHED_COLOR if segment == "all" else None,
            customdata=np.stack(
                [rows["step_conversion"].astype(float), rows["overall_conversion"].astype(float)],
                axis=1,
            ),
            hovertemplate="%{x}: %{y:,} reached<br>step %{customdata[0]:.1%}, "
            "overall %{customdata[1]:.1%}<extra></extra>",
        )
        pending = pd.to_numeric(rows["pending"], errors="coerce")
        if pending.fillna(0).sum() > 0 and segment == "all":
            # Stacked on the reached bar of its stage (same offset group, based on reached), in
            # a colour and hatch of its own and labelled: a few hundred pending beside a hundred
            # thousand reached would otherwise be a sliver on top of the bar.
            figure.add_bar(
                x=rows["stage"],
                y=pending,
                base=reached.fillna(0),
                name=PENDING_NAME,
                offsetgroup=str(segment),
                marker={
                    "color": PENDING_COLOR,
                    "line": {"color": PENDING_EDGE, "width": 1},
                    "pattern": {"shape": "/", "fgcolor": PENDING_EDGE, "fillmode": "overlay"},
                },
                hovertemplate="%{x}: %{y:,} pending<extra></extra>",
                text=[f"+{p:,.0f} pending" if p > 0 else "" for p in pending.fillna(0)],
                textposition="outside",
                cliponaxis=False,
            )
    figure.update_layout(
        barmode="group",
        xaxis={"categoryorder": "array", "categoryarray": list(STAGES), "title": None},
        yaxis_title="applications",
        legend_title=None,
        margin={"t": 30},
    )
    return figure


MAX_SEGMENT_LINES = 10
"""Beyond this many segments a line each would reuse colours: all go grey in one trace."""

SEGMENT_COLORS = (
    "#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#7f3c8d", "#8c564b",
    "#bcbd22", "#17becf",
)  # fmt: skip


def step_conversion_figure(funnel: pd.DataFrame) -> go.Figure:
    """Step conversion by stage, a line per segment (for comparing breakdown segments).

    Up to MAX_SEGMENT_LINES segments each get a colour of their own; more (a breakdown by
    cohort has thousands) are drawn grey in one trace, a gap between segments, each named on
    hover: one trace however many segments.
    """
    figure = go.Figure()
    rows = funnel.loc[funnel["stage"] != "applied"]
    segments = list(dict.fromkeys(rows["segment"]))
    if len(segments) <= MAX_SEGMENT_LINES:
        for index, (segment, part) in enumerate(rows.groupby("segment", sort=False)):
            figure.add_scatter(
                x=part["stage"], y=pd.to_numeric(part["step_conversion"], errors="coerce"),
                mode="lines+markers", name=plotly_text(segment),
                line={"color": SEGMENT_COLORS[index % len(SEGMENT_COLORS)]},
            )  # fmt: skip
    else:
        xs: list = []
        ys: list = []
        names: list = []
        for segment, part in rows.groupby("segment", sort=False):
            xs += [*part["stage"], None]
            ys += [*pd.to_numeric(part["step_conversion"], errors="coerce"), None]
            names += [plotly_text(segment)] * len(part) + [None]
        figure.add_scatter(
            x=xs, y=ys, text=names, mode="lines", name=f"{len(segments):,} segments",
            line={"color": "rgba(120,130,140,0.35)", "width": 1},
            hovertemplate="%{text}: %{y:.1%}<extra></extra>",
        )  # fmt: skip
    figure.update_layout(
        yaxis={"title": "step conversion", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis={"categoryorder": "array", "categoryarray": list(STAGES[1:]), "title": None},
        margin={"t": 30},
    )
    return figure


# One colour per step (8 steps, Okabe-Ito's colour-blind-safe set less its black): the alert red
# is kept for flagged cohorts alone.
STEP_COLORS: dict[str, str] = dict(
    zip(
        STAGES[1:],
        ("#0072b2", "#e69f00", "#009e73", "#56b4e9", "#cc79a7", "#d55e00", "#f0e442", "#666666"),
        strict=True,
    )
)


def trend_figure(
    monthly: pd.DataFrame,
    *,
    track: str,
    stage: str | None = None,
    flagged: pd.DataFrame | None = None,
    cohort: pd.DataFrame | None = None,
) -> go.Figure:
    """Step conversion by entry month, a line per step (with its 95% band when one step is
    shown); flagged cohorts as red crosses; months with a cohort still open hollow.

    `monthly` is `signalboard.analysis.funnel.monthly_trends` output, `flagged` the flagged rows
    of `cohort_trends` and `cohort` the rows of one entry cohort to show apart. The figure has a
    trace per step (two for one step) and two more, whatever the number of cohorts: one point
    per month, not per cohort.
    """
    rows = monthly.loc[monthly["track"] == track]
    if stage is not None:
        rows = rows.loc[rows["stage"] == stage]
    figure = go.Figure()
    for step, data in rows.groupby("stage_index", sort=True):
        name = STAGES[int(step)]
        color = STEP_COLORS.get(name, "#666666")
        months = list(data["month"])
        if stage is not None:
            # The band as one closed polygon (upper edge, then the lower edge backwards); for
            # one step only: eight overlapping bands hide the lines.
            figure.add_scatter(
                x=months + months[::-1],
                y=list(data["ci_high"]) + list(data["ci_low"])[::-1],
                fill="toself", fillcolor=_transparent(color), line={"width": 0}, hoverinfo="skip",
                showlegend=False, legendgroup=name, name=f"{name} 95% band",
            )  # fmt: skip
        figure.add_scatter(
            x=data["month"],
            y=data["rate"],
            mode="lines+markers",
            name=name,
            legendgroup=name,
            line={"color": color},
            customdata=np.stack(
                [
                    data["cohorts"],
                    data["n"],
                    data["flagged_cohorts"],
                    data["ci_low"],
                    data["ci_high"],
                ],
                axis=1,
            ),  # fmt: skip
            marker={
                "symbol": np.where(data["complete"], "circle", "circle-open").tolist(),
                "size": 7,
                "color": color,
            },
            hovertemplate="%{x|%b %Y}: %{y:.1%} (95% %{customdata[3]:.1%} to "
            "%{customdata[4]:.1%})<br>%{customdata[0]:,} cohorts, n %{customdata[1]:,}, "
            "%{customdata[2]} flagged<extra>" + name + "</extra>",
        )
    if flagged is not None and len(flagged):
        marked = flagged.loc[flagged["track"] == track]
        if stage is not None:
            marked = marked.loc[marked["stage"] == stage]
        if len(marked):
            figure.add_scatter(
                x=marked["cohort_start"], y=marked["rate"], mode="markers",
                name="flagged cohort",
                text=plotly_values(marked["cohort_id"].astype(str) + " " + marked["stage"]),
                customdata=marked["expected_rate"],
                marker={"symbol": "x", "size": 12, "color": ALERT_COLOR},
                hovertemplate="%{text}: %{y:.1%}, expected %{customdata:.1%}<extra>flagged</extra>",
            )  # fmt: skip
    if cohort is not None and len(cohort):
        shown = cohort.loc[cohort["track"] == track]
        if stage is not None:
            shown = shown.loc[shown["stage"] == stage]
        figure.add_scatter(
            x=shown["cohort_start"], y=shown["rate"], mode="markers+text",
            name=f"cohort {plotly_text(shown['cohort_id'].iloc[0])}" if len(shown) else "cohort",
            text=shown["stage"], textposition="middle right",
            marker={"symbol": "diamond", "size": 10, "color": "#222222"},
            hovertemplate="%{text}: %{y:.1%}<extra>cohort</extra>",
        )  # fmt: skip
    figure.update_layout(
        yaxis={"title": "step conversion", "tickformat": ".0%", "range": [0, 1.05]},
        xaxis_title="entry month (cohorts pooled by start month)",
        legend_title=None,
        margin={"t": 30},
    )
    return figure


def incidence_figure(curves: pd.DataFrame, *, max_days: float | None = None) -> go.Figure:
    """Aalen-Johansen P(event by day t) per group, with the 95% band, as step functions."""
    figure = go.Figure()
    palette = SEGMENT_COLORS
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
