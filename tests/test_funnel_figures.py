"""The Funnel and Time to hire figures carry the analysis numbers in their traces."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.figures import funnel as figures
from etl.contract import STAGES
from signalboard.analysis import time_to_hire as tth


def funnel_frame(segments=("all",)) -> pd.DataFrame:
    rows = []
    for offset, segment in enumerate(segments):
        for index, stage in enumerate(STAGES):
            rows.append(
                {
                    "segment": segment,
                    "stage": stage,
                    "reached": 100 - 10 * index - offset,
                    "pending": 1 if index == 2 else 0,
                    "step_conversion": np.nan if index == 0 else 0.9,
                    "overall_conversion": 1 - index / 10,
                }
            )
    return pd.DataFrame(rows)


def test_funnel_figure_bars_are_the_reached_counts():
    figure = figures.funnel_figure(funnel_frame())
    reached, pending = figure.data
    assert list(reached.x) == list(STAGES)
    assert list(reached.y) == [100 - 10 * i for i in range(len(STAGES))]
    assert pending.name == "pending (in progress)" and pending.y[2] == 1


def test_funnel_figure_draws_suppressed_counts_as_missing():
    frame = funnel_frame()
    frame["reached"] = frame["reached"].astype(object)
    frame.loc[8, "reached"] = "<5"
    assert np.isnan(figures.funnel_figure(frame).data[0].y[8])


def test_step_conversion_figure_has_a_line_per_segment():
    figure = figures.step_conversion_figure(funnel_frame(("a", "b")))
    assert [t.name for t in figure.data] == ["a", "b"]
    assert list(figure.data[0].x) == list(STAGES[1:])


def test_trend_figure_marks_alerts_and_limits():
    trends = pd.DataFrame(
        {
            "track": "micro_internship",
            "cohort_id": ["c0", "c1", "c2"],
            "cohort_start": pd.to_datetime(["2025-01-01", "2025-02-01", "2025-03-01"]),
            "stage": "submitted",
            "stage_index": 2,
            "rate": [0.8, 0.82, 0.4],
            "complete": [True, True, True],
            "expected_rate": [np.nan, np.nan, 0.81],
            "lower_limit": [np.nan, np.nan, 0.6],
            "flagged": [False, False, True],
        }
    )
    figure = figures.trend_figure(trends, track="micro_internship", stage="submitted")
    names = [t.name for t in figure.data]
    assert names == ["submitted", "expected (earlier cohorts)", "lower limit", "alert"]
    assert list(figure.data[-1].y) == [0.4]


def test_incidence_figure_plots_the_aalen_johansen_curve():
    curve = tth.aalen_johansen([1, 2, 3, 4], [1, 2, 1, 0]).to_frame().assign(group="g")
    figure = figures.incidence_figure(curve)
    line = figure.data[-1]
    assert line.name == "g"
    assert list(line.y) == [0.0, 0.25, 0.25, 0.5, 0.5]


def test_stage_duration_figure_groups_median_p75_p90():
    durations = pd.DataFrame(
        {"stage": ["applied"], "median_days": [2.0], "p75_days": [4.0], "p90_days": [9.0]}
    )
    figure = figures.stage_duration_figure(durations)
    assert [(t.name, t.y[0]) for t in figure.data] == [("median", 2.0), ("P75", 4.0), ("P90", 9.0)]
