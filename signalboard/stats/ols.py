"""Ordinary least squares on cells of identical rows, with HC3 errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import linalg, stats


def weighted_pinv_fit(
    values: np.ndarray, weight: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """OLS coefficients of the rows the cells stand for, and (X'X)^+.

    The cells scaled by sqrt(weight) have the expanded rows' X'X and X'y, and the pseudo-inverse
    (SVD) of that small matrix is conditioned like X, as statsmodels' pinv of the rows is (the
    normal equations would square the condition number and lose digits).
    """
    root = np.sqrt(weight)
    pinv = np.linalg.pinv(root[:, None] * values)
    return pinv @ (root * mean), pinv @ pinv.T


@dataclass(frozen=True)
class CellDesign:
    """A design matrix X = [dense | indicators] of cells, its indicator columns held as one
    index per row: row i has a 1 in indicator column `group[i]` (-1: in none) and 0 in the
    others, as a group's dummies have. The products a fit needs then cost what the dense
    columns cost, however many groups there are.

    Examples
    --------
    >>> design = CellDesign(np.array([[1.0, 2.0], [1.0, 3.0], [1.0, 5.0]]), np.array([0, -1, 1]), 2)
    >>> design.matrix()
    array([[1., 2., 1., 0.],
           [1., 3., 0., 0.],
           [1., 5., 0., 1.]])
    """

    dense: np.ndarray
    group: np.ndarray
    k: int

    @classmethod
    def of(cls, values: np.ndarray) -> CellDesign:
        """A design of dense columns only."""
        return cls(values, np.full(len(values), -1, dtype=np.int64), 0)

    @property
    def width(self) -> int:
        return self.dense.shape[1] + self.k

    @functools.cached_property
    def segments(self) -> list[tuple[int, np.ndarray]]:
        """Each indicator column j that has rows (-1: none) with its rows, in order."""
        # a stable sort of 16-bit integers is a radix sort (numpy), in the rows' order
        codes = self.group.astype(np.int16) if self.k < np.iinfo(np.int16).max else self.group
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(-1, self.k + 1))
        return [
            (j, order[start:stop])
            for j, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True), start=-1)
            if stop > start
        ]

    def matrix(self) -> np.ndarray:
        """X as one dense array (Fortran order)."""
        out = np.zeros((len(self.group), self.width), order="F")
        out[:, : self.dense.shape[1]] = self.dense
        rows = np.flatnonzero(self.group >= 0)
        out[rows, self.dense.shape[1] + self.group[rows]] = 1.0
        return out

    def columns(self, kept: Sequence[int]) -> CellDesign:
        """The design of the columns `kept` (in order)."""
        a = self.dense.shape[1]
        dense = [j for j in kept if j < a]
        into = np.full(self.k + 1, -1, dtype=np.int64)  # (index -1: no indicator)
        indicators = [j - a for j in kept if j >= a]
        into[indicators] = np.arange(len(indicators))
        return CellDesign(
            np.asfortranarray(self.dense[:, dense]), into[self.group], len(indicators)
        )

    def times(self, coefficients: np.ndarray) -> np.ndarray:
        """X @ coefficients."""
        a = self.dense.shape[1]
        out = self.dense @ coefficients[:a]
        if self.k:
            out += np.append(coefficients[a:], 0.0)[self.group]
        return out

    def quadratic(self, matrix: np.ndarray) -> np.ndarray:
        """Each row's x' M x for a symmetric M."""
        a = self.dense.shape[1]
        out = np.einsum("ij,ij->i", self.dense @ matrix[:a, :a], self.dense)
        if self.k:
            for j, rows in self.segments:
                if j >= 0:
                    out[rows] += 2 * (self.dense[rows] @ matrix[:a, a + j]) + matrix[a + j, a + j]
        return out

    def gram(self, scale: np.ndarray) -> np.ndarray:
        """X' diag(scale) X."""
        a = self.dense.shape[1]
        out = np.empty((self.width, self.width))
        out[:a, :a] = self.dense.T @ (scale[:, None] * self.dense)
        if self.k:
            block = np.zeros((self.k, a))
            total = np.zeros(self.k)
            for j, rows in self.segments:
                if j >= 0:
                    block[j] = scale[rows] @ self.dense[rows]
                    total[j] = scale[rows].sum()
            out[a:, :a] = block
            out[:a, a:] = block.T
            out[a:, a:] = np.diag(total)
        return out


def weighted_r(design: CellDesign, weight: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """R of the QR factorisation of sqrt(weight) * [X | mean], square (p + 1 by p + 1; rows of
    zeros below the rank when there are fewer cells than columns).

    The rows of one indicator share that column, so each group's rows are factorised apart on
    the dense columns, their indicator and y, and the stacked small R's once more (tall-skinny
    QR: Demmel, Grigori, Hoemmen & Langou 2012, "Communication-optimal parallel and sequential
    QR and LU factorizations", SIAM J. Sci. Comput. 34(1)): the R of X itself up to the signs of
    its rows, from Householder reflections (conditioned like X, as the SVD is; the normal
    equations would square the condition number).
    """
    a, p = design.dense.shape[1], design.width
    root = np.sqrt(weight)
    parts = []
    for j, rows in design.segments:
        scale = root[rows]
        block = np.empty((len(rows), a + 2), order="F")
        block[:, :a] = design.dense[rows] * scale[:, None]
        block[:, a] = scale
        block[:, a + 1] = mean[rows] * scale
        if j < 0:
            block = block[:, [*range(a), a + 1]]
        r = np.linalg.qr(block, mode="r")
        part = np.zeros((len(r), p + 1))
        part[:, :a] = r[:, :a]
        if j >= 0:
            part[:, a + j] = r[:, a]
        part[:, p] = r[:, -1]
        parts.append(part)
    stacked = np.vstack(parts) if parts else np.zeros((0, p + 1))
    r = np.linalg.qr(stacked, mode="r") if len(stacked) else stacked
    out = np.zeros((p + 1, p + 1))
    out[: len(r)] = r[: p + 1]
    return out


def independent_design_columns(design: CellDesign, weight: np.ndarray, r: np.ndarray) -> list[int]:
    """`independent_indices` of the design's columns, judged on the rows scaled by
    sqrt(weight), from `weighted_r` of them: a column's |R_jj| is the norm of what it adds
    beyond the columns before it, the very quantity the Gram-Schmidt compares with the
    column's norm. Where every column adds clearly more than the cut-off (1e-6 of its norm
    against 1e-9: the two computations differ by rounding only), all are kept; otherwise the
    Gram-Schmidt decides."""
    p = design.width
    dense_norms = np.sqrt(weight @ design.dense**2) if design.dense.shape[1] else np.zeros(0)
    on = design.group >= 0
    indicator_norms = np.sqrt(np.bincount(design.group[on], weights=weight[on], minlength=design.k))
    norms = np.concatenate([dense_norms, indicator_norms])
    if p and (np.abs(np.diagonal(r)[:p]) > 1e-6 * norms).all():
        return list(range(p))
    return independent_indices(design.matrix(), weights=weight)


def solve_cells(
    design: CellDesign, weight: np.ndarray, mean: np.ndarray, *, r: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OLS coefficients of the rows the cells stand for, (X'WX)^-1 and each cell's leverage
    x' (X'WX)^-1 x, from the cells scaled by sqrt(weight) (they have the expanded rows' X'X
    and X'y) through R (`weighted_r`, when computed already): beta = R^-1 Q'y and
    (X'WX)^-1 = R^-1 R^-T. The columns are independent (`independent_design_columns`)."""
    r = weighted_r(design, weight, mean) if r is None else r
    p = design.width
    r_inverse = linalg.solve_triangular(r[:p, :p], np.eye(p), check_finite=False)
    inverse = r_inverse @ r_inverse.T
    return r_inverse @ r[:p, p], inverse, design.quadratic(inverse)


Z_975 = float(stats.norm.ppf(0.975))


def ols_hc3(
    X: pd.DataFrame, weight: np.ndarray, mean: np.ndarray, spread: np.ndarray
) -> dict[str, tuple[float, float, float, float]]:
    """OLS with HC3 standard errors from cells: X's rows are cells of `weight` identical rows
    whose outcomes have this `mean` and sum of squared deviations `spread`.

    beta = (X'WX)^-1 X'W mean; a row's residual is its y minus its cell's fit, so a cell's sum of
    squared residuals is spread + weight * (mean - fit)^2, and every row of a cell has the same
    leverage h. HC3 (MacKinnon & White 1985) is A X' diag(e^2 / (1 - h)^2) X A with A = (X'X)^-1,
    as statsmodels computes it; normal 95% CI and two-sided p-value (cov_type="HC3").

    Returns name -> (beta, ci_low, ci_high, p_value) per column of X.
    """
    design = CellDesign.of(X.to_numpy(float))
    return ols_hc3_arrays(design, list(X.columns), weight, mean, spread)


def ols_hc3_arrays(
    design: CellDesign,
    columns: Sequence[str],
    weight: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray,
    *,
    solved: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    df: Mapping[str, float] | None = None,
) -> dict[str, tuple[float, float, float, float]]:
    """`ols_hc3` of a design and its column names (`solved`: `solve_cells` of them, when
    computed already).

    `df`: degrees of freedom of a Student t reference per column (columns not named: the
    normal reference). A group indicator's HC3 error is estimated from that group's own few
    residuals, so with a small group a normal reference rejects far too often; a t reference
    on the smaller group's df is the Welch-type small-sample correction (Imbens & Kolesar 2016,
    "Robust standard errors in small samples", sec. 3)."""
    beta, inverse, leverage = solved if solved is not None else solve_cells(design, weight, mean)
    fit = design.times(beta)
    squares = spread + weight * (mean - fit) ** 2
    meat = design.gram(squares / (1 - leverage) ** 2)
    se = np.sqrt(np.diag(inverse @ meat @ inverse))
    z = np.abs(beta / se)
    dof = np.array([(df or {}).get(name, np.nan) for name in columns], dtype=float)
    t = ~np.isnan(dof)
    quantile = np.full(len(columns), Z_975)
    p_value = 2 * stats.norm.sf(z)
    if t.any():
        quantile[t] = stats.t.ppf(0.975, dof[t])
        p_value[t] = 2 * stats.t.sf(z[t], dof[t])
    low, high = beta - quantile * se, beta + quantile * se
    return {
        name: (float(beta[j]), float(low[j]), float(high[j]), float(p_value[j]))
        for j, name in enumerate(columns)
    }


def independent_indices(values: np.ndarray, *, weights: np.ndarray | None = None) -> list[int]:
    """The columns of `values` that are not linear combinations of earlier ones, left to right
    (Gram-Schmidt; with `weights`, judged on the rows scaled by sqrt(weight))."""
    if weights is not None:
        values = values * np.sqrt(np.asarray(weights, dtype=float))[:, None]
    # the orthonormal basis grows in place, column by column (np.column_stack would copy it
    # for every kept column)
    space = np.empty(values.shape, order="F")
    kept: list[int] = []
    for j in range(values.shape[1]):
        basis = space[:, : len(kept)]
        column = values[:, j]
        norm = np.linalg.norm(column)
        # Gram-Schmidt twice: what the column adds beyond the kept ones, numerically stable.
        rest = column - basis @ (basis.T @ column)
        rest = rest - basis @ (basis.T @ rest)
        left = np.linalg.norm(rest)
        if norm > 0 and left > 1e-9 * norm:
            space[:, len(kept)] = rest / left
            kept.append(j)
    return kept
