"""Atomic, crash-safe, reader-friendly loads: a load killed mid-way leaves the previous warehouse
intact and readable, a reader keeps its state during a load and sees the new one after reopening,
and concurrent loads queue on the writer lock. Loads run in real subprocesses (`signalboard load`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from etl.load import LoadError
from signalboard.settings import Settings
from tests.load_helpers import EXPORTS, ROWS, load, settings_for, write_exports


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_command(settings: Settings, folder: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, SIGNALBOARD_PSEUDONYM_KEY_FILE=str(settings.pseudonym_key_file))
    return subprocess.Popen(
        [sys.executable, "-m", "signalboard.cli", "load", str(folder)]
        + ["--db", str(settings.db_path), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def count(db: Path, table: str) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"select count(*) from {table}").fetchall()[0][0]
    finally:
        con.close()


def big_exports(folder: Path, applications: int) -> Path:
    """A large, valid export set written by DuckDB (seconds to load, a second to write)."""
    write_exports(folder, applications=None, scores=None, stage_events=None)
    con = duckdb.connect()
    try:
        con.execute(
            f"""
            copy (
                select 'B' || i as application_id, 'Q' || (i // 2) as candidate_id,
                    'micro_internship' as track, 'C1' as cohort_id, 'data_analyst' as role,
                    timestamp '2024-01-01' + to_minutes(i % 50000) as applied_at,
                    'job_board' as source, 'US' as country, 'US-CA' as region,
                    '31080' as metro, 500 as stipend_amount, 'USD' as stipend_currency,
                    18 as hours_logged
                from range({applications}) as r(i)
            ) to '{folder / "applications.csv"}' (header)
            """
        )
        con.execute(
            f"""
            copy (
                select 'B' || i as application_id, 'g' || (i % 12) || k as grader_id,
                    'human' as grader_kind, axis, 1 + (i % 5) as score,
                    timestamp '2024-03-01' + to_minutes(i % 50000) as scored_at
                from range({applications}) as r(i), range(2) as g(k),
                    (values ('code_quality'), ('communication')) as a(axis)
            ) to '{folder / "scores.csv"}' (header)
            """
        )
    finally:
        con.close()
    return folder


def test_killed_load_leaves_the_previous_warehouse_intact(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    before = sha(settings.db_path)
    big = big_exports(tmp_path / "big", applications=300_000)

    process = load_command(settings, big)
    assert process.stdout is not None
    # Each finished file logs one JSON line; after the first one the load is writing its copy
    # and the big files are still ahead of it.
    first_log = process.stdout.readline()
    assert '"event": "load_file"' in first_log, first_log
    temps = list(tmp_path.glob("warehouse.duckdb.loading-*"))
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert temps, "the load should have been writing a temp copy"

    assert sha(settings.db_path) == before
    assert count(settings.db_path, "applications") == ROWS["applications"]
    assert count(settings.db_path, "loads") == 1
    assert list(tmp_path.glob("warehouse.duckdb.loading-*"))  # the stale copy is still there

    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "fx_rates_2024-02.csv").write_text(EXPORTS["fx_rates.csv"].replace("1.27", "1.26"))
    result = load([fx], settings)
    assert result.load_id == 2 and result.rows_loaded == 2
    assert not list(tmp_path.glob("warehouse.duckdb.loading-*"))  # cleaned by the next load
    assert count(settings.db_path, "applications") == ROWS["applications"]


def test_reader_keeps_the_old_state_during_a_load_and_sees_the_new_after_reopening(
    tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    reader = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        update = tmp_path / "update"
        update.mkdir()
        (update / "fx_rates_2024-02.csv").write_text(
            EXPORTS["fx_rates.csv"] + "EUR,1.08,2024-01-31\n"
        )
        process = load_command(settings, update)
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        assert json.loads(stdout.splitlines()[-1])["load_id"] == 2
        # The reader holds the old file (inode) and its state, undisturbed.
        assert reader.execute("select count(*) from fx_rates").fetchall() == [(2,)]
        assert reader.execute("select count(*) from loads").fetchall() == [(1,)]
    finally:
        reader.close()
    assert count(settings.db_path, "fx_rates") == 3
    assert count(settings.db_path, "loads") == 2


def test_concurrent_loads_wait_for_the_writer_lock(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    before = sha(settings.db_path)
    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "fx_rates_2024-02.csv").write_text(EXPORTS["fx_rates.csv"] + "EUR,1.08,2024-01-31\n")
    with open(tmp_path / "warehouse.duckdb.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as if another load were running
        process = load_command(settings, fx)
        time.sleep(1.0)
        assert process.poll() is None  # still waiting for the lock
        assert sha(settings.db_path) == before
        fcntl.flock(lock, fcntl.LOCK_UN)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    assert count(settings.db_path, "fx_rates") == 3


def test_the_live_file_is_replaced_never_written(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    load([write_exports(tmp_path / "first")], settings)
    inode = os.stat(settings.db_path).st_ino
    fx = tmp_path / "fx"
    fx.mkdir()
    (fx / "fx_rates_2024-02.csv").write_text(EXPORTS["fx_rates.csv"] + "EUR,1.08,2024-01-31\n")
    load([fx], settings)
    assert os.stat(settings.db_path).st_ino != inode  # a new file took the name
    assert not settings.db_path.with_name("warehouse.duckdb.wal").exists()


def test_leftovers_of_a_killed_load_are_removed(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    stale = tmp_path / "warehouse.duckdb.loading-999-0"
    stale.write_bytes(b"half a database")
    (tmp_path / "warehouse.duckdb.loading-999-0.tmp").mkdir()  # DuckDB's spill folder
    (tmp_path / "warehouse.duckdb.loading-999-0.tmp" / "spill.block").write_bytes(b"x")
    load([write_exports(tmp_path / "in")], settings)
    assert sorted(p.name for p in tmp_path.glob("warehouse.duckdb*")) == [
        "warehouse.duckdb",
        "warehouse.duckdb.lock",
    ]


def test_a_live_file_that_is_not_a_warehouse_stops_the_load(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    settings.db_path.write_text("not a database")
    with pytest.raises(LoadError, match="cannot open the warehouse copy"):
        load([write_exports(tmp_path / "in")], settings)
    assert settings.db_path.read_text() == "not a database"
