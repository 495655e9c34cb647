"""Pay gaps between groups: raw gaps with intervals, adjusted gaps by OLS with controls,
group-neutral predictions and the within-cohort view."""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

from signalboard.stats.blas import single_threaded_blas
from signalboard.stats.ols import (
    CellDesign,
    independent_design_columns,
    independent_indices,
    ols_hc3_arrays,
    solve_cells,
    weighted_pinv_fit,
    weighted_r,
)
from signalboard.stats.resampling import sampled_medians as _bootstrap_medians

MIN_MODEL_N = 30
"""Regress only when a comparison has at least this many people ..."""


MIN_SMALLER_GROUP = 5
"""... and at least this many in the smaller group; otherwise the cohort view."""


OUTLIER_SD = -2.0
"""Residuals below this many standard deviations are flagged."""


COL_TIERS: tuple[tuple[float, str], ...] = (
    (40.0, "<40"),
    (60.0, "40-60"),
    (80.0, "60-80"),
    (90.0, "80-90"),
    (100.0, "90-100"),
    (110.0, "100-110"),
    (math.inf, ">=110"),
)
"""Cost-of-living tiers by price level (US = 100): with log(price level), the location control.
Fine below 90 because outside the US price levels run from about 20 (India) to 90."""


INTERSECTION_SEPARATOR = " / "


UNKNOWN = "Unknown"


Method = Literal["reference", "ols_hc3", "too_few_to_model", "not_identifiable"]


@dataclass(frozen=True)
class Grouping:
    """Each row's group as a code into sorted labels (-1: no group), so the analysis compares
    integer codes instead of hashing a string per application for every attribute."""

    codes: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> Grouping:
        codes, labels = pd.factorize(np.asarray(values, dtype=object), sort=True)
        return cls(codes.astype(np.int64), np.asarray(labels, dtype=object))

    def code(self, label: str | None) -> int:
        hits = np.flatnonzero(self.labels == label) if label is not None else []
        return int(hits[0]) if len(hits) else -2

    def values(self) -> np.ndarray:
        out = (
            self.labels.take(np.where(self.codes >= 0, self.codes, 0))
            if len(self.labels)
            else (np.full(len(self.codes), None, dtype=object))
        )
        out = np.asarray(out, dtype=object)
        out[self.codes < 0] = None
        return out


def answer_groupings(
    n_ids: int,
    id_codes: np.ndarray,
    attr_codes: np.ndarray,
    names_found: np.ndarray,
    value_codes: np.ndarray,
    values: np.ndarray,
    *,
    position: np.ndarray | None = None,
    include_intersections: bool = True,
) -> dict[str, Grouping]:
    """The groupings of answers given as codes: each answer's person (`id_codes`, in
    range(n_ids)), attribute and value (codes into `names_found` and `values`; -1: none).
    `position`: each application row's person (-1: no demographics row); None when the rows
    are the persons."""
    n_rows = n_ids if position is None else len(position)
    n_attr = len(names_found)
    key = id_codes * n_attr + attr_codes
    valid = (value_codes >= 0) & (id_codes >= 0)
    if not valid.all():  # (the warehouse's answers are all valid: no copies of 1.7M codes)
        key, value_codes = key[valid], value_codes[valid]
    # the first value of each (application, attribute), as pivot_table(aggfunc="first"); one
    # answer per pair (the warehouse's key) needs no sort
    if np.bincount(key, minlength=1).max(initial=0) > 1:
        key, first = np.unique(key, return_index=True)
        value_codes = value_codes[first]
    unknown = len(values)
    matrix = np.full((n_ids, n_attr), unknown, dtype=np.int64)
    matrix.reshape(-1)[key] = value_codes
    found = np.ones(n_rows, dtype=bool) if position is None else position >= 0
    labels = np.append(values, UNKNOWN).astype(object)
    # pivot_table drops an attribute without any value (a count, not np.unique's sort of 1.7M)
    # (a null attribute's code -1 marks the last one, as indexing by it did)
    answered = attr_codes if valid.all() else attr_codes[valid]
    present = np.bincount(answered % max(n_attr, 1), minlength=n_attr) > 0
    priority = {"sex": 0, "race_ethnicity": 1}
    names = sorted(
        (str(a) for a, p in zip(names_found, present, strict=True) if p),
        key=lambda a: (priority.get(a, 2), a),
    )
    column = {str(a): j for j, a in enumerate(names_found)}

    unknown_code = len(labels) - 1

    def row_codes(name: str) -> np.ndarray:
        if position is None:
            return matrix[:, column[name]].copy()
        out = np.full(n_rows, unknown_code, dtype=np.int64)
        out[found] = matrix[position[found], column[name]]
        return out

    out = {name: relabelled(row_codes(name), labels) for name in names}
    if include_intersections and len(names) >= 2:
        for first, second in itertools.combinations(names[:2], 2):
            a, b = out[first], out[second]
            # no demographics row at all: Unknown, as _with_group fills it
            combined = np.where(
                found, a.codes * len(b.labels) + b.codes, len(a.labels) * len(b.labels)
            )
            combo_labels = np.array(
                [
                    f"{a.labels[c // len(b.labels)]}{INTERSECTION_SEPARATOR}{b.labels[c % len(b.labels)]}"
                    for c in range(len(a.labels) * len(b.labels))
                ]
                + [UNKNOWN],
                dtype=object,
            )
            out[f"{first}{INTERSECTION_SEPARATOR}{second}"] = relabelled(combined, combo_labels)
    return out


def relabelled(codes: np.ndarray, labels: np.ndarray) -> Grouping:
    """Codes into `labels` (which may repeat a text) as codes into the sorted distinct texts
    that occur: what `Grouping.of` gives for the texts, without a string per row."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    texts, inverse = np.unique(labels[present].astype(str), return_inverse=True)
    lookup = np.full(len(labels), -1, dtype=np.int64)
    lookup[present] = inverse.reshape(-1)
    return Grouping(lookup[codes], texts.astype(object))


def is_unknown(label: str) -> bool:
    """Unknown, or an intersection with an Unknown part ("Male / Unknown")."""
    return UNKNOWN in str(label).split(INTERSECTION_SEPARATOR)


def group_sizes(usd: np.ndarray, grouping: Grouping) -> np.ndarray:
    """The people with a stipend in US dollars in each group of `grouping`."""
    ok = (grouping.codes >= 0) & ~np.isnan(usd)
    return np.bincount(grouping.codes[ok], minlength=len(grouping.labels))


def reference_problem(label: str, size: int, *, min_n: int = MIN_MODEL_N) -> str | None:
    """Why `label` (of `size` people) cannot be a reference group, or None when it can: a
    reference is a known group (no Unknown part) of at least `min_n` people, so every gap is
    measured against a baseline that is neither an unknown mix nor noise."""
    if is_unknown(label):
        return "it is or contains Unknown"
    if size < min_n:
        return f"it has {size} people, under the modelling minimum of {min_n}"
    return None


def default_reference(
    usd: np.ndarray, grouping: Grouping, *, min_n: int = MIN_MODEL_N
) -> str | None:
    """The pre-specified reference group: the largest known group (most people with a stipend;
    a tie goes to the first label in text order), never chosen from the outcome, never Unknown
    or containing Unknown, never under `min_n` people. None when no group qualifies."""
    sizes = group_sizes(usd, grouping)
    best = None
    for code, label in enumerate(grouping.labels):
        if reference_problem(label, int(sizes[code]), min_n=min_n) is None and (
            best is None or sizes[code] > sizes[best]
        ):
            best = code
    return None if best is None else str(grouping.labels[best])


def mean_ratio_ci(
    x: np.ndarray, r: np.ndarray, z: float = 1.959963984540054
) -> tuple[float, float, float]:
    """Gap in % of mean(x) vs mean(r), with a delta-method CI on the log of the ratio."""
    if len(x) == 0 or len(r) == 0 or r.mean() <= 0 or x.mean() <= 0:
        return (np.nan, np.nan, np.nan)
    ratio = x.mean() / r.mean()
    var = 0.0
    if len(x) > 1:
        var += x.var(ddof=1) / (len(x) * x.mean() ** 2)
    if len(r) > 1:
        var += r.var(ddof=1) / (len(r) * r.mean() ** 2)
    half = z * math.sqrt(var)
    return (
        100 * (ratio - 1),
        100 * (ratio * math.exp(-half) - 1),
        100 * (ratio * math.exp(half) - 1),
    )


EXACT_BOOTSTRAP_ROWS = 5_000
"""Up to this many stipend rows in the analysis the median bootstrap draws every resample
(`rng.integers`); above, it
draws each resample's median from its exact distribution (`resampling.sampled_medians`): the same
bootstrap without n_boot x n random numbers per group."""


def median_ratio_ci(
    x: np.ndarray,
    r: np.ndarray,
    *,
    n_boot: int,
    rng: np.random.Generator,
    x_sorted: np.ndarray | OrderStatistics | None = None,
    r_sorted: np.ndarray | OrderStatistics | None = None,
    exact: bool = True,
) -> tuple[float, float, float]:
    """Gap in % of median(x) vs median(r), with a percentile bootstrap CI (`x_sorted` and
    `r_sorted`: the same values sorted, when the caller has them)."""
    if len(x) == 0 or len(r) == 0:
        return (np.nan, np.nan, np.nan)
    median_r = np.median(r) if r_sorted is None else _sorted_median(r_sorted)
    if median_r <= 0:
        return (np.nan, np.nan, np.nan)
    median_x = np.median(x) if x_sorted is None else _sorted_median(x_sorted)
    gap = 100 * (median_x / median_r - 1)
    if len(x) < 2 or len(r) < 2 or n_boot <= 0:
        return (gap, np.nan, np.nan)
    if exact:
        bx = np.median(x[rng.integers(0, len(x), (n_boot, len(x)))], axis=1)
        br = np.median(r[rng.integers(0, len(r), (n_boot, len(r)))], axis=1)
    else:
        bx = _bootstrap_medians(np.sort(x) if x_sorted is None else x_sorted, n_boot, rng)
        br = _bootstrap_medians(np.sort(r) if r_sorted is None else r_sorted, n_boot, rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = 100 * (bx / br - 1)
    gaps = gaps[np.isfinite(gaps)]
    if len(gaps) == 0:
        return (gap, np.nan, np.nan)
    low, high = np.percentile(gaps, [2.5, 97.5])
    return (gap, float(low), float(high))


def _median(values: np.ndarray, sorted_values: np.ndarray | OrderStatistics | None) -> float:
    if len(values) == 0:
        return np.nan
    return np.median(values) if sorted_values is None else _sorted_median(sorted_values)


def _sorted_median(values: np.ndarray | OrderStatistics) -> float:
    n = len(values)
    return float(np.median(values[(n - 1) // 2 : n // 2 + 1]))


class OrderStatistics:
    """Values in ascending order, read by position (an index array or a slice) as from
    ``np.sort(values)``, without sorting them all.

    A read partitions the values around the positions it asks for (np.partition: linear) and
    sorts that window only, kept for the reads that follow. The medians and the bootstrap
    medians read positions near the middle (a resample median's rank has an SD of about
    sqrt(n) / 2), so the window spans the middle +- 8 sqrt(n) and one partition serves a
    group's median and all its resamples.
    """

    def __init__(self, values: np.ndarray) -> None:
        self._values = values
        self._low = 0
        self._window = values[:0]

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: np.ndarray | slice) -> np.ndarray:
        n = len(self._values)
        if isinstance(index, slice):
            index = np.arange(*index.indices(n))
        index = np.asarray(index, dtype=np.int64)
        if len(index) == 0:
            return self._values[:0]
        low, high = int(index.min()), int(index.max())
        if low < self._low or high >= self._low + len(self._window):
            margin = 8 * math.isqrt(n) + 8
            low = max(0, min(low, (n - 1) // 2 - margin))
            high = min(n - 1, max(high, n // 2 + margin))
            part = np.partition(self._values, (low, high) if low < high else low)
            # the positions low..high hold those order statistics, in some order
            self._low, self._window = low, np.sort(part[low : high + 1])
        return self._window[index - self._low]


def raw_gap_table(
    usd: np.ndarray,
    real: np.ndarray,
    grouping: Grouping,
    *,
    reference: str,
    n_boot: int,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    codes = _small_codes(grouping)
    # rows of each group in frame order (the exact bootstrap draws by position)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(grouping.codes[grouping.codes >= 0], minlength=len(grouping.labels))
    starts = np.searchsorted(codes[order], np.arange(len(grouping.labels)))

    def rows(code: int) -> np.ndarray:
        if code < 0:
            return order[:0]
        return order[starts[code] : starts[code] + sizes[code]]

    exact = len(usd) <= EXACT_BOOTSTRAP_ROWS
    ref_code = grouping.code(reference)
    ref_rows = rows(ref_code)
    ref_nominal, ref_real = _present(usd[ref_rows]), _present(real[ref_rows])
    if exact:
        sorted_nominal, sorted_real = np.sort(ref_nominal), np.sort(ref_real)
    else:
        # large data: order statistics near each group's middle, for the medians and the
        # bootstrap (the reference's serve every comparison)
        sorted_nominal, sorted_real = OrderStatistics(ref_nominal), OrderStatistics(ref_real)
    out = []
    for code, group in enumerate(grouping.labels):
        part = rows(code)
        if len(part) == 0:
            continue
        nominal, real_values = _present(usd[part]), _present(real[part])
        if exact:
            nominal_sorted = real_sorted = None
        elif code == ref_code:
            nominal_sorted, real_sorted = sorted_nominal, sorted_real
        else:
            nominal_sorted, real_sorted = OrderStatistics(nominal), OrderStatistics(real_values)
        mean_nom = mean_ratio_ci(nominal, ref_nominal)
        mean_real = mean_ratio_ci(real_values, ref_real)
        med_nom = median_ratio_ci(
            nominal, ref_nominal, n_boot=n_boot, rng=rng, x_sorted=nominal_sorted,
            r_sorted=sorted_nominal, exact=exact,
        )  # fmt: skip
        med_real = median_ratio_ci(
            real_values, ref_real, n_boot=n_boot, rng=rng, x_sorted=real_sorted,
            r_sorted=sorted_real, exact=exact,
        )  # fmt: skip
        if group == reference:  # the reference vs itself: 0 by definition, no interval
            mean_nom, mean_real, med_nom, med_real = ((0.0, np.nan, np.nan),) * 4
        out.append(
            {
                "group": str(group),
                "reference_group": reference,
                "n": len(part),
                "n_real": len(real_values),
                "mean_nominal_usd": nominal.mean() if len(nominal) else np.nan,
                "median_nominal_usd": _median(nominal, nominal_sorted),
                "mean_real_usd": real_values.mean() if len(real_values) else np.nan,
                "median_real_usd": _median(real_values, real_sorted),
                "raw_gap_pct_nominal": mean_nom[0],
                "raw_gap_pct_nominal_ci_low": mean_nom[1],
                "raw_gap_pct_nominal_ci_high": mean_nom[2],
                "raw_gap_pct_real": mean_real[0],
                "raw_gap_pct_real_ci_low": mean_real[1],
                "raw_gap_pct_real_ci_high": mean_real[2],
                "median_gap_pct_nominal": med_nom[0],
                "median_gap_pct_nominal_ci_low": med_nom[1],
                "median_gap_pct_nominal_ci_high": med_nom[2],
                "median_gap_pct_real": med_real[0],
                "median_gap_pct_real_ci_low": med_real[1],
                "median_gap_pct_real_ci_high": med_real[2],
            }
        )
    return pd.DataFrame(out)


def _present(values: np.ndarray) -> np.ndarray:
    """The values that are not NaN, in their order."""
    return values[~np.isnan(values)]


def _small_codes(grouping: Grouping) -> np.ndarray:
    """The group codes as int16 when they fit: numpy's stable sort of 16-bit integers is a radix
    sort, and it orders them alike."""
    if len(grouping.labels) < np.iinfo(np.int16).max:
        return grouping.codes.astype(np.int16)
    return grouping.codes


@dataclass(frozen=True)
class GapEstimate:
    """An adjusted gap of one group vs the reference: exp(beta) - 1 in %, its CI and p-value."""

    estimate_pct: float
    ci_low: float
    ci_high: float
    p_value: float
    n: int
    n_group: int
    n_reference: int
    method: Method
    with_location: bool = False


def col_tier(price_level: pd.Series) -> pd.Series:
    """The cost-of-living tier of each price level (see `COL_TIERS`); blank when unknown."""
    bins = [-math.inf] + [edge for edge, _ in COL_TIERS]
    labels = [label for _, label in COL_TIERS]
    return pd.cut(price_level, bins=bins, labels=labels, right=False).astype(object)


@dataclass(frozen=True)
class CellColumns:
    """What `_cell_design` reads of each control cell, computed once per analysis instead of
    once per fit. Texts as codes into their sorted distinct values, so the levels a fit
    sees sort as np.unique sorts the texts."""

    role: np.ndarray
    role_levels: np.ndarray
    tier: np.ndarray
    tier_levels: np.ndarray
    cohort_length_days: np.ndarray
    log_estimated_hours: np.ndarray
    log_price_level: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame) -> CellColumns:
        def numbers(column: str) -> np.ndarray:
            values = pd.to_numeric(cells[column], errors="coerce")
            return values.to_numpy(dtype=float, na_value=np.nan).copy()

        hours = numbers("estimated_hours")
        level = numbers("price_level")
        role_levels, role = np.unique(
            cells["role"].astype(str).to_numpy(dtype=str), return_inverse=True
        )
        tier_levels, tier = np.unique(
            col_tier(cells["price_level"]).fillna("unknown").astype(str).to_numpy(dtype=str),
            return_inverse=True,
        )
        return cls(
            role=role.reshape(-1),
            role_levels=role_levels,
            tier=tier.reshape(-1),
            tier_levels=tier_levels,
            cohort_length_days=numbers("cohort_length_days"),
            log_estimated_hours=np.log(np.where(hours > 0, hours, np.nan)),
            log_price_level=np.log(np.where(level > 0, level, np.nan)),
        )


def cell_design_arrays(
    columns_of: CellColumns,
    cells: np.ndarray,
    weights: np.ndarray,
    *,
    with_location: bool,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[str], np.ndarray]:
    """`_cell_design` of the control cells `cells` (indices into `columns_of`): the kept columns'
    names and values (Fortran order, as a DataFrame's `to_numpy` gives them, so the fits' BLAS
    calls see the memory they always saw)."""
    names, columns = _control_columns(columns_of, cells, weights, with_location=with_location)
    for name, values in (indicators or {}).items():
        names.append(name)
        columns.append(np.asarray(values, dtype=float))
    matrix = np.column_stack(columns)
    # a column varies when a value differs from the first (no NaN is left: np.unique's count)
    differs = (matrix != matrix[:1]).any(axis=0) if len(cells) else np.zeros(len(names), bool)
    varying = [0] + [j for j in range(1, len(names)) if differs[j]]
    values = np.asfortranarray(matrix[:, varying])
    kept = independent_indices(values, weights=weights)
    return [names[varying[j]] for j in kept], np.asfortranarray(values[:, kept])


def cell_group_design(
    columns_of: CellColumns,
    cells: np.ndarray,
    weights: np.ndarray,
    group: np.ndarray,
    indicators: Sequence[str],
    *,
    with_location: bool,
) -> tuple[list[str], CellDesign]:
    """`cell_design_arrays` with an indicator column per name of `indicators`, row i's 1 in the
    column `group[i]` (-1: none), as a `CellDesign`, before collinear columns are left out
    (`independent_design_columns` does that): the constant, the controls that vary and the
    indicators of groups with some of the cells but not all."""
    names, columns = _control_columns(columns_of, cells, weights, with_location=with_location)
    matrix = np.column_stack(columns)
    m = len(cells)
    differs = (matrix != matrix[:1]).any(axis=0) if m else np.zeros(len(names), dtype=bool)
    varying = [0] + [j for j in range(1, len(names)) if differs[j]]
    counts = np.bincount(group[group >= 0], minlength=len(indicators))
    shown = [j for j in range(len(indicators)) if 0 < counts[j] < m]
    design = CellDesign(matrix, group, len(indicators)).columns(
        varying + [len(names) + j for j in shown]
    )
    return [names[j] for j in varying] + [indicators[j] for j in shown], design


def _control_columns(
    columns_of: CellColumns, cells: np.ndarray, weights: np.ndarray, *, with_location: bool
) -> tuple[list[str], list[np.ndarray]]:
    """The names and values of the constant and the controls of `cell_design_arrays`, before
    any is left out."""
    m = len(cells)
    names: list[str] = ["const"]
    columns: list[np.ndarray] = [np.ones(m)]

    def dummies(codes_of: np.ndarray, levels: np.ndarray, prefix: str) -> None:
        codes = codes_of[cells]
        present = np.flatnonzero(np.bincount(codes, minlength=len(levels)))
        for code in present[1:]:  # drop_first: the first sorted level
            names.append(f"{prefix}_{levels[code]}")
            columns.append((codes == code).astype(float))

    dummies(columns_of.role, columns_of.role_levels, "role")
    controls = {
        "cohort_length_days": columns_of.cohort_length_days[cells],
        "log_estimated_hours": columns_of.log_estimated_hours[cells],
    }
    if with_location:
        controls["log_price_level"] = columns_of.log_price_level[cells]
        dummies(columns_of.tier, columns_of.tier_levels, "col")
    for name, values in controls.items():
        known = ~np.isnan(values)
        names.append(name)
        if known.all():
            columns.append(values)
            continue
        fill = float(np.average(values[known], weights=weights[known])) if known.any() else 0.0
        columns.append(np.where(known, values, fill))
    return names, columns


def modelable(frame: pd.DataFrame) -> pd.Series:
    return frame["real_stipend_usd"].gt(0) & frame["role"].notna()


def indicator_name(group: str) -> str:
    return f"group[{group}]"


CONTROL_COLUMNS = ("role", "cohort_length_days", "estimated_hours", "price_level")


@dataclass(frozen=True)
class Controls:
    """Each row's control cell: its distinct (role, cohort length, estimated hours, price level).

    Every regressor except the group indicators is a function of these, so a regression on a
    million rows is a regression on a few hundred (group, cell) cells with the cell's count, mean
    and sum of squared deviations of y: OLS and HC3 come out the same (docs/performance.md).
    """

    cell: np.ndarray
    cells: pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame) -> Controls:
        keys = frame.reindex(columns=list(CONTROL_COLUMNS))
        combined = np.zeros(len(keys), dtype=np.int64)
        for column in CONTROL_COLUMNS:
            codes, uniques = pd.factorize(keys[column], use_na_sentinel=False)
            combined = combined * (len(uniques) + 1) + codes
        _, first, cell = np.unique(combined, return_index=True, return_inverse=True)
        return cls(cell.reshape(-1), keys.iloc[first].reset_index(drop=True))

    @functools.cached_property
    def columns(self) -> CellColumns:
        return CellColumns.of(self.cells)


def _dense_unique(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_inverse=True) for keys in range(size): a count, not a sort."""
    counts = np.bincount(key, minlength=size)
    present = np.flatnonzero(counts)
    lookup = np.zeros(size, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    return present, lookup[key]


def log_modelable(frame: pd.DataFrame) -> np.ndarray:
    """log(real stipend) of the rows a regression uses (`modelable`), NaN elsewhere."""
    real = pd.to_numeric(frame["real_stipend_usd"], errors="coerce").to_numpy(float)
    usable = modelable(frame).to_numpy(bool)
    out = np.full(len(frame), np.nan)
    out[usable] = np.log(real[usable])
    return out


def adjusted_gap_estimates(
    y: np.ndarray,
    grouping: Grouping,
    controls: Controls,
    *,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> dict[str, GapEstimate]:
    return adjusted_gap_fits(
        y,
        grouping,
        controls,
        reference=reference,
        locations=(with_location,),
        min_n=min_n,
        min_smaller=min_smaller,
    )[0]


def adjusted_gap_fits(
    y: np.ndarray,
    grouping: Grouping,
    controls: Controls,
    *,
    reference: str,
    locations: Sequence[bool],
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> list[dict[str, GapEstimate]]:
    """`adjusted_gap_estimates` for each `with_location` in `locations`: the models differ only in
    their controls, so the rows are collapsed to (group, control cell) cells once for all."""
    usable = ~np.isnan(y) & (grouping.codes >= 0)
    counts = np.bincount(grouping.codes[usable], minlength=len(grouping.labels))
    return _gap_fits(
        counts,
        grouping.labels,
        controls,
        lambda codes: GroupCells.of(y, grouping, controls, usable, codes),
        reference=reference,
        locations=locations,
        min_n=min_n,
        min_smaller=min_smaller,
    )


def cell_gap_fits(
    cells: GroupCells,
    labels: np.ndarray,
    controls: Controls,
    *,
    reference: str,
    locations: Sequence[bool],
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> list[dict[str, GapEstimate]]:
    """`adjusted_gap_fits` of the rows that `cells` stands for (`GroupCells.every` of them, or
    its `merged` groups), whose group codes index `labels`: the rows are not read again, so
    several comparisons of one attribute collapse its million rows once."""
    return _gap_fits(
        cells.counts(len(labels)),
        labels,
        controls,
        cells.taking,
        reference=reference,
        locations=locations,
        min_n=min_n,
        min_smaller=min_smaller,
    )


def _gap_fits(
    counts: np.ndarray,
    labels: np.ndarray,
    controls: Controls,
    collapse: Callable[[list[int]], GroupCells],
    *,
    reference: str,
    locations: Sequence[bool],
    min_n: int,
    min_smaller: int,
) -> list[dict[str, GapEstimate]]:
    """The fits of `adjusted_gap_fits` from each group's usable rows (`counts`) and the cells of
    the groups modelled (`collapse` of their codes, the reference's first)."""
    hits = np.flatnonzero(labels == reference)
    ref_code = int(hits[0]) if len(hits) else -2
    n_ref = int(counts[ref_code]) if ref_code >= 0 else 0
    out: list[dict[str, GapEstimate]] = [{} for _ in locations]
    eligible: list[int] = []
    for code, group in enumerate(labels):
        if group == reference:
            continue
        n_group = int(counts[code])
        if n_group + n_ref < min_n or min(n_group, n_ref) < min_smaller:
            for estimates, with_location in zip(out, locations, strict=True):
                estimates[group] = GapEstimate(
                    np.nan, np.nan, np.nan, np.nan, n_group + n_ref, n_group, n_ref,
                    "too_few_to_model", with_location,
                )  # fmt: skip
        else:
            eligible.append(code)
    if not eligible:
        return out
    cells = collapse([ref_code, *eligible])
    with single_threaded_blas():
        for estimates, with_location in zip(out, locations, strict=True):
            _fit_gaps(
                cells, labels, controls, estimates, eligible, ref_code,
                with_location=with_location,
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class GroupCells:
    """The rows of some groups collapsed to (group, control cell) cells: each cell's group,
    control cell, count, and sum, mean and sum of squared deviations of y (sorted by group,
    then control cell)."""

    group: np.ndarray
    cell: np.ndarray
    weight: np.ndarray
    total: np.ndarray
    mean: np.ndarray
    spread: np.ndarray

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        grouping: Grouping,
        controls: Controls,
        usable: np.ndarray,
        codes: Sequence[int],
    ) -> GroupCells:
        taken = usable & np.isin(grouping.codes, codes)
        return cls._collapsed(y, grouping, controls, taken)

    @classmethod
    def every(cls, y: np.ndarray, grouping: Grouping, controls: Controls) -> GroupCells:
        """The cells of every group: the rows with a y and a group."""
        return cls._collapsed(y, grouping, controls, ~np.isnan(y) & (grouping.codes >= 0))

    @classmethod
    def _collapsed(
        cls, y: np.ndarray, grouping: Grouping, controls: Controls, taken: np.ndarray
    ) -> GroupCells:
        n_cells = len(controls.cells)
        key = grouping.codes[taken] * n_cells + controls.cell[taken]
        combos, inverse = _dense_unique(key, len(grouping.labels) * n_cells)
        values = y[taken]
        weight = np.bincount(inverse).astype(float)
        total = np.bincount(inverse, weights=values)
        mean = total / weight
        spread = np.bincount(inverse, weights=(values - mean[inverse]) ** 2)
        return cls(combos // n_cells, combos % n_cells, weight, total, mean, spread)

    def counts(self, n_groups: int) -> np.ndarray:
        """The rows of each group."""
        rows = np.bincount(self.group, weights=self.weight, minlength=n_groups)
        return rows.astype(np.int64)

    def taking(self, codes: Sequence[int]) -> GroupCells:
        """The cells of the groups `codes`: those `of` collapses from their rows (each cell's
        sums run over the same rows in the same order, so they are the same numbers)."""
        take = np.isin(self.group, codes)
        return GroupCells(
            self.group[take], self.cell[take], self.weight[take], self.total[take],
            self.mean[take], self.spread[take],
        )  # fmt: skip

    def merged(self, into: np.ndarray) -> GroupCells:
        """The cells with group g counted as group `into[g]` (-1: left out): counts and sums
        add up, and the squared deviations about the merged mean are each part's own plus
        its count times its mean's squared distance to the merged mean (Chan, Golub & LeVeque
        1979, the pairwise update)."""
        group = into[self.group]
        take = group >= 0
        n_cells = int(self.cell.max(initial=-1)) + 1
        key = group[take] * n_cells + self.cell[take]
        combos, inverse = _dense_unique(key, (int(into.max(initial=-1)) + 1) * n_cells)
        weight = np.bincount(inverse, weights=self.weight[take])
        total = np.bincount(inverse, weights=self.total[take])
        mean = total / weight
        part_mean = self.mean[take]
        spread = np.bincount(
            inverse,
            weights=self.spread[take] + self.weight[take] * (part_mean - mean[inverse]) ** 2,
        )
        return GroupCells(combos // n_cells, combos % n_cells, weight, total, mean, spread)


def _fit_gaps(
    cells: GroupCells,
    labels: np.ndarray,
    controls: Controls,
    out: dict[str, GapEstimate],
    eligible: list[int],
    ref_code: int,
    *,
    with_location: bool,
) -> dict[str, GapEstimate]:
    weight, mean, spread, combo_group = cells.weight, cells.mean, cells.spread, cells.group
    names = {code: indicator_name(labels[code]) for code in eligible}
    # each cell's indicator column: its group's place among the eligible (-1: the reference)
    position = np.full(len(labels), -1, dtype=np.int64)
    position[eligible] = np.arange(len(eligible))
    keep = np.ones(len(weight), dtype=bool)
    for _ in range(5):
        w = weight[keep]
        columns, X = cell_group_design(
            controls.columns,
            cells.cell[keep],
            w,
            position[combo_group[keep]],
            list(names.values()),
            with_location=with_location,
        )
        r = weighted_r(X, w, mean[keep])
        kept = independent_design_columns(X, w, r)
        if len(kept) < X.width:
            columns, X = [columns[j] for j in kept], X.columns(kept)
            r = weighted_r(X, w, mean[keep])
        # the fit's own (X'WX)^-1 gives the leverages (no second inverse): a fit without
        # leverage-1 cells is the final one
        solved = solve_cells(X, w, mean[keep], r=r)
        exact = solved[2] > 1 - 1e-9
        if not exact.any():
            break
        # only a cell of one row can have leverage 1 (identical rows share at most 1)
        keep[np.flatnonzero(keep)[exact]] = False
        solved = None
    n_rows = float(weight[keep].sum())
    part_counts = np.bincount(combo_group[keep], weights=weight[keep], minlength=len(labels))
    present = [name for name in names.values() if name in columns]
    n_reference = int(part_counts[ref_code])
    # t reference on the smaller side's df (see ols_hc3_arrays), never above the residual df
    df = {
        name: max(min(int(part_counts[code]), n_reference, n_rows - X.width + 1) - 1, 1)
        for code, name in names.items()
    }
    fitted = (
        ols_hc3_arrays(X, columns, weight[keep], mean[keep], spread[keep], solved=solved, df=df)
        if present and n_rows > X.width
        else None
    )
    for code, name in names.items():
        group = labels[code]
        n_group = int(part_counts[code])
        if fitted is None or name not in present:
            out[group] = GapEstimate(
                np.nan, np.nan, np.nan, np.nan, n_group + n_reference, n_group, n_reference,
                "not_identifiable", with_location,
            )  # fmt: skip
            continue
        beta, low, high, p_value = fitted[name]
        out[group] = GapEstimate(
            estimate_pct=100 * (math.exp(beta) - 1),
            ci_low=100 * (math.exp(low) - 1),
            ci_high=100 * (math.exp(high) - 1),
            p_value=p_value,
            n=n_group + n_reference,
            n_group=n_group,
            n_reference=n_reference,
            method="ols_hc3",
            with_location=with_location,
        )
    return out


def cohort_view(part: pd.DataFrame, *, group: str, reference: str, value: str) -> pd.DataFrame:
    """`cohort_view` on the rows of the two groups with a `value`."""
    rows = []
    for cohort, cohort_rows in part.groupby("cohort_id", sort=True, dropna=False):
        x = cohort_rows.loc[cohort_rows["group"] == group, value].to_numpy(float)
        r = cohort_rows.loc[cohort_rows["group"] == reference, value].to_numpy(float)
        if len(x) == 0 or len(r) == 0:
            continue
        welch = mann_whitney = np.nan
        if len(x) >= 2 and len(r) >= 2 and (np.var(x) > 0 or np.var(r) > 0):
            welch = float(stats.ttest_ind(x, r, equal_var=False).pvalue)
        if np.ptp(np.concatenate([x, r])) > 0:
            mann_whitney = float(stats.mannwhitneyu(x, r, alternative="two-sided").pvalue)
        rows.append(
            {
                "cohort_id": cohort,
                "group": group,
                "reference_group": reference,
                "n_group": len(x),
                "n_reference": len(r),
                "mean_group_usd": x.mean(),
                "mean_reference_usd": r.mean(),
                "gap_pct": 100 * (x.mean() / r.mean() - 1) if r.mean() > 0 else np.nan,
                "welch_p_value": welch,
                "mann_whitney_p_value": mann_whitney,
                "value": value,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "cohort_id", "group", "reference_group", "n_group", "n_reference", "mean_group_usd",
            "mean_reference_usd", "gap_pct", "welch_p_value", "mann_whitney_p_value", "value",
        ],
    )  # fmt: skip


def group_neutral_predictions(
    applications: pd.DataFrame, controls: Controls, *, with_location: bool = True
) -> pd.DataFrame:
    columns = [
        "application_id", "predicted_real_usd", "predicted_usd", "residual_pct", "residual_sd",
        "low_outlier",
    ]  # fmt: skip
    level = pd.to_numeric(applications["price_level"], errors="coerce").to_numpy(float)
    real_all = pd.to_numeric(applications["real_stipend_usd"], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        has_level = (level > 0) & applications["role"].notna().to_numpy(bool)
        fit = has_level & (real_all > 0)
    if fit.sum() < 3:
        empty = pd.DataFrame({c: pd.Series(dtype=float) for c in columns})
        return empty.astype({"application_id": object, "low_outlier": bool})
    n_cells = len(controls.cells)
    # the fit on cells: count, mean and spread of log(real) per control cell
    cell = controls.cell[fit]
    y = np.log(real_all[fit])
    weight = np.bincount(cell, minlength=n_cells).astype(float)
    mean = np.divide(
        np.bincount(cell, weights=y, minlength=n_cells), weight, where=weight > 0,
        out=np.zeros(n_cells),
    )  # fmt: skip
    spread = np.bincount(cell, weights=(y - mean[cell]) ** 2, minlength=n_cells)
    used = weight > 0
    fit_columns, values = cell_design_arrays(
        controls.columns, np.flatnonzero(used), weight[used], with_location=with_location
    )
    w, m = weight[used], mean[used]
    with single_threaded_blas():
        beta, _ = weighted_pinv_fit(values, w, m)
    n_fit, p = float(w.sum()), values.shape[1]
    if n_fit > p:
        # np.std(resid, ddof=p): residuals about their own mean
        gap = m - values @ beta
        total = float((spread[used] + w * gap**2).sum())
        centred = total - float((w * gap).sum()) ** 2 / n_fit
        sd = math.sqrt(max(centred, 0.0) / (n_fit - p))
    else:
        sd = 0.0
    # predictions for every row with a price level, from the targets' own design
    target_weight = np.bincount(controls.cell[has_level], minlength=n_cells).astype(float)
    targeted = target_weight > 0
    all_columns, all_values = cell_design_arrays(
        controls.columns,
        np.flatnonzero(targeted),
        target_weight[targeted],
        with_location=with_location,
    )
    X_all = pd.DataFrame(all_values, columns=all_columns).reindex(
        columns=fit_columns, fill_value=0.0
    )
    per_cell = np.full(n_cells, np.nan)
    per_cell[targeted] = np.exp(X_all.to_numpy(float) @ beta)
    predicted_real = per_cell[controls.cell[has_level]]
    real = real_all[has_level]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_resid = np.where(real > 0, np.log(real) - np.log(predicted_real), -np.inf)
        residual_sd = log_resid / sd if sd > 0 else np.zeros_like(log_resid)
    out = pd.DataFrame(
        {
            "application_id": applications["application_id"].to_numpy()[has_level],
            "predicted_real_usd": predicted_real,
            "predicted_usd": predicted_real * level[has_level] / 100.0,
            "residual_pct": 100 * (real / predicted_real - 1),
            "residual_sd": residual_sd,
        }
    )
    out["low_outlier"] = out["residual_sd"] < OUTLIER_SD
    return out
