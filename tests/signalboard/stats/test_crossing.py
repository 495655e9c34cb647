"""crossed_blocks / group_sums: sums by cell, then by group, equal sums by each attribute."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from signalboard.stats import crossing


@pytest.mark.parametrize(
    ("sizes", "max_cells", "blocks"),
    [
        ([2, 3, 1], 1_000, [[0, 1, 2]]),  # 3 * 4 * 2 = 24 cells: one block
        ([2, 3, 1], 12, [[0, 1], [2]]),
        ([2, 3, 1], 1, [[0], [1], [2]]),  # each attribute alone, whatever its size
        ([5], 2, [[0]]),
        ([], 10, []),
    ],
)
def test_group_sums_from_cells_equal_sums_by_each_attribute(sizes, max_cells, blocks):
    rng = np.random.default_rng(len(sizes) + max_cells)
    n_units = 200
    groups = np.array([rng.integers(-1, size, n_units) for size in sizes], dtype=np.int64)
    groups = groups.reshape(len(sizes), n_units)
    values = rng.normal(size=n_units)
    found = crossing.crossed_blocks(groups, sizes, max_cells=max_cells)
    assert [[a for a, _ in block.members] for block in found] == blocks
    for block in found:
        assert (
            block.unit_cell.min(initial=0) >= 0 and block.unit_cell.max(initial=0) < block.n_cells
        )
        per_cell = np.bincount(block.unit_cell, values, minlength=block.n_cells)
        for a, cell_group in block.members:
            direct = np.array([values[groups[a] == g].sum() for g in range(sizes[a])])
            np.testing.assert_allclose(
                crossing.group_sums(per_cell, cell_group, sizes[a]), direct, atol=1e-12
            )
            # rows of sums at once, as the grader x cell sums are
            stacked = crossing.group_sums(np.stack([per_cell, 2 * per_cell]), cell_group, sizes[a])
            np.testing.assert_allclose(stacked, np.stack([direct, 2 * direct]), atol=1e-12)


def test_docstring_examples():
    failures, tried = doctest.testmod(crossing)
    assert tried > 0 and failures == 0
