"""Self-ID attributes crossed into cells, so one pass over many rows sums every attribute's groups.

A sum per group on each of several attributes would otherwise take one pass over the rows per
attribute (a bincount by that attribute's codes). Binned once by their cell of the attributes
crossed (every combination of their groups, "none" included), the rows' sums per cell add up to
each attribute's group sums by summing cells, a pass over a few thousand cells instead of
millions of rows. At 10M applications the rows' arrays are far larger than the CPU's caches, so
each pass saved is a read of them from memory saved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CrossedBlock:
    """Some attributes crossed: each unit's cell and, per attribute, each cell's group."""

    unit_cell: np.ndarray  # per unit: its cell, 0 .. n_cells - 1
    n_cells: int
    # per attribute of the block: its index in `groups`, and each cell's group code on it, with
    # the attribute's number of groups standing for "none"
    members: tuple[tuple[int, np.ndarray], ...]


def crossed_blocks(groups: np.ndarray, sizes: list[int], *, max_cells: int) -> list[CrossedBlock]:
    """The attributes crossed, packed in order into blocks of at most `max_cells` cells (an
    attribute with more groups than that is a block of its own).

    `groups[a, unit]` is the unit's group code on attribute a (-1: none), `sizes[a]` the
    attribute's number of groups.

    Examples
    --------
    Two attributes of two groups each on four units: nine cells, and summing a row's values by
    cell, then the cells by group, gives the sums by each attribute's groups.

    >>> groups = np.array([[0, 1, 1, -1], [1, 1, 0, 0]])
    >>> (block,) = crossed_blocks(groups, [2, 2], max_cells=16)
    >>> block.n_cells, block.unit_cell.tolist()
    (9, [7, 8, 5, 3])
    >>> per_cell = np.bincount(block.unit_cell, [1.0, 2.0, 3.0, 4.0], minlength=block.n_cells)
    >>> [group_sums(per_cell, cell_group, 2).tolist() for _, cell_group in block.members]
    [[1.0, 5.0], [7.0, 3.0]]
    """
    blocks: list[CrossedBlock] = []
    start = 0
    while start < len(groups):
        stop, n_cells = start, 1
        while stop < len(groups) and (stop == start or n_cells * (sizes[stop] + 1) <= max_cells):
            n_cells *= sizes[stop] + 1
            stop += 1
        unit_cell = np.zeros(groups.shape[1], dtype=np.intp)
        members, stride = [], 1
        for a_index in range(start, stop):
            size = sizes[a_index]
            unit_cell += (np.asarray(groups[a_index], dtype=np.intp) + 1) * stride
            # a cell's code on this attribute (code + 1 = 0 is none, numbered `size`)
            code = (np.arange(n_cells) // stride) % (size + 1) - 1
            members.append((a_index, np.where(code >= 0, code, size)))
            stride *= size + 1
        blocks.append(CrossedBlock(unit_cell, n_cells, tuple(members)))
        start = stop
    return blocks


def group_sums(per_cell: np.ndarray, cell_group: np.ndarray, size: int) -> np.ndarray:
    """Sums of `per_cell` (the last axis: cells) by the cells' groups, "none" (`size`) left out."""
    per_cell = np.asarray(per_cell, dtype=float)
    if per_cell.ndim == 1:
        return np.bincount(cell_group, per_cell, minlength=size + 1)[:size]
    return np.stack([group_sums(row, cell_group, size) for row in per_cell])
