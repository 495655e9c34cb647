"""The built wheel, installed in a fresh virtual environment, works from an empty folder.

`pip install <wheel>` and then `signalboard query --list`, `query NAME`, `generate`, `load`,
`report`, `demo` and `serve` run from a folder outside the checkout; the SQL library, the sample
and the mappings come from the package; the warehouse and the key land in the per-user data folder
(SIGNALBOARD_HOME) or beside a warehouse named with --db, never inside the installation; every page
of the served app renders in Chromium without an exception.

Under CI=true (and SIGNALBOARD_PACKAGING_FULL=1) the fresh environment installs the wheel with its
dependencies from the package index, as a user would. Elsewhere it installs the wheel alone and
borrows the third-party packages of the development environment through a path file (a plain path
entry: the editable install's own .pth hooks in that folder are not processed, so signalboard,
etl and dashboard can only come from the wheel).
"""

from __future__ import annotations

import os
import signal
import site
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.paths import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
FULL = os.environ.get("CI") == "true" or os.environ.get("SIGNALBOARD_PACKAGING_FULL") == "1"


def _run(*cmd: str | Path, cwd: Path, env: dict[str, str], timeout: float = 600) -> str:
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{cmd} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """(bin folder of a fresh venv with the built wheel installed, environment to run it in)."""
    root = tmp_path_factory.mktemp("packaging")
    wheels = root / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", wheels, REPO_ROOT],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("signalboard-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    bin_dir = venv / "bin"
    if FULL:
        install = [bin_dir / "pip", "install", "--quiet", wheel]
    else:
        install = [bin_dir / "pip", "install", "--quiet", "--no-deps", wheel]
        purelib = subprocess.run(
            [bin_dir / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        Path(purelib, "borrowed_dependencies.pth").write_text(
            "\n".join(site.getsitepackages()) + "\n"
        )
    subprocess.run([str(c) for c in install], check=True, capture_output=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SIGNALBOARD_") and key not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["SIGNALBOARD_HOME"] = str(root / "home")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    yield bin_dir, env


def test_the_wheel_ships_the_sql_the_sample_and_the_mappings(
    installed: tuple[Path, dict[str, str]],
) -> None:
    bin_dir, _ = installed
    (wheel,) = (bin_dir.parent.parent / "wheels").glob("signalboard-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (REPO_ROOT / "queries").rglob("*.sql"):
        assert f"signalboard/_queries/{path.relative_to(REPO_ROOT / 'queries')}" in names
    for path in (REPO_ROOT / "data" / "sample").glob("*.csv"):
        assert f"signalboard/_sample/{path.name}" in names
    for path in (REPO_ROOT / "etl" / "mappings").glob("*.toml"):
        assert f"etl/mappings/{path.name}" in names
    # Every folder of Python modules in the checkout is a package the wheel carries.
    for init in REPO_ROOT.glob("*/**/__init__.py"):
        relative = init.relative_to(REPO_ROOT)
        if relative.parts[0] in ("tests", ".venv", "build") or "site-packages" in relative.parts:
            continue
        folder = relative.parent.as_posix()
        mapped = {"queries": "signalboard/_queries", "data/sample": "signalboard/_sample"}
        mapped["benchmarks"] = "signalboard_benchmarks"
        assert f"{mapped.get(folder, folder)}/__init__.py" in names, folder


def test_commands_run_from_an_empty_folder(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    bin_dir, env = installed
    cli = bin_dir / "signalboard"
    home = Path(env["SIGNALBOARD_HOME"])

    listing = _run(cli, "query", "--list", cwd=tmp_path, env=env)
    assert "funnel_by_source" in listing
    # The sections' inputs are not the analysts' library.
    assert "assessor_units" not in listing

    _run(
        cli,
        "generate",
        "--out",
        "exports",
        "--applications",
        "400",
        "--seed",
        "3",
        cwd=tmp_path,
        env=env,
    )
    _run(cli, "load", "exports", "--db", "own.duckdb", "--quiet", cwd=tmp_path, env=env)
    assert (tmp_path / "own.duckdb").exists()
    # The key lives beside the warehouse it was named with.
    assert (tmp_path / "pseudonym.key").exists()

    csv = _run(
        cli,
        "query",
        "funnel_by_source",
        "--db",
        "own.duckdb",
        "--format",
        "csv",
        cwd=tmp_path,
        env=env,
    )
    assert csv.splitlines()[0].startswith("source") and len(csv.splitlines()) > 1

    _run(cli, "report", "--db", "own.duckdb", "--out", "report", cwd=tmp_path, env=env)
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000
    assert len(list((tmp_path / "report").glob("*.csv"))) >= 25

    # Nothing was written inside the installation.
    venv = bin_dir.parent
    written = [p for p in venv.rglob("*") if p.suffix in (".duckdb", ".key")]
    assert written == []
    assert not home.exists() or not list(home.glob("*.duckdb"))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve(
    cli: Path, args: list[str], cwd: Path, env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    with (cwd / f"serve-{port}.log").open("wb") as log:
        process = subprocess.Popen(
            [str(cli), *args, "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, (cwd / f"serve-{port}.log").read_text()
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return process, url
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"no answer from {url}:\n{(cwd / f'serve-{port}.log').read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.browser
def test_demo_builds_the_sample_in_the_user_folder_and_every_page_renders(
    installed: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    bin_dir, env = installed
    home = Path(env["SIGNALBOARD_HOME"])
    process, url = _serve(bin_dir / "signalboard", ["demo"], tmp_path, env)
    try:
        assert (home / "warehouse.duckdb").exists() and (home / "pseudonym.key").exists()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
            page = browser.new_page()
            for path in (
                "",
                "time_to_hire",
                "assessors",
                "fairness",
                "stipends",
                "sql",
                "data_health",
            ):
                page.goto(f"{url}/{path}")
                page.wait_for_selector(
                    '[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=120_000
                )
                page.wait_for_selector('[data-testid="stMain"] h1', timeout=120_000)
                assert page.locator('[data-testid="stException"]').count() == 0, path
            browser.close()
    finally:
        _stop(process)
