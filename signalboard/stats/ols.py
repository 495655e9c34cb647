"""Ordinary least squares on cells of identical rows, with HC3 errors."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import ThreadpoolController


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def single_threaded_blas() -> Any:
    # Many small regressions: BLAS threads only add contention on small matrices (measured in
    # docs/performance.md).
    return _blas_controller().limit(limits=1, user_api="blas")


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


def solve_cells(
    values: np.ndarray, weight: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`weighted_pinv_fit` and each cell's leverage x' (X'WX)^+ x."""
    beta, inverse = weighted_pinv_fit(values, weight, mean)
    return beta, inverse, ((values @ inverse) * values).sum(axis=1)


Z_975 = float(stats.norm.ppf(0.975))


def ols_hc3(
    X: pd.DataFrame, weight: np.ndarray, mean: np.ndarray, spread: np.ndarray
) -> dict[str, tuple[float, float, float, float]]:
    """OLS with HC3 standard errors from cells: X's rows are cells of `weight` identical rows
    whose outcomes have this `mean` and sum of squared deviations `spread`.

    beta = (X'WX)^+ X'W mean; a row's residual is its y minus its cell's fit, so a cell's sum of
    squared residuals is spread + weight * (mean - fit)^2, and every row of a cell has the same
    leverage h. HC3 (MacKinnon & White 1985) is A X' diag(e^2 / (1 - h)^2) X A with A = (X'X)^+,
    as statsmodels computes it; normal 95% CI and two-sided p-value (cov_type="HC3").

    Returns name -> (beta, ci_low, ci_high, p_value) per column of X.
    """
    return ols_hc3_arrays(X.to_numpy(float), list(X.columns), weight, mean, spread)


def ols_hc3_arrays(
    values: np.ndarray,
    columns: Sequence[str],
    weight: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray,
    *,
    solved: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
    df: Mapping[str, float] | None = None,
) -> dict[str, tuple[float, float, float, float]]:
    """`ols_hc3` of the design's values and column names (`solved`: `solve_cells` of them,
    when computed already).

    `df`: degrees of freedom of a Student t reference per column (columns not named: the
    normal reference). A group indicator's HC3 error is estimated from that group's own few
    residuals, so with a small group a normal reference rejects far too often; a t reference
    on the smaller group's df is the Welch-type small-sample correction (Imbens & Kolesar 2016,
    "Robust standard errors in small samples", sec. 3)."""
    beta, inverse, leverage = solved if solved is not None else solve_cells(values, weight, mean)
    fit = values @ beta
    squares = spread + weight * (mean - fit) ** 2
    meat = values.T @ ((squares / (1 - leverage) ** 2)[:, None] * values)
    se = np.sqrt(np.diag(inverse @ meat @ inverse))
    out = {}
    for j, name in enumerate(columns):
        dof = (df or {}).get(name)
        z = abs(beta[j] / se[j])
        if dof is None:
            quantile, p_value = Z_975, 2 * stats.norm.sf(z)
        else:
            quantile, p_value = stats.t.ppf(0.975, dof), 2 * stats.t.sf(z, dof)
        out[name] = (
            float(beta[j]),
            float(beta[j] - quantile * se[j]),
            float(beta[j] + quantile * se[j]),
            float(p_value),
        )
    return out


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
