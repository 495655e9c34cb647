"""The Funnel and Time to hire figures carry the analysis numbers in their traces."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.figures import funnel as figures
from etl.contract import STAGES
from signalboard import report
from signalboard.analysis import funnel
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
    assert pending.name == figures.PENDING_NAME and pending.y[2] == 1


def test_pending_bars_stand_out_stacked_on_reached():
    """Pending sits on top of its stage's reached bar, in its own colour with a hatch."""
    reached, pending = figures.funnel_figure(funnel_frame()).data
    assert list(pending.base) == list(reached.y)
    assert pending.offsetgroup == reached.offsetgroup
    assert pending.marker.color != reached.marker.color
    assert pending.marker.pattern.shape == "/"
    assert pending.opacity is None  # not faded
    assert pending.text[2] == "+1 pending" and pending.text[0] == ""  # labelled, at any scale


def test_funnel_figure_draws_suppressed_counts_as_missing():
    frame = funnel_frame()
    frame["reached"] = frame["reached"].astype(object)
    frame.loc[8, "reached"] = "<5"
    assert np.isnan(figures.funnel_figure(frame).data[0].y[8])


def test_step_conversion_figure_has_a_line_per_segment():
    figure = figures.step_conversion_figure(funnel_frame(("a", "b")))
    assert [t.name for t in figure.data] == ["a", "b"]
    assert list(figure.data[0].x) == list(STAGES[1:])


def many_cohorts(cohorts: int, *, per_day: int = 5, seed: int = 0) -> pd.DataFrame:
    """`cohort_trends` of a program that opens `per_day` cohorts a day (5,000 cohorts over
    about 33 months), one cohort leaking at triage."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(cohorts):
        start = pd.Timestamp("2020-01-01") + pd.Timedelta(days=index // per_day)
        for step in range(1, len(STAGES)):
            rows.append(
                {
                    "application_id": 0,
                    "track": "micro_internship",
                    "cohort_id": f"c{index:05d}",
                    "cohort_start": start,
                    "stage": STAGES[step],
                    "stage_index": step,
                    "n": 150,
                    "reached": int(rng.binomial(150, 0.3 if index == 5 and step == 3 else 0.7)),
                    "complete": index < cohorts - 3,
                    "expected_rate": 0.7,
                    "flagged": index == 5 and step == 3,
                }
            )
    trends = pd.DataFrame(rows)
    trends["rate"] = trends["reached"] / trends["n"]
    return trends


@pytest.mark.parametrize("cohorts", [12, 5000])
def test_trend_figure_stays_small_at_thousands_of_cohorts(cohorts: int) -> None:
    """A point per month and step, a trace per step: the chart does not grow with cohorts."""
    trends = many_cohorts(cohorts)
    monthly = funnel.monthly_trends(trends)
    flagged = trends.loc[trends["flagged"]]
    figure = figures.trend_figure(monthly, track="micro_internship", flagged=flagged)
    steps = len(STAGES) - 1
    assert len(figure.data) == steps + 1  # a line per step, no band (one step has one)
    months = trends["cohort_start"].dt.to_period("M").nunique()
    assert months <= 34
    lines = [t for t in figure.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == list(STAGES[1:])
    assert all(len(t.x) == months for t in lines)
    assert sum(len(t.x) for t in figure.data) == steps * months + len(flagged)
    # Pooled per month: the rate is reached / n over the month's cohorts.
    first = monthly.iloc[0]
    january = trends.loc[
        (trends["cohort_start"] < "2020-02-01") & (trends["stage"] == first["stage"])
    ]
    assert first["rate"] == pytest.approx(january["reached"].sum() / january["n"].sum())
    assert first["ci_low"] < first["rate"] < first["ci_high"]
    # The flagged cohort is a red cross at its own rate, apart from the monthly line.
    alert = figure.data[-1]
    assert alert.name == "flagged cohort" and alert.marker.color == figures.ALERT_COLOR
    assert list(alert.y) == flagged["rate"].tolist()
    assert figures.ALERT_COLOR not in [t.line.color for t in lines]
    # Months whose last cohorts are still open are hollow.
    assert lines[0].marker.symbol[-1] == "circle-open"


def test_trend_figure_one_step_and_one_cohort() -> None:
    trends = many_cohorts(40)
    monthly = funnel.monthly_trends(trends)
    cohort = trends.loc[trends["cohort_id"] == "c00005"]
    figure = figures.trend_figure(
        monthly, track="micro_internship", stage="triage_passed",
        flagged=trends.loc[trends["flagged"]], cohort=cohort,
    )  # fmt: skip
    names = [t.name for t in figure.data]
    assert names == ["triage_passed 95% band", "triage_passed", "flagged cohort", "cohort c00005"]
    step = monthly.loc[monthly["stage"] == "triage_passed"]
    band = figure.data[0]
    assert list(band.y) == [*step["ci_high"], *step["ci_low"][::-1]]
    assert list(figure.data[-1].y) == [
        pytest.approx(cohort.loc[cohort["stage_index"] == 3, "rate"].item())
    ]


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


@pytest.mark.parametrize("cohorts", [12, 5000])
def test_report_trend_chart_stays_small_at_thousands_of_cohorts(cohorts: int) -> None:
    """report.html's trend chart: a line per flagged step over months, the cohort a red cross."""
    trends = many_cohorts(cohorts)
    tables = {
        "funnel_trend_by_month": funnel.monthly_trends(trends),
        "funnel_alerts": trends.loc[trends["flagged"]],
    }
    (chart,) = report.trend_charts(tables)
    assert chart.count("<polyline") == 1  # the one step with a flagged cohort
    assert chart.count("<polygon") == 1  # its band
    assert chart.count("<g stroke='#c0392b'") == 1  # the flagged cohort
    assert "<title>c00005 triage_passed" in chart
    months = trends["cohort_start"].dt.to_period("M").nunique()
    line = chart[chart.index("<polyline points='") :].split("'")[1]
    assert len(line.split()) == months
    assert len(chart) < 5_000 + 40 * months
    assert f"({cohorts:,} cohorts" in chart


def test_step_conversion_by_thousands_of_segments_is_one_grey_trace() -> None:
    few = figures.step_conversion_figure(funnel_frame(("a", "b", "c")))
    assert len({t.line.color for t in few.data}) == 3  # distinct colours
    many = figures.step_conversion_figure(funnel_frame(tuple(f"c{i}" for i in range(3000))))
    (grey,) = many.data
    assert grey.name == "3,000 segments"
    assert len(grey.x) == 3000 * len(STAGES)  # the steps and a gap per segment
    assert grey.text[0] == "c0"
