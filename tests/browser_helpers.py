"""Serving the dashboard and driving headless Chromium for the browser tests.

Debian's chromium at /usr/bin/chromium (Playwright cannot download a browser here); a test
without it skips, and fails under CI=true, where the browser tests must run.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
SERVER_START_SECONDS = 90
PAGE_SECONDS = 120  # waits, not assertions on speed: two shared CPUs can be slow
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
EXCEPTIONS = '[data-testid="stException"]'
ERROR_ALERTS = '[data-testid="stAlertContentError"]'


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing (install Debian's chromium package; dev.py test does)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI=true requires the browser test to run")
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    pytest.fail(f"the server did not answer {url} in {SERVER_START_SECONDS}s:\n{log.read_text()}")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """End the process group a test started (`serve` and `demo` run streamlit as a child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def serving(
    db: Path, log: Path, *, env: Mapping[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[str]:
    """`signalboard serve --db DB` on a free port of 127.0.0.1 until the block ends; its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "signalboard.cli", "serve", "--db", str(db), *args]
    environment = dict(os.environ, STREAMLIT_SERVER_ADDRESS="127.0.0.1", **(env or {}))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            start_new_session=True,
        )
    try:
        wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(process)


@contextmanager
def chromium_page(**context_options: Any) -> Iterator[Any]:
    """A page of a fresh headless Chromium (options go to `browser.new_context`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(
                **{"viewport": {"width": 1400, "height": 900}, **context_options}
            )
            page = context.new_page()
            page.set_default_timeout(PAGE_SECONDS * 1000)
            yield page
        finally:
            browser.close()
