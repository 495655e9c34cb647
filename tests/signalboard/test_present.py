"""The presentation layer: one value -> text per kind, and whole tables for people."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from signalboard.present import column_for, format_value, html_table, humanize


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        (0.41879194630872485, "rate", "41.9%"),
        (1.0, "rate", "100.0%"),
        (0.0, "rate", "0.0%"),
        (764.1721428963964, "usd", "$764.17"),
        (1049021.5, "usd", "$1,049,021.50"),
        (-12.5, "usd", "-$12.50"),
        (1049021.4, "usd0", "$1,049,021"),
        (33988, "count", "33,988"),
        (np.int64(1049021), "count", "1,049,021"),
        (2.2743801652892564, "count", "2.3"),
        (-7.896012445815992, "percent", "-7.9%"),
        (34.22222, "percent", "34.2%"),
        (0.4322033898305085, "ratio", "0.43"),
        (7.76302753239057e-17, "pvalue", "< 0.001"),
        (0.0009999, "pvalue", "< 0.001"),
        (0.001, "pvalue", "0.001"),
        (0.2992268312097256, "pvalue", "0.299"),
        (1.0, "pvalue", "1.000"),
        (85.0, "days", "85"),
        (119.5, "days", "119.5"),
        (0.45080451672243455, "number", "0.45"),
        (-0.6468385207943305, "number", "-0.65"),
        (True, "bool", "Yes"),
        (np.bool_(False), "bool", "No"),
        (pd.Timestamp("2025-11-24 00:00:00"), "date", "2025-11-24"),
        (pd.Timestamp("2026-06-29 21:28:50"), "datetime", "2026-06-29 21:28"),
        (pd.Timestamp("2026-06-29 00:00:00"), "datetime", "2026-06-29"),
        (dt.date(2025, 1, 1), "date", "2025-01-01"),
        ("2025-01-01 00:00:00", "date", "2025-01-01"),
        (None, "rate", ""),
        (pd.NA, "count", ""),
        (float("nan"), "usd", ""),
        (pd.NaT, "date", ""),
        (np.nan, "text", ""),
        ("<5", "count", "<5"),
        ("1213", "count", "1,213"),
        ("0.4321", "ratio", "0.43"),
        ("*", "rate", "*"),
        ('=HYPERLINK("x")', "text", '=HYPERLINK("x")'),
        (float("inf"), "ratio", "∞"),
    ],
)
def test_format_value(value: object, kind: str, expected: str) -> None:
    assert format_value(value, kind) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "label", "kind"),
    [
        ("step_conversion", "Step conversion", "rate"),
        ("ir_ci_low", "Impact ratio, 95% CI low", "ratio"),
        ("raw_gap_pct_real", "Raw gap, real", "percent"),
        ("some_new_usd", "Some new USD", "usd"),
        ("median_gap_pct_nominal_ci_low", "Median gap pct nominal CI low", "text"),
    ],
)
def test_column_registry(name: str, label: str, kind: str) -> None:
    column = column_for(name)
    assert (column.label, column.kind) == (label, kind)


def test_humanize_labels_formats_and_pins_keys() -> None:
    frame = pd.DataFrame(
        {
            "n": [1213, 5],
            "selection_rate": [0.460840890354493, None],
            "group": ["Female", "<b>x</b>"],
            "attribute": ["sex", "sex"],
            "p_value": [1e-40, np.nan],
        }
    )
    shown = humanize(frame)
    assert list(shown.columns) == ["Attribute", "Group", "n", "Selection rate", "p"]
    assert shown.iloc[0].tolist() == ["sex", "Female", "1,213", "46.1%", "< 0.001"]
    assert shown.iloc[1].tolist() == ["sex", "<b>x</b>", "5", "", ""]


def test_humanize_explicit_pin_comes_first() -> None:
    frame = pd.DataFrame({"axis": ["total"], "grader_id": ["G03"], "severity": [0.45]})
    assert list(humanize(frame, pinned=["grader_id"]).columns) == [
        "Grader",
        "Rubric axis",
        "Severity (points)",
    ]


def test_html_table_escapes_data() -> None:
    frame = pd.DataFrame({"group": ["<script>alert(1)</script>"], "n": [3]})
    text = html_table(frame)
    assert "<script>" not in text
    assert "&lt;script&gt;" in text


@pytest.mark.parametrize(
    ("ratios", "marked"),
    [([0.5, 0.8, 1.0], [True, False, False]), ([None, 0.79], [False, True]), ([], [])],
)
def test_html_table_marks_ratios_below_the_limit(ratios: list, marked: list[bool]) -> None:
    # `step` is a key column, so humanize shows it first: the mark must follow the column.
    frame = pd.DataFrame(
        {"impact_ratio": pd.array(ratios, dtype="Float64"), "step": ["s"] * len(ratios)}
    )
    text = html_table(frame, below={"impact_ratio": 0.8})
    rows = text.split("<tr>")[2:]
    assert [r.split("<td")[2].startswith(" class='below'") for r in rows] == marked
    assert all(r.split("<td")[1].startswith(">") for r in rows)  # the step cell never


@pytest.mark.parametrize(
    "name",
    [
        "selection_rate",
        "n",
        "p_value",
        "some_new_usd",
        "raw_gap_pct_real",
        "ir_ci_low",
        "median_gap_pct_nominal_ci_low",
        "unregistered_float",
    ],
)
@pytest.mark.parametrize(
    "values",
    [
        pd.Series([0.0, 1.5, -2.25, 1e-40, 12345678.9, np.nan, np.inf, -np.inf]),
        pd.Series([0, 7, -3, 1049021], dtype="int64"),
        pd.Series([5, None, 1213], dtype="Int64"),
        pd.Series([3, 250], dtype="uint8"),
    ],
)
def test_humanize_numeric_columns_read_as_each_cell_formatted(name: str, values: pd.Series):
    """Numeric columns are formatted without the per-cell checks: the same text as
    `format_value` cell by cell, blanks and infinities included, for every numeric dtype."""
    frame = pd.DataFrame({name: values})
    kind = column_for(name, frame[name]).kind
    shown = humanize(frame).iloc[:, 0].tolist()
    assert shown == [format_value(v, kind) for v in frame[name].tolist()]
