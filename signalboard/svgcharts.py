"""Small static charts as inline SVG for report.html and report.pdf.

Drawn by hand rather than exported from plotly: kaleido needs a browser at export time, and an
audit document must render offline, in a PDF, and with no script. One chart kind covers the
report: horizontal bars or points with an optional interval per row, reference lines (the
four-fifths line, a severity threshold, zero) and highlighted rows. Every label is escaped text.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

HIGHLIGHT = "#c0392b"
NORMAL = "#4a6fa5"
MUTED = "#9aa5b1"


@dataclass(frozen=True)
class Row:
    """One row of a chart: its label, value, optional 95% interval and whether it is flagged."""

    label: str
    value: float
    low: float | None = None
    high: float | None = None
    flagged: bool = False


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def hbar_chart(
    rows: Sequence[Row],
    *,
    title: str,
    ref_lines: Sequence[tuple[float, str]] = (),
    fmt: Callable[[float], str] = lambda v: f"{v:.2f}",
    bars: bool = True,
    width: int = 640,
) -> str:
    """An SVG chart: one horizontal bar (or point) per row, whiskers for intervals, dashed
    reference lines, flagged rows in red with their label in bold."""
    rows = [r for r in rows if _finite(r.value)]
    label_w, value_w, row_h, top, bottom = 230, 70, 22, 34, 26
    plot_w = width - label_w - value_w - 10
    height = top + bottom + row_h * max(len(rows), 1)
    values = [r.value for r in rows]
    values += [v for r in rows for v in (r.low, r.high) if _finite(v)]
    values += [x for x, _ in ref_lines]
    lo = min([0.0, *values]) if bars else min(values, default=0.0)
    hi = max([0.0, *values]) if bars else max(values, default=1.0)
    if hi == lo:
        hi = lo + 1.0
    pad = (hi - lo) * 0.05
    lo, hi = (lo if bars and lo == 0 else lo - pad), hi + pad

    def x(value: float) -> float:
        return label_w + (value - lo) / (hi - lo) * plot_w

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' font-family='sans-serif' font-size='12'>",
        f"<title>{html.escape(title)}</title>",
        f"<text x='0' y='16' font-size='14' font-weight='bold'>{html.escape(title)}</text>",
    ]
    for index, row in enumerate(rows):
        y = top + index * row_h
        colour = HIGHLIGHT if row.flagged else NORMAL
        weight = " font-weight='bold'" if row.flagged else ""
        label = row.label if len(row.label) <= 34 else row.label[:33] + "…"
        out.append(
            f"<text x='{label_w - 6}' y='{y + 15}' text-anchor='end'{weight}>"
            f"{html.escape(label)}</text>"
        )
        if bars:
            x0, x1 = sorted((x(0.0), x(row.value)))
            out.append(
                f"<rect x='{x0:.1f}' y='{y + 4}' width='{max(x1 - x0, 1.5):.1f}' height='14' "
                f"fill='{colour}'/>"
            )
        if _finite(row.low) and _finite(row.high):
            out.append(
                f"<line x1='{x(row.low):.1f}' x2='{x(row.high):.1f}' y1='{y + 11}' "
                f"y2='{y + 11}' stroke='#222' stroke-width='1.5'/>"
            )
        if not bars:
            out.append(f"<circle cx='{x(row.value):.1f}' cy='{y + 11}' r='4.5' fill='{colour}'/>")
        out.append(
            f"<text x='{width - value_w + 4}' y='{y + 15}'{weight}>"
            f"{html.escape(fmt(row.value))}</text>"
        )
    axis_y = top + row_h * max(len(rows), 1)
    for value, text in ref_lines:
        out.append(
            f"<line x1='{x(value):.1f}' x2='{x(value):.1f}' y1='{top - 4}' y2='{axis_y}' "
            f"stroke='{MUTED}' stroke-dasharray='4 3'/>"
            f"<text x='{x(value):.1f}' y='{axis_y + 16}' text-anchor='middle' fill='#555'>"
            f"{html.escape(text)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


SERIES_COLOURS = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#666666")


@dataclass(frozen=True)
class Series:
    """One line of a time chart: a value per date, with an optional band (low, high)."""

    label: str
    dates: Sequence[dt.date]
    values: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


@dataclass(frozen=True)
class Point:
    """A flagged item drawn as a red cross on a time chart, labelled in its title (hover)."""

    label: str
    date: dt.date
    value: float


def time_chart(
    series: Sequence[Series],
    *,
    title: str,
    points: Sequence[Point] = (),
    y_range: tuple[float, float] = (0.0, 1.0),
    fmt: Callable[[float], str] = lambda v: f"{v:.0%}",
    width: int = 640,
    height: int = 300,
) -> str:
    """An SVG time chart: a line per series (one polyline, however many dates) with its band as
    one polygon, flagged points as red crosses (each labelled in its SVG title), and a legend. Its size grows with the series and the flagged points, never with what was pooled
    into each value."""
    left, right, top, bottom = 48, 150, 30, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    dates = [d for s in series for d in s.dates] + [p.date for p in points]
    ordinals = [d.toordinal() for d in dates]
    first, last = (min(ordinals), max(ordinals)) if ordinals else (0, 1)
    if last == first:
        last = first + 1
    lo, hi = y_range

    def x(day: dt.date) -> float:
        return left + (day.toordinal() - first) / (last - first) * plot_w

    def y(value: float) -> float:
        return top + (1 - (min(max(value, lo), hi) - lo) / (hi - lo)) * plot_h

    out = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' font-family='sans-serif' font-size='11'>",
        f"<title>{html.escape(title)}</title>",
        f"<text x='0' y='16' font-size='14' font-weight='bold'>{html.escape(title)}</text>",
    ]
    for tick in (lo, (lo + hi) / 2, hi):
        out.append(
            f"<line x1='{left}' x2='{left + plot_w}' y1='{y(tick):.1f}' y2='{y(tick):.1f}' "
            f"stroke='#e3e3e3'/><text x='{left - 4}' y='{y(tick) + 4:.1f}' text-anchor='end' "
            f"fill='#555'>{html.escape(fmt(tick))}</text>"
        )
    if ordinals:
        for day in (dt.date.fromordinal(first), dt.date.fromordinal(last)):
            out.append(
                f"<text x='{x(day):.1f}' y='{top + plot_h + 16}' text-anchor='middle' "
                f"fill='#555'>{day:%b %Y}</text>"
            )
    for index, line in enumerate(series):
        colour = SERIES_COLOURS[index % len(SERIES_COLOURS)]
        kept = [
            (d, v, lw, hg)
            for d, v, lw, hg in zip(
                line.dates,
                line.values,
                line.low or [None] * len(line.values),
                line.high or [None] * len(line.values),
                strict=True,
            )
            if _finite(v)
        ]
        if not kept:
            continue
        if all(_finite(lw) and _finite(hg) for _, _, lw, hg in kept):
            edge = [f"{x(d):.1f},{y(hg):.1f}" for d, _, _, hg in kept]
            edge += [f"{x(d):.1f},{y(lw):.1f}" for d, _, lw, _ in reversed(kept)]
            out.append(f"<polygon points='{' '.join(edge)}' fill='{colour}' fill-opacity='0.18'/>")
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v, _, _ in kept)
        out.append(f"<polyline points='{path}' fill='none' stroke='{colour}' stroke-width='2'/>")
        legend_y = top + 14 * index
        out.append(
            f"<line x1='{width - right + 10}' x2='{width - right + 28}' y1='{legend_y + 6}' "
            f"y2='{legend_y + 6}' stroke='{colour}' stroke-width='3'/>"
            f"<text x='{width - right + 32}' y='{legend_y + 10}'>{html.escape(line.label)}</text>"
        )
    for point in points:
        if not _finite(point.value):
            continue
        cx, cy = x(point.date), y(point.value)
        out.append(
            f"<g stroke='{HIGHLIGHT}' stroke-width='2.5'><title>{html.escape(point.label)}</title>"
            f"<line x1='{cx - 5:.1f}' x2='{cx + 5:.1f}' y1='{cy - 5:.1f}' y2='{cy + 5:.1f}'/>"
            f"<line x1='{cx - 5:.1f}' x2='{cx + 5:.1f}' y1='{cy + 5:.1f}' y2='{cy - 5:.1f}'/></g>"
        )
    if points:
        legend_y = top + 14 * len(series)
        out.append(
            f"<text x='{width - right + 10}' y='{legend_y + 10}' fill='{HIGHLIGHT}' "
            f"font-weight='bold'>x flagged cohort</text>"
        )
    out.append("</svg>")
    return "".join(out)
