"""BLAS on one thread, for the fits' many small matrix problems.

On matrices of a few dozen rows (grader x grader systems, regressions on cells) a multithreaded
BLAS spends its time waking and spinning its threads rather than computing (OpenBLAS's own advice
for small problems; measurements in docs/performance.md), and the analyses already run their
independent parts on the cores themselves.
"""

from __future__ import annotations

import functools
from typing import Any

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    # threadpool_limits() inspects every loaded library on each call; a controller inspects
    # them once (threadpoolctl's documentation recommends reusing a ThreadpoolController)
    return ThreadpoolController()


def single_threaded_blas() -> Any:
    """Context manager: BLAS on one thread inside it, the previous limits restored after.

    Examples
    --------
    >>> import numpy as np
    >>> with single_threaded_blas():
    ...     float(np.eye(3) @ np.ones(3) @ np.ones(3))
    3.0
    """
    return _controller().limit(limits=1, user_api="blas")
