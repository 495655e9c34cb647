"""Small-cell suppression for every demographic number that leaves signalboard.

Pages, CSV downloads and `signalboard report` pass their demographic breakdowns through
`suppress_small_cells` so that nobody can read (or work out by subtraction) how many people of a
small group applied, were selected or were hired.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

COMPLEMENT_MARKER = "*"
"""Shown instead of a count that is not small but is hidden so that a small one cannot be derived."""


def small_marker(k: int) -> str:
    """The text shown instead of a count below `k`, for example "<5"."""
    return f"<{k}"


@dataclass(frozen=True)
class _Bounds:
    lo: float
    hi: float


def _bounds(value: float, k: int) -> _Bounds:
    # What a reader knows about a hidden cell from its marker: "<k" means 0..k-1, and the
    # complementary marker means "not small", i.e. k or more.
    return _Bounds(0.0, float(k - 1)) if value < k else _Bounds(float(k), math.inf)


def determined_cells(
    values: Sequence[float],
    hidden: Sequence[bool],
    *,
    k: int,
    upper: Sequence[float] | None = None,
    lower: Sequence[float] | None = None,
) -> list[bool]:
    """Which hidden cells of one line (cells whose total is published) a reader can work out.

    The reader knows the line's total and every shown cell, so knows the sum `S` of the hidden
    cells, and from each hidden cell's marker its range (`"<k"`: 0..k-1; complementary: k or
    more; `upper` and `lower`, when given, bound each cell further: a part is at most its shown
    whole, a whole at least its shown part). For a
    single sum constraint over boxes the exact range of hidden cell i is
    ``[max(lo_i, S - sum(hi_j, j != i)), min(hi_i, S - sum(lo_j, j != i))]``; the cell is
    recovered when that range is one value.

    Examples
    --------
    >>> determined_cells([3, 40, 50], [True, False, False], k=5)
    [True, False, False]
    >>> determined_cells([3, 40, 50], [True, True, False], k=5)
    [False, False, False]
    """
    idx = [i for i, h in enumerate(hidden) if h]
    out = [False] * len(values)
    if not idx:
        return out
    bounds = {i: _bounds(float(values[i]), k) for i in idx}
    if upper is not None:
        bounds = {i: _Bounds(b.lo, min(b.hi, float(upper[i]))) for i, b in bounds.items()}
    if lower is not None:
        bounds = {i: _Bounds(max(b.lo, float(lower[i])), b.hi) for i, b in bounds.items()}
    total_hidden = float(sum(values[i] for i in idx))
    for i in idx:
        b = bounds[i]
        # Lines are short (a handful of groups), so summing the others directly is cheap and
        # avoids inf - inf when more than one hidden cell is unbounded.
        others_hi = sum(bounds[j].hi for j in idx if j != i)
        others_lo = sum(bounds[j].lo for j in idx if j != i)
        lo = max(b.lo, total_hidden - others_hi)
        hi = min(b.hi, total_hidden - others_lo)
        out[i] = lo >= hi
    return out


def _protect_line(
    values: np.ndarray,
    hidden: np.ndarray,
    members: np.ndarray,
    k: int,
    upper: np.ndarray,
    lower: np.ndarray,
) -> bool:
    """Hide the smallest shown cells of one line until no hidden cell is recoverable.

    Returns True when it changed `hidden`.
    """
    changed = False
    while True:
        line_vals = values[members]
        line_hidden = hidden[members]
        if not line_hidden.any():
            return changed
        determined = determined_cells(
            line_vals.tolist(),
            line_hidden.tolist(),
            k=k,
            upper=upper[members].tolist(),
            lower=lower[members].tolist(),
        )
        if not any(determined):
            return changed
        shown = np.flatnonzero(~line_hidden)
        if len(shown) == 0:
            # Every cell of the line is hidden and the total still gives one away (for example
            # two cells "<5" that sum to 8): only hiding the total would help; see the docstring.
            return changed
        # The next smallest shown cell (stable: the first such row on ties).
        pick = shown[np.argmin(line_vals[shown])]
        hidden[members[pick]] = True
        changed = True


def _lines(
    frame: pd.DataFrame, group_columns: Sequence[str], cross_columns: Sequence[str]
) -> list[np.ndarray]:
    """Positions of the rows that form each published total (a 'line')."""
    positions = np.arange(len(frame))
    partitions: Iterable[np.ndarray]
    if group_columns:
        keys = frame[list(group_columns)].astype("string").fillna("\x00<NA>")
        partitions = [
            positions[idx] for idx in keys.groupby(list(group_columns), sort=False).indices.values()
        ]
    else:
        partitions = [positions]
    # Each cross column's values as integer codes, once (not converted per partition).
    codes = [
        pd.factorize(frame[column].astype("string").fillna("\x00<NA>"))[0]
        for column in cross_columns
    ]
    lines: list[np.ndarray] = []
    for part in partitions:
        lines.append(part)
        # In a cross-classified table (e.g. sex x race) each margin is a published total too.
        for column_codes in codes:
            values = column_codes[part]
            for value in pd.unique(values):
                lines.append(part[values == value])
    return lines


def suppress_small_cells(
    frame: pd.DataFrame,
    *,
    count_columns: Sequence[str],
    k: int = 5,
    rate_columns: Sequence[str] = (),
    group_columns: Sequence[str] = (),
    cross_columns: Sequence[str] = (),
    also_hide: Mapping[str, Sequence[bool]] | None = None,
    nested: Sequence[tuple[str, str]] = (),
) -> pd.DataFrame:
    """Mask counts below `k`, hide the rates that would reveal them, and protect them from totals.

    A count is *small* when it is below `k` (0 included: "nobody of this group was hired" is the
    disclosure the rule exists to prevent). The rule, applied to each count column separately:

    1. Primary suppression: every small count is shown as the string ``"<k"`` (e.g. ``"<5"``).
    2. Complementary suppression: the rows that share the values of `group_columns` form one
       partition, whose total is assumed to be published (the step's overall numbers, the other
       tables of the report). Within each partition, and within each margin of `cross_columns`
       (e.g. for a sex x race table every sex and every race is a published total too), while a
       reader who knows the total, the shown cells and what each marker means (``"<k"``: 0..k-1;
       ``"*"``: k or more) could work out a hidden cell exactly, the smallest shown cell of that
       line is hidden as well and shown as ``"*"``. So one hidden cell always brings a second
       one, and two hidden cells whose sum would give them away (4 + 4 = 8, or 0 + 5 = 5 with
       k=5) bring a third. Lines are repeated until no line changes.
    Nested counts (`nested`, pairs (whole, part) such as (n, selected)): the difference
       whole - part counts people too (those not selected), and two shown cells side by side
       print it. A difference between 1 and k-1 hides the part (which then brings its
       complements as above), and a hidden part is known to be at most its shown whole, so the
       reader's range for it is capped there. A difference of 0 (everyone selected) is not
       hidden: it is a rate of 1, which the report publishes as it publishes a rate of 0.5. A
       hidden whole is known to be at least its shown part, and its range is raised there.
    3. A row with any hidden count gets every `rate_columns` value set to missing (a rate and a
       shown denominator give the numerator back) and ``suppressed=True``.

    Limits: when every cell of a line is hidden and the total still gives them away (two cells
    "<5" summing to 8, a partition of one row), only hiding the total itself would help; the
    caller publishes totals and must not publish one below k. Counts that appear in two
    different tables (a step's `selected` is the next step's `n`) are protected per table; callers
    that link tables hide consistently (see `signalboard.analysis.fairness`).

    Parameters
    ----------
    frame
        One row per cell (group), with integer count columns.
    count_columns
        Columns holding counts of people.
    k
        Smallest count shown (settings.min_cell_size). ``k <= 1`` disables suppression.
    rate_columns
        Columns derived from the counts (rates, ratios, shortfalls) hidden with them.
    group_columns
        Columns whose values identify a partition (a published total), e.g. step and attribute.
    cross_columns
        Within a partition, columns whose every value is a published margin (2-D tables).
    also_hide
        Per count column, a boolean mask (one per row) of cells to hide whatever their value,
        for a caller whose tables share counts (the same number shown elsewhere is hidden here
        too); they are shown as ``"*"`` (or ``"<k"`` when small) and protected like the others.
    nested
        (whole, part) pairs of count columns where part counts a subset of whole's people.

    Returns
    -------
    pandas.DataFrame
        A copy with count columns as objects (int, ``"<k"`` or ``"*"``), rates missing where
        hidden, and a boolean ``suppressed`` column.

    Examples
    --------
    >>> frame = pd.DataFrame({"group": ["A", "B", "C"], "n": [3, 40, 50]})
    >>> suppress_small_cells(frame, count_columns=["n"])["n"].tolist()
    ['<5', '*', 50]
    """
    out = frame.copy().reset_index(drop=True)
    suppressed = np.zeros(len(out), dtype=bool)
    if k > 1 and len(out):
        lines = _lines(out, group_columns, cross_columns)
        raw = {c: pd.to_numeric(out[c], errors="coerce") for c in count_columns}
        present = {c: raw[c].notna().to_numpy() for c in count_columns}
        values = {c: raw[c].fillna(0).to_numpy(dtype=float) for c in count_columns}
        small = {c: present[c] & (values[c] < k) for c in count_columns}
        hidden = {c: small[c].copy() for c in count_columns}
        for column in count_columns:
            if also_hide is not None and column in also_hide:
                hidden[column] |= present[column] & np.asarray(also_hide[column], dtype=bool)
        # Rows whose whole - part is a small count of people (see 2. above).
        small_difference = {
            (whole, part): present[whole]
            & present[part]
            & (values[whole] - values[part] >= 1)
            & (values[whole] - values[part] < k)
            for whole, part in nested
        }
        changed = True
        while changed:
            changed = False
            for (whole, part), exposed in small_difference.items():
                newly = exposed & ~hidden[whole] & ~hidden[part]
                if newly.any():
                    hidden[part] |= newly
                    changed = True
            for column in count_columns:
                # What a reader knows of a hidden cell from its row's other shown count: a part
                # is at most its shown whole, a whole at least its shown part.
                upper = np.full(len(out), np.inf)
                lower = np.zeros(len(out))
                for whole, part in nested:
                    if part == column:
                        shown_whole = present[whole] & ~hidden[whole]
                        upper = np.where(shown_whole, np.minimum(upper, values[whole]), upper)
                    if whole == column:
                        shown_part = present[part] & ~hidden[part]
                        lower = np.where(shown_part, np.maximum(lower, values[part]), lower)
                for members in lines:
                    members = members[present[column][members]]
                    if len(members) and _protect_line(
                        values[column], hidden[column], members, k, upper, lower
                    ):
                        changed = True
        for column in count_columns:
            shown: list[object] = []
            for value, is_present, is_small, is_hidden in zip(
                raw[column].tolist(), present[column], small[column], hidden[column], strict=True
            ):
                if not is_present:
                    shown.append(None)
                elif is_small:
                    shown.append(small_marker(k))
                elif is_hidden:
                    shown.append(COMPLEMENT_MARKER)
                else:
                    shown.append(int(value))
            out[column] = pd.Series(shown, index=out.index, dtype=object)
            suppressed |= hidden[column]
        for column in rate_columns:
            if suppressed.any():
                out[column] = out[column].astype(object)
                out.loc[suppressed, column] = None
    out["suppressed"] = suppressed
    return out


def is_hidden(value: object) -> bool:
    """True for a masked count (``"<k"`` or ``"*"``) as returned by `suppress_small_cells`."""
    return isinstance(value, str)


def for_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with masked count columns as text, so Arrow (st.dataframe) can show them.

    A suppressed column mixes ints with "<k"/"*" strings, which Arrow refuses as one type.

    Examples
    --------
    >>> for_display(pd.DataFrame({"n": pd.Series([12, "<5"], dtype=object)}))["n"].tolist()
    ['12', '<5']
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object and values.map(lambda v: isinstance(v, str)).any():
            out[column] = values.map(lambda v: "" if v is None else str(v))
    return out
