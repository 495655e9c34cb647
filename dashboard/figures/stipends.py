"""Plotly figure builders for the Stipends page. They return figures and never show them."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values

SERIES: tuple[tuple[str, str, str, str, str], ...] = (
    # column, ci low, ci high, legend name, colour
    ("raw_gap_pct_real", "raw_gap_pct_real_ci_low", "raw_gap_pct_real_ci_high", "raw (real)",
     "#95a5a6"),
    ("adjusted_gap_pct", "adjusted_ci_low", "adjusted_ci_high", "adjusted", "#2c3e50"),
    ("adjusted_gap_pct_with_location", "adjusted_ci_low_with_location",
     "adjusted_ci_high_with_location", "adjusted, with location", "#2980b9"),
)  # fmt: skip


def gap_figure(table: pd.DataFrame, *, title: str = "") -> go.Figure:
    """Grouped horizontal bars per group: the raw real gap, the adjusted gap and the adjusted gap
    with location, in % vs the reference group, with 95% CIs as error bars. Groups whose values
    are hidden (small cells) or not modelled show no bar for those series.

    `table` is the stipends table of one attribute after suppression.
    """
    shown = table[table["method"] != "reference"]
    fig = go.Figure()
    for column, low, high, name, colour in SERIES:
        value = pd.to_numeric(shown[column], errors="coerce")
        lower = pd.to_numeric(shown[low], errors="coerce")
        upper = pd.to_numeric(shown[high], errors="coerce")
        fig.add_trace(
            go.Bar(
                x=value,
                y=plotly_values(shown["group"]),
                orientation="h",
                name=name,
                marker_color=colour,
                error_x={
                    "type": "data",
                    "symmetric": False,
                    "array": (upper - value).tolist(),
                    "arrayminus": (value - lower).tolist(),
                },
            )
        )
    reference = table["reference_group"].dropna()
    fig.add_vline(x=0, line_color="#444")
    fig.update_layout(
        title=plotly_text(title),
        barmode="group",
        xaxis_title=(
            f"gap in % vs {plotly_text(reference.iloc[0])} (negative: paid less)"
            if len(reference)
            else "gap %"
        ),
        yaxis={"autorange": "reversed"},
        height=max(300, 60 * len(shown) + 120),
        legend={"orientation": "h"},
    )
    return fig
