"""`signalboard serve` as a process manager runs it: it refuses to serve without sign-in anywhere
but this machine, refuses a broken config in one line, and stops the server it started on
SIGTERM, SIGINT and SIGHUP (the port is free again and no process of it remains)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

SERVER_START_SECONDS = 90
STOP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(*args: str) -> list[str]:
    return [sys.executable, "-m", "signalboard.cli", "serve", *args]


def _port_is_free(port: int) -> bool:
    """True when a new server could listen on the port (as servers do, with SO_REUSEADDR: the
    health checks' connections may linger in TIME_WAIT, but no socket may still listen)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _processes_in_group(group: int) -> list[int]:
    """Ids of live processes whose process group is `group` (zombies excluded)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # Fields after the command's closing parenthesis: state, ppid, pgrp, ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[2]) == group:
            found.append(int(entry.name))
    return found


def _assert_xsrf_protected(port: int) -> None:
    """A write without the XSRF cookie and header is refused (403) before Streamlit looks at the
    session; with protection off the same request reaches the session check (400)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_stcore/upload_file/no-session/no-file",
        data=b"--b\r\nContent-Disposition: form-data; name=file; filename=x\r\n\r\nx\r\n--b--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        method="PUT",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 403


@pytest.mark.parametrize(
    ("args", "config", "message"),
    [
        (("--address", "0.0.0.0"), None, "--address 0.0.0.0 without sign-in"),
        (("--address", "192.0.2.1"), None, "--address 192.0.2.1 without sign-in"),
        ((), "[auth]\nclient_id = 'x'\n", "[auth] is missing server_metadata_url"),
        ((), "not = [toml", "is not valid TOML"),
    ],
)
def test_serve_refuses_in_one_line(
    tmp_path: Path, args: tuple[str, ...], config: str | None, message: str
) -> None:
    env = dict(os.environ)
    env.pop("SIGNALBOARD_CONFIG", None)
    if config is not None:
        (tmp_path / "config.toml").write_text(config)
        env["SIGNALBOARD_CONFIG"] = str(tmp_path / "config.toml")
    result = subprocess.run(
        _serve("--db", str(tmp_path / "w.duckdb"), *args),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _default_sighup() -> None:
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.mark.parametrize(
    "sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda s: s.name
)
def test_a_signal_to_serve_stops_the_server(sig: signal.Signals, sample_db: Path, tmp_path: Path):
    port = _free_port()
    log = tmp_path / "serve.log"
    env = dict(os.environ)
    env.pop("SIGNALBOARD_CONFIG", None)
    with log.open("wb") as out:
        # Its own process group, so the check below sees everything serve started.
        process = subprocess.Popen(
            _serve("--db", str(sample_db), "--port", str(port)),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            # SIGHUP as a process manager leaves it: a test run started under `nohup` would
            # hand its children SIGHUP ignored, and serve rightly keeps an inherited ignore.
            preexec_fn=_default_sighup,
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            assert process.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.5)
        if sig == signal.SIGTERM:
            _assert_xsrf_protected(port)
        # Signal serve alone, as a process manager does, not its process group.
        os.kill(process.pid, sig)
        process.wait(timeout=STOP_SECONDS)
        deadline = time.monotonic() + STOP_SECONDS
        while _processes_in_group(process.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_in_group(process.pid) == []
        assert _port_is_free(port)
        assert "local single-user mode" in log.read_text()
    finally:
        if process.poll() is None or _processes_in_group(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
