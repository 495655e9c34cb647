"""single_threaded_blas: one BLAS thread inside, the previous limits restored after."""

from __future__ import annotations

import doctest

from threadpoolctl import threadpool_info

from signalboard.stats import blas


def _blas_threads() -> list[int]:
    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


def test_blas_runs_on_one_thread_inside_and_as_before_after() -> None:
    before = _blas_threads()
    assert before  # numpy's BLAS is loaded
    with blas.single_threaded_blas():
        assert _blas_threads() == [1] * len(before)
        with blas.single_threaded_blas():  # nested, as a fit inside an analysis's own limit
            assert _blas_threads() == [1] * len(before)
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before


def test_docstring_examples() -> None:
    failures, tried = doctest.testmod(blas)
    assert tried > 0 and failures == 0
