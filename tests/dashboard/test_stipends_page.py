"""AppTest of the Stipends page on the sample warehouse and without one.

The app runs through dashboard/entrypoint/streamlit_app.py (see tests/dashboard/test_app_pages.py for why).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from signalboard.analysis import stipends
from signalboard.db import readonly
from signalboard.present import column_for
from tests.oracles import stipends as oracle
from tests.page_helpers import frame_by_download, open_app_page, shown_text
from tests.paths import REPO_ROOT

PAGE = REPO_ROOT / "dashboard" / "views" / "stipends.py"
TIMEOUT = 180


def open_stipends(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    return open_app_page(PAGE, db_path, monkeypatch, timeout=TIMEOUT)


def test_stipends_page_on_the_sample(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with readonly(sample_db) as con:
        analysis = oracle.analyze(*oracle.load_frames(con))
    at = open_stipends(sample_db, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Stipends"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applications with a stipend"] == str(len(analysis.applications))
    assert metrics["Remediation cost (USD)"] == f"{analysis.remediation_cost_usd:,.0f}"
    shown = frame_by_download(at, "stipends")
    # Shown for people: every published column under its label, gaps as percent.
    assert {column_for(c).label for c in stipends.STIPEND_COLUMNS} <= set(shown.columns)
    female = shown[(shown["Attribute"] == "sex") & (shown["Group"] == "Female")].iloc[0]
    expected = analysis.gaps.set_index(["attribute", "group"]).loc[("sex", "Female")]
    assert female["Adjusted gap"] == f"{expected['adjusted_gap_pct']:.1f}%"
    assert female["Reference group"] == expected["reference_group"]
    flags = frame_by_download(at, "stipend_flags")
    assert len(flags) == len(analysis.flags)
    assert len(frame_by_download(at, "remediation")) == len(analysis.remediation)
    labels = [b.label for b in at.get("download_button")]
    for name in ("stipend_pay_gap_reporting", "stipend_pay_quartiles", "stipend_pay_categories"):
        assert f"Download {name}.csv" in labels


def test_stipends_page_reference_group_is_selectable(
    sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_stipends(sample_db, monkeypatch)
    at.selectbox(key="stip_attribute").set_value("sex").run()
    at.selectbox(key="stip_reference_sex").set_value("Female").run()
    assert not at.exception, [e.value for e in at.exception]
    view = frame_by_download(at, "stipends_view")
    assert set(view["Reference group"]) == {"Female"}


def test_stipends_page_without_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_stipends(tmp_path / "missing.duckdb", monkeypatch)
    assert not at.exception
    assert any("No warehouse yet" in i.value for i in at.info)
    assert not at.get("download_button")


def test_stipends_page_warns_about_mixed_vintages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hand-made warehouse mixes BEA 2023 and World Bank 2024 price levels: the page warns,
    and pinning one vintage on the page removes the warning."""
    from etl.warehouse import connect_writable
    from tests.queries.test_stipends_sql import build_warehouse

    path = tmp_path / "mixed.duckdb"
    con = connect_writable(path)
    build_warehouse(con)
    con.close()
    at = open_stipends(path, monkeypatch)
    assert not at.exception, [e.value for e in at.exception]
    assert any("Mixed cost-of-living vintages" in shown_text(w.value) for w in at.warning)
    flags = frame_by_download(at, "stipend_flags")
    assert "missing_cost_of_living" in set(flags["Reason"])
    at.selectbox(key="stip_vintage").set_value("2023").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not any("Mixed cost-of-living vintages" in shown_text(w.value) for w in at.warning)
