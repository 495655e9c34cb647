"""The hypergeometric lower tail against exact rational arithmetic and against scipy."""

from __future__ import annotations

from fractions import Fraction
from math import comb

import numpy as np
import pytest
from scipy import stats

from signalboard.stats.hypergeometric import hypergeom_cdf


def exact_cdf(k: int, total: int, good: int, draws: int) -> float:
    """P(X <= k) as a fraction of binomial coefficients, rounded once: the oracle."""
    lo = max(0, draws - (total - good))
    hi = min(k, draws, good)
    tail = sum(comb(good, i) * comb(total - good, draws - i) for i in range(lo, hi + 1))
    return float(Fraction(tail, comb(total, draws)))


@pytest.mark.parametrize(
    ("k", "total", "good", "draws", "expected"),
    [
        # Fisher (1935), the lady tasting tea: P(at most 3 of 4 right) = 1 - 1/70.
        (3, 8, 4, 4, 69 / 70),
        (0, 8, 4, 4, 1 / 70),
        (0, 10, 5, 2, 2 / 9),
        (-1, 10, 5, 2, 0.0),  # below the support
        (2, 10, 5, 2, 1.0),  # the top of the support
        (7, 10, 5, 2, 1.0),
        (0, 10, 0, 4, 1.0),  # no good items
        (3, 10, 10, 4, 0.0),  # only good items: X = 4
        (4, 10, 10, 4, 1.0),
        (0, 10, 6, 0, 1.0),  # nothing drawn
        (5, 10, 6, 10, 0.0),  # everything drawn: X = 6
        (2, 9, 5, 7, 0.0),  # support starts at 3
        (3, 9, 5, 7, 10 / 36),  # comb(5,3) comb(4,4) / comb(9,7)
    ],
)
def test_hand_computed_values(k: int, total: int, good: int, draws: int, expected: float) -> None:
    assert hypergeom_cdf(k, total, good, draws) == pytest.approx(expected, rel=1e-14, abs=0)
    assert hypergeom_cdf(k, total, good, draws) == pytest.approx(
        exact_cdf(k, total, good, draws) if k >= 0 else 0.0, rel=1e-14, abs=0
    )


@pytest.mark.parametrize("max_total", [50, 2_000, 300_000, 2_000_000])
def test_random_inputs_match_exact_arithmetic(max_total: int) -> None:
    """Within a few ulps of the exact tail, at populations where scipy's own error is ~1e-10."""
    rng = np.random.default_rng(max_total)
    rows = []
    for _ in range(40):
        total = int(rng.integers(1, max_total))
        good = int(rng.integers(0, total + 1))
        draws = int(rng.integers(0, min(total, 400) + 1))
        lo, hi = max(0, draws - (total - good)), min(draws, good)
        rows.append((int(rng.integers(lo, hi + 1)), total, good, draws))
    k, total, good, draws = (np.array(col) for col in zip(*rows, strict=True))
    got = hypergeom_cdf(k, total, good, draws)
    expected = np.array([exact_cdf(*row) for row in rows])
    keep = expected > 1e-300  # below that the terms underflow, as scipy's do
    np.testing.assert_allclose(got[keep], expected[keep], rtol=1e-13, atol=0)


def test_matches_scipy_where_scipy_is_exact() -> None:
    """scipy.stats.hypergeom.cdf agrees to 1e-12 on populations up to 20,000, vectorised over
    tests with supports from 1 to ~600 values (several width classes in one call)."""
    rng = np.random.default_rng(11)
    n_tests = 3_000
    total = rng.integers(1, 20_000, size=n_tests)
    good = (total * rng.uniform(0.0, 1.0, size=n_tests)).astype(np.int64)
    draws = np.minimum(rng.integers(0, 600, size=n_tests), total)
    mean = draws * good / total
    k = np.round(mean + rng.normal(0, 2, size=n_tests) * np.sqrt(mean + 1))
    got = hypergeom_cdf(k, total, good, draws)
    expected = stats.hypergeom.cdf(k, total, good, draws)
    keep = expected > 1e-300
    np.testing.assert_allclose(got[keep], expected[keep], rtol=1e-12, atol=0)
    assert np.all(got[~keep] < 1e-290)


def test_broadcasts_and_keeps_the_shape() -> None:
    got = hypergeom_cdf(np.arange(3)[:, None], 10, 5, np.array([2, 4]))
    assert got.shape == (3, 2)
    assert got[2, 0] == 1.0
    assert got[0, 1] == pytest.approx(exact_cdf(0, 10, 5, 4), rel=1e-14)


@pytest.mark.parametrize(
    ("k", "total", "good", "draws"),
    [(1, 10, 11, 2), (1, 10, 5, 11), (1, -1, 0, 0), (1.5, 10, 5, 2)],
)
def test_bad_input_is_one_error(k: float, total: int, good: int, draws: int) -> None:
    with pytest.raises(ValueError, match="hypergeom_cdf"):
        hypergeom_cdf(k, total, good, draws)


def test_docstring_examples() -> None:
    """The numbers printed in hypergeom_cdf's Examples block."""
    import doctest

    from signalboard.stats import hypergeometric

    failures, tried = doctest.testmod(hypergeometric)
    assert tried > 0 and failures == 0
