"""The benchmark's smoke run at 10k applications: it checks correctness, never time.

Speed is recorded by `signalboard benchmark` in docs/performance.md; here the same code path
must generate, load without rejects, compute every report section and render every page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from signalboard_benchmarks.run import (
    BenchmarkResult,
    Measurement,
    _compare_with_base,
    measure_browser,
    measure_report,
    run_benchmark,
)

from dashboard.app import PAGE_SPECS
from signalboard.settings import Settings


@pytest.mark.slow
def test_benchmark_smoke_at_10k(tmp_path: Path) -> None:
    result = run_benchmark(sizes=[10_000], workdir=tmp_path, browser=False)
    assert result.failures == []
    steps = {(m.step, m.name) for m in result.measurements}
    assert ("load", "load / bare ingest") in steps
    assert ("load", "load peak RSS") in steps
    assert ("report", "whole report") in steps
    assert ("report", "Data health cold") in steps
    assert ("page", "Data health warm") in steps
    rss = next(m.value for m in result.measurements if m.name == "load peak RSS")
    assert 10 < rss < 24_000  # a real measurement of a real process, in MB


def test_markdown_marks_missed_targets() -> None:
    result = BenchmarkResult(started_at="t", machine={"cores": 2}, command="signalboard benchmark")
    result.measurements = [
        Measurement(1_000_000, "report", "Funnel cold", 2.0, "s", 1.5),
        Measurement(1_000_000, "report", "Funnel warm", 0.4, "s", None),
        Measurement(1_000_000, "page", "Funnel warm", 0.1, "s", 0.2),
    ]
    text = result.to_markdown()
    assert "| 1,000,000 | report | Funnel cold | 2.000 s | <= 1.5 s | **no** |" in text
    assert "| 1,000,000 | page | Funnel warm | 0.100 s | <= 0.2 s | yes |" in text
    assert "| 1,000,000 | report | Funnel warm | 0.400 s |  |  |" in text


@pytest.mark.parametrize(
    ("size", "cold_s", "expected"),
    [
        (10_000_000, 8.0, [("Funnel cold, times its 1,000,000 time", 4.0, 10.0, True)]),
        (10_000_000, 30.0, [("Funnel cold, times its 1,000,000 time", 15.0, 10.0, False)]),
        (3_000_000, 9.0, [("Funnel cold, times its 1,000,000 time", 4.5, 3.0, False)]),
        (1_000_000, 2.0, []),  # the base size is not compared with itself
    ],
)
def test_sections_above_1m_are_held_to_their_1m_time_times_the_growth(
    size: int, cold_s: float, expected: list[tuple[str, float, float, bool]]
) -> None:
    result = BenchmarkResult(started_at="t", machine={}, command="signalboard benchmark")
    result.measurements = [
        Measurement(1_000_000, "report", "Funnel cold", 2.0, "s", 1.0),
        Measurement(1_000_000, "report", "Funnel warm", 1.0, "s", None),
        Measurement(size, "report", "Funnel cold", cold_s, "s", 1.0),
    ]
    _compare_with_base(result, size)
    added = [(m.name, m.value, m.target, m.meets_target) for m in result.measurements[3:]]
    assert added == expected


def test_report_measured_in_its_own_process_reports_a_missing_warehouse(tmp_path: Path) -> None:
    """The report sections run in a fresh process; what goes wrong there comes back as
    failures, not as a crash of the benchmark."""
    result = BenchmarkResult(started_at="t", machine={}, command="signalboard benchmark")
    settings = Settings(
        db_path=tmp_path / "missing.duckdb", pseudonym_key_file=tmp_path / "pseudonym.key"
    )
    measure_report(result, 10, settings, tmp_path / "report")
    assert result.failures
    assert all(f.startswith("10: ") for f in result.failures)
    assert not [m for m in result.measurements if m.name.endswith(" cold")]


@pytest.mark.browser
def test_browser_visits_every_page_by_navigation(sample_settings: Settings) -> None:
    """Chromium reaches every page from the sidebar twice (first visit, revisit), and the
    server's peak RSS is read; then two sessions at once on the same server each see every
    page. On the sample warehouse, so it checks the path, not the speed."""
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is missing (install Debian's chromium package)")
    result = BenchmarkResult(started_at="t", machine={}, command="signalboard benchmark")
    measure_browser(result, 3000, sample_settings, sessions=2)
    assert result.failures == []
    names = [m.name for m in result.measurements if m.step == "browser"]
    expected = [f"{spec.title} first visit" for spec in PAGE_SPECS]
    expected += [f"{spec.title} revisit" for spec in PAGE_SPECS] + ["server peak RSS"]
    assert names == expected
    rss = next(m.value for m in result.measurements if m.name == "server peak RSS")
    assert 50 < rss < 24_000  # MB of a real Streamlit server

    sessions = {m.name: m for m in result.measurements if m.step == "sessions"}
    for spec in PAGE_SPECS:
        slowest = sessions[f"{spec.title} slowest of 2"]
        median = sessions[f"{spec.title} median of 2"]
        assert slowest.note.startswith("2 of 2 sessions")  # both sessions saw the page
        assert slowest.target == 2.0
        assert 0 < median.value <= slowest.value
    assert sessions["sessions that saw every page"].value == 2
    cpu = sessions["server CPU, 2 sessions"].value
    assert 0 < cpu < 600  # seconds of a real server's CPU during the round
    assert sessions["server CPU, one person's first visits"].value > 0
    assert sessions["browser CPU, 2 sessions"].value > 0  # Chromium drew two sessions' pages
    assert sessions["2 sessions, wall time"].value >= max(
        sessions[f"{spec.title} slowest of 2"].value for spec in PAGE_SPECS
    )
    assert sessions["server CPU per session / one person's revisits"].value > 0
    peak = sessions["server peak RSS after 2 sessions"].value
    assert rss <= peak < 24_000  # the peak only grows


def test_sessions_option_takes_a_count_and_zero_skips() -> None:
    """`--sessions N` on `signalboard benchmark`: default ten, 0 skips the round, a negative
    or non-numeric count is a one-line usage error."""
    import argparse

    from signalboard_benchmarks.run import add_benchmark_arguments

    parser = argparse.ArgumentParser(prog="signalboard benchmark", exit_on_error=False)
    add_benchmark_arguments(parser)
    assert parser.parse_args([]).sessions == 10
    assert parser.parse_args(["--sessions", "0"]).sessions == 0
    assert parser.parse_args(["--sessions", "3"]).sessions == 3
    for bad in ("-1", "ten"):
        with pytest.raises(argparse.ArgumentError, match="whole number of sessions"):
            parser.parse_args(["--sessions", bad])
