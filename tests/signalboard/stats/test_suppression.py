"""Small-cell suppression: masking, complementary suppression, and that nothing can be recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from signalboard.stats.suppression import (
    COMPLEMENT_MARKER,
    determined_cells,
    is_hidden,
    small_marker,
    suppress_small_cells,
)


def _counts(frame: pd.DataFrame, column: str = "n") -> list[object]:
    return frame[column].tolist()


@pytest.mark.parametrize(
    ("values", "k", "expected"),
    [
        # nothing small: nothing hidden
        ([10, 20, 30], 5, [10, 20, 30]),
        # one small cell brings the next smallest with it
        ([3, 40, 50], 5, ["<5", "*", 50]),
        # two small cells that do not give each other away: no complement needed
        ([2, 3, 50], 5, ["<5", "<5", 50]),
        # 4 + 4 = 8 with k=5 would give both away: a third cell is hidden
        ([4, 4, 50, 60], 5, ["<5", "<5", "*", 60]),
        # 0 + 0 = 0 gives both away too
        ([0, 0, 50, 60], 5, ["<5", "<5", "*", 60]),
        # 0 is a small count ("nobody of this group") and is masked
        ([0, 7, 9], 5, ["<5", "*", 9]),
        # complement 5 with a hidden sum of 5 would be pinned to 5 (and the small one to 0):
        # the next cell is hidden as well
        ([0, 5, 9, 100], 5, ["<5", "*", "*", 100]),
        # k is configurable
        ([9, 10, 11], 10, ["<10", "*", 11]),
        # k <= 1 disables suppression
        ([0, 1, 2], 1, [0, 1, 2]),
    ],
)
def test_one_partition(values: list[int], k: int, expected: list[object]) -> None:
    frame = pd.DataFrame({"group": list("ABCDEFG"[: len(values)]), "n": values})
    out = suppress_small_cells(frame, count_columns=["n"], k=k)
    assert _counts(out) == expected
    assert out["suppressed"].tolist() == [is_hidden(v) for v in expected]


def test_docstring_example() -> None:
    frame = pd.DataFrame({"group": ["A", "B", "C"], "n": [3, 40, 50]})
    assert suppress_small_cells(frame, count_columns=["n"])["n"].tolist() == ["<5", "*", 50]
    assert determined_cells([3, 40, 50], [True, False, False], k=5) == [True, False, False]


def test_partitions_are_independent_and_rates_hidden() -> None:
    frame = pd.DataFrame(
        {
            "step": ["s1", "s1", "s1", "s2", "s2", "s2"],
            "group": ["A", "B", "C", "A", "B", "C"],
            "n": [100, 80, 60, 50, 40, 30],
            "selected": [50, 2, 30, 20, 20, 10],
            "rate": [0.5, 0.025, 0.5, 0.4, 0.5, 1 / 3],
        }
    )
    out = suppress_small_cells(
        frame, count_columns=["n", "selected"], rate_columns=["rate"], group_columns=["step"]
    )
    assert out["selected"].tolist() == [50, "<5", "*", 20, 20, 10]
    assert out["n"].tolist() == [100, 80, 60, 50, 40, 30]
    assert out["rate"].isna().tolist() == [False, True, True, False, False, False]
    assert out["suppressed"].tolist() == [False, True, True, False, False, False]


def test_cross_margins_are_protected() -> None:
    """A sex x race table: each sex and each race total is published, so each margin is a line."""
    frame = pd.DataFrame(
        {
            "sex": ["F", "F", "F", "M", "M", "M"],
            "race": ["a", "b", "c", "a", "b", "c"],
            "n": [3, 50, 60, 70, 80, 90],
        }
    )
    out = suppress_small_cells(frame, count_columns=["n"], cross_columns=["sex", "race"])
    hidden = out["n"].map(is_hidden).to_numpy()
    # F/a is small; its sex line (F) and its race line (a) each need a second hidden cell.
    assert hidden[0]
    assert hidden[[1, 2]].any()
    assert hidden[3]
    _assert_not_recoverable_linewise(frame["n"].to_numpy(), hidden, _cross_lines(frame), k=5)


def test_missing_counts_stay_missing() -> None:
    frame = pd.DataFrame({"n": [None, 20, 30]})
    out = suppress_small_cells(frame, count_columns=["n"])
    assert out["n"].tolist() == [None, 20, 30]
    assert not out["suppressed"].any()


def test_markers() -> None:
    assert small_marker(5) == "<5"
    assert COMPLEMENT_MARKER == "*"


# --- property: no hidden cell can be worked out -----------------------------------------------


def _cross_lines(frame: pd.DataFrame) -> list[np.ndarray]:
    positions = np.arange(len(frame))
    lines = [positions]
    for column in ("sex", "race"):
        for value in frame[column].unique():
            lines.append(positions[frame[column].to_numpy() == value])
    return lines


def _lp_range(values: np.ndarray, hidden: np.ndarray, lines: list[np.ndarray], k: int, i: int):
    """Independent attacker: the range of hidden cell i over every assignment of the hidden cells
    that matches all published line totals and the markers, by linear programming."""
    idx = np.flatnonzero(hidden)
    col = {j: c for c, j in enumerate(idx)}
    a_eq, b_eq = [], []
    for line in lines:
        members = [j for j in line if hidden[j]]
        if not members:
            continue
        row = np.zeros(len(idx))
        for j in members:
            row[col[j]] = 1.0
        a_eq.append(row)
        b_eq.append(float(values[line][hidden[line]].sum()))
    total = float(values.sum())
    bounds = [(0, k - 1) if values[j] < k else (k, total) for j in idx]
    c = np.zeros(len(idx))
    c[col[i]] = 1.0
    low = linprog(c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    high = linprog(-c, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    return low.fun, -high.fun


def _assert_not_recoverable_linewise(values, hidden, lines, *, k: int) -> None:
    for line in lines:
        line_hidden = hidden[line]
        if line_hidden.all():
            continue  # every cell of the line hidden: only the total could protect it (docstring)
        assert not any(determined_cells(values[line].tolist(), line_hidden.tolist(), k=k))


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=60), min_size=2, max_size=8),
    k=st.integers(min_value=2, max_value=11),
)
def test_property_one_partition_cannot_be_recovered(values: list[int], k: int) -> None:
    """From the total and the shown cells, no hidden cell's value is pinned down (checked with an
    independent linear-programming attacker), unless every cell is hidden."""
    frame = pd.DataFrame({"n": values})
    out = suppress_small_cells(frame, count_columns=["n"], k=k)
    arr = np.asarray(values, dtype=float)
    hidden = out["n"].map(is_hidden).to_numpy()
    assert (hidden >= (arr < k)).all()  # every small cell is hidden
    shown = out["n"][~hidden]
    assert (shown.astype(int).to_numpy() == arr[~hidden]).all()
    if not hidden.any() or hidden.all():
        return
    for i in np.flatnonzero(hidden):
        low, high = _lp_range(arr, hidden, [np.arange(len(arr))], k, i)
        assert high - low >= 1 - 1e-9, (values, k, i, low, high)


@settings(max_examples=80, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=40), min_size=6, max_size=6),
    k=st.integers(min_value=2, max_value=6),
)
def test_property_cross_table_lines_cannot_be_recovered(values: list[int], k: int) -> None:
    """In a 2 x 3 table with every margin published, no line gives a hidden cell away."""
    frame = pd.DataFrame({"sex": list("FFFMMM"), "race": list("abcabc"), "n": values})
    out = suppress_small_cells(frame, count_columns=["n"], k=k, cross_columns=["sex", "race"])
    hidden = out["n"].map(is_hidden).to_numpy()
    arr = np.asarray(values, dtype=float)
    assert (hidden >= (arr < k)).all()
    _assert_not_recoverable_linewise(arr, hidden, _cross_lines(frame), k=k)


def test_also_hide_forces_cells_and_protects_them() -> None:
    """A count shown in another table is hidden on request and gets a complement like any other."""
    frame = pd.DataFrame({"n": [30, 40, 50, 60]})
    out = suppress_small_cells(
        frame, count_columns=["n"], also_hide={"n": [True, False, False, False]}
    )
    assert out["n"].tolist() == ["*", "*", 50, 60]
    assert out["suppressed"].tolist() == [True, True, False, False]


# --- nested counts: the difference of two shown cells is a count too ---------------------------


def _nested_ranges(n: np.ndarray, s: np.ndarray, hid_n, hid_s, k: int):
    """Independent attacker on one partition with (n, selected) published: the range of every
    hidden cell and of every row's n - selected over all assignments matching both column
    totals, the shown cells, the markers and selected <= n, by linear programming."""
    rows = len(n)
    # Variables: n_0..n_{r-1}, s_0..s_{r-1}; shown cells are fixed by their bounds.
    total = float(n.sum())

    def bound(value: float, hidden: bool) -> tuple[float, float]:
        if not hidden:
            return (value, value)
        return (0, k - 1) if value < k else (k, total)

    bounds = [bound(v, h) for v, h in zip(n, hid_n, strict=True)]
    bounds += [bound(v, h) for v, h in zip(s, hid_s, strict=True)]
    a_eq = [np.r_[np.ones(rows), np.zeros(rows)], np.r_[np.zeros(rows), np.ones(rows)]]
    b_eq = [float(n.sum()), float(s.sum())]
    a_ub = [np.r_[-np.eye(rows)[i], np.eye(rows)[i]] for i in range(rows)]  # s_i - n_i <= 0
    b_ub = [0.0] * rows

    def span(c: np.ndarray) -> float:
        low = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds)
        high = linprog(-c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds)
        assert low.status == 0 and high.status == 0
        return -high.fun - low.fun

    spans = {}
    for i in range(rows):
        spans[("difference", i)] = span(np.r_[np.eye(rows)[i], -np.eye(rows)[i]])
        if hid_n[i]:
            spans[("n", i)] = span(np.r_[np.eye(rows)[i], np.zeros(rows)])
        if hid_s[i]:
            spans[("selected", i)] = span(np.r_[np.zeros(rows), np.eye(rows)[i]])
    return spans


def _suppress_nested(n: list[int], s: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.DataFrame({"group": [f"g{i}" for i in range(len(n))], "n": n, "selected": s})
    out = suppress_small_cells(
        frame, count_columns=["n", "selected"], k=k, nested=[("n", "selected")]
    )
    return out["n"].map(is_hidden).to_numpy(), out["selected"].map(is_hidden).to_numpy()


def test_a_small_difference_between_two_shown_cells_is_hidden() -> None:
    """42 applied and 40 selected in group g0 print that 2 were not: without `nested` that is
    recoverable, with it the attacker's range for it is wider than one value."""
    n, s = [42, 60, 70], [40, 30, 35]
    frame = pd.DataFrame({"group": ["g0", "g1", "g2"], "n": n, "selected": s})
    plain = suppress_small_cells(frame, count_columns=["n", "selected"])
    assert plain["n"][0] - plain["selected"][0] == 2  # the leak the option exists for
    hid_n, hid_s = _suppress_nested(n, s, 5)
    assert hid_s[0]
    assert hid_s.sum() >= 2  # the hidden part brings a complement
    spans = _nested_ranges(np.array(n, float), np.array(s, float), hid_n, hid_s, 5)
    assert spans[("difference", 0)] >= 1
    assert all(width >= 1 - 1e-9 for key, width in spans.items() if key[0] != "difference")


def test_a_total_minus_shown_cells_does_not_give_the_difference_back() -> None:
    """Two groups only: hiding g0's selected alone would leave it as total - g1; the complement
    is g1's selected, and then selected <= n (42) must not pin either."""
    n, s = [42, 44], [40, 20]
    hid_n, hid_s = _suppress_nested(n, s, 5)
    spans = _nested_ranges(np.array(n, float), np.array(s, float), hid_n, hid_s, 5)
    assert hid_s.all()
    assert spans[("difference", 0)] >= 1


@settings(max_examples=120, deadline=None)
# A shown part (3 selected) bounds its hidden whole from below: n = [0, 3, 3] with the last two
# hidden gives the first back as 6 - 3 - 3 unless the whole is bounded below by its part.
@example(data=[(0, 0), (0, 3), (2, 1)], k=2)
@given(
    data=st.lists(
        st.tuples(st.integers(min_value=0, max_value=40), st.integers(min_value=0, max_value=40)),
        min_size=2,
        max_size=6,
    ),
    k=st.integers(min_value=2, max_value=6),
)
def test_property_no_small_difference_or_hidden_cell_is_recoverable(
    data: list[tuple[int, int]], k: int
) -> None:
    """One partition with n and selected <= n published: an LP attacker using both totals,
    every shown cell, every marker and selected <= n pins no hidden cell and no small
    n - selected (unless every cell of a column is hidden: the documented limit)."""
    n = [a + b for a, b in data]
    s = [b for _, b in data]
    hid_n, hid_s = _suppress_nested(n, s, k)
    arr_n, arr_s = np.array(n, float), np.array(s, float)
    assert (hid_s >= (arr_s < k)).all() and (hid_n >= (arr_n < k)).all()
    if hid_n.all() or hid_s.all():
        return
    spans = _nested_ranges(arr_n, arr_s, hid_n, hid_s, k)
    for (what, i), width in spans.items():
        if what == "difference":
            difference = n[i] - s[i]
            if 1 <= difference < k:
                assert width >= 1 - 1e-9, (n, s, k, i, spans)
        else:
            assert width >= 1 - 1e-9, (n, s, k, what, i, spans)
