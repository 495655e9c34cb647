"""The SQL page (Streamlit AppTest) and its pure helpers (signalboard.analysis.sql_library).

The app runs through dashboard/entrypoint/streamlit_app.py, as `signalboard serve` runs it (see
tests/dashboard/test_app_pages.py for why not dashboard/app.py); switch_page takes the page's path.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.figures.sql import result_figure
from signalboard.analysis.sql_library import (
    UNDECLARED,
    add_to_history,
    adhoc_query,
    colour_columns,
    history_entry,
    history_frame,
    initial_values,
    library_index,
    mentions_demographics,
    schema_frame,
)
from signalboard.queries import QueryError, load_query
from signalboard.sandbox import SandboxError, run_sandboxed
from signalboard.settings import Settings
from tests.page_helpers import shown_text
from tests.paths import REPO_ROOT

ENTRY = REPO_ROOT / "dashboard" / "app.py"
PAGE = REPO_ROOT / "dashboard" / "views" / "sql.py"
TIMEOUT = 120  # per run; two CPUs are shared by the whole test run


def open_sql_page(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("SIGNALBOARD_DB", str(db_path))
    at = AppTest.from_file(str(ENTRY), default_timeout=TIMEOUT).run()
    at.switch_page(str(PAGE)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_missing_warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_sql_page(tmp_path / "nowhere.duckdb", monkeypatch)
    assert at.title[0].value == "SQL"
    assert any("signalboard demo" in i.value for i in at.info)
    assert "sql_run_library" not in [b.key for b in at.button]  # nothing to run without one


def test_browse_and_run_a_library_query(
    sample_db: Path, sample_con, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_sql_page(sample_db, monkeypatch)
    # Browse: the index lists every query of the library with its description.
    index = next(df.value for df in at.dataframe if "Description" in df.value.columns)
    assert "funnel_by_source" in set(index["Name"])
    assert len(index) == len(list((REPO_ROOT / "queries" / "library").glob("*.sql")))

    at.selectbox(key="sql_query_name").set_value("outcomes_by_furthest_stage").run()
    assert not at.exception
    assert any(s.value == "Outcomes by furthest stage" for s in at.subheader)
    assert any("select * from final" in c.value for c in at.code)
    # Typed widgets for the parameters: dates, multiselects for lists.
    assert at.date_input(key="sqlp_outcomes_by_furthest_stage_start_date").value is None
    roles = at.multiselect(key="sqlp_outcomes_by_furthest_stage_roles")
    assert "data_analyst" in roles.options or len(roles.options) > 0

    at.button(key="sql_run_library").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    result = next(df.value for df in at.dataframe if "furthest_stage" in df.value.columns)
    applications = sample_con.execute("select count(*) from applications").fetchall()[0][0]
    assert result["applications"].sum() == applications
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download outcomes_by_furthest_stage.csv" in labels
    assert "Download outcomes_by_furthest_stage.parquet" in labels
    # The chart draws y against x; choose another y and colour.
    at.selectbox(key="sql_library_outcome_y").set_value("rejected").run()
    assert not at.exception
    assert at.selectbox(key="sql_library_outcome_y").value == "rejected"
    assert len(at.get("plotly_chart")) == 1

    # A typed parameter narrows the result: one role only.
    role = sorted(roles.options)[0]
    at.multiselect(key="sqlp_outcomes_by_furthest_stage_roles").set_value([role]).run()
    at.button(key="sql_run_library").click().run()
    narrowed = next(df.value for df in at.dataframe if "furthest_stage" in df.value.columns)
    expected = sample_con.execute(
        "select count(*) from applications where role = $r", {"r": role}
    ).fetchall()[0][0]
    assert narrowed["applications"].sum() == expected


def test_integer_parameter_widget(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = open_sql_page(sample_db, monkeypatch)
    at.selectbox(key="sql_query_name").set_value("applications_stuck_in_stage").run()
    widget = at.number_input(key="sqlp_applications_stuck_in_stage_min_days")
    assert widget.value == 14
    widget.set_value(100000).run()
    at.button(key="sql_run_library").click().run()
    assert not at.exception
    assert any("returned no rows" in i.value for i in at.info)


def test_adhoc_query_schema_and_history(
    sample_db: Path, sample_con, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_sql_page(sample_db, monkeypatch)
    # The schema browser lists the warehouse's tables and a chosen table's columns.
    at.selectbox(key="sql_schema_table").set_value("cohorts").run()
    columns = next(df.value for df in at.dataframe if "data_type" in df.value.columns)
    assert "rubric_version" in set(columns["column_name"])

    at.text_area(key="sql_adhoc_text").input(
        "select cohort_id, estimated_hours from cohorts order by cohort_id"
    ).run()
    at.button(key="sql_run_adhoc").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    shown = next(df.value for df in at.dataframe if "estimated_hours" in df.value.columns)
    expected = sample_con.execute("select count(*) from cohorts").fetchall()[0][0]
    assert len(shown) == expected
    assert "Download adhoc_query.parquet" in [b.proto.label for b in at.get("download_button")]

    # History: the run is listed, and reopening puts its SQL back in the editor.
    history = next(df.value for df in at.dataframe if "Status" in df.value.columns)
    assert history["Status"].tolist() == ["ok"]
    assert history["Rows"].tolist() == [f"{expected:,}"]
    at.text_area(key="sql_adhoc_text").input("select 1").run()
    at.button(key="sql_history_open").click().run()
    assert at.text_area(key="sql_adhoc_text").value.startswith("select cohort_id")


def test_adhoc_parameters_get_widgets_and_bind(
    sample_db: Path, sample_con, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `-- param:` line types a placeholder (date widget, default filled in); an undeclared
    `$name` gets a text box; the run binds both, and the history keeps the values."""
    at = open_sql_page(sample_db, monkeypatch)
    at.text_area(key="sql_adhoc_text").input(
        "-- param: since date = 2025-06-01 | applied on or after\n"
        "select count(*) as n from applications where applied_at >= $since and role = $role"
    ).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.date_input(key="sqlp___adhoc_since").value == dt.date(2025, 6, 1)
    role = sample_con.execute("select min(role) from applications").fetchall()[0][0]
    at.text_input(key="sqlp___adhoc_role").input(role).run()
    at.button(key="sql_run_adhoc").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    expected = sample_con.execute(
        "select count(*) from applications where applied_at >= date '2025-06-01' and role = $r",
        {"r": role},
    ).fetchall()[0][0]
    shown = next(df.value for df in at.dataframe if list(df.value.columns) == ["n"])
    assert shown["n"].tolist() == [expected]
    history = next(df.value for df in at.dataframe if "Status" in df.value.columns)
    assert history["Status"].tolist() == ["ok"]
    assert role in history["Params"].iloc[0] and "2025-06-01" in history["Params"].iloc[0]

    # Left empty, an undeclared parameter is NULL: the statement runs and matches nothing.
    at.text_input(key="sqlp___adhoc_role").input("").run()
    at.button(key="sql_run_adhoc").click().run()
    shown = next(df.value for df in at.dataframe if list(df.value.columns) == ["n"])
    assert shown["n"].tolist() == [0]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("drop table applications", "Refused: DROP statement"),
        ("select * from read_csv('/etc/passwd')", "no access to files"),
        ("select 1; select 2", "exactly one statement"),
    ],
)
def test_refused_query_shows_its_message(
    sample_db: Path, sample_con, monkeypatch: pytest.MonkeyPatch, sql: str, message: str
) -> None:
    before = sample_con.execute("select count(*) from applications").fetchall()
    at = open_sql_page(sample_db, monkeypatch)
    at.text_area(key="sql_adhoc_text").input(sql).run()
    at.button(key="sql_run_adhoc").click().run()
    assert not at.exception
    assert any(message in shown_text(e.value) for e in at.error), [e.value for e in at.error]
    history = next(df.value for df in at.dataframe if "Status" in df.value.columns)
    assert history["Status"].tolist() == ["refused"]
    assert sample_con.execute("select count(*) from applications").fetchall() == before


def test_demographic_queries_carry_a_warning(
    sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    at = open_sql_page(sample_db, monkeypatch)
    at.text_area(key="sql_adhoc_text").input(
        "select value, count(*) from demographic_attributes group by value"
    ).run()
    assert any("not small-cell suppressed" in w.value for w in at.warning)


# --- pure helpers ---------------------------------------------------------------------------


def test_library_index_docstring_example() -> None:
    frame = library_index(REPO_ROOT / "queries" / "library")
    text = frame.loc[frame["name"] == "applications_stuck_in_stage", "parameters"].iloc[0]
    assert text[:22] == "min_days integer = 14,"
    assert frame["description"].str.len().gt(0).all()


def test_initial_values_take_the_sidebar_filters() -> None:
    query = load_query("funnel_by_source", queries_dir=REPO_ROOT / "queries" / "library")
    values = initial_values(
        query, {"start_date": dt.date(2025, 1, 1), "end_date": None, "roles": ["a"], "x": 1}
    )
    assert values == {
        "start_date": dt.date(2025, 1, 1),
        "end_date": None,
        "roles": ["a"],
        "cohorts": None,
    }


def test_result_figure_traces() -> None:
    frame = pd.DataFrame({"stage": ["a", "b", "a"], "n": [3, 2, 1], "g": ["x", "x", "y"]})
    figure = result_figure(frame, x="stage", y="n", color="g")
    assert len(figure.data) == 2  # the docstring's example
    assert list(figure.data[0].y) == [3, 2] and list(figure.data[1].x) == ["a"]
    line = result_figure(frame, x="stage", y="n", kind="line")
    assert line.data[0].type == "scatter" and line.data[0].mode == "lines"
    with pytest.raises(ValueError, match="no column 'z'"):
        result_figure(frame, x="z", y="n")
    assert colour_columns(pd.DataFrame({"id": range(40), "k": ["a"] * 40})) == ["k"]


def test_history_is_newest_first_and_bounded() -> None:
    history: list = []
    for i in range(5):
        entry = history_entry(
            source="ad hoc",
            name="ad hoc",
            sql=f"select {i}",
            params={"roles": ["a", "b"]},
            error=SandboxError("timeout", "Stopped") if i == 4 else None,
            now=dt.datetime(2025, 1, 1, 0, i),
        )
        history = add_to_history(history, entry, max_entries=3)
    frame = history_frame(history)
    assert frame["sql"].tolist() == ["select 4", "select 3", "select 2"]
    assert frame["status"].tolist() == ["failed", "ok", "ok"]
    assert frame["params"].iloc[0] == "roles=a,b"


def test_schema_and_parquet_of_the_sample(sample_settings: Settings) -> None:
    schema = schema_frame(sample_settings)
    assert {"applications", "scores", "loads", "demographic_attributes"} <= set(
        schema["table_name"]
    )
    result = run_sandboxed("select * from cohorts", settings=sample_settings)
    table = pq.read_table(io.BytesIO(result.to_parquet_bytes()))
    assert table.num_rows == len(result.frame)
    assert mentions_demographics("select * from Demographic_Attributes")
    assert not mentions_demographics("select * from demographics_v2_notes")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # declared types and defaults, in header order; undeclared ones as text, first use first
        (
            "-- param: since date = 2025-01-01\n-- param: top integer = 5\n"
            "select * from t where b = $b and a = $a and d >= $since limit $top",
            [
                ("since", "date", dt.date(2025, 1, 1)),
                ("top", "integer", 5),
                ("b", "text", None),
                ("a", "text", None),
            ],
        ),
        # a '$' inside a string literal or a comment is not a placeholder
        ("select '$price' as label, $x as v -- $y", [("x", "text", None)]),
        # no placeholder, no parameter; SQL that does not parse has none either
        ("select 1", []),
        ("select from where $z (", []),
        # a declared parameter the SQL does not use still gets its widget
        ("-- param: roles text[] = null\nselect 1", [("roles", "text[]", None)]),
    ],
)
def test_adhoc_query_parameters(sql: str, expected: list[tuple[str, str, object]]) -> None:
    query = adhoc_query(sql)
    assert [(p.name, p.type, p.default) for p in query.params] == expected
    undeclared = [p for p in query.params if p.description == UNDECLARED]
    assert all(p.type == "text" for p in undeclared)


def test_adhoc_query_refuses_a_malformed_param_line() -> None:
    with pytest.raises(QueryError, match="malformed parameter line"):
        adhoc_query("-- param: since day = 2025-01-01\nselect $since")
