"""Sessions that ask for the same uncomputed section at once share one computation.

The dashboard's section calls go through `ui.cached_on_warehouse` / `ui.cached`, i.e.
`st.cache_data`. Streamlit's cache takes a lock per cache key before computing a missing value
and looks the key up again once it holds it (`_handle_cache_miss` in
streamlit/runtime/caching/cache_utils.py), so a second session waits for the first one's result
instead of computing it again. These tests hold that behaviour to the real cache, with threads
standing in for the server's session threads, so an upgrade that loses it fails here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
import streamlit as st

from dashboard import ui

CALLS: list[tuple[str, float, float]] = []
CALLS_LOCK = threading.Lock()


def slow_section(con: duckdb.DuckDBPyConnection, label: str) -> int:
    """A stand-in section: reads the warehouse, takes a while, records each computation."""
    started = time.perf_counter()
    applications = con.execute("select count(*) from applications").fetchone()
    time.sleep(0.3)
    with CALLS_LOCK:
        CALLS.append((label, started, time.perf_counter()))
    return int(applications[0]) if applications else 0


def slow_computation(label: str) -> int:
    """A stand-in for a computation on plain arguments (`ui.cached`), recorded the same way."""
    started = time.perf_counter()
    time.sleep(0.3)
    with CALLS_LOCK:
        CALLS.append((label, started, time.perf_counter()))
    return len(label)


HELPERS: dict[str, Callable[[str], int]] = {
    "cached_on_warehouse": lambda label: ui.cached_on_warehouse(slow_section, label),
    "cached": lambda label: ui.cached(slow_computation, label),
}
"""Each of ui.py's cache helpers for section results, called the way a page calls it."""


@pytest.fixture
def dashboard_on_sample(sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SIGNALBOARD_DB", str(sample_db))
    st.cache_data.clear()
    st.cache_resource.clear()
    CALLS.clear()
    yield
    st.cache_data.clear()
    st.cache_resource.clear()


def _at_once(labels: list[str], helper: str = "cached_on_warehouse") -> list[int]:
    barrier = threading.Barrier(len(labels))

    def session(label: str) -> int:
        barrier.wait()
        return HELPERS[helper](label)

    with ThreadPoolExecutor(max_workers=len(labels)) as pool:
        return list(pool.map(session, labels))


@pytest.mark.usefixtures("dashboard_on_sample")
@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_concurrent_sessions_share_one_computation(helper: str) -> None:
    results = _at_once(["funnel"] * 8, helper)
    assert [label for label, _, _ in CALLS] == ["funnel"]
    assert len(set(results)) == 1 and results[0] > 0
    # later sessions hit the cache
    assert HELPERS[helper]("funnel") == results[0]
    assert len(CALLS) == 1


@pytest.mark.usefixtures("dashboard_on_sample")
@pytest.mark.parametrize("helper", sorted(HELPERS))
def test_different_sections_compute_side_by_side(helper: str) -> None:
    """The lock is per key: two sections asked for at once are computed concurrently, not one
    after the other behind a global lock."""
    _at_once(["funnel", "funnel", "stipends", "stipends"], helper)
    assert sorted(label for label, _, _ in CALLS) == ["funnel", "stipends"]
    (_, start_a, end_a), (_, start_b, end_b) = CALLS
    assert max(start_a, start_b) < min(end_a, end_b)  # the two computations overlapped
