"""Charts with many graders or groups: flagged items stand out (their own colour, grey for the
rest), ratios under four-fifths are marked in the bars and in the tables, whatever the count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard import ui
from dashboard.figures import assessors, fairness
from signalboard.present import humanize


def drift_frame(graders: int, flagged: set[int]) -> pd.DataFrame:
    months = pd.date_range("2025-01-01", periods=6, freq="MS")
    rng = np.random.default_rng(graders)
    rows = [
        {
            "grader_id": f"g{g:02d}",
            "month": month,
            "n_scored": 30,
            "severity": float(rng.normal(0, 0.1)) + (0.6 if g in flagged and m >= 3 else 0),
            "flagged": g in flagged and m >= 3,
        }
        for g in range(graders)
        for m, month in enumerate(months)
    ]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("graders", "flagged"), [(14, {3}), (40, {1, 7, 22}), (5, set())])
def test_drift_greys_unflagged_graders_and_colours_flagged_ones(graders, flagged) -> None:
    figure = assessors.drift_figure(drift_frame(graders, flagged), threshold=0.25)
    names = [t.name for t in figure.data]
    highlighted = [f"g{g:02d}" for g in sorted(flagged)]
    # One grey trace for every unflagged grader, one trace per flagged grader, one of crosses.
    expected = ["other graders (not flagged)", *highlighted]
    assert names == expected + (["flagged month"] if flagged else [])
    grey = figure.data[0]
    assert grey.line.color == assessors.UNFLAGGED_COLOR
    assert len({t for t in grey.text if t}) == graders - len(flagged)
    colours = [t.line.color for t in figure.data[1 : 1 + len(flagged)]]
    assert len(set(colours)) == len(colours)  # no reused colour among flagged graders
    assert assessors.UNFLAGGED_COLOR not in colours
    if flagged:
        crosses = figure.data[-1]
        assert crosses.marker.color == assessors.FLAG_COLOR
        assert len(crosses.x) == 3 * len(flagged)


def test_drift_highlights_a_grader_flagged_overall_without_a_flagged_month() -> None:
    figure = assessors.drift_figure(
        drift_frame(14, set()), threshold=0.25, flagged_graders=("g05", "not-in-the-data")
    )
    names = [t.name for t in figure.data]
    assert names == ["other graders (not flagged)", "g05"]
    assert figure.data[1].line.color != assessors.UNFLAGGED_COLOR
    assert len({t for t in figure.data[0].text if t}) == 13


def test_drift_past_the_palette_differs_by_dash() -> None:
    many = set(range(len(assessors.HIGHLIGHT_COLORS) + 2))
    figure = assessors.drift_figure(drift_frame(30, many), threshold=0.25)
    styles = [(t.line.color, t.line.dash) for t in figure.data[1:-1]]
    assert len(styles) == len(many) and len(set(styles)) == len(styles)


def ll144_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mode": "selection",
            "table": "race_ethnicity",
            "category": ["White", "Hispanic or Latino", "Asian", "Other", "Unknown"],
            "n": [500, 300, 200, 10, 40],
            "count": [250, 65, 90, 5, 20],
            "rate": [0.5, 0.2167, 0.45, 0.5, 0.5],
            "impact_ratio": [1.0, 0.4333, 0.9, np.nan, np.nan],
            "excluded_from_ir": [False, False, False, True, False],
            "ir_note": ["", "", "", "excluded", "unknown"],
        }
    )


def test_ll144_figure_marks_ratios_below_four_fifths() -> None:
    figure = fairness.ll144_figure(ll144_table())
    (bars,) = figure.data
    assert list(bars.y) == ["White", "Hispanic or Latino", "Asian"]  # no ratio: left out
    assert list(bars.marker.color) == [
        fairness.ABOVE_COLOR,
        fairness.BELOW_COLOR,
        fairness.ABOVE_COLOR,
    ]
    assert list(bars.marker.pattern.shape) == ["", "/", ""]
    assert "below 0.8" in bars.text[1]
    lines = [s for s in figure.layout.shapes if s.type == "line"]
    assert [line.x0 for line in lines] == [0.8]


def test_impact_ratio_figure_hatches_bars_below_four_fifths() -> None:
    table = pd.DataFrame(
        {
            "group": ["A", "B", "C"],
            "impact_ratio": [1.0, 0.43, 0.79],
            "ir_ci_low": [1.0, 0.3, 0.6],
            "ir_ci_high": [1.0, 0.55, 0.95],
            "status": [
                "reference",
                "below_four_fifths_significant",
                "below_four_fifths_not_significant",
            ],
        }
    )
    figure = fairness.impact_ratio_figure(table)
    shapes = {t.name: list(t.marker.pattern.shape) for t in figure.data}
    assert shapes == {
        "reference": [""],
        "below four fifths significant": ["/"],
        "below four fifths not significant": ["/"],
    }
    assert [s.x0 for s in figure.layout.shapes if s.type == "line"] == [0.8]


def test_tables_mark_ratio_cells_below_four_fifths() -> None:
    frame = ll144_table()
    people = humanize(frame)
    styled = ui.marked_below(frame, people, {"impact_ratio": 0.8})
    styles = styled._compute().ctx  # (row, column) -> css of the styled cells
    column = list(people.columns).index("Impact ratio")
    assert sorted(styles) == [(1, column)]  # Hispanic or Latino, 0.43
    assert ("background-color", "#f8d7da") in styles[(1, column)]
    # Nothing under the limit: the plain table, no styling.
    assert isinstance(
        ui.marked_below(frame.head(1), people.head(1), {"impact_ratio": 0.8}), pd.DataFrame
    )
