"""Bootstrap helpers shared by the analysis areas (time to hire, stipends)."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class SortedValues(Protocol):
    """Values in ascending order that can be read at an array of positions (a sorted ndarray,
    or a view that sorts only the positions read, as signalboard.analysis.stipends has)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: np.ndarray) -> np.ndarray: ...


def sampled_medians(
    sorted_values: np.ndarray | SortedValues, n_resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """Medians of `n_resamples` resamples with replacement, drawn from their exact distribution.

    A resample is ``sorted_values[ceil(n * U_i) - 1]`` for n uniforms U_i, and that map is
    monotone, so its k-th smallest value is ``sorted_values[ceil(n * U_(k)) - 1]`` with U_(k) the
    k-th order statistic of n uniforms: Beta(k, n + 1 - k). Equivalently P(median* <= x_(j)) =
    P(Binomial(n, j/n) >= k) for odd n = 2k - 1. For even n numpy's median is the mean of the
    (n/2)-th and (n/2 + 1)-th values; given U_(k) = u, U_(k+1) is u plus (1 - u) times the
    smallest of the other n - k uniforms, Beta(1, n - k). O(n_resamples) random numbers instead
    of O(n_resamples x n), which is what makes the bootstrap affordable at a million applications
    (measured in docs/performance.md).

    Examples
    --------
    >>> sampled_medians(np.array([5.0, 5.0, 5.0]), 3, np.random.default_rng(0)).tolist()
    [5.0, 5.0, 5.0]
    """
    n = len(sorted_values)
    k = (n + 1) // 2
    u = rng.beta(k, n + 1 - k, size=n_resamples)

    def at(q: np.ndarray) -> np.ndarray:
        index = np.clip(np.ceil(n * q).astype(np.int64) - 1, 0, n - 1)
        return sorted_values[index]

    if n % 2:
        return at(u)
    following = u + (1 - u) * rng.beta(1, n - k, size=n_resamples)
    return (at(u) + at(following)) / 2
