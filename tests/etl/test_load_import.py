"""Bringing your own exports: date formats declared or detected (never guessed per row), values no
rule maps, several stages merged into the earliest event, --check, --strict, and loads that would
leave applications empty."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest

from etl.load import LoadError
from signalboard.cli import main as cli_main
from tests.etl.test_load_mapping import GREENHOUSE_APPLICATIONS, GREENHOUSE_STAGES
from tests.load_helpers import EXPORTS, load, settings_for, write_exports
from tests.paths import REPO_ROOT

GREENHOUSE = REPO_ROOT / "etl" / "mappings" / "greenhouse.toml"


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def day_first(text: str) -> str:
    """The canonical exports with every ISO date written day/month/year."""
    import re

    return re.sub(r"(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1", text)


def test_day_month_dates_are_detected_from_the_whole_column(tmp_path: Path) -> None:
    # 26/01/2024 in submitted: the column reads day first, so 05/01/2024 is 5 January.
    folder = write_exports(
        tmp_path / "in",
        stage_events=day_first(EXPORTS["stage_events.csv"]),
    )
    settings = settings_for(tmp_path)
    result = load([folder], settings)
    [events] = [f for f in result.files if f.table == "stage_events"]
    assert (events.rows_loaded, events.rows_rejected) == (9, 0)
    assert events.inspection.date_formats == {"occurred_at": "%d/%m/%Y (detected)"}
    assert rows(settings.db_path, "select max(occurred_at) from stage_events") == [
        (dt.datetime(2024, 2, 20, 9),)
    ]


def test_ambiguous_day_month_is_refused_naming_the_column(tmp_path: Path) -> None:
    applications = day_first(EXPORTS["applications.csv"])  # days 02..05: every value <= 12
    folder = write_exports(tmp_path / "in", applications=applications)
    settings = settings_for(tmp_path)
    with pytest.raises(LoadError) as error:
        load([folder], settings)
    message = str(error.value)
    assert "\n" not in message
    assert "applications.csv: column 'applied_at'" in message
    assert 'date_format = "%d/%m/%Y"' in message
    assert not settings.db_path.exists() and not settings.pseudonym_key_file.exists()


def test_declared_date_format_loads_a_day_first_export(tmp_path: Path) -> None:
    """The issue's case: every date of our own exports as %d/%m/%Y loads completely."""
    folder = tmp_path / "in"
    for name, text in EXPORTS.items():
        folder.mkdir(exist_ok=True)
        (folder / name).write_text(day_first(text))
    mapping = tmp_path / "dates.toml"
    mapping.write_text('date_format = "%d/%m/%Y"\n')
    settings = settings_for(tmp_path)
    result = load([folder], settings, mapping=mapping)
    assert result.rows_rejected == 0 and result.rows_loaded == 30
    assert rows(settings.db_path, "select min(applied_at), max(applied_at) from applications") == [
        (dt.datetime(2024, 1, 2, 9), dt.datetime(2024, 2, 1, 8, 15))
    ]


def test_a_declared_format_the_export_does_not_follow_is_refused(tmp_path: Path) -> None:
    """Greenhouse's mapping says month first; a day-first export must not load with day and
    month swapped."""
    folder = write_exports(tmp_path / "in", applications=None, scores=None, stage_events=None)
    swapped = GREENHOUSE_APPLICATIONS.replace("01/05/2024 14:30", "13/01/2024 14:30")
    (folder / "greenhouse_applications.csv").write_text(swapped)
    with pytest.raises(
        LoadError,
        match=r"column 'Applied On' \(applied_at\): 1 values such as "
        r"'13/01/2024 14:30' do not fit the declared date format",
    ):
        load([folder], settings_for(tmp_path), mapping=GREENHOUSE)


def greenhouse_folder(tmp_path: Path, stages: str = GREENHOUSE_STAGES) -> Path:
    folder = write_exports(tmp_path / "in", applications=None, scores=None, stage_events=None)
    (folder / "greenhouse_applications.csv").write_text(GREENHOUSE_APPLICATIONS)
    (folder / "greenhouse_stage_history.csv").write_text(stages)
    return folder


def test_unmapped_values_are_listed_and_strict_refuses_them(tmp_path: Path) -> None:
    folder = greenhouse_folder(tmp_path)
    settings = settings_for(tmp_path)
    with pytest.raises(
        LoadError,
        match=r"--strict: greenhouse_stage_history.csv: 1 value of "
        r"event that no rule of the mapping maps \('Coffee Chat'\)",
    ):
        load([folder], settings, mapping=GREENHOUSE, strict=True)
    assert not settings.db_path.exists()
    result = load([folder], settings, mapping=GREENHOUSE)
    assert "greenhouse_stage_history.csv: unmapped event values: 'Coffee Chat' (1 rows)" in (
        result.summary_text()
    )


def test_several_stages_mapped_to_one_event_keep_the_earliest(tmp_path: Path) -> None:
    # Greenhouse maps both "Micro-internship Offer" and "Recruiter Screen" to selected.
    stages = GREENHOUSE_STAGES + "1001,Data Analyst,Recruiter Screen,01/04/2024 10:00,Sam\n"
    settings = settings_for(tmp_path)
    result = load([greenhouse_folder(tmp_path, stages)], settings, mapping=GREENHOUSE)
    [events] = [f for f in result.files if f.table == "stage_events"]
    assert (events.rows_loaded, events.rows_rejected, events.rows_merged) == (8, 1, 1)
    assert "1 events merged into the earliest" in result.summary_text()
    selected = rows(
        settings.db_path,
        "select occurred_at from stage_events join applications using (application_id) "
        "where event = 'selected' and track = 'micro_internship'",
    )
    assert selected == [(dt.datetime(2024, 1, 4, 10),)]
    assert rows(
        settings.db_path, "select count(*) from rejects where reason like 'duplicate%'"
    ) == [(0,)]


def test_check_reports_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(settings.pseudonym_key_file))
    folder = greenhouse_folder(tmp_path)
    args = ["load", str(folder), "--db", str(settings.db_path), "--mapping", str(GREENHOUSE)]
    assert cli_main([*args, "--check"]) == 0
    out = capsys.readouterr().out
    assert not settings.db_path.exists() and not settings.pseudonym_key_file.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "in"]
    assert "greenhouse_stage_history.csv -> stage_events: 9 rows, 8 would load, 1 rejected" in out
    assert "Application ID -> application_id" in out and "ignored: Job Name, Stage Owner" in out
    assert "dates: occurred_at %m/%d/%Y %H:%M (declared: formats)" in out
    assert "unmapped event: 'Coffee Chat' (1 rows)" in out
    assert "would reject 1 rows: event: not one of" in out and "(first line 9)" in out
    assert "the load would go ahead" in out
    # As JSON, with --strict: the problem is listed and the exit status is 1.
    assert cli_main([*args, "--check", "--strict", "--json"]) == 1
    *files, total = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert total["event"] == "load_check" and total["problems"][0].startswith("--strict")
    stage_file = next(f for f in files if f["table"] == "stage_events")
    assert stage_file["mapping"]["unmapped_values"] == {
        "event": [{"value": "Coffee Chat", "rows": 1}]
    }
    assert not settings.db_path.exists()


def test_vendor_files_without_mapping_exit_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_for(tmp_path)
    monkeypatch.setenv("SIGNALBOARD_PSEUDONYM_KEY_FILE", str(settings.pseudonym_key_file))
    folder = greenhouse_folder(tmp_path)  # cohorts and rubrics load; applications would not
    assert cli_main(["load", str(folder), "--db", str(settings.db_path)]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert "the load would leave applications empty" in line and "--mapping" in line
    assert not settings.db_path.exists()
    empty = tmp_path / "nothing"
    empty.mkdir()
    (empty / "notes.txt").write_text("hello")
    assert cli_main(["load", str(empty), "--db", str(settings.db_path)]) == 2
    assert "no recognised exports" in capsys.readouterr().err


def test_a_pattern_that_matches_nothing_is_not_a_silent_success(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(GREENHOUSE.read_text().replace("greenhouse_applications*", "gh_apps*"))
    with pytest.raises(LoadError, match="would leave applications empty"):
        load([greenhouse_folder(tmp_path)], settings_for(tmp_path), mapping=mapping)
