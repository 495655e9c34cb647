"""AppTest of the Funnel page on the sample warehouse: real numbers, a breakdown, a demographic
breakdown that is suppressed, drill-through, a role filter, an empty selection, and no warehouse.

The app runs through dashboard/entrypoint/streamlit_app.py (see tests/dashboard/test_app_pages.py for why),
so the sidebar filters run before the page as they do in `signalboard serve`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from signalboard.analysis import funnel
from signalboard.db import connect_readonly
from signalboard.present import humanize
from signalboard.queries import run_query
from tests.page_helpers import frame_by_download, open_app_page
from tests.paths import REPO_ROOT

PAGE = REPO_ROOT / "dashboard" / "views" / "funnel.py"


def open_funnel(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_app_page(PAGE, db_path, monkeypatch)


@pytest.fixture
def expected(sample_db: Path):
    con = connect_readonly(sample_db)
    try:
        journeys = run_query(con, "application_journeys")
    finally:
        con.close()
    return funnel.funnel_table(journeys), journeys


def test_funnel_page_shows_the_sample_funnel(sample_db, expected, monkeypatch):
    table, journeys = expected
    at = open_funnel(sample_db, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Funnel"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applications"] == f"{len(journeys):,}"
    assert metrics["Hired"] == f"{int(table['reached'].iloc[-1]):,}"
    shown = frame_by_download(at, "funnel")
    people = humanize(table)
    assert shown["Reached"].tolist() == people["Reached"].tolist()
    assert shown["Pending"].tolist() == people["Pending"].tolist()
    assert "Step conversion" in shown.columns and "step_conversion" not in shown.columns
    # The alerts are the analysis's (on the sample, seed 7: the planted leak) and are announced.
    alerts = frame_by_download(at, "funnel_alerts")
    expected_alerts = funnel.funnel_alerts(funnel.cohort_trends(journeys))
    assert alerts["Cohort"].tolist() == expected_alerts["cohort_id"].tolist()
    assert alerts["Flagged"].tolist() == humanize(expected_alerts)["Flagged"].tolist()
    # The findings block names the planted submission leak (docs/generator.md, seed 7).
    findings_text = " ".join(t.value for t in at.text)
    assert "Cohort DA-2025-11-24" in findings_text and "reached submitted" in findings_text
    alert_boxes = [w for w in at.warning if "alert(s):" in w.value]
    assert not at.error  # findings are warnings; error boxes are for failures
    if expected_alerts["flagged"].any():
        assert len(alert_boxes) == 1
    else:
        assert not alert_boxes


def test_funnel_breakdowns_suppression_and_drill_through(sample_db, monkeypatch):
    at = open_funnel(sample_db, monkeypatch)
    at.multiselect(key="funnel_by").set_value(["track", "sex"]).run()
    assert not at.exception, [e.value for e in at.exception]
    shown = frame_by_download(at, "funnel")
    assert set(shown["Breakdown"]) == {"track x sex"}
    assert "Suppressed" in shown and (shown["Suppressed"] == "Yes").any()
    assert shown["Reached"].map(lambda v: isinstance(v, str) and v.startswith("<")).any()
    # Drill through: the traditional applications that reached 'selected'.
    at.selectbox(key="drill_track").set_value("traditional").run()
    rows = frame_by_download(at, "funnel_drill_through")
    assert len(rows) > 0
    assert set(rows["Track"]) == {"traditional"}
    assert set(rows["Furthest stage"]) <= set(funnel.STAGES[1:])


def test_funnel_role_filter_and_empty_selection(sample_db, expected, monkeypatch):
    table, journeys = expected
    role = sorted(journeys["role"].unique())[0]
    at = open_funnel(sample_db, monkeypatch)
    at.sidebar.multiselect(key="f_roles").set_value([role]).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applications"] == f"{int((journeys['role'] == role).sum()):,}"
    # A date range with no applications: the page says what to do instead of failing.
    at.sidebar.date_input(key="f_start").set_value(dt.date(2027, 1, 1))
    at.sidebar.date_input(key="f_end").set_value(dt.date(2027, 1, 31)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No applications match" in i.value for i in at.info)
    assert not at.metric


def test_funnel_page_without_a_warehouse(tmp_path, monkeypatch):
    at = open_funnel(tmp_path / "missing.duckdb", monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert any("does not exist" in i.value for i in at.info)
