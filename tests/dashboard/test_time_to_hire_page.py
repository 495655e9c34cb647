"""AppTest of the Time to hire page on the sample warehouse: the measured track ratio next to the
claim, the summary table's real values, switching clock and grouping, a role filter, an empty
selection, and no warehouse.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from signalboard.analysis import time_to_hire as tth
from signalboard.db import connect_readonly
from signalboard.queries import run_query
from tests.page_helpers import frame_by_download, open_app_page
from tests.paths import REPO_ROOT

PAGE = REPO_ROOT / "dashboard" / "views" / "time_to_hire.py"


def open_page(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_app_page(PAGE, db_path, monkeypatch)


@pytest.fixture
def journeys(sample_db: Path):
    con = connect_readonly(sample_db)
    try:
        return run_query(con, "application_journeys")
    finally:
        con.close()


def test_time_to_hire_page_shows_the_measured_ratio(sample_db, journeys, monkeypatch):
    at = open_page(sample_db, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Time to hire"
    expected = tth.track_comparison(journeys)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Measured ratio (micro / traditional)"] == f"{expected.ratio:.2f}"
    assert metrics["Claimed reduction"] == "40% shorter"
    assert not [label for label in metrics if "seed" in label.lower()]  # a plain label
    summary = frame_by_download(at, "time_to_hire")
    first = summary.iloc[0]
    # Shown for people: labels and thousands separators (the download keeps machine names).
    assert (first["Clock"], first["Track"], first["Segment"]) == ("applied_to_hired", "all", "all")
    assert first["n"] == f"{len(journeys):,}"
    assert first["Hired"] == f"{int(journeys['reached_hired_at'].notna().sum()):,}"
    durations = frame_by_download(at, "stage_durations")
    assert list(durations.columns[:3]) == ["Track", "Stage", "n"]
    # Switching the clock and the grouping redraws without errors.
    at.radio(key="tth_clock").set_value("applied_to_selected")
    at.radio(key="tth_by").set_value("role").run()
    assert not at.exception, [e.value for e in at.exception]
    roles = frame_by_download(at, "time_to_hire_roles")
    assert sorted(roles["Group a"]) == sorted(journeys["role"].unique())


def test_the_claimed_reduction_comes_from_the_setting(sample_db, monkeypatch):
    monkeypatch.setenv("SIGNALBOARD_CLAIMED_TIME_REDUCTION", "0.25")
    at = open_page(sample_db, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Claimed reduction"] == "25% shorter"
    findings_text = " ".join(t.value for t in at.text)
    assert "claimed 25% shorter" in findings_text


def test_time_to_hire_role_filter_and_empty_selection(sample_db, journeys, monkeypatch):
    role = sorted(journeys["role"].unique())[0]
    at = open_page(sample_db, monkeypatch)
    at.sidebar.multiselect(key="f_roles").set_value([role]).run()
    assert not at.exception, [e.value for e in at.exception]
    summary = frame_by_download(at, "time_to_hire")
    assert summary.iloc[0]["n"] == f"{int((journeys['role'] == role).sum()):,}"
    at.sidebar.date_input(key="f_start").set_value(dt.date(2027, 1, 1))
    at.sidebar.date_input(key="f_end").set_value(dt.date(2027, 1, 31)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No applications match" in i.value for i in at.info)


def test_time_to_hire_page_without_a_warehouse(tmp_path, monkeypatch):
    at = open_page(tmp_path / "missing.duckdb", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert any("does not exist" in i.value for i in at.info)
