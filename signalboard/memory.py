"""Keep the memory the analyses free for their next arrays instead of returning it to the kernel.

glibc's malloc serves a request of more than its mmap threshold (dynamic, at most 32 MiB on
64-bit, mallopt(3)) with a fresh mapping and unmaps it on free, so the next array of that size
starts on untouched pages: one page fault per 4 KiB, each zeroed by the kernel. At 1M applications
the analyses' temporaries (a few MiB each) stay under the threshold and are reused; at 10M they are
48-80 MiB, above it, and the Assessors section spent 16-24 s of system time in page faults (10-15
million of them) out of 29 s of wall time (docs/performance.md). Served from the heap instead
(`M_MMAP_MAX` = 0) and not trimmed back to the kernel until 2 GiB lie free at its top
(`M_TRIM_THRESHOLD`), a freed array's pages are reused as they are.

The cost is resident memory: what a computation freed stays with the process (up to the trim
threshold above its peak use) for the next one, which the dashboard's server and the report reuse.
A process whose environment already tunes malloc (`MALLOC_*_` variables, or `glibc.malloc`
tunables in `GLIBC_TUNABLES`) is left as its operator set it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# mallopt(3) parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
# mallopt takes an int: the largest trim threshold it can express (2 GiB - 1)
_TRIM_THRESHOLD = 2**31 - 1
_TUNING_VARIABLES = ("MALLOC_MMAP_MAX_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def keep_freed_memory(environ: dict[str, str] | None = None) -> bool:
    """Make this process's malloc keep freed memory for reuse (see the module docstring).

    Returns True when the setting was applied, False where it does not apply: not Linux with
    glibc, or `environ` (default `os.environ`) already tunes malloc.

    Examples
    --------
    >>> keep_freed_memory({"MALLOC_TRIM_THRESHOLD_": "0"})
    False
    """
    environ = os.environ if environ is None else environ
    if any(name in environ for name in _TUNING_VARIABLES):
        return False
    if "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""):
        return False
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and other C libraries have no mallopt
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success; apply the trim threshold first so the heap is never trimmed
    # below the arrays it is about to hold
    return bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)) and bool(mallopt(_M_MMAP_MAX, 0))
