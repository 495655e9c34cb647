"""`signalboard benchmark`: measure the load, every report section and every page at scale.

It generates exports with `signalboard generate`, then measures on the same machine in one run:

- the load: wall time, peak RSS (of the load's own process), and the ratio to a bare DuckDB
  ingest of the same files (`create table as select * from read_csv(...)` with the contract's
  column types and no validation), which is the practical floor;
- each report section (the functions `signalboard report` calls): compute time cold (first call
  on a fresh connection) and warm (second call), and the whole report;
- each dashboard page: server-side run time with Streamlit's AppTest, cold and warm (cached);
- at the largest size, each page in headless Chromium reached by navigation clicks, first visit
  and revisit, and the server's peak RSS; then, on the same server with its caches warm, several
  sessions at once (`--sessions`, default 10), each visiting every page: the slowest and the
  median time per page across sessions, the server's CPU time during that round against one
  person's revisits (whether sessions shared the cached sections), and its peak RSS after it;
- the peak RSS of the load's and the report's processes, and the machine's usable cores.

Speed is measured here, never asserted in tests. The test suite runs a small size (10k) as a smoke
run that checks correctness: every file loaded without rejects, every report table has rows, every
page renders without an exception.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl.contract import DUCKDB_TYPES, TABLES
from etl.warehouse import connect_writable
from signalboard.db import (
    connect_memory,
    connect_readonly,
    query_scalar,
    quote_identifier,
)
from signalboard.memory import keep_freed_memory
from signalboard.settings import Settings

if TYPE_CHECKING:
    from etl.generate import CohortShape

TARGETS = {
    "load_ratio_to_bare_ingest": 1.5,
    "load_peak_rss_mb": 2048.0,
    "report_section_cold_s": 1.0,
    "page_warm_s": 0.2,
    "whole_report_s": 5.0,
    "browser_first_visit_s": 3.0,
    "browser_revisit_s": 1.0,
    "sessions_page_s": 2.0,
    "peak_rss_mb": 8192.0,
}
"""Targets on a 2-core, 24 GB machine at 1M applications of the realistic cohort shape (AppTest
pages as before; the load, sections, the whole report, Chromium and peak RSS tightened since;
every page within 2 s for each of ten sessions at once on warm caches). Above 1M applications,
each process may use up to `peak_rss_mb` and a section may cost its 1M time times the growth in
data (`SCALE_BASE`)."""

SCALE_BASE = 1_000_000
"""The size other sizes' section times are compared with, when a run measures it too: at 10M a
section may take at most 10 times its 1M time."""

DEFAULT_SESSIONS = 10
"""Sessions opened at once in the concurrent round (`--sessions`)."""

SESSION_PAGE_TIMEOUT_S = 120.0
"""How long a session in the concurrent round waits for one page before it counts as failed:
warm pages take seconds, so this only ends a stuck session, and it bounds the round."""


@dataclass
class Measurement:
    """One measured quantity: what, its value and unit, its target, and whether a check passed."""

    size: int
    step: str
    name: str
    value: float
    unit: str
    target: float | None = None
    note: str = ""

    @property
    def meets_target(self) -> bool | None:
        return None if self.target is None else self.value <= self.target


@dataclass
class BenchmarkResult:
    started_at: str
    machine: dict[str, Any]
    command: str
    measurements: list[Measurement] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def add(self, *args: Any, **kwargs: Any) -> Measurement:
        m = Measurement(*args, **kwargs)
        self.measurements.append(m)
        print(
            f"[{m.size:>9,}] {m.step:<8} {m.name:<40} {m.value:>10.3f} {m.unit}"
            + (f"  (target <= {m.target:g})" if m.target is not None else ""),
            flush=True,
        )
        return m

    def to_markdown(self) -> str:
        lines = [
            f"Run {self.started_at} with `{self.command}`.",
            "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in self.machine.items()),
            "",
            "| applications | step | what | value | target | meets |",
            "|---:|---|---|---:|---:|---|",
        ]
        for m in self.measurements:
            target = "" if m.target is None else f"<= {m.target:g} {m.unit}"
            meets = {None: "", True: "yes", False: "**no**"}[m.meets_target]
            lines.append(
                f"| {m.size:,} | {m.step} | {m.name} | {m.value:.3f} {m.unit} | {target} | {meets} |"
            )
        if self.failures:
            lines += ["", "Correctness failures:", *[f"- {f}" for f in self.failures]]
        return "\n".join(lines) + "\n"


def machine_facts() -> dict[str, Any]:
    memory_gb = None
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gb = round(int(line.split()[1]) / 1024 / 1024, 1)
    cpu = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    import duckdb

    return {
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_count": os.cpu_count(),
        "memory_gb": memory_gb,
        "cpu": cpu,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "os": platform.platform(),
    }


def _run_measured(cmd: list[str], *, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command; return (wall seconds, peak RSS in MB of that process)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    # wait4 reaped the child behind Popen's back (it is the only call that returns the child's
    # own peak RSS); tell Popen so it does not warn that the process is still running.
    proc.returncode = code
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... exited {code}: {stderr[-2000:]}")
    return wall, usage.ru_maxrss / 1024  # ru_maxrss is in KiB on Linux


def _contract_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for spec in TABLES:
        for suffix in (".csv", ".csv.gz", ".parquet"):
            path = folder / f"{spec.name}{suffix}"
            if path.exists():
                found[spec.name] = path
    return found


def bare_ingest_seconds(folder: Path, db_path: Path) -> float:
    """The floor: `create table as select * from read_csv` per file, typed, no validation."""
    if db_path.exists():
        db_path.unlink()
    con = connect_writable(db_path)
    con.execute("set enable_progress_bar = false")
    start = time.perf_counter()
    try:
        for name, path in _contract_files(folder).items():
            spec = next(t for t in TABLES if t.name == name)
            header = query_scalar(
                connect_memory(),
                "select list(column_name) from (describe select * from read_csv($p, all_varchar = true))",
                {"p": str(path)},
            )
            types = {
                c.name: DUCKDB_TYPES[c.type] for c in spec.columns if c.name in set(header or [])
            }
            con.execute(
                f"create table {quote_identifier(spec.name)} as "
                "select * from read_csv($p, header = true, columns = $types)",
                {"p": str(path), "types": {k: types.get(k, "VARCHAR") for k in header}},
            )
        con.execute("checkpoint")
    finally:
        con.close()
    return time.perf_counter() - start


def _section_modules() -> Iterator[tuple[str, Any]]:
    # Here, not at the top: the CLI imports this module to build its parser, and the report
    # pulls in pandas, which every `signalboard` start (the load's included) would then pay for.
    from signalboard.report import SECTIONS

    yield from SECTIONS


def measure_report(result: BenchmarkResult, size: int, settings: Settings, out_dir: Path) -> None:
    """Every report section cold and warm, and the whole report, in a process of its own.

    A fresh process, as `signalboard report` and the dashboard's server are: this one has just
    generated 451 MB of exports and run the bare ingest, and the memory its allocators kept
    from that made the first Assessors call at 1M 0.3 s slower than in a fresh process (1.69 s
    against 1.38 s cold; warm 1.28 against 1.17 s), which measured the benchmark, not the
    report.
    """
    with tempfile.TemporaryDirectory(prefix="signalboard-bench-report-") as scratch:
        answer = Path(scratch) / "report.json"
        request = {
            "size": size,
            "db_path": str(settings.db_path),
            "pseudonym_key_file": str(settings.pseudonym_key_file),
            "out_dir": str(out_dir),
            "answer": str(answer),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "signalboard_benchmarks.run", "report", json.dumps(request)],
            stderr=subprocess.PIPE,  # its progress lines go to this process's stdout
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not answer.exists():
            result.failures.append(
                f"{size}: the report measurement failed: {proc.stderr.strip()[-500:]}"
            )
            return
        payload = json.loads(answer.read_text(encoding="utf-8"))
    # the child printed each line as it measured it
    result.measurements.extend(Measurement(**measured) for measured in payload["measurements"])
    result.failures.extend(payload["failures"])
    _compare_with_base(result, size)


def _compare_with_base(result: BenchmarkResult, size: int) -> None:
    """Each section's cold time over its time at SCALE_BASE, when this run measured both."""
    if size <= SCALE_BASE:
        return
    base = {
        m.name: m.value
        for m in result.measurements
        if m.size == SCALE_BASE and m.step == "report" and m.name.endswith(" cold")
    }
    for m in [x for x in result.measurements if x.size == size and x.step == "report"]:
        if m.name in base and base[m.name] > 0:
            result.add(
                size,
                "report",
                f"{m.name}, times its {SCALE_BASE:,} time",
                m.value / base[m.name],
                "x",
                size / SCALE_BASE,
            )


def _measure_report_here(
    result: BenchmarkResult, size: int, settings: Settings, out_dir: Path
) -> None:
    for title, module in _section_modules():
        timings = []
        tables = []
        for _ in range(2):
            con = connect_readonly(settings.db_path)
            try:
                start = time.perf_counter()
                tables = module.report_tables(con, settings=settings)
                timings.append(time.perf_counter() - start)
            except Exception as error:  # a broken section is a finding, not the end of the run
                result.failures.append(f"{size}: report section {title} failed: {error!r}"[:500])
                break
            finally:
                con.close()
        if len(timings) < 2:
            continue
        names = ", ".join(t.name for t in tables)
        result.add(
            size,
            "report",
            f"{title} cold",
            timings[0],
            "s",
            TARGETS["report_section_cold_s"],
            names,
        )
        result.add(size, "report", f"{title} warm", timings[1], "s", None, names)
        for table in tables:
            if len(table.frame.columns) == 0:
                result.failures.append(f"{size}: report table {table.name} has no columns")
    from signalboard.report import write_report

    start = time.perf_counter()
    try:
        written = write_report(settings=settings, out_dir=out_dir)
    except Exception as error:
        result.failures.append(f"{size}: the whole report failed: {error!r}"[:500])
        return
    result.add(
        size, "report", "whole report", time.perf_counter() - start, "s", TARGETS["whole_report_s"]
    )
    if not any(p.name == "report.html" for p in written):
        result.failures.append(f"{size}: report.html was not written")


def measure_pages(result: BenchmarkResult, size: int, settings: Settings) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard import app as dashboard_app
    from dashboard.app import PAGE_SPECS

    os.environ["SIGNALBOARD_DB"] = str(settings.db_path)
    for spec in PAGE_SPECS:
        path = spec.path if hasattr(spec, "path") else spec[0]
        title = spec.title if hasattr(spec, "title") else spec[1]
        # The entry script that `signalboard serve` runs.
        entry = Path(dashboard_app.__file__)
        at = AppTest.from_file(str(entry), default_timeout=600)
        at.run()
        at.switch_page(str(path))
        # The first run drew the default page (Funnel) and filled Streamlit's caches; empty them
        # so "cold" means no cached query, result or connection, for every page alike.
        st.cache_data.clear()
        st.cache_resource.clear()
        start = time.perf_counter()
        at.run()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        at.run()
        warm = time.perf_counter() - start
        result.add(size, "page", f"{title} cold", cold, "s")
        result.add(size, "page", f"{title} warm", warm, "s", TARGETS["page_warm_s"])
        if at.exception:
            result.failures.append(f"{size}: page {title} raised {at.exception[0].value}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
"""Streamlit marks its app element this way when no script run is in progress."""


def _peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident set size (VmHWM), in MB; None where /proc has none."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 on (proc(5)); the command name before it is in parentheses
    and may hold spaces, so the split is after its closing one."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_seconds(pid: int) -> float | None:
    """CPU time a live process has used so far, user plus system, all its threads and the
    children it has waited for (its sandboxed query workers), in seconds (fields 14-17 of
    /proc/PID/stat); None where /proc has none."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        return sum(int(f) for f in _stat_fields(pid)[11:15]) / os.sysconf("SC_CLK_TCK")
    return None


def _descendants_cpu_seconds(root: int, *, leave_out: int) -> float:
    """CPU time (as `_cpu_seconds`) of every live descendant of `root`, but not of `leave_out`
    and its descendants: here the browser a round started (Playwright's driver, Chromium and its
    renderers), not the server beside it."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(int(entry.name))
            parent[int(entry.name)] = int(fields[1])
            cpu[int(entry.name)] = sum(int(f) for f in fields[11:15])
    total = 0
    for pid, ticks in cpu.items():
        ancestor = pid
        while ancestor in parent and ancestor not in (root, leave_out, 0, 1):
            ancestor = parent[ancestor]
        if ancestor == root and pid != root:
            total += ticks
    return total / os.sysconf("SC_CLK_TCK")


CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
VIEWPORT = {"width": 1400, "height": 900}


def measure_browser(
    result: BenchmarkResult, size: int, settings: Settings, *, sessions: int = DEFAULT_SESSIONS
) -> None:
    """Each page in headless Chromium, reached by clicking the navigation as a person does.

    The first page (Funnel) is opened by URL; every other page is then reached by a click in the
    sidebar: the first visit computes the page's sections on the server, and a second round of
    clicks (the revisit) is answered from Streamlit's caches. A page counts as shown when its
    title is drawn and the script run has finished. The server's peak RSS is read at the end.
    Then, with `sessions` above 0, `measure_sessions` opens that many sessions at once on the
    same server, its caches now warm.
    """
    if not Path("/usr/bin/chromium").exists():
        result.failures.append(
            "browser: /usr/bin/chromium is missing (python3 dev.py test installs it)"
        )
        return
    from urllib.request import urlopen

    from playwright.sync_api import sync_playwright

    from dashboard.app import PAGE_SPECS

    port = _free_port()
    env = dict(os.environ, SIGNALBOARD_DB=str(settings.db_path))
    # `serve` replaces itself with the Streamlit server (execve), so this pid is the server's.
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "signalboard.cli",
            "serve",
            "--db",
            str(settings.db_path),
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    round_cpu: dict[str, float] = {}
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if urlopen(f"{url}_stcore/health", timeout=2).status == 200:
                    break
            time.sleep(0.3)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(600_000)

            def shown(title: str) -> None:
                page.locator("h1", has_text=title).first.wait_for(state="visible")
                page.locator(APP_IDLE).wait_for(state="attached")

            specs = list(PAGE_SPECS)
            cpu_before = _cpu_seconds(server.pid)
            start = time.perf_counter()
            page.goto(url)
            shown(specs[0].title)
            result.add(
                size,
                "browser",
                f"{specs[0].title} first visit",
                time.perf_counter() - start,
                "s",
                TARGETS["browser_first_visit_s"],
                "opened by URL",
            )
            sidebar = page.locator('[data-testid="stSidebar"]')
            for visit, target in (("first visit", "browser_first_visit_s"), ("revisit", None)):
                if visit == "revisit":
                    cpu_before = _cpu_seconds(server.pid)
                for spec in specs if visit == "revisit" else specs[1:]:
                    start = time.perf_counter()
                    sidebar.get_by_role("link", name=spec.title).click()
                    shown(spec.title)
                    result.add(
                        size,
                        "browser",
                        f"{spec.title} {visit}",
                        time.perf_counter() - start,
                        "s",
                        TARGETS[target or "browser_revisit_s"],
                        "navigation click",
                    )
                cpu_after = _cpu_seconds(server.pid)
                if cpu_before is not None and cpu_after is not None:
                    round_cpu[visit] = cpu_after - cpu_before
            browser.close()
        rss = _peak_rss_mb(server.pid)
        if rss is not None:
            result.add(size, "browser", "server peak RSS", rss, "MB", TARGETS["peak_rss_mb"])
        if sessions > 0:
            measure_sessions(
                result,
                size,
                url=url,
                server_pid=server.pid,
                sessions=sessions,
                one_person_cpu_s=round_cpu,
            )
    finally:
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.wait(timeout=10)


@dataclass
class SessionVisits:
    """What one session of the concurrent round saw: seconds until each page was shown, in the
    order visited, and the error that ended it early ("" when it visited every page)."""

    seconds: dict[str, float] = field(default_factory=dict)
    error: str = ""


async def _one_session(page: Any, url: str, titles: list[str]) -> SessionVisits:
    """Open the app by URL (the first page), then click every other page in the sidebar."""
    visits = SessionVisits()

    async def shown(title: str) -> None:
        await page.locator("h1", has_text=title).first.wait_for(state="visible")
        await page.locator(APP_IDLE).wait_for(state="attached")

    title = titles[0]
    try:
        start = time.perf_counter()
        await page.goto(url)
        await shown(title)
        visits.seconds[title] = time.perf_counter() - start
        sidebar = page.locator('[data-testid="stSidebar"]')
        for title in titles[1:]:
            start = time.perf_counter()
            await sidebar.get_by_role("link", name=title).click()
            await shown(title)
            visits.seconds[title] = time.perf_counter() - start
    except Exception as error:  # one session's failure is recorded; the others go on
        visits.error = (
            f"{title}: {str(error).strip().splitlines()[0] if str(error).strip() else repr(error)}"
        )
    return visits


@dataclass
class SessionsRound:
    """The concurrent round: each session's visits, the round's wall time (from the first
    request to the last page shown) and the CPU time of the browser that drove it."""

    visits: list[SessionVisits]
    wall_s: float
    browser_cpu_s: float


async def _concurrent_sessions(
    url: str, titles: list[str], sessions: int, *, server_pid: int
) -> SessionsRound:
    """`sessions` independent browser contexts (own cookies, own Streamlit session) in one
    Chromium, driven at once from one event loop: every context's page is ready before any
    starts, so the first requests reach the server together."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            pages = []
            for _ in range(sessions):
                context = await browser.new_context(viewport=VIEWPORT)
                context.set_default_timeout(SESSION_PAGE_TIMEOUT_S * 1000)
                pages.append(await context.new_page())
            start = time.perf_counter()
            visits = await asyncio.gather(*(_one_session(pg, url, titles) for pg in pages))
            wall = time.perf_counter() - start
            # Read while the browser is alive: its processes' counters go when they exit.
            browser_cpu = _descendants_cpu_seconds(os.getpid(), leave_out=server_pid)
            return SessionsRound(list(visits), wall, browser_cpu)
        finally:
            await browser.close()


def measure_sessions(
    result: BenchmarkResult,
    size: int,
    *,
    url: str,
    server_pid: int,
    sessions: int,
    one_person_cpu_s: dict[str, float] | None = None,
) -> None:
    """`sessions` people at once on a running server: each opens the app by URL and clicks
    through every page. Records per page the slowest and the median time across the sessions
    that reached it, how many sessions saw every page, the round's wall time, the server's CPU
    time during the round (beside one person's rounds, from `one_person_cpu_s`) and the
    browser's (the two share the machine's cores), and the server's peak RSS after it.

    Whether sessions shared the cached sections is measured from outside the server: CPU time
    per session about that of one person's revisit means every session was answered from the
    cache; a section computed again would add its cold cost (a first visit's CPU) per session.
    A session that fails or waits longer than `SESSION_PAGE_TIMEOUT_S` for a page is a failure
    in `result`, and its other pages still count.
    """
    from dashboard.app import PAGE_SPECS

    titles = [spec.title for spec in PAGE_SPECS]
    cpu_before = _cpu_seconds(server_pid)
    # What this process's other children have used already (none in `signalboard benchmark`).
    others_cpu = _descendants_cpu_seconds(os.getpid(), leave_out=server_pid)
    try:
        run = asyncio.run(_concurrent_sessions(url, titles, sessions, server_pid=server_pid))
    except Exception as error:  # Chromium did not start, or the round broke as a whole
        result.failures.append(f"{size}: the concurrent sessions failed: {error!r}"[:500])
        return
    cpu_after = _cpu_seconds(server_pid)
    outcomes = run.visits
    for number, visits in enumerate(outcomes, start=1):
        if visits.error:
            result.failures.append(
                f"{size}: concurrent session {number} of {sessions} failed at {visits.error}"[:500]
            )
    for index, title in enumerate(titles):
        times = [visits.seconds[title] for visits in outcomes if title in visits.seconds]
        if not times:
            continue
        how = "opened by URL" if index == 0 else "navigation click"
        note = f"{len(times)} of {sessions} sessions, {how}"
        result.add(
            size,
            "sessions",
            f"{title} slowest of {sessions}",
            max(times),
            "s",
            TARGETS["sessions_page_s"],
            note,
        )
        result.add(
            size,
            "sessions",
            f"{title} median of {sessions}",
            statistics.median(times),
            "s",
            None,
            note,
        )
    complete = sum(1 for visits in outcomes if len(visits.seconds) == len(titles))
    result.add(
        size,
        "sessions",
        "sessions that saw every page",
        complete,
        "sessions",
        None,
        f"of {sessions} started at once",
    )
    result.add(
        size,
        "sessions",
        f"{sessions} sessions, wall time",
        run.wall_s,
        "s",
        None,
        "first request to last page shown",
    )
    one_person = one_person_cpu_s or {}
    for visit in ("first visit", "revisit"):
        if visit in one_person:
            result.add(
                size,
                "sessions",
                f"server CPU, one person's {visit}s",
                one_person[visit],
                "s",
                None,
                "every page once" if visit == "revisit" else "every page once, caches empty",
            )
    if cpu_before is not None and cpu_after is not None:
        used = cpu_after - cpu_before
        result.add(
            size,
            "sessions",
            f"server CPU, {sessions} sessions",
            used,
            "s",
            None,
            "user + system, /proc/PID/stat",
        )
        result.add(
            size,
            "sessions",
            f"browser CPU, {sessions} sessions",
            max(run.browser_cpu_s - others_cpu, 0.0),
            "s",
            None,
            "Chromium and Playwright's driver, on the same cores as the server",
        )
        if one_person.get("revisit"):
            result.add(
                size,
                "sessions",
                "server CPU per session / one person's revisits",
                used / sessions / one_person["revisit"],
                "x",
                None,
                "about 1 when every session was answered from the cache",
            )
    rss = _peak_rss_mb(server_pid)
    if rss is not None:
        result.add(
            size,
            "sessions",
            f"server peak RSS after {sessions} sessions",
            rss,
            "MB",
            TARGETS["peak_rss_mb"],
        )


def run_benchmark(
    *,
    sizes: list[int],
    workdir: Path,
    seed: int = 7,
    cohort_shape: CohortShape = "realistic",
    pages: bool = True,
    browser: bool = True,
    sessions: int = DEFAULT_SESSIONS,
    command: str = "signalboard benchmark",
) -> BenchmarkResult:
    """Generate, load, report and render at each size; return every measurement and failure."""
    from etl.generate import GeneratorConfig, generate

    result = BenchmarkResult(
        started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        machine=machine_facts(),
        command=command,
    )
    workdir.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        exports = workdir / f"exports_{size}"
        if exports.exists():
            shutil.rmtree(exports)
        start = time.perf_counter()
        config = GeneratorConfig(n_applications=size, seed=seed, cohort_shape=cohort_shape)
        counts = generate(exports, config=config)
        result.add(size, "generate", "generate exports", time.perf_counter() - start, "s")
        bare = bare_ingest_seconds(exports, workdir / f"bare_{size}.duckdb")
        result.add(size, "load", "bare DuckDB ingest (floor)", bare, "s")

        db_path = workdir / f"warehouse_{size}.duckdb"
        for stale in workdir.glob(f"warehouse_{size}.duckdb*"):
            stale.unlink()
        settings = Settings(db_path=db_path, pseudonym_key_file=workdir / "pseudonym.key")
        env = dict(os.environ, SIGNALBOARD_PSEUDONYM_KEY_FILE=str(settings.pseudonym_key_file))
        wall, rss = _run_measured(
            [
                sys.executable,
                "-m",
                "signalboard.cli",
                "load",
                str(exports),
                "--db",
                str(db_path),
                "--quiet",
            ],
            env=env,
        )
        result.add(size, "load", "signalboard load", wall, "s")
        result.add(
            size,
            "load",
            "load / bare ingest",
            wall / bare,
            "x",
            TARGETS["load_ratio_to_bare_ingest"],
        )
        rss_target = TARGETS["load_peak_rss_mb" if size <= SCALE_BASE else "peak_rss_mb"]
        result.add(size, "load", "load peak RSS", rss, "MB", rss_target)

        con = connect_readonly(db_path)
        try:
            for spec in TABLES:
                expected = counts.get(f"{spec.name}.csv")
                if expected is None:
                    continue
                if spec.name == "demographics":
                    continue  # one generated row per candidate; checked through candidates below
                loaded = query_scalar(con, f"select count(*) from {quote_identifier(spec.name)}")
                if loaded != expected:
                    result.failures.append(
                        f"{size}: {spec.name} loaded {loaded} of {expected} rows"
                    )
            rejected = query_scalar(con, "select count(*) from rejects")
            if rejected:
                result.failures.append(f"{size}: {rejected} generated rows were rejected")
        finally:
            con.close()

        shutil.rmtree(exports, ignore_errors=True)
        (workdir / f"bare_{size}.duckdb").unlink(missing_ok=True)
        measure_report(result, size, settings, workdir / f"report_{size}")
        if pages:
            measure_pages(result, size, settings)
        # Chromium at the largest size only: a fresh server, so first visits compute.
        if browser and size == max(sizes):
            measure_browser(result, size, settings, sessions=sessions)
    return result


def add_benchmark_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sizes",
        default="100000,1000000",
        help="comma-separated application counts (default 100000,1000000)",
    )
    parser.add_argument("--workdir", help="scratch folder (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--cohort-shape",
        choices=("few", "realistic"),
        default="realistic",
        help="cohorts of the generated exports (default realistic: one per 150 applications, "
        "docs/generator.md)",
    )
    parser.add_argument("--no-pages", action="store_true", help="skip the AppTest page timings")
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium timings")
    parser.add_argument(
        "--sessions",
        type=_session_count,
        default=DEFAULT_SESSIONS,
        metavar="N",
        help=f"after one person's Chromium rounds, N sessions at once on the same server (warm "
        f"caches), each visiting every page: slowest and median time per page, the server's CPU "
        f"time and peak RSS (default {DEFAULT_SESSIONS}; 0 skips)",
    )
    parser.add_argument("--out", help="also write the results as Markdown to this file")
    parser.add_argument("--json", help="also write the results as JSON to this file")


def _session_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if count < 0:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of sessions, 0 or more: {text!r}"
        )
    return count


def run_benchmark_command(args: argparse.Namespace, *, settings: Settings) -> int:
    sizes = [int(s.replace("_", "")) for s in str(args.sizes).split(",") if s.strip()]
    command = "signalboard benchmark " + " ".join(sys.argv[2:])
    with contextlib.ExitStack() as stack:
        workdir = (
            Path(args.workdir)
            if args.workdir
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="signalboard-bench-")))
        )
        result = run_benchmark(
            sizes=sizes,
            workdir=workdir,
            seed=args.seed,
            cohort_shape=args.cohort_shape,
            pages=not args.no_pages,
            browser=not args.no_browser,
            sessions=args.sessions,
            command=command.strip(),
        )
    markdown = result.to_markdown()
    print(markdown)
    if args.out:
        Path(args.out).write_text(markdown, encoding="utf-8")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "started_at": result.started_at,
                    "machine": result.machine,
                    "command": result.command,
                    "measurements": [asdict(m) for m in result.measurements],
                    "failures": result.failures,
                },
                indent=2,
            ),
            encoding="utf-8",
        )
    return 1 if result.failures else 0


def _report_child(request_json: str) -> int:
    """`python -m signalboard_benchmarks.run report REQUEST`: `measure_report`'s fresh process."""
    request = json.loads(request_json)
    keep_freed_memory()  # as `signalboard report` and the server do
    settings = Settings(
        db_path=Path(request["db_path"]), pseudonym_key_file=Path(request["pseudonym_key_file"])
    )
    result = BenchmarkResult(started_at="", machine={}, command="")
    _measure_report_here(result, int(request["size"]), settings, Path(request["out_dir"]))
    import resource

    result.add(
        int(request["size"]),
        "report",
        "report process peak RSS",
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "MB",
        TARGETS["peak_rss_mb"],
        "every section twice, then the whole report",
    )
    Path(request["answer"]).write_text(
        json.dumps(
            {"measurements": [asdict(m) for m in result.measurements], "failures": result.failures}
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "report":
        sys.exit(_report_child(sys.argv[2]))
    sys.exit(
        "usage: python -m signalboard_benchmarks.run report REQUEST_JSON (used by measure_report)"
    )
