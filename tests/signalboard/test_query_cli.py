"""`signalboard query`: library and ad-hoc files, typed parameters, formats, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from signalboard.cli import main
from signalboard.queries import QueryError
from signalboard.query_cli import parse_param_args
from signalboard.settings import Settings
from tests.paths import REPO_ROOT


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["query", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_list_shows_every_query_with_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = cli(capsys, "--list")
    assert status == 0
    for path in (REPO_ROOT / "queries" / "library").glob("*.sql"):
        assert f"{path.stem}  -  " in out
    assert "--param min_days=<integer> (default 14)" in out
    assert "--param roles=<text[]> (default null)" in out


def test_library_query_as_table_csv_and_json(
    capsys: pytest.CaptureFixture[str], sample_db: Path
) -> None:
    status, out, err = cli(capsys, "outcomes_by_furthest_stage", "--db", str(sample_db))
    assert status == 0, err
    assert out.splitlines()[0].split()[:3] == ["stage_index", "furthest_stage", "applications"]
    assert len(out.splitlines()) == 10  # header + nine stages

    status, out, err = cli(
        capsys, "outcomes_by_furthest_stage", "--db", str(sample_db), "--format", "csv"
    )
    assert status == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame["furthest_stage"].tolist()[0] == "applied"
    assert len(frame) == 9

    status, out, err = cli(capsys, "cohort_comparison", "--db", str(sample_db), "--format", "json")
    assert status == 0, err
    rows = json.loads(out)
    assert rows and {"cohort_id", "starts_on", "hire_rate"} <= set(rows[0])
    # Dates stay dates in JSON, not midnight timestamps.
    assert len(rows[0]["starts_on"]) == 10 and rows[0]["starts_on"][4] == "-"


def test_typed_parameters_change_the_result(
    capsys: pytest.CaptureFixture[str], sample_db: Path, sample_con
) -> None:
    role = sample_con.execute("select min(role) from applications").fetchall()[0][0]
    expected = sample_con.execute(
        "select count(*) from applications where role = $role", {"role": role}
    ).fetchall()[0][0]
    status, out, err = cli(
        capsys,
        "funnel_by_source",
        "--db",
        str(sample_db),
        "--param",
        f"roles={role}",
        "--param",
        "start_date=null",
        "--format",
        "csv",
    )
    assert status == 0, err
    frame = pd.read_csv(io.StringIO(out))
    assert frame.loc[frame["stage"] == "applied", "reached"].sum() == expected


def test_parquet_needs_out_and_keeps_types(
    capsys: pytest.CaptureFixture[str], sample_db: Path, tmp_path: Path
) -> None:
    status, _, err = cli(capsys, "cohort_comparison", "--db", str(sample_db), "--format", "parquet")
    assert status == 2 and "add --out FILE" in err
    out_file = tmp_path / "cohorts.parquet"
    status, _, err = cli(
        capsys,
        "cohort_comparison",
        "--db",
        str(sample_db),
        "--format",
        "parquet",
        "--out",
        str(out_file),
    )
    assert status == 0, err
    assert "rows written to" in err
    table = pq.read_table(out_file)
    assert str(table.schema.field("starts_on").type) == "date32[day]"
    assert table.num_rows > 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["applications_stuck_in_stage", "--param", "min_days=soon"], "not a valid integer"),
        (["applications_stuck_in_stage", "--param", "min_day=3"], "unknown parameter min_day"),
        (["applications_stuck_in_stage", "--param", "min_days"], "expects NAME=VALUE"),
        (
            ["applications_stuck_in_stage", "--param", "min_days=1", "--param", "min_days=2"],
            "given twice",
        ),
        (["funnel_by_source", "--param", "start_date=2024-02-30"], "not a valid date"),
        (["rejects_by_reason", "--param", "all_loads=maybe"], "not a valid boolean"),
        (["no_such_query"], "no query named 'no_such_query'"),
        ([], "name a query or a .sql file"),
    ],
)
def test_parameter_and_usage_errors_are_one_line_exit_2(
    capsys: pytest.CaptureFixture[str], sample_db: Path, argv: list[str], message: str
) -> None:
    status, out, err = cli(capsys, *argv, "--db", str(sample_db))
    assert status == 2
    assert out == ""
    assert err.startswith("signalboard: error: ") and message in err
    assert err.count("\n") == 1


def test_adhoc_file_without_header(
    capsys: pytest.CaptureFixture[str], sample_db: Path, tmp_path: Path, sample_con
) -> None:
    path = tmp_path / "count.sql"
    path.write_text("select count(*) as n from applications\n")
    status, out, err = cli(capsys, str(path), "--db", str(sample_db), "--format", "csv")
    assert status == 0, err
    expected = sample_con.execute("select count(*) from applications").fetchall()[0][0]
    assert out.splitlines() == ["n", str(expected)]
    # Without a header nothing is declared, so a $parameter is missing and --param is unknown.
    path.write_text("select count(*) as n from applications where role = $role\n")
    status, _, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 2 and "Missing parameter $role" in err
    status, _, err = cli(capsys, str(path), "--db", str(sample_db), "--param", "role=x")
    assert status == 2 and "unknown parameter role" in err


def test_adhoc_file_with_header_binds_typed_values(
    capsys: pytest.CaptureFixture[str], sample_db: Path, tmp_path: Path
) -> None:
    path = tmp_path / "since.sql"
    path.write_text(
        "-- grain: one row\n-- title: Since\n-- description: Applications since a day.\n"
        "-- param: since date = 2000-01-01 | first day\n"
        "select count(*) as n, $since as since from applications where applied_at >= $since\n"
    )
    status, out, err = cli(
        capsys, str(path), "--db", str(sample_db), "--param", "since=2999-01-01", "--format", "json"
    )
    assert status == 0, err
    assert json.loads(out) == [{"n": 0, "since": "2999-01-01"}]
    # A header that is there but incomplete is an error, not an ad-hoc file.
    path.write_text("-- title: x\nselect 1\n")
    status, _, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 2 and "header lacks grain" in err


def test_refused_statement_and_unchanged_warehouse(
    capsys: pytest.CaptureFixture[str], sample_db: Path, tmp_path: Path, sample_con
) -> None:
    before = sample_con.execute("select count(*) from applications").fetchall()
    path = tmp_path / "drop.sql"
    path.write_text("drop table applications")
    status, out, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 2 and out == ""
    assert "Refused: DROP statement" in err
    path.write_text(f"copy applications to '{tmp_path / 'leak.csv'}'")
    status, _, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 2 and "Refused: COPY statement" in err
    assert not (tmp_path / "leak.csv").exists()
    assert sample_con.execute("select count(*) from applications").fetchall() == before


def test_runtime_errors_exit_1(
    capsys: pytest.CaptureFixture[str],
    sample_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "bad.sql"
    path.write_text("select nope from applications")
    status, _, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 1 and "SQL error" in err and "nope" in err
    status, _, err = cli(capsys, "funnel_by_source", "--db", str(tmp_path / "none.duckdb"))
    assert status == 1 and "No warehouse at" in err
    status, _, err = cli(
        capsys, "cohort_comparison", "--db", str(sample_db), "--out", str(tmp_path / "no" / "x.txt")
    )
    assert status == 1 and "cannot write" in err
    monkeypatch.setenv("SIGNALBOARD_SQL_TIMEOUT_SECONDS", "0.3")
    path.write_text("select sum(hash(range)) from range(1000000000000)")
    status, _, err = cli(capsys, str(path), "--db", str(sample_db))
    assert status == 1 and "ran longer than the 0.3 s limit" in err


def test_cap_is_reported(
    capsys: pytest.CaptureFixture[str], sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNALBOARD_SQL_MAX_ROWS", "3")
    status, out, err = cli(
        capsys, "outcomes_by_furthest_stage", "--db", str(sample_db), "--format", "csv"
    )
    assert status == 0
    assert len(out.splitlines()) == 4  # header + 3 rows
    assert "capped at 3 rows" in err


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], {}),
        (["a=1"], {"a": "1"}),
        (["roles=x,y", "note=a=b"], {"roles": "x,y", "note": "a=b"}),
        ([" a =2"], {"a": "2"}),
        (["empty="], {"empty": ""}),
    ],
)
def test_parse_param_args(items: list[str], expected: dict[str, str]) -> None:
    assert parse_param_args(items) == expected


@pytest.mark.parametrize("item", ["=1", "novalue"])
def test_parse_param_args_malformed(item: str) -> None:
    with pytest.raises(QueryError, match="expects NAME=VALUE"):
        parse_param_args([item])


def test_installed_command(sample_settings: Settings) -> None:
    """The real console script, as an analyst runs it."""
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "signalboard"),
            "query",
            "time_to_hire_by_role",
            "--db",
            str(sample_settings.db_path),
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("role,track,applications,hires,hire_rate")
