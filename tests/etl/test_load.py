"""The load on real DuckDB files: every bad input of issue 2 is rejected with a clear reason while
every valid row still loads; unusable files stop the load with a one-line message; file formats;
idempotence, upserts, --strict and as-of.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl.load import LoadError, load_paths, table_for_name
from signalboard.cli import main as cli_main
from tests.load_helpers import EXPORTS, ROWS, load, settings_for, write_exports


def counts(db: Path) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in ROWS}
    finally:
        con.close()


def frame(db: Path, sql: str) -> pd.DataFrame:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def with_line(table: str, line: str) -> str:
    return EXPORTS[f"{table}.csv"] + line + "\n"


def test_valid_exports_load_completely(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    result = load([write_exports(tmp_path / "in")], settings)
    assert counts(settings.db_path) == ROWS
    assert result.rows_rejected == 0 and result.rows_loaded == sum(ROWS.values())
    assert result.as_of == dt.datetime(2024, 2, 20, 9, 0)  # the latest event (A1 hired)
    loads = frame(settings.db_path, "select * from loads")
    assert loads[["load_id", "files", "rows_loaded"]].values.tolist() == [[1, 8, 30]]
    files = frame(settings.db_path, "select * from load_files order by file_name")
    assert files["content_sha256"].tolist() == [
        sha(tmp_path / "in" / name) for name in sorted(EXPORTS)
    ]
    assert "applications.csv    applications       4       4         0" in result.summary_text()


BAD_ROWS = [
    # id, table, appended line, rejected column, reason fragment
    (
        "wrong type",
        "applications",
        "A5,P5,traditional,,data_analyst,yesterday,job_board,US,,,,,,,",
        "applied_at",
        "not a timestamp: yesterday",
    ),
    (
        "blank required",
        "applications",
        "A5,P5,traditional,,,2024-01-09 10:00:00,job_board,US,,,,,,,",
        "role",
        "required value is blank",
    ),
    (
        "not an allowed value",
        "applications",
        "A5,P5,contract,,data_analyst,2024-01-09 10:00:00,job_board,US,,,,,,,",
        "track",
        "not one of micro_internship, traditional: contract",
    ),
    (
        "micro-internship without cohort",
        "applications",
        "A5,P5,micro_internship,,data_analyst,2024-01-09 10:00:00,job_board,US,,,,,,,",
        "cohort_id",
        "cohort_id is required for micro_internship",
    ),
    (
        "unknown cohort",
        "applications",
        "A5,P5,micro_internship,C9,data_analyst,2024-01-09 10:00:00,job_board,US,,,,,,,",
        "cohort_id",
        "unknown cohort_id (not in cohorts): C9",
    ),
    (
        "negative stipend",
        "applications",
        "A5,P5,micro_internship,C1,data_analyst,2024-01-09 10:00:00,job_board,US,,,-5,USD,,,",
        "stipend_amount",
        "below the minimum 0: -5",
    ),
    (
        "country not ISO",
        "applications",
        "A5,P5,traditional,,data_analyst,2024-01-09 10:00:00,job_board,USA,,,,,,,",
        "country",
        "not an ISO 3166-1 alpha-2 country code: USA",
    ),
    (
        "out-of-range score",
        "scores",
        "A2,g3,human,communication,9,2024-01-30 10:00:00",
        "score",
        "score 9 outside 1.0..5.0 for axis communication",
    ),
    (
        "axis not in the cohort's rubric",
        "scores",
        "A1,g3,human,creativity,3,2024-01-30 10:00:00",
        "axis",
        "axis creativity is not in rubric v1",
    ),
    (
        "orphan score",
        "scores",
        "A9,g1,human,code_quality,3,2024-01-30 10:00:00",
        "application_id",
        "unknown application_id (no such application loaded)",
    ),
    (
        "grader kind",
        "scores",
        "A2,g3,robot,communication,3,2024-01-30 10:00:00",
        "grader_kind",
        "not one of human, llm: robot",
    ),
    (
        "orphan event",
        "stage_events",
        "A9,applied,2024-01-02 09:00:00",
        "application_id",
        "unknown application_id (no such application loaded)",
    ),
    (
        "event before applied_at",
        "stage_events",
        "A3,selected,2024-01-01 00:00:00",
        "occurred_at",
        "occurred_at 2024-01-01 00:00:00 is before the application's applied_at 2024-01-05 14:00:00",
    ),
    (
        "unknown event",
        "stage_events",
        "A3,interviewed,2024-01-09 00:00:00",
        "event",
        "not one of applied, selected",
    ),
    (
        "ends before it starts",
        "cohorts",
        "C3,data_analyst,Late brief,2024-03-10,2024-03-01,v1,20",
        "ends_on",
        "ends_on 2024-03-01 is before starts_on 2024-03-10",
    ),
    (
        "zero estimated hours",
        "cohorts",
        "C3,data_analyst,Empty brief,2024-03-01,2024-03-10,v1,0",
        "estimated_hours",
        "must be greater than 0: 0",
    ),
    (
        "unknown rubric",
        "cohorts",
        "C3,data_analyst,Brief,2024-03-01,2024-03-10,v7,10",
        "rubric_version",
        "unknown rubric_version (not in rubrics): v7",
    ),
    (
        "min not below max",
        "rubrics",
        "v1,creativity,Novel ideas,5,5,5",
        "max_score",
        "max_score 5 is not greater than min_score 5",
    ),
    (
        "negative price level",
        "cost_of_living",
        "US,US-NY,-1,BEA SARPP,2022",
        "price_level",
        "below the minimum 0: -1",
    ),
    ("bad date", "fx_rates", "EUR,1.08,31/01/2024", "as_of", "not a date: 31/01/2024"),
    (
        "too many fields",
        "fx_rates",
        "EUR,1.08,2024-01-31,extra",
        None,
        "line could not be parsed (too many columns",
    ),
]


@pytest.mark.parametrize(
    ("table", "line", "column", "reason"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_ROWS],
)
def test_bad_row_is_rejected_and_every_valid_row_loads(
    tmp_path: Path, table: str, line: str, column: str | None, reason: str
) -> None:
    settings = settings_for(tmp_path)
    folder = write_exports(tmp_path / "in", **{table: with_line(table, line)})
    result = load([folder], settings)
    assert counts(settings.db_path) == ROWS  # every valid row is in
    rejects = frame(settings.db_path, "select * from rejects")
    assert len(rejects) == 1, rejects.to_string()
    reject = rejects.iloc[0]
    assert reject["file_name"] == f"{table}.csv" and reject["table_name"] == table
    assert reject["line"] == ROWS[table] + 2  # header is line 1, the appended row comes last
    assert reject["column_name"] == column or (column is None and reject["column_name"] is None)
    assert reason in reject["reason"]
    [file_result] = [f for f in result.files if f.table == table]
    assert (file_result.rows_read, file_result.rows_loaded, file_result.rows_rejected) == (
        ROWS[table] + 1,
        ROWS[table],
        1,
    )


def test_rejected_row_lists_every_problem_and_its_text(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    bad = "A2,g3,robot,communication,abc,2024-01-30 10:00:00"
    load([write_exports(tmp_path / "in", scores=with_line("scores", bad))], settings)
    reject = frame(settings.db_path, "select * from rejects").iloc[0]
    assert reject["column_name"] == "grader_kind, score"
    assert reject["reason"] == "not one of human, llm: robot; not a number: abc"
    assert reject["original_text"].startswith("application_id=a_")
    assert reject["original_text"].endswith(
        "grader_id=g3, grader_kind=robot, axis=communication, score=abc, "
        "scored_at=2024-01-30 10:00:00"
    )


def test_duplicate_key_keeps_the_last_row_and_rejects_the_earlier(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    events = with_line("stage_events", "A1,selected,2024-01-06 12:00:00")
    load([write_exports(tmp_path / "in", stage_events=events)], settings)
    assert counts(settings.db_path) == ROWS
    reject = frame(settings.db_path, "select * from rejects").iloc[0]
    assert reject["line"] == 3
    assert reject["reason"] == (
        "duplicate key (application_id, event): line 11 has the same key and is kept"
    )
    kept = frame(
        settings.db_path,
        "select occurred_at from stage_events join applications using (application_id) "
        "where event = 'selected' and cohort_id = 'C1' order by occurred_at",
    )
    assert kept["occurred_at"].astype(str).tolist() == [
        "2024-01-05 12:00:00",
        "2024-01-06 12:00:00",
    ]


UNUSABLE = [
    (
        "missing column",
        "applications",
        EXPORTS["applications.csv"].replace("applied_at,", "").replace(" 09:00:00,", ","),
        "applications.csv: missing required column applied_at for applications",
    ),
    (
        "undetectable delimiter",
        "fx_rates",
        "currency:usd_per_unit:as_of\nUSD:1:2024-01-31\n",
        "fx_rates.csv: could not detect the delimiter",
    ),
    ("empty file", "fx_rates", "", "fx_rates.csv: the file is empty (0 bytes)"),
    (
        "header only",
        "fx_rates",
        "currency,usd_per_unit,as_of\n",
        "fx_rates.csv: the file has a header but no data rows",
    ),
]


@pytest.mark.parametrize(
    ("table", "text", "message"), [pytest.param(*c[1:], id=c[0]) for c in UNUSABLE]
)
def test_unusable_file_stops_the_load_and_leaves_the_warehouse(
    tmp_path: Path, table: str, text: str, message: str
) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    before = sha(settings.db_path)
    (tmp_path / "next").mkdir()
    (tmp_path / "next" / f"{table}.csv").write_text(text)
    with pytest.raises(LoadError) as raised:
        load([tmp_path / "next"], settings)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)
    assert sha(settings.db_path) == before
    assert not list(tmp_path.glob("warehouse.duckdb.loading-*"))


def _semicolon(text: str) -> bytes:
    return text.replace(",", ";").encode()


def _bom(text: str) -> bytes:
    return b"\xef\xbb\xbf" + text.encode()


def _extra_column(text: str) -> bytes:
    lines = text.splitlines()
    return ("\n".join([lines[0] + ",recruiter"] + [x + ",Sam" for x in lines[1:]]) + "\n").encode()


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def _parquet(text: str, path: Path) -> None:
    source = path.with_suffix(".src.csv")
    source.write_text(text)
    con = duckdb.connect()
    # Typed columns (dates, numbers) as a real Parquet export would have them.
    con.execute(f"copy (select * from read_csv('{source}')) to '{path}' (format parquet)")
    con.close()
    source.unlink()


FORMATS = {
    "semicolon": ("applications.csv", _semicolon),
    "utf-8 bom": ("applications.csv", _bom),
    "crlf": ("applications.csv", _crlf),
    "extra column": ("applications.csv", _extra_column),
    "gzip": ("applications.csv.gz", lambda text: gzip.compress(text.encode())),
    "dated name": ("applications_2024-02.csv", lambda text: text.encode()),
    "padded values": ("applications.csv", lambda text: text.replace(",", " , ").encode()),
}


@pytest.mark.parametrize("kind", [*FORMATS, "latin-1", "parquet"])
def test_file_formats_load_the_same_rows(tmp_path: Path, kind: str) -> None:
    # One key file for both warehouses, so pseudonyms are comparable.
    key = tmp_path / "pseudonym.key"
    text = EXPORTS["applications.csv"].replace("job_board", "Jobbörse")
    baseline_dir = write_exports(tmp_path / "baseline", applications=text)
    baseline = settings_for(tmp_path / "b")
    baseline = type(baseline)(db_path=baseline.db_path, pseudonym_key_file=key)
    (tmp_path / "b").mkdir()
    load([baseline_dir], baseline)

    folder = write_exports(tmp_path / "in", applications=None)
    if kind == "latin-1":
        target = folder / "applications.csv"
        target.write_bytes(text.encode("latin-1"))
    elif kind == "parquet":
        target = folder / "applications.parquet"
        _parquet(text, target)
    else:
        name, encode = FORMATS[kind]
        target = folder / name
        target.write_bytes(encode(text))
    settings = type(baseline)(db_path=tmp_path / "w.duckdb", pseudonym_key_file=key)
    result = load([folder], settings)
    assert result.rows_rejected == 0
    assert counts(settings.db_path) == ROWS
    sql = "select * from applications order by application_id"
    pd.testing.assert_frame_equal(frame(settings.db_path, sql), frame(baseline.db_path, sql))
    assert "Jobbörse" in frame(settings.db_path, sql)["source"].tolist()
    info = frame(settings.db_path, "select * from load_files where table_name = 'applications'")
    expected = {
        "semicolon": (";", "utf-8"),
        "latin-1": (",", "latin-1"),
        "parquet": (None, None),
    }.get(kind, (",", "utf-8"))
    assert (info["delimiter"].iloc[0], info["encoding"].iloc[0]) == expected


def test_reloading_the_same_files_changes_nothing(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    folder = write_exports(
        tmp_path / "in", scores=with_line("scores", "A9,g1,human,x,3,2024-01-30")
    )
    load([folder], settings)
    before = sha(settings.db_path)
    again = load([folder], settings)
    assert not again.changed and again.load_id is None
    assert {f.status for f in again.files} == {"unchanged"}
    assert "every file was already loaded" in again.summary_text()
    assert sha(settings.db_path) == before
    assert frame(settings.db_path, "select count(*) as n from rejects")["n"].tolist() == [1]


def test_newer_export_replaces_rows_by_key(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "in")], settings)
    header, *rows = EXPORTS["applications.csv"].splitlines()
    newer = [header, rows[1].replace("referral", "alumni"), rows[0]]
    newer.append("A5,P5,traditional,,data_analyst,2024-03-01 09:00:00,job_board,US,,,,,,,")
    update = tmp_path / "update" / "applications_2024-03.csv"
    update.parent.mkdir()
    update.write_text("\n".join(newer) + "\n")
    result = load([update], settings)
    [file_result] = result.files
    assert (file_result.rows_loaded, file_result.rows_replaced) == (3, 2)
    assert counts(settings.db_path)["applications"] == ROWS["applications"] + 1
    sources = frame(settings.db_path, "select source from applications order by applied_at")
    assert sources["source"].tolist() == [
        "job_board",
        "alumni",
        "careers_site",
        "job_board",
        "job_board",
    ]
    assert result.as_of == dt.datetime(2024, 3, 1, 9, 0)
    loads = frame(settings.db_path, "select load_id, as_of from loads order by load_id")
    assert loads["load_id"].tolist() == [1, 2]


def test_strict_refuses_the_whole_load(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    folder = write_exports(
        tmp_path / "in", scores=with_line("scores", "A9,g1,human,x,3,2024-01-30")
    )
    with pytest.raises(LoadError, match=r"^--strict: 1 rows rejected \(scores.csv: 1\); first: "):
        load([folder], settings, strict=True)
    assert not settings.db_path.exists()
    load([write_exports(tmp_path / "ok")], settings)
    before = sha(settings.db_path)
    with pytest.raises(LoadError, match="the warehouse is unchanged"):
        load([folder], settings, strict=True)
    assert sha(settings.db_path) == before


def test_as_of_is_given_or_latest_and_never_goes_back(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = load(
        [write_exports(tmp_path / "in", fx_rates=None)], settings, as_of="2024-06-30T18:00"
    )
    assert first.as_of == dt.datetime(2024, 6, 30, 18, 0)
    (tmp_path / "fx").mkdir()
    (tmp_path / "fx" / "fx_rates.csv").write_text(EXPORTS["fx_rates.csv"])
    second = load([tmp_path / "fx"], settings)
    assert second.as_of == dt.datetime(2024, 6, 30, 18, 0)  # data ends in February
    with pytest.raises(LoadError, match="--as-of 'soon' is not a timestamp"):
        load([tmp_path / "fx"], settings, as_of="soon")


def test_unrecognised_files_are_skipped_and_nothing_recognised_is_an_error(tmp_path: Path) -> None:
    folder = write_exports(tmp_path / "in")
    (folder / "notes.txt").write_text("hello")
    (folder / "candidates.csv").write_text("a,b\n1,2\n")
    result = load([folder], settings_for(tmp_path))
    assert sorted(p.name for p, _ in result.skipped) == ["candidates.csv", "notes.txt"]
    assert "skipped notes.txt: not a recognised export" in result.summary_text()
    with pytest.raises(LoadError, match="no recognised exports in"):
        load([folder / "notes.txt"], settings_for(tmp_path))
    with pytest.raises(LoadError, match="no such file or folder"):
        load([tmp_path / "missing"], settings_for(tmp_path))


@pytest.mark.parametrize(
    ("name", "table"),
    [
        ("applications.csv", "applications"),
        ("applications_2024-06.csv.gz", "applications"),
        ("Stage_Events.parquet", "stage_events"),
        ("scores-2024.csv", "scores"),
        ("scoresheet.csv", None),
        ("applications.xlsx", None),
        ("fx_rates.csv", "fx_rates"),
    ],
)
def test_file_names_map_to_tables(name: str, table: str | None) -> None:
    assert table_for_name(name) == table


def test_cli_load_prints_summary_and_fails_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(tmp_path / "key"))
    db = tmp_path / "w.duckdb"
    folder = write_exports(tmp_path / "in")
    assert cli_main(["load", str(folder), "--db", str(db), "--quiet"]) == 0
    assert "load 1 into" in capsys.readouterr().out
    (folder / "fx_rates.csv").write_text("")
    assert cli_main(["load", str(folder), "--db", str(db), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == "signalboard: error: fx_rates.csv: the file is empty (0 bytes)"


def test_load_paths_signature_matches_the_agreed_interface(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    result = load_paths(
        [write_exports(tmp_path / "in")],
        settings=settings,
        as_of=None,
        mapping=None,
        strict=False,
        progress=False,
    )
    assert result.load_id == 1 and result.db_path == settings.db_path


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2024-01-06T12:00:00+02:00", dt.datetime(2024, 1, 6, 10, 0)),
        ("2024-01-06T12:00:00Z", dt.datetime(2024, 1, 6, 12, 0)),
        ("2024-01-06 12:00:00-0500", dt.datetime(2024, 1, 6, 17, 0)),
        ("2024-01-06T12:00", dt.datetime(2024, 1, 6, 12, 0)),
        ("2024-01-06", dt.datetime(2024, 1, 6, 0, 0)),
    ],
)
def test_timestamps_with_offsets_are_stored_in_utc(
    tmp_path: Path, written: str, stored: dt.datetime
) -> None:
    settings = settings_for(tmp_path)
    events = with_line("stage_events", f"A3,selected,{written}")
    load([write_exports(tmp_path / "in", stage_events=events)], settings)
    got = frame(
        settings.db_path,
        "select occurred_at from stage_events join applications using (application_id) "
        "where event = 'selected' and track = 'traditional'",
    )
    assert got["occurred_at"].tolist() == [pd.Timestamp(stored)]


def test_one_json_log_line_per_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(settings.pseudonym_key_file))
    folder = write_exports(tmp_path / "in")
    assert cli_main(["load", str(folder), "--db", str(settings.db_path), "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""  # no progress bar off a terminal, nothing between the lines
    *records, total = [json.loads(line) for line in captured.out.splitlines()]
    assert total["event"] == "load" and total["rows_loaded"] == 30
    assert total["key_created"] == str(settings.pseudonym_key_file)
    assert [r["table"] for r in records] == [
        "rubrics",
        "cohorts",
        "applications",
        "demographics",
        "scores",
        "stage_events",
        "cost_of_living",
        "fx_rates",
    ]
    assert {k for r in records for k in r} >= {
        "file",
        "table",
        "rows_read",
        "rows_loaded",
        "rows_rejected",
        "seconds",
    }
    assert [r["rows_loaded"] for r in records] == [2, 2, 4, 3, 5, 9, 3, 2]


def test_a_load_over_its_memory_cap_is_refused_in_one_line_and_loads_after_raising_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = tmp_path / "key"
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(key))
    db = tmp_path / "w.duckdb"
    folder = write_exports(tmp_path / "in")
    monkeypatch.setenv("SIGNALBOARD_LOAD_MEMORY_LIMIT", "2MB")
    assert cli_main(["load", str(folder), "--db", str(db), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        "signalboard: error: the load needs more memory than its 2MB cap; set "
        "SIGNALBOARD_LOAD_MEMORY_LIMIT higher (docs/performance.md); the warehouse and the key "
        "are unchanged\n"
    )
    assert not db.exists() and not key.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "w.duckdb.lock"]
    monkeypatch.setenv("SIGNALBOARD_LOAD_MEMORY_LIMIT", "256MB")
    assert cli_main(["load", str(folder), "--db", str(db), "--quiet"]) == 0
    assert counts(db) == ROWS


def test_docstring_examples() -> None:
    """load_memory_cap's Examples block: the automatic cap at 1M and 10M applications."""
    import doctest

    import etl.load

    failures, tried = doctest.testmod(etl.load)
    assert tried > 0 and failures == 0


@pytest.mark.parametrize(
    ("setting", "input_bytes", "ram_bytes", "expected"),
    [
        ("auto", 0, None, "1500MB"),
        ("auto", 4_000_000_000, None, "5000MB"),
        ("auto", 4_000_000_000, 2_000_000_000, "1500MB"),  # never under the floor
        ("Auto", 1_600_000_000, 24_000_000_000, "2000MB"),
        ("750MB", 4_000_000_000, 24_000_000_000, "750MB"),
    ],
)
def test_automatic_memory_cap_scales_with_the_exports(
    setting: str, input_bytes: int, ram_bytes: int | None, expected: str
) -> None:
    from etl.load import load_memory_cap

    assert load_memory_cap(setting, input_bytes=input_bytes, ram_bytes=ram_bytes) == expected
