"""keep_freed_memory: large arrays reuse freed pages, and an operator's own malloc tuning wins."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from signalboard.memory import keep_freed_memory
from tests.paths import REPO_ROOT

# Twenty 64 MB arrays, one after another, each freed before the next: above glibc's largest
# mmap threshold (32 MiB), so by default each one is a fresh mapping that faults in every page.
PROBE = textwrap.dedent(
    """
    import resource, sys
    import numpy as np
    from signalboard.memory import keep_freed_memory
    applied = keep_freed_memory() if sys.argv[1] == "keep" else None
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        values = np.ones(8_000_000)
        values += 1.0
        del values
    print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    """
)


def _page_faults(mode: str) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        env=env,
    )
    applied, faults = done.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_freed_arrays_are_reused_instead_of_faulting_in_fresh_pages() -> None:
    applied, kept = _page_faults("keep")
    _, plain = _page_faults("plain")
    assert applied == "True"
    # one array's pages (64 MB / 4 KiB = 15,625) fault in once instead of twenty times
    assert kept < plain / 3, (kept, plain)


@pytest.mark.parametrize(
    "environ",
    [
        {"MALLOC_MMAP_MAX_": "65536"},
        {"MALLOC_TRIM_THRESHOLD_": "0"},
        {"MALLOC_MMAP_THRESHOLD_": "131072"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"},
    ],
)
def test_an_operators_own_malloc_tuning_is_left_alone(environ: dict[str, str]) -> None:
    assert keep_freed_memory(environ) is False


def test_docstring_examples() -> None:
    import doctest

    from signalboard import memory

    failures, tried = doctest.testmod(memory)
    assert tried > 0 and failures == 0
