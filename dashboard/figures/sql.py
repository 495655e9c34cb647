"""The SQL page's chart of a query result."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard.escape import plotly_text, plotly_values
from signalboard.analysis.sql_library import ChartKind


def result_figure(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    color: str | None = None,
    kind: ChartKind = "bar",
    title: str = "",
) -> go.Figure:
    """A plotly figure of `y` against `x`, one trace per value of `color` (if given).

    Examples
    --------
    >>> frame = pd.DataFrame({"stage": ["a", "b", "a"], "n": [3, 2, 1], "g": ["x", "x", "y"]})
    >>> len(result_figure(frame, x="stage", y="n", color="g").data)
    2
    """
    for column in (x, y, color):
        if column is not None and column not in frame.columns:
            raise ValueError(f"no column {column!r} in the result")
    data = frame.copy()
    if color is not None:
        # Colour by category even when the column is numeric (a cohort number, a year).
        data[color] = data[color].astype(str)
    # Result text and column names (the hover labels) are data: plotly would draw their HTML.
    for column in data.columns:
        if data[column].dtype == object or pd.api.types.is_string_dtype(data[column]):
            data[column] = plotly_values(data[column])
    names = {str(c): plotly_text(c) for c in data.columns}
    data.columns = [names[str(c)] for c in data.columns]
    builders = {"bar": px.bar, "line": px.line, "scatter": px.scatter}
    figure = builders[kind](
        data,
        x=names[x],
        y=names[y],
        color=None if color is None else names[color],
        title=plotly_text(title) if title else None,
    )
    if kind == "bar" and color is not None:
        figure.update_layout(barmode="group")
    return figure
