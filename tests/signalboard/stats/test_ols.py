"""The cell fits' linear algebra (signalboard/stats/ols.py) against the dense computations it
replaces: the design with its group dummies as one index per cell, the QR of it block by
block, the collinearity check read off that R, and the cells of merged groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalboard.stats import ols, pay_gap


def grouped_design(seed: int, *, m: int, k: int) -> tuple[ols.CellDesign, np.ndarray]:
    """A design of a constant, two role dummies, a numeric control and k group dummies
    (group -1: the reference), with positive integer weights."""
    rng = np.random.default_rng(seed)
    role = rng.integers(0, 3, m)
    dense = np.column_stack([np.ones(m), role == 1, role == 2, rng.normal(30, 10, m)]).astype(float)
    group = rng.integers(-1, k, m)
    return ols.CellDesign(np.asfortranarray(dense), group, k), rng.integers(1, 40, m).astype(float)


@pytest.mark.parametrize(("seed", "m", "k"), [(0, 40, 0), (1, 60, 1), (2, 200, 5), (3, 25, 8)])
def test_cell_design_products_equal_the_dense_matrix(seed: int, m: int, k: int) -> None:
    design, weight = grouped_design(seed, m=m, k=k)
    X = design.matrix()
    assert X.shape == (m, 4 + k)
    assert (X[:, 4:].sum(axis=1) == (design.group >= 0)).all()
    rng = np.random.default_rng(seed + 10)
    coefficients = rng.normal(size=X.shape[1])
    M = rng.normal(size=(X.shape[1], X.shape[1]))
    M = M + M.T
    np.testing.assert_allclose(design.times(coefficients), X @ coefficients, rtol=1e-12)
    np.testing.assert_allclose(
        design.quadratic(M), ((X @ M) * X).sum(axis=1), rtol=1e-10, atol=1e-10
    )
    np.testing.assert_allclose(design.gram(weight), X.T @ (weight[:, None] * X), rtol=1e-12)


@pytest.mark.parametrize(("seed", "m", "k"), [(0, 40, 0), (1, 60, 1), (2, 200, 5), (3, 30, 8)])
def test_block_qr_fit_equals_the_pseudo_inverse_fit(seed: int, m: int, k: int) -> None:
    """R'R is X'WX; beta, (X'WX)^-1 and the leverages equal the SVD pseudo-inverse's."""
    design, weight = grouped_design(seed, m=m, k=k)
    mean = np.random.default_rng(seed).normal(6, 0.3, m)
    X = design.matrix()
    r = ols.weighted_r(design, weight, mean)
    p = X.shape[1]
    gram = X.T @ (weight[:, None] * X)
    np.testing.assert_allclose(r[:p, :p].T @ r[:p, :p], gram, atol=1e-12 * np.abs(gram).max())
    assert ols.independent_design_columns(design, weight, r) == list(range(p))
    beta, inverse, leverage = ols.solve_cells(design, weight, mean, r=r)
    pinv_beta, pinv_inverse = ols.weighted_pinv_fit(X, weight, mean)
    np.testing.assert_allclose(beta, pinv_beta, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(inverse, pinv_inverse, rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(leverage, ((X @ pinv_inverse) * X).sum(axis=1), rtol=1e-9)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("independent", [0, 1, 2, 3, 4, 5, 6]),
        ("dummies sum to the constant", [0, 1, 2, 3, 4, 5]),
        ("control copies a group", [0, 1, 2, 3, 5, 6]),
        ("empty group", [0, 1, 2, 3, 4, 6]),
    ],
)
def test_collinear_columns_left_out_as_gram_schmidt_does(case: str, expected: list[int]) -> None:
    """The check on R keeps the columns the Gram-Schmidt keeps, collinear or not, and the
    design of the kept columns is those columns of the matrix."""
    design, weight = grouped_design(5, m=90, k=3)
    dense, group = design.dense.copy(), design.group.copy()
    if case == "dummies sum to the constant":
        group[group < 0] = 2  # no reference rows: the three dummies add up to the constant
    elif case == "control copies a group":
        dense[:, 3] = (group == 0).astype(float)
    elif case == "empty group":
        group[group == 1] = 0
    design = ols.CellDesign(np.asfortranarray(dense), group, 3)
    mean = np.random.default_rng(1).normal(size=90)
    r = ols.weighted_r(design, weight, mean)
    kept = ols.independent_design_columns(design, weight, r)
    assert kept == ols.independent_indices(design.matrix(), weights=weight) == expected
    np.testing.assert_array_equal(design.columns(kept).matrix(), design.matrix()[:, kept])


def test_ols_hc3_of_a_frame_matches_statsmodels() -> None:
    """The dense entry point (cells of one row each) gives statsmodels' HC3 fit."""
    sm = pytest.importorskip("statsmodels.api")
    rng = np.random.default_rng(4)
    X = pd.DataFrame({"const": 1.0, "x": rng.normal(size=80), "d": rng.integers(0, 2, 80)})
    y = 1 + 0.5 * X["x"] - 0.2 * X["d"] + rng.normal(0, 0.3, 80)
    ours = ols.ols_hc3(X, np.ones(80), y.to_numpy(float), np.zeros(80))
    fit = sm.OLS(y, X).fit(cov_type="HC3")
    for name in X.columns:
        beta, low, high, p_value = ours[name]
        assert beta == pytest.approx(fit.params[name], rel=1e-9)
        assert (low, high) == pytest.approx(tuple(fit.conf_int().loc[name]), rel=1e-9)
        assert p_value == pytest.approx(fit.pvalues[name], rel=1e-7)


@pytest.mark.parametrize("seed", range(3))
def test_merged_cells_equal_the_cells_of_the_merged_rows(seed: int) -> None:
    """Cells merged group into group (one group vs all others, Unknown left out) have the
    counts, means and squared deviations of the rows collapsed with the merged codes, and the
    cells of some groups are those collapsed from their rows alone, to the bit."""
    rng = np.random.default_rng(seed)
    n = 500
    frame = pd.DataFrame(
        {
            "role": rng.choice(["a", "b", "c"], n),
            "cohort_length_days": rng.choice([10, 20], n),
            "estimated_hours": rng.choice([5, 8, np.nan], n),
            "price_level": rng.choice([60.0, 100.0], n),
        }
    )
    controls = pay_gap.Controls.of(frame)
    grouping = pay_gap.Grouping.of(rng.choice(["F", "M", "X", "Unknown"], n))
    y = np.where(rng.random(n) < 0.1, np.nan, rng.normal(6, 0.5, n))
    every = pay_gap.GroupCells.every(y, grouping, controls)
    usable = ~np.isnan(y) & (grouping.codes >= 0)
    codes = [grouping.code("M"), grouping.code("F")]
    taken, direct = every.taking(codes), pay_gap.GroupCells.of(y, grouping, controls, usable, codes)
    for name in ("group", "cell", "weight", "total", "mean", "spread"):
        np.testing.assert_array_equal(getattr(taken, name), getattr(direct, name))
    into = np.array([0 if g == "F" else -1 if g == "Unknown" else 1 for g in grouping.labels])
    merged = every.merged(into)
    pair = pay_gap.Grouping(
        np.append(into, -1)[grouping.codes], np.array(["F", "all others"], dtype=object)
    )
    rows = pay_gap.GroupCells.every(y, pair, controls)
    for name in ("group", "cell", "weight"):
        np.testing.assert_array_equal(getattr(merged, name), getattr(rows, name))
    for name in ("total", "mean"):
        np.testing.assert_allclose(getattr(merged, name), getattr(rows, name), rtol=1e-14)
    np.testing.assert_allclose(merged.spread, rows.spread, rtol=1e-12, atol=1e-12)
