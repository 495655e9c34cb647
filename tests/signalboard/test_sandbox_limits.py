"""The sandbox's limits and walls through the Python API and the `signalboard query` CLI.

A hard stop at the time limit (also for work DuckDB does not interrupt), a byte cap beside the
row cap, an interrupt while the result streams, the warehouse file out of reach, and every failure
as one line. The warehouse is a small hand-made one holding one demographics row, so a leak of
it is visible in any output.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest

from etl.warehouse import connect_writable, create_schema
from signalboard.cli import main
from signalboard.sandbox import SandboxError, run_sandboxed
from signalboard.settings import Settings, get_settings, parse_size
from tests.paths import REPO_ROOT

SECRET = "Secret-Race-Value"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("limits") / "warehouse.duckdb"
    con = connect_writable(path)
    create_schema(con)
    con.execute(
        "insert into applications select 'a' || range, 'p' || range, 'micro_internship', 'c1', "
        "'data_analyst', timestamp '2024-01-01' + to_hours(range), 'referral', 'US', null, null, "
        "500.0, 'USD', 9.5 from range(50)"
    )
    con.execute("insert into demographics values ('p1', 'F', $v)", {"v": SECRET})
    con.close()
    return path


@pytest.fixture
def settings(warehouse: Path, tmp_path: Path) -> Settings:
    return Settings(
        db_path=warehouse,
        pseudonym_key_file=tmp_path / "key",
        sql_timeout_seconds=5.0,
        sql_max_rows=1000,
    )


# What an analyst with the SQL page or the CLI tried; {db} is the warehouse file.
LEAKS = [
    ("select * from read_duckdb('{db}', table_name='demographics')", "file_access"),
    ("select * from read_blob('{db}')", "file_access"),
    ("select * from read_text('{db}.wal')", "file_access"),
    ("select * from glob('.tmp/*')", "file_access"),
    ("select path from duckdb_databases()", "function"),
    ("select * from pragma_storage_info('demographics')", "function"),
    ("select name, value from duckdb_settings()", "function"),
    ("select current_setting('allowed_paths') as p", "function"),
    ("select * from demographics", "demographics"),
]


@pytest.mark.parametrize(("sql", "reason"), LEAKS, ids=[sql[:40] for sql, _ in LEAKS])
def test_leak_refused_through_the_api(settings: Settings, sql: str, reason: str) -> None:
    with pytest.raises(SandboxError) as caught:
        run_sandboxed(sql.format(db=settings.db_path), settings=settings)
    assert caught.value.reason == reason
    assert SECRET not in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("sql", "reason"), LEAKS, ids=[sql[:40] for sql, _ in LEAKS])
def test_leak_refused_through_the_cli(
    settings: Settings,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    sql: str,
    reason: str,
) -> None:
    file = tmp_path / "attack.sql"
    file.write_text(sql.format(db=settings.db_path), encoding="utf-8")
    status = main(["query", str(file), "--db", str(settings.db_path), "--format", "csv"])
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    assert SECRET not in err
    assert err.startswith("signalboard: error: Refused")
    assert len(err.strip().splitlines()) == 1, err


def test_uninterruptible_work_is_stopped_at_the_limit(settings: Settings) -> None:
    """One `levenshtein` call on two 200,000-character strings runs for over a minute and DuckDB
    does not interrupt it; the worker process is killed at the deadline."""
    short = dataclasses.replace(settings, sql_timeout_seconds=1.0)
    started = time.monotonic()
    with pytest.raises(SandboxError, match="ran longer than the 1 s limit") as caught:
        run_sandboxed(
            "select levenshtein(repeat('a', 200000), repeat('b', 200000)) as d", settings=short
        )
    assert caught.value.reason == "timeout"
    # Far below the minute the call needs: the stop came from the deadline, not the end of work.
    assert time.monotonic() - started < 30
    assert run_sandboxed("select 1 as one", settings=short).frame["one"].tolist() == [1]


def test_interrupt_while_streaming_is_a_timeout(settings: Settings) -> None:
    """The interrupt lands while Arrow batches are read (pyarrow raises OSError there)."""
    streaming = dataclasses.replace(
        settings, sql_timeout_seconds=0.5, sql_max_rows=10**12, sql_max_bytes=10**12
    )
    with pytest.raises(SandboxError, match="ran longer than the 0.5 s limit") as caught:
        run_sandboxed(
            "select range, md5(range::varchar) as h from range(1000000000)", settings=streaming
        )
    assert caught.value.reason == "timeout"


@pytest.mark.parametrize(
    ("max_rows", "max_bytes", "capped_by", "words"),
    [
        (100, 10**9, "rows", "100 rows (SIGNALBOARD_SQL_MAX_ROWS)"),
        (10**9, 1_000_000, "bytes", "1.0 MB of data (SIGNALBOARD_SQL_MAX_BYTES)"),
        (10**9, 250_000, "bytes", "0.2 MB of data (SIGNALBOARD_SQL_MAX_BYTES)"),
    ],
)
def test_result_caps_name_the_cap_that_cut(
    settings: Settings, max_rows: int, max_bytes: int, capped_by: str, words: str
) -> None:
    """10^6 rows of 1,000-byte strings (~1 GB) never reach the caller whole."""
    capped = dataclasses.replace(settings, sql_max_rows=max_rows, sql_max_bytes=max_bytes)
    result = run_sandboxed(
        "select range as i, repeat('x', 1000) as s from range(1000000)", settings=capped
    )
    assert result.capped and result.capped_by == capped_by
    assert words in (result.notice or "")
    assert result.arrow.nbytes <= max_bytes
    assert len(result.frame) <= max_rows
    # The rows kept are the first ones, in order, and as many as fit.
    assert result.frame["i"].tolist() == list(range(len(result.frame)))
    if capped_by == "bytes":
        assert result.arrow.nbytes > max_bytes - 2_500  # within about two rows of the cap


def test_a_result_under_both_caps_is_whole(settings: Settings) -> None:
    result = run_sandboxed("select * from applications", settings=settings)
    assert len(result.frame) == 50 and not result.capped and result.notice is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("64MB", 64_000_000), ("1MiB", 1_048_576), ("12", 12), ("1.5GB", 1_500_000_000)],
)
def test_max_bytes_setting(text: str, expected: int) -> None:
    assert parse_size(text) == expected
    assert get_settings({"SIGNALBOARD_SQL_MAX_BYTES": text}).sql_max_bytes == expected


@pytest.mark.parametrize("text", ["lots", "MB", "12XB"])
def test_max_bytes_setting_refuses_nonsense(text: str) -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size(text)


def test_max_bytes_is_listed_in_env_example() -> None:
    assert "SIGNALBOARD_SQL_MAX_BYTES=64MB" in (REPO_ROOT / ".env.example").read_text()


def _run_cli(*argv: str) -> subprocess.CompletedProcess[str]:
    """`signalboard query ...` in its own process, from this checkout."""
    return subprocess.run(
        [sys.executable, "-c", "import sys; from signalboard.cli import main; sys.exit(main())"]
        + ["query", *argv],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO_ROOT,
    )


def test_cli_stops_uninterruptible_work_with_one_line(settings: Settings, tmp_path: Path) -> None:
    file = tmp_path / "slow.sql"
    file.write_text("select levenshtein(repeat('a', 200000), repeat('b', 200000)) as d\n")
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from signalboard.cli import main; sys.exit(main())"]
        + ["query", str(file), "--db", str(settings.db_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO_ROOT,
        env={**_environ(), "SIGNALBOARD_SQL_TIMEOUT_SECONDS": "1"},
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "signalboard: error: Stopped: the query ran longer than the 1 s limit "
        "(SIGNALBOARD_SQL_TIMEOUT_SECONDS). Filter earlier or aggregate before joining."
    ]


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize(
    "content",
    [b"select '\xe9t\xe9' as x\n", b"\xff\xfeselect 1\n", b"-- title: caf\xe9\nselect 1\n"],
)
def test_cli_non_utf8_file_is_one_line(settings: Settings, tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "latin1.sql"
    file.write_bytes(content)
    done = _run_cli(str(file), "--db", str(settings.db_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "is not UTF-8 text" in lines[0] and "Traceback" not in done.stderr
