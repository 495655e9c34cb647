"""Plotly figure builders for the Fairness page. They return figures and never show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values

FOUR_FIFTHS = 0.8
BELOW_COLOR = "#c0392b"
ABOVE_COLOR = "#4a6fa5"
STATUS_COLORS: dict[str, str] = {
    "below_four_fifths_significant": "#c0392b",
    "below_four_fifths_not_significant": "#e67e22",
    "significant_passes_four_fifths": "#8e44ad",
    "no_evidence": "#7f8c8d",
    "too_few_to_test": "#95a5a6",
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
    _below_band(fig)
    for status, part in shown.groupby("status", sort=False):
        idx = part.index
        fig.add_trace(
            go.Bar(
                x=ratio[idx],
                y=plotly_values(part["group"]),
                orientation="h",
                name=str(status).replace("_", " "),
                marker={
                    "color": STATUS_COLORS.get(str(status), "#7f8c8d"),
                    # Hatched below 0.8 whatever the status: the rule's line is visible in the
                    # bar itself, not only by where its end falls.
                    "pattern": {
                        "shape": ["/" if r < FOUR_FIFTHS else "" for r in ratio[idx]],
                        "fillmode": "overlay",
                        "fgcolor": "white",
                    },
                },
                text=[f"{r:.2f}" for r in ratio[idx]],
                textposition="outside",
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (high[idx] - ratio[idx]).tolist(),
                    "arrayminus": (ratio[idx] - low[idx]).tolist(),
                },
            )
        )
    fig.add_vline(x=FOUR_FIFTHS, line_dash="dash", annotation_text="four-fifths (0.8)")
    fig.update_layout(
        title=plotly_text(title),
        xaxis_title="Impact ratio (rate / highest group's rate)",
        yaxis_title=None,
        height=max(260, 28 * len(shown) + 120),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
        legend_title="Status",
    )
    return fig


def _below_band(fig: go.Figure) -> None:
    """A light red band left of the four-fifths line: the region a ratio is marked in."""
    fig.add_vrect(x0=0, x1=FOUR_FIFTHS, fillcolor=BELOW_COLOR, opacity=0.06, line_width=0)


def ll144_figure(table: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Horizontal bars of each category's LL144 impact ratio, red and hatched below 0.8 and
    blue otherwise, with the four-fifths line. Categories without a ratio (excluded under 2%,
    Unknown) are left out.

    `table` is one LL144 table (one mode and table) of `ll144_triage`, after suppression.
    """
    ratio = pd.to_numeric(table["impact_ratio"], errors="coerce")
    shown = table.loc[ratio.notna()]
    ratio = ratio[ratio.notna()].astype(float)
    below = (ratio < FOUR_FIFTHS).tolist()
    fig = go.Figure()
    _below_band(fig)
    fig.add_trace(
        go.Bar(
            x=ratio,
            y=plotly_values(shown["category"].astype(str)),
            orientation="h",
            name="impact ratio",
            marker={
                "color": [BELOW_COLOR if b else ABOVE_COLOR for b in below],
                "pattern": {
                    "shape": ["/" if b else "" for b in below],
                    "fillmode": "overlay",
                    "fgcolor": "white",
                },
            },
            text=[
                f"{r:.2f}" + (" below 0.8" if b else "") for r, b in zip(ratio, below, strict=True)
            ],
            textposition="outside",
            hovertemplate="%{y}: %{x:.2f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.add_vline(x=FOUR_FIFTHS, line_dash="dash", annotation_text="four-fifths (0.8)")
    fig.update_layout(
        title=plotly_text(title),
        xaxis={"title": "Impact ratio (rate / highest category's rate)", "range": [0, 1.15]},
        yaxis={"title": None, "autorange": "reversed"},
        height=max(220, 26 * len(shown) + 110),
        margin={"l": 10, "r": 10, "t": 50, "b": 40},
    )
    return fig
