"""The hypergeometric lower tail, exact and vectorised over many tests at once.

`hypergeom_cdf(k, total, good, draws)` is P(X <= k) for X the number of good items in `draws`
items drawn without replacement from `total` items of which `good` are good: the same quantity
and argument order as `scipy.stats.hypergeom.cdf(k, M, n, N)`.

scipy evaluates each test on its own (Boost's hypergeometric CDF), at a cost that grows with the
population; a funnel with thousands of cohorts, each tested against a pooled baseline of hundreds
of thousands of applications, spends seconds there. Here the probabilities of the support are built
from the ratio of consecutive terms,

    P(X = j + 1) / P(X = j) = (good - j)(draws - j) / ((j + 1)(total - good - draws + j + 1)),

anchored at the mode (the largest term, so no term overflows), and the tail is the sum of the
terms up to k over the sum of all of them. No factorial or log-gamma of the population appears, so
the relative error is a few ulps per step of the support (about 1e-14 for supports of a thousand
values), and the cost is proportional to the support's width (at most `draws + 1`), not to the
population. Terms below the smallest double (about 1e-308 of the mode's) round to 0.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

# Rows x columns of one padded block: bounds the memory of a batch of wide supports.
_BLOCK_CELLS = 2_000_000


def hypergeom_cdf(k: ArrayLike, total: ArrayLike, good: ArrayLike, draws: ArrayLike) -> np.ndarray:
    """P(X <= k) for X ~ Hypergeometric(total, good, draws), elementwise over broadcast arrays.

    Parameters
    ----------
    k : array_like of int
        The upper end of the tail (values outside the support give 0 or 1).
    total : array_like of int
        Population size, at least 0.
    good : array_like of int
        Good items in the population, 0 <= good <= total.
    draws : array_like of int
        Items drawn, 0 <= draws <= total.

    Returns
    -------
    ndarray of float
        The lower-tail probabilities, shaped as the broadcast inputs.

    Examples
    --------
    Fisher's tea-tasting lady: 8 cups, 4 with milk first, she picks 4 and gets 3 right; the
    chance of at most 3 right by guessing is 69/70.

    >>> float(hypergeom_cdf(3, 8, 4, 4))
    0.9857142857142858
    >>> hypergeom_cdf([0, 1], 10, 5, 2).round(4).tolist()
    [0.2222, 0.7778]
    """
    arrays = np.broadcast_arrays(*(np.asarray(a) for a in (k, total, good, draws)))
    shape = arrays[0].shape
    k_, m, g, n = (_as_int(a).ravel() for a in arrays)
    if np.any((m < 0) | (g < 0) | (n < 0) | (g > m) | (n > m)):
        raise ValueError("hypergeom_cdf needs 0 <= good <= total and 0 <= draws <= total")
    lo = np.maximum(0, n - (m - g))
    hi = np.minimum(n, g)
    out = np.where(k_ >= hi, 1.0, 0.0)
    inside = np.flatnonzero((k_ >= lo) & (k_ < hi))
    if inside.size:
        out[inside] = _inside_support(k_[inside], m[inside], g[inside], n[inside], lo[inside])
    return out.reshape(shape)


def _as_int(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    as_int = np.rint(values).astype(np.int64)
    if not np.array_equal(as_int, values):
        raise ValueError("hypergeom_cdf takes whole numbers")
    return as_int


def _inside_support(
    k: np.ndarray, m: np.ndarray, g: np.ndarray, n: np.ndarray, lo: np.ndarray
) -> np.ndarray:
    """The tail for lo <= k < hi, in blocks of tests whose supports have similar widths."""
    hi = np.minimum(n, g)
    width = hi - lo + 1
    out = np.empty(k.size)
    # Power-of-two width classes keep the padding of a block below half of it.
    width_class = np.ceil(np.log2(width)).astype(np.int64)
    for cls in np.unique(width_class):
        members = np.flatnonzero(width_class == cls)
        cols = int(width[members].max())
        rows_per_block = max(1, _BLOCK_CELLS // cols)
        for start in range(0, members.size, rows_per_block):
            rows = members[start : start + rows_per_block]
            out[rows] = _block(k[rows], m[rows], g[rows], n[rows], lo[rows], hi[rows], cols)
    return out


def _block(
    k: np.ndarray,
    m: np.ndarray,
    g: np.ndarray,
    n: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    cols: int,
) -> np.ndarray:
    # The mode, floor((draws + 1)(good + 1) / (total + 2)), is the largest term.
    mode = np.clip(((n + 1) * (g + 1)) // (m + 2), lo, hi)[:, None]
    j = lo[:, None] + np.arange(cols)[None, :]  # support value of each column
    hi_ = hi[:, None]
    valid = j <= hi_
    mf = m[:, None].astype(float)
    gf = g[:, None].astype(float)
    nf = n[:, None].astype(float)
    jf = j.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        # up[j] = P(j + 1) / P(j); only used where j < hi, where both factors are positive.
        numerator = (gf - jf) * (nf - jf)
        denominator = (jf + 1.0) * (mf - gf - nf + jf + 1.0)
        step_up = np.where((j >= mode) & (j < hi_), numerator / denominator, 1.0)
        step_down = np.where(j < mode, denominator / numerator, 1.0)
    # Right of the mode: term[j] = prod of up[i] for mode <= i < j (exclusive running product).
    right = np.ones_like(step_up)
    np.cumprod(step_up[:, :-1], axis=1, out=right[:, 1:])
    # Left of the mode: term[j] = prod of 1 / up[i] for j <= i < mode (running product from the
    # right); step_down is 1 from the mode on, so the product is 1 there.
    left = np.cumprod(step_down[:, ::-1], axis=1)[:, ::-1]
    terms = np.where(valid, right * left, 0.0)
    below = np.where(j <= k[:, None], terms, 0.0).sum(axis=1)
    return below / terms.sum(axis=1)
