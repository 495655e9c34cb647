"""The `signalboard` console script, run as a user runs it (subprocesses): --help, generate ->
load -> report on a small generated dataset, a clear one-line error for a missing warehouse, and
`demo` building the sample warehouse and serving it until /_stcore/health answers."""

from __future__ import annotations

import csv
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from signalboard.db import query_scalar, readonly
from tests.browser_helpers import stop_group

SIGNALBOARD = Path(sys.executable).with_name("signalboard")
COMMAND_SECONDS = 300  # a limit against hangs, not a speed assertion
DEMO_START_SECONDS = 120


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALBOARD_")}
    # Keep the pseudonym key out of the repository's data/ folder.
    env["SIGNALBOARD_PSEUDONYM_KEY_FILE"] = str(cwd / "pseudonym.key")
    return subprocess.run(
        [str(SIGNALBOARD), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for command in ("generate", "load", "report", "serve", "demo"):
        assert command in result.stdout
    demo = run_cli("demo", "--help", cwd=tmp_path)
    assert demo.returncode == 0 and "--db" in demo.stdout and "--port" in demo.stdout


def test_generate_load_report(tmp_path: Path) -> None:
    exports, db, out = tmp_path / "exports", tmp_path / "w.duckdb", tmp_path / "report"
    generated = run_cli(
        "generate", "--out", str(exports), "--applications", "300", "--seed", "3", cwd=tmp_path
    )
    assert generated.returncode == 0, generated.stderr
    with (exports / "applications.csv").open(newline="", encoding="utf-8") as handle:
        applications = sum(1 for _ in csv.DictReader(handle))
    assert applications == 300
    assert "applications.csv: 300 rows" in generated.stdout

    loaded = run_cli(
        "load",
        str(exports),
        "--db",
        str(db),
        "--quiet",
        "--as-of",
        "2026-07-01T00:00:00",
        cwd=tmp_path,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert db.exists()
    assert "applications.csv" in loaded.stdout
    with readonly(db) as con:
        assert query_scalar(con, "select count(*) from applications") == 300
        assert str(query_scalar(con, "select max(as_of) from loads")) == "2026-07-01 00:00:00"

    reported = run_cli("report", "--db", str(db), "--out", str(out), cwd=tmp_path)
    assert reported.returncode == 0, reported.stderr
    written = {Path(line).name for line in reported.stdout.split()}
    assert {"data_health.csv", "report.html"} <= written
    assert all((out / name).exists() for name in written)
    health = pd.read_csv(out / "data_health.csv").set_index("table_name")
    assert health.loc["applications", "rows_in_warehouse"] == 300
    assert health.loc["applications", "rows_read"] == 300
    assert "Warehouse tables" in (out / "report.html").read_text(encoding="utf-8")


def test_report_without_a_warehouse_says_what_to_do(tmp_path: Path) -> None:
    result = run_cli(
        "report", "--db", str(tmp_path / "none.duckdb"), "--out", str(tmp_path / "r"), cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("signalboard: error: No warehouse at")
    assert "signalboard demo" in result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_builds_the_sample_warehouse_and_serves_it(tmp_path: Path) -> None:
    db, port = tmp_path / "demo.duckdb", _free_port()
    log = tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNALBOARD_")}
    env["SIGNALBOARD_PSEUDONYM_KEY_FILE"] = str(tmp_path / "pseudonym.key")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(SIGNALBOARD), "demo", "--db", str(db), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DEMO_START_SECONDS
        answer = None
        while time.monotonic() < deadline and answer is None:
            if process.poll() is not None:
                pytest.fail(f"demo exited with {process.returncode}:\n{log.read_text()}")
            try:
                url = f"http://127.0.0.1:{port}/_stcore/health"
                with urllib.request.urlopen(url, timeout=2) as response:
                    answer = (response.status, response.read().decode())
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        assert answer == (200, "ok"), log.read_text()
        assert "building the sample warehouse" in log.read_text()
        with readonly(db) as con:
            assert query_scalar(con, "select count(*) from applications") > 0
    finally:
        stop_group(process)  # demo runs streamlit as a child process
    assert (tmp_path / "pseudonym.key").exists()
