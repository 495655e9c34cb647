"""Streamlit AppTest of the whole app shell: every page renders on the sample warehouse, on a
missing and on an empty one; the global filters persist across pages and come back from the URL;
the Data health page shows the sample's real row counts; a load that swaps the warehouse file is
picked up on the next rerun.

The app runs through the script `signalboard serve` runs (dashboard/entrypoint/streamlit_app.py,
which runs dashboard/app.py: the sidebar, then the page). AppTest.from_file("dashboard/app.py")
is not used: with a `pages/` folder beside app.py, AppTest treats it as a v1 multipage app and,
after switch_page, runs the page file alone, without the sidebar. switch_page takes the page's
absolute path.
"""

from __future__ import annotations

import ast
import datetime as dt
import os
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.app import PAGE_SPECS, PageSpec
from etl.warehouse import connect_writable, create_schema
from signalboard.db import query_scalar, readonly
from signalboard.settings import Settings
from tests.paths import REPO_ROOT

ENTRY = REPO_ROOT / "dashboard" / "app.py"
TIMEOUT = 120  # seconds per run: generous, because two CPUs are shared by the whole test run
PAGE_IDS = [spec.url_path for spec in PAGE_SPECS]
DATA_HEALTH = next(spec for spec in PAGE_SPECS if spec.file == "data_health.py")


def start_app(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The app at its default page, reading the warehouse at `db_path`."""
    monkeypatch.setenv("SIGNALBOARD_DB", str(db_path))
    return AppTest.from_file(str(ENTRY), default_timeout=TIMEOUT).run()


def open_page(at: AppTest, spec: PageSpec) -> AppTest:
    return at.switch_page(str(spec.path)).run()


def assert_rendered(at: AppTest, spec: PageSpec) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title][:1] == [spec.title]
    # The sidebar (drawn by the entry point before the page) is there on every page.
    assert at.sidebar.multiselect(key="f_roles") is not None


def make_warehouse(path: Path, *, applications: int = 0, rejects: int = 0) -> None:
    """A warehouse file with the schema and, optionally, hand-made rows and one load."""
    con = connect_writable(path)
    try:
        create_schema(con)
        if applications or rejects:
            con.execute(
                "insert into loads values (1, timestamp '2025-06-30 10:00', "
                "timestamp '2025-06-30 10:01', timestamp '2025-06-30', false, null, 1, "
                "$read, $loaded, $rejected, 'test')",
                {"read": applications + rejects, "loaded": applications, "rejected": rejects},
            )
            con.execute(
                "insert into load_files values (1, 'applications.csv', '/exports/applications.csv',"
                " 'applications', 'ab12', 'csv', 'utf-8', ',', $read, $loaded, $rejected, 0)",
                {"read": applications + rejects, "loaded": applications, "rejected": rejects},
            )
        if applications:
            con.execute(
                "insert into applications (application_id, candidate_id, track, role, applied_at,"
                " country) select 'a' || i, 'c' || i, 'traditional', "
                "case when i % 2 = 0 then 'data_analyst' else 'designer' end, "
                "timestamp '2025-01-01' + to_days(i::integer), 'US' from range($n) t(i)",
                {"n": applications},
            )
        if rejects:
            con.execute(
                "insert into rejects select 1, 'applications.csv', 'applications', 2 + i, "
                "case when i % 3 = 0 then 'applied_at' else 'country' end, "
                "case when i % 3 = 0 then 'not a timestamp' else 'not an ISO 3166-1 code' end, "
                "'row ' || i from range($n) t(i)",
                {"n": rejects},
            )
    finally:
        con.close()


@pytest.fixture
def empty_warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "empty.duckdb"
    make_warehouse(path)
    return path


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=PAGE_IDS)
def test_every_page_renders_on_the_sample(
    spec: PageSpec, sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(start_app(sample_db, monkeypatch), spec)
    assert_rendered(at, spec)
    # Analysis pages may show a flagged finding as an error alert (assessors, funnel alerts);
    # failures are exceptions. Without data (the tests below) no page shows an error alert.
    if spec == DATA_HEALTH:
        assert not at.error, [e.value for e in at.error]
    # The sidebar names the warehouse and its as-of.
    assert any("As of" in c.value for c in at.sidebar.caption)


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=PAGE_IDS)
def test_no_page_draws_a_stray_string(spec: PageSpec) -> None:
    """Streamlit's magic draws a bare string statement as markdown (an attribute docstring below
    a constant appeared above the Funnel title); only a page's own docstring is left alone."""
    body = ast.parse(Path(spec.path).read_text(encoding="utf-8")).body
    stray = [
        node.lineno
        for node in body[1:]
        if isinstance(node, ast.Expr)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    assert not stray, f"{spec.file}: bare strings at lines {stray}"


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=PAGE_IDS)
def test_every_page_explains_a_missing_warehouse(
    spec: PageSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(start_app(tmp_path / "nowhere.duckdb", monkeypatch), spec)
    assert_rendered(at, spec)
    messages = " ".join(i.value for i in at.info)
    assert "signalboard demo" in messages and "signalboard load" in messages
    assert not at.error, [e.value for e in at.error]


@pytest.mark.parametrize("spec", PAGE_SPECS, ids=PAGE_IDS)
def test_every_page_explains_an_empty_warehouse(
    spec: PageSpec, empty_warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(start_app(empty_warehouse, monkeypatch), spec)
    assert_rendered(at, spec)
    assert any("holds no applications" in i.value for i in at.info)
    assert not at.error, [e.value for e in at.error]


def test_an_unreadable_warehouse_file_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "broken.duckdb"
    path.write_bytes(b"not a duckdb file" * 100)
    at = open_page(start_app(path, monkeypatch), DATA_HEALTH)
    assert_rendered(at, DATA_HEALTH)
    assert any("cannot be opened" in e.value for e in at.error)


def test_filters_persist_across_pages_and_in_the_url(
    sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = start_app(sample_db, monkeypatch)
    role = at.sidebar.multiselect(key="f_roles").options[0]
    at.sidebar.multiselect(key="f_roles").set_value([role])
    at.sidebar.date_input(key="f_start").set_value(dt.date(2025, 2, 1))
    at.run()
    expected_url = {"roles": role, "from": "2025-02-01"}
    assert at.query_params == expected_url
    for spec in (*PAGE_SPECS[1:], PAGE_SPECS[0]):
        open_page(at, spec)
        assert not at.exception, spec.title
        assert at.sidebar.multiselect(key="f_roles").value == [role], spec.title
        assert at.sidebar.date_input(key="f_start").value == dt.date(2025, 2, 1), spec.title
        assert at.query_params == expected_url, spec.title
    # Clearing resets every filter and the URL.
    at.sidebar.button(key="clear_filters").click().run()
    assert at.sidebar.multiselect(key="f_roles").value == []
    assert at.sidebar.date_input(key="f_start").value is None
    assert at.query_params == {}


def test_filters_come_back_from_a_shared_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    make_warehouse(path, applications=6)
    monkeypatch.setenv("SIGNALBOARD_DB", str(path))
    at = AppTest.from_file(str(ENTRY), default_timeout=TIMEOUT)
    # A role the warehouse does not have is dropped instead of breaking the page.
    at.query_params.update({"roles": "designer,astronaut", "from": "2025-01-03", "to": "bad"})
    at.run()
    assert not at.exception
    assert at.sidebar.multiselect(key="f_roles").value == ["designer"]
    assert at.sidebar.date_input(key="f_start").value == dt.date(2025, 1, 3)
    assert at.sidebar.date_input(key="f_end").value is None
    assert at.query_params == {"roles": "designer", "from": "2025-01-03"}


def _frame_with(at: AppTest, column: str) -> pd.DataFrame:
    return next(df.value for df in at.dataframe if column in df.value.columns)


def test_data_health_shows_the_sample_row_counts(
    sample_db: Path, sample_con: duckdb.DuckDBPyConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_page(start_app(sample_db, monkeypatch), DATA_HEALTH)
    assert_rendered(at, DATA_HEALTH)
    # Tables for people: human labels and thousands separators (the download keeps machine names).
    shown = _frame_with(at, "Rows in warehouse").set_index("Table")["Rows in warehouse"]
    for table in ("applications", "scores", "stage_events", "cohorts", "loads", "rejects"):
        expected = query_scalar(sample_con, f"select count(*) from {table}")
        assert shown[table] == f"{expected:,}", table
    applications = query_scalar(sample_con, "select count(*) from applications")
    assert applications > 0
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applications"] == f"{applications:,}"
    as_of = query_scalar(sample_con, "select max(as_of) from loads")
    assert metrics["Warehouse as of"] == f"{as_of:%Y-%m-%d}"
    # The contract: one table per file, and every table has its CSV download.
    contract = [e.label for e in at.expander]
    assert any(label.startswith("applications.csv") for label in contract)
    assert len(at.get("download_button")) == len(at.dataframe)


def test_data_health_filters_rejects_by_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "w.duckdb"
    make_warehouse(path, applications=4, rejects=9)
    at = open_page(start_app(path, monkeypatch), DATA_HEALTH)
    assert_rendered(at, DATA_HEALTH)
    summary = _frame_with(at, "Rejected rows")
    assert summary.set_index("Reason")["Rejected rows"].to_dict() == {
        "not an ISO 3166-1 code": "6",
        "not a timestamp": "3",
    }
    at.multiselect(key="dh_reasons").set_value(["not a timestamp"]).run()
    assert not at.exception
    summary = _frame_with(at, "Rejected rows")
    assert summary["Reason"].tolist() == ["not a timestamp"]
    rows = _frame_with(at, "Original text")
    assert rows["Line"].tolist() == ["2", "5", "8"]
    assert rows["Column name"].unique().tolist() == ["applied_at"]


def test_a_load_that_swaps_the_file_is_picked_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The load builds a new file and renames it over the old one (etl/load.py).

    duckdb.connect(path) would hand back the database instance still open on the old file; the
    dashboard must show the new state on its next rerun while the old connection is still cached.
    """
    path = tmp_path / "warehouse.duckdb"
    make_warehouse(path, applications=3)
    at = open_page(start_app(path, monkeypatch), DATA_HEALTH)
    assert {m.label: m.value for m in at.metric}["Applications"] == "3"

    staged = tmp_path / "warehouse.duckdb.new"
    make_warehouse(staged, applications=8, rejects=2)
    os.replace(staged, path)
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Applications"] == "8"
    assert metrics["Rows rejected by the last load"] == "2"
    assert any("8 applications" in c.value for c in at.sidebar.caption)


def test_a_real_load_is_picked_up_by_a_running_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same across two real `load_paths` runs: the second load swaps in a new file."""
    from etl.generate import GeneratorConfig, generate
    from etl.load import load_paths

    settings = Settings(db_path=tmp_path / "w.duckdb", pseudonym_key_file=tmp_path / "key")
    first, second = tmp_path / "first", tmp_path / "second"
    generate(first, config=GeneratorConfig(n_applications=60, seed=1, plant_effects=False))
    generate(second, config=GeneratorConfig(n_applications=90, seed=2, plant_effects=False))
    load_paths([first], settings=settings, as_of="2026-01-31T00:00:00", progress=False)
    at = open_page(start_app(settings.db_path, monkeypatch), DATA_HEALTH)
    assert {m.label: m.value for m in at.metric}["Loads"] == "1"
    before = os.stat(settings.db_path).st_ino

    load_paths([second], settings=settings, as_of="2026-02-28T00:00:00", progress=False)
    assert os.stat(settings.db_path).st_ino != before, "the load is expected to swap the file"
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Loads"], metrics["Warehouse as of"]) == ("2", "2026-02-28")
    with readonly(settings.db_path) as con:
        applications = query_scalar(con, "select count(*) from applications")
    assert metrics["Applications"] == f"{applications:,}"
    assert any("load 2" in c.value for c in at.sidebar.caption)
