"""Plotly figure builders for the Fairness page. They return figures and never show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values

STATUS_COLORS: dict[str, str] = {
    "below_four_fifths_significant": "#c0392b",
    "below_four_fifths_not_significant": "#e67e22",
    "significant_passes_four_fifths": "#8e44ad",
    "no_evidence": "#7f8c8d",
    "reference": "#2c3e50",
    "excluded": "#bdc3c7",
}


def impact_ratio_figure(table: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Horizontal bars: each group's impact ratio (hidden or excluded ones left out), coloured
    by status, with the four-fifths line at 0.8 and the CI as error bars.

    `table` is one adverse-impact table (one step, track and attribute) after suppression.
    """
    shown = table[pd.to_numeric(table["impact_ratio"], errors="coerce").notna()].copy()
    ratio = pd.to_numeric(shown["impact_ratio"])
    low = pd.to_numeric(shown["ir_ci_low"])
    high = pd.to_numeric(shown["ir_ci_high"])
    fig = go.Figure()
    for status, part in shown.groupby("status", sort=False):
        idx = part.index
        fig.add_trace(
            go.Bar(
                x=ratio[idx],
                y=plotly_values(part["group"]),
                orientation="h",
                name=str(status).replace("_", " "),
                marker_color=STATUS_COLORS.get(str(status), "#7f8c8d"),
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (high[idx] - ratio[idx]).tolist(),
                    "arrayminus": (ratio[idx] - low[idx]).tolist(),
                },
            )
        )
    fig.add_vline(x=0.8, line_dash="dash", annotation_text="four-fifths (0.8)")
    fig.update_layout(
        title=plotly_text(title),
        xaxis_title="Impact ratio (rate / highest group's rate)",
        yaxis_title=None,
        height=max(260, 28 * len(shown) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend_title="Status",
    )
    return fig
