"""Stipend equity adjusted for cost of living (issue 6).

Per application (queries/stipend_applications.sql, joins in SQL): the stipend in US dollars at
the market rate, the real stipend ``usd / (price_level / 100)`` with the price level of the most
specific place that has one (metro, region, country), and the effective hourly pay. On top of
that, pure functions compute

- raw gaps by each demographic attribute and the intersection of two: mean and median, nominal
  and real, in % against a reference group (the highest-paid by default), with CIs;
- adjusted gaps: OLS of log real stipend on the group and controls (role, cohort length,
  estimated hours), without and with location (cost-of-living tier), HC3 robust standard
  errors, reported as ``exp(beta) - 1`` in %; only where a comparison has at least 30 people and
  5 in the smaller group, else a within-cohort view (Welch, Mann-Whitney, "too few to model");
- a group-neutral predicted stipend per application, its residual and outlier flags;
- a remediation plan that raises everyone below the group-neutral prediction (no group enters
  the rule) with its cost and the adjusted gaps recomputed after the raises;
- policy checks (unpaid, below the hourly floor, outside the cohort's tier, missing data);
- the EU/UK reporting view (mean and median gender pay gap, UK quartile pay bands, the EU
  directive's 5% flag per category of workers).

Sign convention: a gap in % is ``100 * (group / reference - 1)``, so -10 means the group is paid
10% less than the reference group. The EU/UK view uses the regulators' own sign (men minus
women over men: positive when women are paid less).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import stats
from threadpoolctl import ThreadpoolController

from signalboard.analysis.tables import ReportTable
from signalboard.queries import load_query
from signalboard.stats.resampling import sampled_medians as _bootstrap_medians
from signalboard.stats.suppression import suppress_small_cells

MIN_MODEL_N = 30
"""Regress only when a comparison has at least this many people ..."""
MIN_SMALLER_GROUP = 5
"""... and at least this many in the smaller group; otherwise the cohort view."""
OUTLIER_SD = -2.0
"""Residuals below this many standard deviations are flagged."""
EU_GAP_THRESHOLD_PCT = 5.0
"""Directive (EU) 2023/970, art. 10: a gap of at least 5% in a category triggers a joint pay
assessment unless justified by objective, gender-neutral criteria."""
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

STIPEND_COLUMNS: tuple[str, ...] = (
    "attribute",
    "group",
    "reference_group",
    "n",
    "mean_nominal_usd",
    "mean_real_usd",
    "median_real_usd",
    "raw_gap_pct_nominal",
    "raw_gap_pct_real",
    "adjusted_gap_pct",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_value",
    "adjusted_gap_pct_with_location",
    "method",
)
"""The columns stipends.csv has at least (issue 6), in this order; more follow them."""

Method = Literal["reference", "ols_hc3", "too_few_to_model", "not_identifiable"]


@functools.cache
def _blas_controller() -> ThreadpoolController:
    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    # Many small regressions: BLAS threads only add contention (a 1000 x 40 SVD took 0.75 s with
    # OpenBLAS threads on 2 busy cores, 3 ms with one).
    return _blas_controller().limit(limits=1, user_api="blas")


# --- loading --------------------------------------------------------------------------------


def load_frames(
    con: Any, params: Mapping[str, Any] | None = None, *, vintage: str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-application stipend frame and the long attribute frame from the warehouse.

    The stipend frame has every column of queries/stipend_applications.sql but candidate_id.
    The attribute frame has the recorded answers only (queries/stipend_attribute_answers.sql:
    a missing answer is Unknown in the analysis, as in stipend_attributes.sql) and its three
    columns are categoricals: at a million applications it has 1.7M rows, and a Python string
    for each cost seconds.
    """
    params = dict(params or {})
    stipends = _arrow(con, "stipend_applications", {**params, "vintage": vintage})
    # without candidate_id: the analysis never needs who, and each id is a Python string
    applications = _to_pandas(stipends, text=("application_id",), drop=("candidate_id",))
    answers = _arrow(con, "stipend_attribute_answers", params)
    # Each answer names its row in `applications` (stipend_row): the ids become a categorical
    # whose categories are the applications' ids, so no id is turned into a string twice.
    rows = answers["stipend_row"].to_numpy().astype(np.int64)
    attributes = _to_pandas(answers, drop=("stipend_row",))
    attributes.insert(
        0,
        "application_id",
        pd.Categorical.from_codes(
            rows, categories=pd.Index(applications["application_id"].to_numpy(dtype=object))
        ),
    )
    return applications, attributes


def _fetch_groupings(con: Any, params: Mapping[str, Any], n_rows: int) -> dict[str, _Grouping]:
    """Each of the `n_rows` stipend rows' groups (`aligned_groups` of `load_frames`' frames)
    from queries/stipend_attribute_answers.sql: each answer is placed by its stipend_row, with no
    attribute frame (at a million applications its 1.7M rows and its categorical of 338k ids
    cost ~0.15 s and were read only to get these codes)."""
    answers = _arrow(con, "stipend_attribute_answers", params)
    if answers.num_rows == 0:
        return {}
    attribute_codes, attribute_names = _dictionary_codes(answers["attribute"])
    value_codes, values = _dictionary_codes(answers["value"])
    return _answer_groupings(
        n_rows,
        answers["stipend_row"].to_numpy().astype(np.int64),
        attribute_codes,
        attribute_names,
        value_codes,
        values,
    )


ANALYSIS_COLUMNS: tuple[str, ...] = (
    "application_id", "cohort_id", "role", "country", "region", "metro", "stipend_amount",
    "stipend_currency", "estimated_hours", "cohort_length_days", "price_level", "col_source",
    "col_vintage", "stipend_usd", "real_stipend_usd", "hourly_usd",
)  # fmt: skip
"""The columns of queries/stipend_applications.sql that the analysis reads (controls, flags,
vintage warnings): the report and the page fetch only these (at a million applications the
other nine, candidate ids among them, cost ~0.1 s of DuckDB CPU to compute, sort and export)."""


def _warehouse_analysis(
    con: Any,
    params: Mapping[str, Any] | None = None,
    *,
    vintage: str | None = None,
    reference: Mapping[str, str] | None = None,
    tolerance_pct: float = 5.0,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
    k: int = 5,
) -> StipendAnalysis:
    """`analyze(*load_frames(con, params, vintage=vintage), ...)`: the same numbers, and the
    applications frame has the `ANALYSIS_COLUMNS` only.

    The answers query runs on a worker thread while this one converts the stipends and computes
    everything no group enters (DuckDB releases the GIL while it runs a query): at a million
    applications the answers join 4.65M demographic rows (~0.5 s of CPU, ~0.25 s on both cores)
    and the group-free part takes ~0.25 s of Python. `con` is not used here while the worker
    has it.
    """
    params = dict(params or {})
    stipends = _arrow(
        con, "stipend_applications", {**params, "vintage": vintage}, columns=ANALYSIS_COLUMNS
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        # the worker also turns the answers into codes (Arrow compute and numpy's array loops
        # release the GIL too)
        pending = worker.submit(_fetch_groupings, con, params, stipends.num_rows)
        applications = _to_pandas(stipends, text=("application_id",))
        with _single_threaded_blas():
            pay = _pay_results(
                applications,
                tolerance_pct=tolerance_pct,
                pay_floor_per_hour=pay_floor_per_hour,
                tiers=tiers,
            )
        groupings = pending.result()
    with _single_threaded_blas():
        return _with_groups(pay, groupings, reference=reference, k=k, n_boot=400)


def _dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the distinct values (in order of first appearance, as pd.factorize gives
    them; -1 for a null) of an Arrow text column."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)


def _fetch(
    con: Any,
    name: str,
    params: Mapping[str, Any],
    *,
    text: Sequence[str] = (),
    drop: Sequence[str] = (),
) -> pd.DataFrame:
    """A library query as a DataFrame whose text columns, except `text`, are categoricals."""
    return _to_pandas(_arrow(con, name, params), text=text, drop=drop)


def _arrow(
    con: Any, name: str, params: Mapping[str, Any], *, columns: Sequence[str] = ()
) -> pa.Table:
    """A library query as an Arrow table; with `columns`, only those (a projection DuckDB
    pushes into the query: it neither computes nor sorts the columns left out)."""
    query = load_query(name)
    relation = con.sql(query.sql, params=query.bind(params))
    if columns:
        relation = relation.select(*columns)
    return relation.to_arrow_table()


def _to_pandas(
    table: pa.Table, *, text: Sequence[str] = (), drop: Sequence[str] = ()
) -> pd.DataFrame:
    """The table as a DataFrame whose text columns, except `text`, are categoricals.

    Dictionary-encoded in Arrow: one Python string per distinct value instead of one per row (a
    million-application warehouse has 338k stipend rows with ten text columns each, and 1.7M
    attribute rows). Dates come back as datetime64 as from `run_query`. The `text` columns
    become object arrays through numpy (the same strings; pandas' own conversion of 338k ids
    took 0.08 s, numpy's 0.02 s).
    """
    columns = {}
    plain: dict[str, np.ndarray] = {}
    order = []
    for field_ in table.schema:
        if field_.name in drop:
            continue
        order.append(field_.name)
        column = table[field_.name]
        if pa.types.is_string(field_.type) and field_.name in text:
            plain[field_.name] = column.to_numpy(zero_copy_only=False).astype(object)
            continue
        if pa.types.is_string(field_.type):
            column = pc.dictionary_encode(column)
        elif pa.types.is_date(field_.type):
            column = column.cast(pa.timestamp("us"))
        columns[field_.name] = column
    frame = pa.table(columns).to_pandas() if columns else pd.DataFrame(index=range(table.num_rows))
    # in place, in the query's column order (frame[order] copied every column: 0.05 s at 1M)
    for name, values in sorted(plain.items(), key=lambda item: order.index(item[0])):
        frame.insert(order.index(name), name, values)
    return frame


def vintage_warnings(applications: pd.DataFrame) -> tuple[str, ...]:
    """Warnings for price levels of different vintages (or sources) used in one analysis.

    Examples
    --------
    >>> frame = pd.DataFrame({"col_source": ["BEA SARPP", "World Bank PA.NUS.PRVT.PLI"],
    ...                       "col_vintage": ["2023", "2021"]})
    >>> len(vintage_warnings(frame))
    1
    """
    used = applications.loc[
        applications["col_vintage"].notna(), ["col_source", "col_vintage"]
    ]  # fmt: skip
    if used.empty:
        return ()
    vintages = sorted({str(v) for v in used["col_vintage"].unique()})
    if len(vintages) < 2:
        return ()
    # as text: sorted by name (a categorical from the warehouse keeps its load order)
    labels = used.astype(object)
    counts = labels.groupby(["col_source", "col_vintage"]).size().reset_index(name="n")
    listed = "; ".join(f"{r.col_source} {r.col_vintage}: {r.n}" for r in counts.itertuples())
    return (
        f"Mixed cost-of-living vintages ({', '.join(vintages)}): price levels of different "
        f"years are not comparable, so real stipends mix bases ({listed} applications). Load "
        "one vintage for every place, or choose one vintage.",
    )


# --- groups ---------------------------------------------------------------------------------


def attribute_groups(
    attributes: pd.DataFrame,
    *,
    include_intersections: bool = True,
) -> dict[str, pd.Series]:
    """Each application's group per attribute (and per intersection of two attributes).

    Returns a mapping attribute name -> Series indexed by application_id. An intersection is named
    ``"sex / race_ethnicity"`` and its groups ``"Female / Asian"``.
    """
    if attributes.empty:
        return {}
    wide = (
        attributes.pivot_table(
            index="application_id",
            columns="attribute",
            values="value",
            aggfunc="first",
            observed=True,
        )
        .astype(object)
        .fillna(UNKNOWN)
    )
    # sex and race_ethnicity first (the attributes reviewers read first), then the others
    priority = {"sex": 0, "race_ethnicity": 1}
    names = sorted(wide.columns, key=lambda a: (priority.get(a, 2), a))
    out: dict[str, pd.Series] = {name: wide[name].astype(str) for name in names}
    if include_intersections and len(names) >= 2:
        for first, second in itertools.combinations(names[:2], 2):
            out[f"{first}{INTERSECTION_SEPARATOR}{second}"] = (
                wide[first].astype(str) + INTERSECTION_SEPARATOR + wide[second].astype(str)
            )
    return out


def _with_group(applications: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    frame = applications.copy()
    frame["group"] = frame["application_id"].map(groups).fillna(UNKNOWN)
    return frame


@dataclass(frozen=True)
class _Grouping:
    """Each row's group as a code into sorted labels (-1: no group), so the analysis compares
    integer codes instead of hashing a string per application for every attribute."""

    codes: np.ndarray
    labels: np.ndarray

    @classmethod
    def of(cls, values: pd.Series | np.ndarray) -> _Grouping:
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


def _grouping_from_series(applications: pd.DataFrame, groups: pd.Series) -> _Grouping:
    """The groups of `attribute_groups` aligned to the rows (as `_with_group` assigns them)."""
    return _Grouping.of(applications["application_id"].map(groups).fillna(UNKNOWN))


def _codes(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    codes, uniques = pd.factorize(values)
    return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)


def aligned_groups(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    include_intersections: bool = True,
) -> dict[str, _Grouping]:
    """`attribute_groups` followed by `_with_group`, computed on integer codes: each row's group
    per attribute (and intersection), Unknown where the application has no value."""
    if attributes.empty:
        return {}
    app_ids = applications["application_id"].to_numpy(dtype=object)
    id_column = attributes["application_id"]
    if (
        isinstance(id_column.dtype, pd.CategoricalDtype)
        and len(id_column.cat.categories) == len(app_ids)
        and bool((id_column.cat.categories.to_numpy(dtype=object) == app_ids).all())
    ):
        # load_frames: the categories are the applications' ids, the codes their rows
        id_codes, ids = id_column.cat.codes.to_numpy().astype(np.int64), app_ids
    else:
        id_codes, ids = _codes(id_column)
    attr_codes, names_found = _codes(attributes["attribute"])
    value_codes, values = _codes(attributes["value"])
    if ids is app_ids or (len(ids) == len(app_ids) and bool((ids == app_ids).all())):
        position = None
    else:
        position = pd.Index(ids).get_indexer(app_ids)
    return _answer_groupings(
        len(ids),
        id_codes,
        attr_codes,
        names_found,
        value_codes,
        values,
        position=position,
        include_intersections=include_intersections,
    )


def _answer_groupings(
    n_ids: int,
    id_codes: np.ndarray,
    attr_codes: np.ndarray,
    names_found: np.ndarray,
    value_codes: np.ndarray,
    values: np.ndarray,
    *,
    position: np.ndarray | None = None,
    include_intersections: bool = True,
) -> dict[str, _Grouping]:
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

    out = {name: _relabelled(row_codes(name), labels) for name in names}
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
            out[f"{first}{INTERSECTION_SEPARATOR}{second}"] = _relabelled(combined, combo_labels)
    return out


def _relabelled(codes: np.ndarray, labels: np.ndarray) -> _Grouping:
    """Codes into `labels` (which may repeat a text) as codes into the sorted distinct texts
    that occur: what `_Grouping.of` gives for the texts, without a string per row."""
    present = np.flatnonzero(np.bincount(codes, minlength=len(labels)))
    texts, inverse = np.unique(labels[present].astype(str), return_inverse=True)
    lookup = np.full(len(labels), -1, dtype=np.int64)
    lookup[present] = inverse.reshape(-1)
    return _Grouping(lookup[codes], texts.astype(object))


def _default_reference(usd: np.ndarray, grouping: _Grouping, *, k: int) -> str | None:
    g = len(grouping.labels)
    if g == 0:
        return None
    ok = (grouping.codes >= 0) & ~np.isnan(usd)
    sizes = np.bincount(grouping.codes[ok], minlength=g)
    sums = np.bincount(grouping.codes[ok], weights=usd[ok], minlength=g)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = pd.Series(sums / sizes, index=grouping.labels)
    return _highest_mean(means, pd.Series(sizes, index=grouping.labels), k=k)


def default_reference(frame: pd.DataFrame, *, k: int = 5) -> str | None:
    """The highest-paid group: the highest mean stipend in US dollars (what the employer pays)
    among groups big enough to model (`MIN_MODEL_N` people; else `k`; else any), Unknown
    excluded."""
    sizes = frame.groupby("group")["stipend_usd"].count()
    means = frame.groupby("group")["stipend_usd"].mean()
    return _highest_mean(means, sizes, k=k)


def _highest_mean(means: pd.Series, sizes: pd.Series, *, k: int) -> str | None:
    """The group with the highest mean among those of at least `MIN_MODEL_N` people (else `k`,
    else any), Unknown excluded; None when no group qualifies."""
    known = means.index != UNKNOWN
    eligible = means[(sizes >= MIN_MODEL_N) & known]
    if eligible.empty:
        eligible = means[(sizes >= k) & known]
    if eligible.empty:
        eligible = means[known].dropna()
    if eligible.empty:
        return None
    return str(eligible.idxmax())


# --- raw gaps -------------------------------------------------------------------------------


def _mean_ratio_ci(
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
(`rng.integers`, as it always did: the sample and the tests keep their intervals); above, it
draws each resample's median from its exact distribution (`resampling.sampled_medians`): the same
bootstrap without n_boot x n random numbers (at a million applications, 400 x 170,000 per group
took minutes)."""


def _median_ratio_ci(
    x: np.ndarray,
    r: np.ndarray,
    *,
    n_boot: int,
    rng: np.random.Generator,
    x_sorted: np.ndarray | _OrderStatistics | None = None,
    r_sorted: np.ndarray | _OrderStatistics | None = None,
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


def _median(values: np.ndarray, sorted_values: np.ndarray | _OrderStatistics | None) -> float:
    if len(values) == 0:
        return np.nan
    return np.median(values) if sorted_values is None else _sorted_median(sorted_values)


def _sorted_median(values: np.ndarray | _OrderStatistics) -> float:
    n = len(values)
    return float(np.median(values[(n - 1) // 2 : n // 2 + 1]))


class _OrderStatistics:
    """Values in ascending order, read by position (an index array or a slice) as from
    ``np.sort(values)``, without sorting them all.

    A read partitions the values around the positions it asks for (np.partition: linear) and
    sorts that window only, kept for the reads that follow. The medians and the bootstrap
    medians read positions near the middle (a resample median's rank has an SD of about
    sqrt(n) / 2), so the window spans the middle +- 8 sqrt(n) and one partition serves a
    group's median and all its resamples. At a million applications this replaced an argsort of
    each stipend column and a sort per group (~0.12 s).
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


def raw_gaps(
    frame: pd.DataFrame,
    *,
    reference: str,
    n_boot: int = 400,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and median stipend per group, nominal and real, and the raw gap vs `reference`.

    The raw gap of group g in % is ``100 * (mean_g / mean_ref - 1)`` (likewise for medians).
    Mean gaps have a delta-method 95% CI on the log ratio; median gaps a percentile bootstrap.

    Parameters
    ----------
    frame : per-application rows with ``group``, ``stipend_usd`` and ``real_stipend_usd``.
    reference : the group the others are compared with.

    Examples
    --------
    >>> frame = pd.DataFrame({"group": ["a", "a", "b", "b"], "stipend_usd": [100.0, 100, 90, 90],
    ...                       "real_stipend_usd": [100.0, 100, 100, 100]})
    >>> raw_gaps(frame, reference="a").set_index("group").loc["b", "raw_gap_pct_nominal"]
    np.float64(-10.0)
    """
    return _raw_gaps(
        frame["stipend_usd"].to_numpy(float),
        frame["real_stipend_usd"].to_numpy(float),
        _Grouping.of(frame["group"]),
        reference=reference,
        n_boot=n_boot,
        seed=seed,
    )


def _raw_gaps(
    usd: np.ndarray,
    real: np.ndarray,
    grouping: _Grouping,
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
        sorted_nominal, sorted_real = _OrderStatistics(ref_nominal), _OrderStatistics(ref_real)
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
            nominal_sorted, real_sorted = _OrderStatistics(nominal), _OrderStatistics(real_values)
        mean_nom = _mean_ratio_ci(nominal, ref_nominal)
        mean_real = _mean_ratio_ci(real_values, ref_real)
        med_nom = _median_ratio_ci(
            nominal, ref_nominal, n_boot=n_boot, rng=rng, x_sorted=nominal_sorted,
            r_sorted=sorted_nominal, exact=exact,
        )  # fmt: skip
        med_real = _median_ratio_ci(
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


def _small_codes(grouping: _Grouping) -> np.ndarray:
    """The group codes as int16 when they fit: numpy's stable sort of 16-bit integers is a radix
    sort (2.5 ms for 338k rows, 11 ms as int64), and it orders them alike."""
    if len(grouping.labels) < np.iinfo(np.int16).max:
        return grouping.codes.astype(np.int16)
    return grouping.codes


# --- adjusted gaps --------------------------------------------------------------------------


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


def design_matrix(
    frame: pd.DataFrame,
    *,
    with_location: bool,
    indicators: Sequence[str] = (),
    weights: np.ndarray | None = None,
) -> pd.DataFrame:
    """Regressors: a constant, the `indicators` columns, role dummies, cohort length in days,
    log estimated hours (a stipend scales with the hours) and, with location, cost-of-living tier
    dummies and log price level. Constant and collinear columns are dropped.

    With `weights`, each row of `frame` stands for that many identical rows (a cell): missing
    controls are filled with the weighted mean and collinearity is judged on the weighted rows,
    so the result is the design of the expanded rows, one row per cell.
    """
    parts = [pd.Series(1.0, index=frame.index, name="const")]
    parts.append(
        pd.get_dummies(frame["role"].astype(str), prefix="role", drop_first=True, dtype=float)
    )
    hours = pd.to_numeric(frame["estimated_hours"], errors="coerce").astype(float)
    controls = {
        "cohort_length_days": pd.to_numeric(frame["cohort_length_days"], errors="coerce"),
        "log_estimated_hours": np.log(hours.where(hours > 0)),
    }
    if with_location:
        level = pd.to_numeric(frame["price_level"], errors="coerce").astype(float)
        controls["log_price_level"] = np.log(level.where(level > 0))
        tier = col_tier(frame["price_level"]).fillna("unknown")
        parts.append(pd.get_dummies(tier, prefix="col", drop_first=True, dtype=float))
    for name, values in controls.items():
        values = values.astype(float)
        known = values.notna().to_numpy()
        if not known.any():
            fill = 0.0
        elif weights is None:
            fill = values.mean()
        else:
            fill = float(np.average(values.to_numpy()[known], weights=weights[known]))
        parts.append(values.fillna(fill).rename(name))
    # Indicators last: one that the controls determine is the column dropped as collinear.
    parts += [frame[c].astype(float) for c in indicators]
    X = pd.concat(parts, axis=1)
    keep = ["const"] + [c for c in X.columns if c != "const" and X[c].nunique() > 1]
    return _independent_columns(X[keep], weights=weights)


def _cell_design(
    cells: pd.DataFrame,
    weights: np.ndarray,
    *,
    with_location: bool,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> pd.DataFrame:
    """`design_matrix(cells.assign(**indicators), weights=weights)` in numpy: the same columns,
    names and values, without pandas' per-call overhead (a few hundred cells, dozens of fits)."""
    names, values = _cell_design_arrays(
        _CellColumns.of(cells),
        np.arange(len(cells)),
        np.asarray(weights, dtype=float),
        with_location=with_location,
        indicators=indicators,
    )
    return pd.DataFrame(values, columns=names)


@dataclass(frozen=True)
class _CellColumns:
    """What `_cell_design` reads of each control cell, computed once per analysis instead of
    once per fit (pd.to_numeric, pd.cut and np.unique of the texts: ~7 ms a fit, 20 fits at a
    million applications). Texts as codes into their sorted distinct values, so the levels a fit
    sees sort as np.unique sorts the texts."""

    role: np.ndarray
    role_levels: np.ndarray
    tier: np.ndarray
    tier_levels: np.ndarray
    cohort_length_days: np.ndarray
    log_estimated_hours: np.ndarray
    log_price_level: np.ndarray

    @classmethod
    def of(cls, cells: pd.DataFrame) -> _CellColumns:
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


def _cell_design_arrays(
    columns_of: _CellColumns,
    cells: np.ndarray,
    weights: np.ndarray,
    *,
    with_location: bool,
    indicators: Mapping[str, np.ndarray] | None = None,
) -> tuple[list[str], np.ndarray]:
    """`_cell_design` of the control cells `cells` (indices into `columns_of`): the kept columns'
    names and values (Fortran order, as a DataFrame's `to_numpy` gives them, so the fits' BLAS
    calls see the memory they always saw)."""
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
        fill = float(np.average(values[known], weights=weights[known])) if known.any() else 0.0
        names.append(name)
        columns.append(np.where(known, values, fill))
    for name, values in (indicators or {}).items():
        names.append(name)
        columns.append(np.asarray(values, dtype=float))
    matrix = np.column_stack(columns)
    # a column varies when a value differs from the first (no NaN is left: np.unique's count)
    differs = (matrix != matrix[:1]).any(axis=0) if m else np.zeros(len(names), dtype=bool)
    varying = [0] + [j for j in range(1, len(names)) if differs[j]]
    values = np.asfortranarray(matrix[:, varying])
    kept = _independent_indices(values, weights=weights)
    return [names[varying[j]] for j in kept], np.asfortranarray(values[:, kept])


def _independent_columns(X: pd.DataFrame, *, weights: np.ndarray | None = None) -> pd.DataFrame:
    """Drop regressors that are linear combinations of earlier ones (for example estimated hours
    when every cohort of a role has the same hours), left to right, so the indicators listed
    first stay unless they are themselves collinear with the constant."""
    return X.iloc[:, _independent_indices(X.to_numpy(float), weights=weights)]


def _independent_indices(values: np.ndarray, *, weights: np.ndarray | None = None) -> list[int]:
    """The columns `_independent_columns` keeps."""
    if weights is not None:
        values = values * np.sqrt(np.asarray(weights, dtype=float))[:, None]
    # the orthonormal basis grows in place, column by column (np.column_stack copied it for
    # every kept column: 0.04 s for the ~17k x 45 designs of the intersection at 1M)
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


def _modelable(frame: pd.DataFrame) -> pd.Series:
    return frame["real_stipend_usd"].gt(0) & frame["role"].notna()


def _indicator_name(group: str) -> str:
    return f"group[{group}]"


CONTROL_COLUMNS = ("role", "cohort_length_days", "estimated_hours", "price_level")


@dataclass(frozen=True)
class _Controls:
    """Each row's control cell: its distinct (role, cohort length, estimated hours, price level).

    Every regressor except the group indicators is a function of these, so a regression on a
    million rows is a regression on a few hundred (group, cell) cells with the cell's count, mean
    and sum of squared deviations of y: OLS and HC3 come out the same (docs/performance.md).
    """

    cell: np.ndarray
    cells: pd.DataFrame

    @classmethod
    def of(cls, frame: pd.DataFrame) -> _Controls:
        keys = frame.reindex(columns=list(CONTROL_COLUMNS))
        combined = np.zeros(len(keys), dtype=np.int64)
        for column in CONTROL_COLUMNS:
            codes, uniques = pd.factorize(keys[column], use_na_sentinel=False)
            combined = combined * (len(uniques) + 1) + codes
        _, first, cell = np.unique(combined, return_index=True, return_inverse=True)
        return cls(cell.reshape(-1), keys.iloc[first].reset_index(drop=True))

    @functools.cached_property
    def columns(self) -> _CellColumns:
        return _CellColumns.of(self.cells)


def _dense_unique(key: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_inverse=True) for keys in range(size): a count, not a sort."""
    counts = np.bincount(key, minlength=size)
    present = np.flatnonzero(counts)
    lookup = np.zeros(size, dtype=np.int64)
    lookup[present] = np.arange(len(present))
    return present, lookup[key]


def _log_modelable(frame: pd.DataFrame) -> np.ndarray:
    """log(real stipend) of the rows a regression uses (`_modelable`), NaN elsewhere."""
    real = pd.to_numeric(frame["real_stipend_usd"], errors="coerce").to_numpy(float)
    usable = _modelable(frame).to_numpy(bool)
    out = np.full(len(frame), np.nan)
    out[usable] = np.log(real[usable])
    return out


def adjusted_gaps(
    frame: pd.DataFrame,
    *,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> dict[str, GapEstimate]:
    """The adjusted gap of every other group vs `reference`: ``exp(beta_g) - 1`` in %.

    One OLS of log(real stipend) on an indicator per group (the reference is the baseline) and
    the controls (role, cohort length, log estimated hours and, with location, cost-of-living
    tier and log price level), with HC3 robust SEs and a normal 95% CI. Only rows with a positive
    real stipend enter. A group enters only if its comparison with the reference has at least
    `min_n` people and `min_smaller` in the smaller of the two; the others get method
    "too_few_to_model". A group that the controls determine (all of it in one role or tier) is
    "not_identifiable". Rows that a model fits exactly (leverage 1: the only one of their role or
    tier) carry no information on the gaps and would make HC3 undefined, so they are left out.
    """
    return _adjusted_gaps(
        _log_modelable(frame),
        _Grouping.of(frame["group"]),
        _Controls.of(frame),
        reference=reference,
        with_location=with_location,
        min_n=min_n,
        min_smaller=min_smaller,
    )


def _adjusted_gaps(
    y: np.ndarray,
    grouping: _Grouping,
    controls: _Controls,
    *,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> dict[str, GapEstimate]:
    return _adjusted_gap_fits(
        y,
        grouping,
        controls,
        reference=reference,
        locations=(with_location,),
        min_n=min_n,
        min_smaller=min_smaller,
    )[0]


def _adjusted_gap_fits(
    y: np.ndarray,
    grouping: _Grouping,
    controls: _Controls,
    *,
    reference: str,
    locations: Sequence[bool],
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> list[dict[str, GapEstimate]]:
    """`_adjusted_gaps` for each `with_location` in `locations`: the models differ only in
    their controls, so the rows are collapsed to (group, control cell) cells once for all."""
    usable = ~np.isnan(y) & (grouping.codes >= 0)
    counts = np.bincount(grouping.codes[usable], minlength=len(grouping.labels))
    ref_code = grouping.code(reference)
    n_ref = int(counts[ref_code]) if ref_code >= 0 else 0
    out: list[dict[str, GapEstimate]] = [{} for _ in locations]
    eligible: list[int] = []
    for code, group in enumerate(grouping.labels):
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
    cells = _GroupCells.of(y, grouping, controls, usable, [ref_code, *eligible])
    with _single_threaded_blas():
        for estimates, with_location in zip(out, locations, strict=True):
            _fit_gaps(
                cells, grouping, controls, estimates, eligible, ref_code,
                with_location=with_location,
            )  # fmt: skip
    return out


@dataclass(frozen=True)
class _GroupCells:
    """The rows of some groups collapsed to (group, control cell) cells: each cell's group,
    control cell, count, and mean and sum of squared deviations of y."""

    group: np.ndarray
    cell: np.ndarray
    weight: np.ndarray
    mean: np.ndarray
    spread: np.ndarray

    @classmethod
    def of(
        cls,
        y: np.ndarray,
        grouping: _Grouping,
        controls: _Controls,
        usable: np.ndarray,
        codes: Sequence[int],
    ) -> _GroupCells:
        taken = usable & np.isin(grouping.codes, codes)
        n_cells = len(controls.cells)
        key = grouping.codes[taken] * n_cells + controls.cell[taken]
        combos, inverse = _dense_unique(key, len(grouping.labels) * n_cells)
        values = y[taken]
        weight = np.bincount(inverse).astype(float)
        mean = np.bincount(inverse, weights=values) / weight
        spread = np.bincount(inverse, weights=(values - mean[inverse]) ** 2)
        return cls(combos // n_cells, combos % n_cells, weight, mean, spread)


def _fit_gaps(
    cells: _GroupCells,
    grouping: _Grouping,
    controls: _Controls,
    out: dict[str, GapEstimate],
    eligible: list[int],
    ref_code: int,
    *,
    with_location: bool,
) -> dict[str, GapEstimate]:
    weight, mean, spread, combo_group = cells.weight, cells.mean, cells.spread, cells.group
    names = {code: _indicator_name(grouping.labels[code]) for code in eligible}
    keep = np.ones(len(weight), dtype=bool)
    for _ in range(5):
        w, g = weight[keep], combo_group[keep]
        columns, X = _cell_design_arrays(
            controls.columns,
            cells.cell[keep],
            w,
            with_location=with_location,
            indicators={name: (g == code).astype(float) for code, name in names.items()},
        )
        # the fit's own (X'WX)^+ gives the leverages (no second inverse, ~8 ms a fit of the
        # intersection at 1M): a fit without leverage-1 cells is the final one
        solved = _solve_cells(X, w, mean[keep])
        exact = solved[2] > 1 - 1e-9
        if not exact.any():
            break
        # only a cell of one row can have leverage 1 (identical rows share at most 1)
        keep[np.flatnonzero(keep)[exact]] = False
        solved = None
    n_rows = float(weight[keep].sum())
    part_counts = np.bincount(
        combo_group[keep], weights=weight[keep], minlength=len(grouping.labels)
    )
    present = [name for name in names.values() if name in columns]
    fitted = (
        _ols_hc3_arrays(X, columns, weight[keep], mean[keep], spread[keep], solved=solved)
        if present and n_rows > X.shape[1]
        else None
    )
    n_reference = int(part_counts[ref_code])
    for code, name in names.items():
        group = grouping.labels[code]
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


Z_975 = float(stats.norm.ppf(0.975))


def _weighted_pinv_fit(
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


def _solve_cells(
    values: np.ndarray, weight: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`_weighted_pinv_fit` and each cell's leverage x' (X'WX)^+ x."""
    beta, inverse = _weighted_pinv_fit(values, weight, mean)
    return beta, inverse, ((values @ inverse) * values).sum(axis=1)


def _ols_hc3(
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
    return _ols_hc3_arrays(X.to_numpy(float), list(X.columns), weight, mean, spread)


def _ols_hc3_arrays(
    values: np.ndarray,
    columns: Sequence[str],
    weight: np.ndarray,
    mean: np.ndarray,
    spread: np.ndarray,
    *,
    solved: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> dict[str, tuple[float, float, float, float]]:
    """`_ols_hc3` of the design's values and column names (`solved`: `_solve_cells` of them,
    when computed already)."""
    beta, inverse, leverage = solved if solved is not None else _solve_cells(values, weight, mean)
    fit = values @ beta
    squares = spread + weight * (mean - fit) ** 2
    meat = values.T @ ((squares / (1 - leverage) ** 2)[:, None] * values)
    se = np.sqrt(np.diag(inverse @ meat @ inverse))
    p_values = 2 * stats.norm.sf(np.abs(beta / se))
    return {
        name: (
            float(beta[j]),
            float(beta[j] - Z_975 * se[j]),
            float(beta[j] + Z_975 * se[j]),
            float(p_values[j]),
        )
        for j, name in enumerate(columns)
    }


def adjusted_gap(
    frame: pd.DataFrame,
    *,
    group: str,
    reference: str,
    with_location: bool = False,
    min_n: int = MIN_MODEL_N,
    min_smaller: int = MIN_SMALLER_GROUP,
) -> GapEstimate:
    """The adjusted gap of one `group` vs `reference`, modelled on those two groups alone (see
    `adjusted_gaps` for the model).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> n = 200
    >>> frame = pd.DataFrame({"group": np.repeat(["a", "b"], n // 2), "role": "analyst",
    ...     "cohort_length_days": 10, "estimated_hours": rng.choice([10, 20], n),
    ...     "price_level": 100.0})
    >>> frame["real_stipend_usd"] = np.exp(6 + np.where(frame["group"] == "b", np.log(0.9), 0)
    ...                                     + rng.normal(0, 0.05, n))
    >>> round(adjusted_gap(frame, group="b", reference="a").estimate_pct)
    -10
    """
    pair = frame[frame["group"].isin([group, reference])]
    return adjusted_gaps(
        pair,
        reference=reference,
        with_location=with_location,
        min_n=min_n,
        min_smaller=min_smaller,
    ).get(
        group,
        GapEstimate(np.nan, np.nan, np.nan, np.nan, 0, 0, 0, "too_few_to_model", with_location),
    )


def cohort_view(frame: pd.DataFrame, *, group: str, reference: str) -> pd.DataFrame:
    """Within each cohort, the real stipend of `group` vs `reference`: means, Welch's t-test and
    the Mann-Whitney U test (for comparisons too small to model)."""
    value = "real_stipend_usd" if frame["real_stipend_usd"].notna().any() else "stipend_usd"
    part = frame[frame["group"].isin([group, reference]) & frame[value].notna()]
    return _cohort_view(part, group=group, reference=reference, value=value)


def _cohort_view(part: pd.DataFrame, *, group: str, reference: str, value: str) -> pd.DataFrame:
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


# --- group-neutral predictions, outliers, remediation ---------------------------------------


def group_neutral_predictions(
    applications: pd.DataFrame, *, with_location: bool = True
) -> pd.DataFrame:
    """The stipend each application would get from the controls alone (no demographic input).

    OLS of log(real stipend) on role, cohort length and estimated hours and, with location (the
    default: a location-based pay policy is group-neutral), the cost-of-living tier, fitted on applications with a positive real stipend; the prediction
    ``exp(fitted)`` is a real stipend, converted back to US dollars with the application's price
    level. Residual in % is ``100 * (real / predicted - 1)``; in SD it is the log residual over
    the residuals' standard deviation; below -2 SD is an outlier.

    Returns one row per application with a price level: application_id, predicted_real_usd,
    predicted_usd, residual_pct, residual_sd, low_outlier.
    """
    return _predictions(applications, _Controls.of(applications), with_location=with_location)


def _predictions(
    applications: pd.DataFrame, controls: _Controls, *, with_location: bool = True
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
    fit_columns, values = _cell_design_arrays(
        controls.columns, np.flatnonzero(used), weight[used], with_location=with_location
    )
    w, m = weight[used], mean[used]
    with _single_threaded_blas():
        beta, _ = _weighted_pinv_fit(values, w, m)
    n_fit, p = float(w.sum()), values.shape[1]
    if n_fit > p:
        # np.std(resid, ddof=p): residuals about their own mean
        gap = m - values @ beta
        total = float((spread[used] + w * gap**2).sum())
        centred = total - float((w * gap).sum()) ** 2 / n_fit
        sd = math.sqrt(max(centred, 0.0) / (n_fit - p))
    else:
        sd = 0.0
    # predictions for every row with a price level, from the targets' own design (as before)
    target_weight = np.bincount(controls.cell[has_level], minlength=n_cells).astype(float)
    targeted = target_weight > 0
    all_columns, all_values = _cell_design_arrays(
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


def remediation_plan(
    applications: pd.DataFrame, predictions: pd.DataFrame, *, tolerance_pct: float = 5.0
) -> pd.DataFrame:
    """Raise every application whose real stipend is more than `tolerance_pct` below its
    group-neutral prediction up to the prediction. The rule uses pay and the controls only: no
    one is raised, or left out, because of a protected group.

    Returns application_id, current_usd, proposed_usd, raise_usd, predicted_real_usd,
    residual_pct (one row per raise, largest first).

    Examples
    --------
    >>> apps = pd.DataFrame({"application_id": ["a", "b"], "stipend_usd": [80.0, 100.0],
    ...                      "real_stipend_usd": [80.0, 100.0]})
    >>> preds = pd.DataFrame({"application_id": ["a", "b"], "predicted_real_usd": [100.0, 100.0],
    ...                       "predicted_usd": [100.0, 100.0], "residual_pct": [-20.0, 0.0]})
    >>> remediation_plan(apps, preds)["raise_usd"].tolist()
    [20.0]
    """
    merged = applications[["application_id", "stipend_usd", "real_stipend_usd"]].merge(
        predictions, on="application_id", how="inner"
    )
    return _remediation_plan(merged, tolerance_pct=tolerance_pct)[0]


PLAN_COLUMNS = [
    "application_id", "current_usd", "proposed_usd", "raise_usd", "predicted_real_usd",
    "residual_pct",
]  # fmt: skip


def _remediation_plan(
    merged: pd.DataFrame, *, tolerance_pct: float
) -> tuple[pd.DataFrame, np.ndarray]:
    """The plan from applications joined to their predictions, and the rows of `merged` it
    raises (in `merged`'s order)."""
    real = merged["real_stipend_usd"].to_numpy(float)
    predicted = merged["predicted_real_usd"].to_numpy(float)
    current = merged["stipend_usd"].to_numpy(float)
    with np.errstate(invalid="ignore"):
        below = np.flatnonzero(real < predicted * (1 - tolerance_pct / 100))
    proposed = np.round(merged["predicted_usd"].to_numpy(float)[below], 2)
    raise_usd = np.round(proposed - current[below], 2)
    with np.errstate(invalid="ignore"):
        raised = raise_usd > 0
    rows, proposed, raise_usd = below[raised], proposed[raised], raise_usd[raised]
    ids = merged["application_id"].to_numpy()[rows]
    plan = pd.DataFrame(
        {
            "application_id": ids,
            "current_usd": current[rows],
            "proposed_usd": proposed,
            "raise_usd": raise_usd,
            "predicted_real_usd": predicted[rows],
            "residual_pct": merged["residual_pct"].to_numpy(float)[rows],
        },
        columns=PLAN_COLUMNS,
    )
    # largest raise first, then by application id; ids already in order need no string sort
    if _strictly_increasing(ids):
        order = np.lexsort((np.arange(len(rows)), -raise_usd))
    else:
        order = plan.sort_values(
            ["raise_usd", "application_id"], ascending=[False, True], kind="stable"
        ).index.to_numpy()
    return plan.iloc[order].reset_index(drop=True), rows[order]


def apply_raises(applications: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The applications with the plan's proposed stipends (real values recomputed)."""
    out = applications.copy()
    proposed = out["application_id"].map(plan.set_index("application_id")["proposed_usd"])
    out["stipend_usd"] = proposed.fillna(out["stipend_usd"])
    out["real_stipend_usd"] = out["stipend_usd"] / (out["price_level"] / 100.0)
    return out


# --- policy checks --------------------------------------------------------------------------


def policy_flags(
    applications: pd.DataFrame,
    predictions: pd.DataFrame | None = None,
    *,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per application and problem: application_id, reason, detail.

    Reasons: ``unpaid`` (stipend 0), ``below_pay_floor`` (stipend per estimated hour below
    `pay_floor_per_hour` US dollars), ``outside_tier`` (outside the cohort's tier's min_usd ..
    max_usd when a tier table with cohort_id, tier, min_usd, max_usd is given),
    ``missing_cost_of_living`` (no price level for the place: real value blank, stipend kept),
    ``missing_fx_rate`` (no market rate for the currency), ``low_outlier`` (below -2 SD of the
    group-neutral prediction).

    Examples
    --------
    >>> apps = pd.DataFrame({"application_id": ["a"], "stipend_usd": [100.0],
    ...     "stipend_amount": [100.0], "stipend_currency": ["USD"], "estimated_hours": [10.0],
    ...     "price_level": [100.0], "country": ["US"], "region": ["US-CA"], "metro": [None],
    ...     "cohort_id": ["c1"]})
    >>> policy_flags(apps)["reason"].tolist()
    ['below_pay_floor']
    """
    apps = applications
    parts: list[pd.DataFrame] = []
    ids = apps["application_id"].to_numpy()

    # Details are written for the flagged rows only (a million applications, a few percent
    # flagged): `detail` gets the flagged rows' positions.
    def add(mask: pd.Series, reason: str, detail: Any) -> None:
        rows = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        if len(rows):
            parts.append(
                pd.DataFrame(
                    {"application_id": ids[rows], "reason": reason, "detail": detail(rows)}
                )
            )

    def text(column: str, rows: np.ndarray, fill: str) -> list[str]:
        values = apps[column].iloc[rows]
        return [fill if v is None or v != v else str(v) for v in values.astype(object)]

    usd = apps["stipend_usd"]
    add(apps["stipend_amount"].eq(0), "unpaid", lambda rows: "stipend is 0 (unpaid trial)")
    hourly = usd / apps["estimated_hours"].where(apps["estimated_hours"] > 0)
    hourly_values = hourly.to_numpy(float)
    add(
        usd.gt(0) & hourly.lt(pay_floor_per_hour),
        "below_pay_floor",
        lambda rows: [
            f"${h:,.2f} per estimated hour < ${pay_floor_per_hour:,.2f} floor"
            for h in hourly_values[rows]
        ],
    )
    if tiers is not None and len(tiers):
        bounds = (
            apps[["cohort_id"]]
            .astype(object)
            .merge(tiers[["cohort_id", "tier", "min_usd", "max_usd"]], on="cohort_id", how="left")
        )
        bounds.index = apps.index
        outside = usd.notna() & (usd.lt(bounds["min_usd"]) | usd.gt(bounds["max_usd"]))
        add(
            outside,
            "outside_tier",
            lambda rows: [
                f"${u:,.2f} outside tier {t} (${lo:,.2f}-${hi:,.2f})"
                for u, t, lo, hi in zip(
                    usd.to_numpy(float)[rows],
                    bounds["tier"].to_numpy()[rows],
                    bounds["min_usd"].to_numpy(float)[rows],
                    bounds["max_usd"].to_numpy(float)[rows],
                    strict=True,
                )
            ],
        )

    def place(rows: np.ndarray) -> list[str]:
        return [
            "no price level for "
            + f"{country} {region}{f' metro {metro}' if metro else ''}".strip()
            + "; stipend kept, real value blank"
            for country, region, metro in zip(
                text("country", rows, "?"),
                text("region", rows, ""),
                text("metro", rows, ""),
                strict=True,
            )
        ]

    add(usd.notna() & apps["price_level"].isna(), "missing_cost_of_living", place)
    add(
        usd.isna(),
        "missing_fx_rate",
        lambda rows: [
            f"no market rate for currency {c}" for c in text("stipend_currency", rows, "(blank)")
        ],
    )
    if predictions is not None and len(predictions):
        low = predictions[predictions["low_outlier"]]
        if len(low):
            parts.append(
                pd.DataFrame(
                    {
                        "application_id": low["application_id"].to_numpy(),
                        "reason": "low_outlier",
                        "detail": [
                            f"{p:.1f}% ({s:.1f} SD) below the group-neutral prediction"
                            for p, s in zip(-low["residual_pct"], -low["residual_sd"], strict=True)
                        ],
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["application_id", "reason", "detail"])
    # one reason per part: parts in reason order whose ids increase are already sorted by
    # (reason, application_id), as the rows of applications in id order give them
    parts.sort(key=lambda part: part["reason"].iloc[0])
    if all(_strictly_increasing(part["application_id"].to_numpy()) for part in parts):
        return pd.concat(parts, ignore_index=True)
    return (
        pd.concat(parts, ignore_index=True)
        .sort_values(["reason", "application_id"])
        .reset_index(drop=True)
    )


def _strictly_increasing(values: np.ndarray) -> bool:
    """Each value greater than the one before (no repeats): a sort by them keeps the order."""
    if len(values) < 2:
        return True
    try:
        with np.errstate(invalid="ignore"):
            return bool(np.all(values[1:] > values[:-1]))
    except TypeError:  # ids of mixed types (None among texts): let the sort decide
        return False


# --- EU/UK reporting ------------------------------------------------------------------------


def uk_quartile_bands(pay: pd.Series, sex: pd.Series) -> pd.Series:
    """The quartile pay band (1 = lower .. 4 = upper) of each person, per UK regulation 13.

    Step 1 ranks people from lowest to highest hourly pay; step 2 divides them into four sections
    of (so far as possible) equal size. Regulation 13(2): where people with the same hourly pay
    fall within more than one band, rank them so that the proportions of men and women with that
    pay are the same in each band; here the tied people of each sex are spread evenly through the
    tie (each takes the position (i + 0.5) / n_sex within it), interleaving the sexes.
    """
    if isinstance(sex.dtype, pd.CategoricalDtype) and sex.cat.categories.is_monotonic_increasing:
        sex_code = sex.cat.codes.to_numpy()  # categories in text order: codes sort like text
    else:
        sex_code = pd.factorize(sex.astype(str).to_numpy(), sort=True)[0]
    bands = _quartile_bands(pay.to_numpy(float), sex_code)
    return pd.Series(bands, index=pay.index)


def _quartile_bands(values: np.ndarray, sex_code: np.ndarray) -> np.ndarray:
    """`uk_quartile_bands` on arrays (`sex_code`: codes that sort like the sexes' texts).

    The full ranking orders people by pay, then by their place in the tie (see above), then by
    sex, then by position. Only a tie that a band boundary cuts needs that order: every other tie
    lies inside one band whatever its order. So one sort by pay gives every band, and the rule
    is applied to the (at most three) cut ties alone (a lexsort of 306k people on four keys took
    0.09 s at a million applications).
    """
    n = len(values)
    sizes = [len(a) for a in np.array_split(np.arange(n), 4)]
    band_of_rank = np.repeat(np.arange(1, 5), sizes)
    # any order of a tie will do: a tie inside one band is all one band, and a cut tie is
    # ordered below by position and the tie rule
    order = np.argsort(values)
    bands = np.empty(n, dtype=np.int64)
    bands[order] = band_of_rank
    if n == 0:
        return bands
    ranked = values[order]
    # ties: equal pay; the missing pay (sorted last) ranks as one tie, its people each alone
    missing = np.isnan(ranked)
    new_tie = np.r_[True, (ranked[1:] != ranked[:-1]) & ~(missing[1:] & missing[:-1])]
    tie_starts = np.flatnonzero(new_tie)
    tie_ends = np.r_[tie_starts[1:], n]
    cut_ties = set()
    for cut in np.cumsum(sizes)[:-1]:
        tie = int(np.searchsorted(tie_starts, cut, side="right")) - 1
        if 0 < cut < n and tie_starts[tie] < cut:
            cut_ties.add(tie)
    for tie in sorted(cut_ties):
        low, high = int(tie_starts[tie]), int(tie_ends[tie])
        members = np.sort(order[low:high])  # by position
        member_sex = sex_code[members]
        # each member's place (i + 0.5) / n_sex among the tie's people of their sex
        by_sex = np.argsort(member_sex, kind="stable")
        counts = np.bincount(member_sex[by_sex] - member_sex.min())
        first = np.repeat(np.cumsum(counts) - counts, counts)
        size = np.repeat(counts, counts)
        within = np.empty(len(members))
        within[by_sex] = (np.arange(len(members)) - first + 0.5) / size
        if missing[low]:
            within[:] = 0.5  # missing pay: each person a tie of one, as `!=` treats NaN
        bands[members[np.lexsort((members, member_sex, within))]] = band_of_rank[low:high]
    return bands


def pay_gap_reporting(
    frame: pd.DataFrame,
    *,
    pay_column: str = "hourly_usd",
    category_column: str = "role",
    male: str = "Male",
    female: str = "Female",
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The EU/UK gender pay gap view on hourly pay.

    Gap in % = ``100 * (men - women) / men`` for the mean and the median (positive: women paid
    less), as in the UK Gender Pay Gap Information Regulations 2017 (regs 8 and 9) and Directive
    (EU) 2023/970. Returns (summary, quartile bands, categories): the summary's mean and median
    gap; per band, the number and share of men and women (reg 13, with its tie rule); per
    category (`category_column`), the gaps and ``eu_flag`` when the absolute mean gap is at least
    5% (art. 10).
    """
    # numpy on the people's rows in frame order (the same arrays pandas' filters gave, so the
    # same means and medians; boolean masks and codes instead of a DataFrame per band and role)
    group = frame["group"]
    is_male = (group == male).to_numpy(dtype=bool, na_value=False)
    is_female = (group == female).to_numpy(dtype=bool, na_value=False)
    pay_all = pd.to_numeric(frame[pay_column], errors="coerce").to_numpy(float, na_value=np.nan)
    taken = np.flatnonzero((is_male | is_female) & ~np.isnan(pay_all))
    pay, male_row = pay_all[taken], is_male[taken]
    m, f = pay[male_row], pay[~male_row]

    def gap(mv: np.ndarray, fv: np.ndarray, how: str) -> float:
        if len(mv) == 0 or len(fv) == 0:
            return np.nan
        agg = np.mean if how == "mean" else np.median
        base = agg(mv)
        return 100 * (base - agg(fv)) / base if base > 0 else np.nan

    summary = pd.DataFrame(
        [
            {
                "pay": pay_column,
                "n_male": len(m),
                "n_female": len(f),
                "mean_gap_pct": gap(m, f, "mean"),
                "median_gap_pct": gap(m, f, "median"),
            }
        ]
    )
    quartile_rows = []
    if len(taken):
        sexes = group.iloc[taken]
        if isinstance(sexes.dtype, pd.CategoricalDtype):
            sexes = sexes.cat.remove_unused_categories()
        bands = uk_quartile_bands(pd.Series(pay), sexes.reset_index(drop=True)).to_numpy()
        counts = np.bincount(2 * (bands - 1) + (~male_row), minlength=8).reshape(4, 2)
        names = {1: "lower", 2: "lower middle", 3: "upper middle", 4: "upper"}
        for band in range(1, 5):
            in_band = int(counts[band - 1].sum())
            for sex, count in ((male, counts[band - 1, 0]), (female, counts[band - 1, 1])):
                quartile_rows.append(
                    {
                        "band": names[band],
                        "sex": sex,
                        "n": int(count),
                        "pct": 100 * int(count) / in_band if in_band else np.nan,
                    }
                )
    quartiles = pd.DataFrame(quartile_rows, columns=["band", "sex", "n", "pct"])
    category_rows = []
    # categories sorted as text (a categorical from the warehouse keeps its load order), as
    # groupby on the text sorts them; rows without a category are left out, as groupby does
    category = frame[category_column].iloc[taken]
    if isinstance(category.dtype, pd.CategoricalDtype):
        codes = category.cat.codes.to_numpy().astype(np.int64)
        labels = category.cat.categories.to_numpy(dtype=object)
    else:
        codes, labels = pd.factorize(category.astype(object))
        labels = np.asarray(labels, dtype=object)
    present = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(labels)))
    for code in sorted(present, key=lambda c: labels[c]):
        in_category = codes == code
        pm = pay[in_category & male_row]
        pf = pay[in_category & ~male_row]
        mean_gap = gap(pm, pf, "mean")
        category_rows.append(
            {
                "category": labels[code],
                "n_male": len(pm),
                "n_female": len(pf),
                "mean_gap_pct": mean_gap,
                "median_gap_pct": gap(pm, pf, "median"),
                "eu_flag": bool(abs(mean_gap) >= EU_GAP_THRESHOLD_PCT)
                if not np.isnan(mean_gap)
                else False,
            }
        )
    categories = pd.DataFrame(
        category_rows,
        columns=["category", "n_male", "n_female", "mean_gap_pct", "median_gap_pct", "eu_flag"],
    )
    return summary, quartiles, categories


# --- the whole analysis ---------------------------------------------------------------------


@dataclass(frozen=True)
class StipendAnalysis:
    """Everything the Stipends page and report show (unsuppressed; see `public_tables`)."""

    gaps: pd.DataFrame
    cohort_tests: pd.DataFrame
    predictions: pd.DataFrame
    flags: pd.DataFrame
    remediation: pd.DataFrame
    remediation_effect: pd.DataFrame
    eu_uk_summary: pd.DataFrame
    eu_uk_quartiles: pd.DataFrame
    eu_uk_categories: pd.DataFrame
    applications: pd.DataFrame
    warnings: tuple[str, ...] = field(default=())

    @property
    def remediation_cost_usd(self) -> float:
        return float(self.remediation["raise_usd"].sum()) if len(self.remediation) else 0.0


def gap_table(
    applications: pd.DataFrame,
    groups: Mapping[str, pd.Series],
    *,
    reference: Mapping[str, str] | None = None,
    k: int = 5,
    n_boot: int = 400,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stipends table (one row per attribute and group) and the cohort tests of the
    comparisons too small to model."""
    groupings = {name: _grouping_from_series(applications, s) for name, s in groups.items()}
    return _gap_table(_Rows.of(applications), groupings, reference=reference, k=k, n_boot=n_boot)


@dataclass(frozen=True)
class _Rows:
    """The per-application arrays every comparison uses, computed once per analysis."""

    applications: pd.DataFrame
    usd: np.ndarray
    real: np.ndarray
    y: np.ndarray
    controls: _Controls

    @classmethod
    def of(cls, applications: pd.DataFrame) -> _Rows:
        return cls(
            applications,
            pd.to_numeric(applications["stipend_usd"], errors="coerce").to_numpy(float),
            pd.to_numeric(applications["real_stipend_usd"], errors="coerce").to_numpy(float),
            _log_modelable(applications),
            _Controls.of(applications),
        )

    def pair(self, grouping: _Grouping, group: str, reference: str, value: str) -> pd.DataFrame:
        """The rows of two groups with a `value`, for the cohort view."""
        values = self.real if value == "real_stipend_usd" else self.usd
        codes = [grouping.code(group), grouping.code(reference)]
        take = np.isin(grouping.codes, codes) & ~np.isnan(values)
        return pd.DataFrame(
            {
                "cohort_id": self.applications["cohort_id"].to_numpy()[take],
                "group": grouping.labels.take(grouping.codes[take]),
                value: values[take],
            }
        )


def _gap_table(
    rows: _Rows,
    groupings: Mapping[str, _Grouping],
    *,
    reference: Mapping[str, str] | None = None,
    k: int = 5,
    n_boot: int = 400,
    raw_tables: Mapping[str, pd.DataFrame] | None = None,
    fits: Mapping[str, list[dict[str, GapEstimate]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gap table; `raw_tables` and `fits`: `_raw_gap_tables` and `_gap_fits` of the same
    references, when computed already."""
    reference = dict(reference or {})
    value = "real_stipend_usd" if (~np.isnan(rows.real)).any() else "stipend_usd"
    tables, cohort_tables = [], []
    for attribute, grouping in groupings.items():
        ref = reference.get(attribute) or _default_reference(rows.usd, grouping, k=k)
        if ref is None or ref not in set(grouping.labels):
            continue
        if raw_tables is not None and attribute in raw_tables:
            raw = raw_tables[attribute]
        else:
            raw = _raw_gap_table(rows, grouping, ref, n_boot=n_boot)
        if fits is not None and attribute in fits:
            plain_all, located_all = fits[attribute]
        else:
            plain_all, located_all = _adjusted_gap_fits(
                rows.y, grouping, rows.controls, reference=ref, locations=(False, True)
            )
        adjusted = []
        for group in raw["group"]:
            if group == ref:
                adjusted.append({"group": group, "method": "reference"})
                continue
            plain, located = plain_all[group], located_all[group]
            adjusted.append(
                {
                    "group": group,
                    "adjusted_gap_pct": plain.estimate_pct,
                    "adjusted_ci_low": plain.ci_low,
                    "adjusted_ci_high": plain.ci_high,
                    "adjusted_p_value": plain.p_value,
                    "adjusted_gap_pct_with_location": located.estimate_pct,
                    "adjusted_ci_low_with_location": located.ci_low,
                    "adjusted_ci_high_with_location": located.ci_high,
                    "adjusted_p_value_with_location": located.p_value,
                    "model_n": plain.n,
                    "method": plain.method,
                }
            )
            if plain.method == "too_few_to_model":
                pair = rows.pair(grouping, group, ref, value)
                tests = _cohort_view(pair, group=group, reference=ref, value=value)
                tests.insert(0, "attribute", attribute)
                cohort_tables.append(tests)
        merged = raw.merge(pd.DataFrame(adjusted), on="group", how="left")
        merged.insert(0, "attribute", attribute)
        merged["note"] = np.where(
            merged["method"] == "too_few_to_model",
            f"too few to model (needs {MIN_MODEL_N} people and {MIN_SMALLER_GROUP} in the "
            "smaller group): see the cohort view",
            "",
        )
        tables.append(merged)
    extra = [
        "median_nominal_usd", "n_real", "raw_gap_pct_nominal_ci_low",
        "raw_gap_pct_nominal_ci_high", "raw_gap_pct_real_ci_low", "raw_gap_pct_real_ci_high",
        "median_gap_pct_nominal", "median_gap_pct_nominal_ci_low",
        "median_gap_pct_nominal_ci_high", "median_gap_pct_real", "median_gap_pct_real_ci_low",
        "median_gap_pct_real_ci_high", "adjusted_ci_low_with_location",
        "adjusted_ci_high_with_location", "adjusted_p_value_with_location", "model_n", "note",
    ]  # fmt: skip
    columns = list(STIPEND_COLUMNS) + extra
    text = ("attribute", "group", "reference_group", "method", "note")
    # Same columns and dtypes in every part, so concatenating all-NA columns is well defined.
    tables = [
        t.reindex(columns=columns).astype({c: float for c in columns if c not in text})
        for t in tables
    ]
    gaps = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=columns)
    cohort_tables = [t for t in cohort_tables if len(t)]
    cohort_tests = (
        pd.concat(cohort_tables, ignore_index=True)
        if cohort_tables
        else _cohort_view(
            pd.DataFrame(columns=["cohort_id", "group", value]),
            group="",
            reference="",
            value=value,
        )
    )
    if "attribute" not in cohort_tests:
        cohort_tests.insert(0, "attribute", pd.Series(dtype=object))
    return gaps, cohort_tests


def analyze(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None = None,
    tolerance_pct: float = 5.0,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
    include_intersections: bool = True,
    k: int = 5,
    n_boot: int = 400,
) -> StipendAnalysis:
    """Run the whole stipend equity analysis on the frames of `load_frames`.

    `reference` maps an attribute to its reference group (default: the highest-paid group).
    """
    with _single_threaded_blas():
        return _analyze(
            applications,
            attributes,
            reference=reference,
            tolerance_pct=tolerance_pct,
            pay_floor_per_hour=pay_floor_per_hour,
            tiers=tiers,
            include_intersections=include_intersections,
            k=k,
            n_boot=n_boot,
        )


def _analyze(
    applications: pd.DataFrame,
    attributes: pd.DataFrame,
    *,
    reference: Mapping[str, str] | None,
    tolerance_pct: float,
    pay_floor_per_hour: float,
    tiers: pd.DataFrame | None,
    include_intersections: bool,
    k: int,
    n_boot: int,
) -> StipendAnalysis:
    groupings = aligned_groups(
        applications, attributes, include_intersections=include_intersections
    )
    return _analyze_groups(
        applications,
        groupings,
        reference=reference,
        tolerance_pct=tolerance_pct,
        pay_floor_per_hour=pay_floor_per_hour,
        tiers=tiers,
        k=k,
        n_boot=n_boot,
    )


def _analyze_groups(
    applications: pd.DataFrame,
    groupings: Mapping[str, _Grouping],
    *,
    reference: Mapping[str, str] | None,
    tolerance_pct: float,
    pay_floor_per_hour: float,
    tiers: pd.DataFrame | None,
    k: int,
    n_boot: int = 400,
) -> StipendAnalysis:
    """`analyze` on each row's groups (`aligned_groups`)."""
    pay = _pay_results(
        applications,
        tolerance_pct=tolerance_pct,
        pay_floor_per_hour=pay_floor_per_hour,
        tiers=tiers,
    )
    return _with_groups(pay, groupings, reference=reference, k=k, n_boot=n_boot)


@dataclass(frozen=True)
class _PayResults:
    """The part of the analysis that no group enters: predictions, flags, the remediation plan
    and log real stipends after its raises (computed while the warehouse still reads the
    demographic answers, see `_warehouse_analysis`)."""

    rows: _Rows
    predictions: pd.DataFrame
    flags: pd.DataFrame
    plan: pd.DataFrame
    y_after: np.ndarray
    warnings: tuple[str, ...]


def _pay_results(
    applications: pd.DataFrame,
    *,
    tolerance_pct: float,
    pay_floor_per_hour: float,
    tiers: pd.DataFrame | None,
) -> _PayResults:
    rows = _Rows.of(applications)
    predictions = _predictions(applications, rows.controls)
    flags = policy_flags(
        applications, predictions, pay_floor_per_hour=pay_floor_per_hour, tiers=tiers
    )
    # predictions are the rows with a price level, in the applications' order
    level = pd.to_numeric(applications["price_level"], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        targets = np.flatnonzero((level > 0) & applications["role"].notna().to_numpy(bool))
    merged = predictions.assign(stipend_usd=rows.usd[targets], real_stipend_usd=rows.real[targets])
    plan, raised_rows = _remediation_plan(merged, tolerance_pct=tolerance_pct)
    usd_after = rows.usd.copy()
    usd_after[targets[raised_rows]] = plan["proposed_usd"].to_numpy(float)
    real_after = usd_after / (level / 100.0)
    frame_after = pd.DataFrame({"real_stipend_usd": real_after, "role": applications["role"]})
    return _PayResults(
        rows=rows,
        predictions=predictions,
        flags=flags,
        plan=plan,
        y_after=_log_modelable(frame_after),
        warnings=vintage_warnings(applications),
    )


def _with_groups(
    pay: _PayResults,
    groupings: Mapping[str, _Grouping],
    *,
    reference: Mapping[str, str] | None,
    k: int,
    n_boot: int,
) -> StipendAnalysis:
    """The analysis from its group-free part and each row's groups.

    The reference groups come first; then a worker thread computes the raw gaps and the EU/UK
    view while this one fits the adjusted gaps, before and after the raises (numpy's and
    LAPACK's loops release the GIL; at a million applications each side is ~0.2 s of the
    ~0.45 s this took on one thread).
    """
    rows = pay.rows
    applications = rows.applications
    references = _references(rows, groupings, dict(reference or {}), k=k)
    sex = groupings.get("sex")
    sexed = pd.DataFrame(
        {
            # categorical: the comparisons with "Male" and "Female" compare codes
            "group": pd.Categorical.from_codes(sex.codes, categories=sex.labels)
            if sex is not None
            else UNKNOWN,
            "hourly_usd": applications["hourly_usd"],
            "role": applications["role"],
        }
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        raw = worker.submit(_raw_gap_tables, rows, groupings, references, n_boot=n_boot)
        eu_uk = worker.submit(pay_gap_reporting, sexed)
        fits = {
            attribute: _adjusted_gap_fits(
                rows.y, groupings[attribute], rows.controls, reference=ref, locations=(False, True)
            )
            for attribute, ref in _compared(groupings, references).items()
        }
        after = _after_fits(pay.y_after, rows.controls, groupings, references)
        gaps, cohort_tests = _gap_table(
            rows,
            groupings,
            reference=references,
            k=k,
            n_boot=n_boot,
            raw_tables=raw.result(),
            fits=fits,
        )
        effect = _remediation_effect(pay.y_after, rows.controls, groupings, gaps, after_fits=after)
        summary, quartiles, categories = eu_uk.result()
    return StipendAnalysis(
        gaps=gaps,
        cohort_tests=cohort_tests,
        predictions=pay.predictions,
        flags=pay.flags,
        remediation=pay.plan,
        remediation_effect=effect,
        eu_uk_summary=summary,
        eu_uk_quartiles=quartiles,
        eu_uk_categories=categories,
        applications=applications,
        warnings=pay.warnings,
    )


def _raw_gap_table(rows: _Rows, grouping: _Grouping, ref: str, *, n_boot: int) -> pd.DataFrame:
    return _raw_gaps(rows.usd, rows.real, grouping, reference=ref, n_boot=n_boot)


def _raw_gap_tables(
    rows: _Rows,
    groupings: Mapping[str, _Grouping],
    references: Mapping[str, str],
    *,
    n_boot: int,
) -> dict[str, pd.DataFrame]:
    """`_raw_gaps` of every attribute against its reference."""
    return {
        attribute: _raw_gap_table(rows, groupings[attribute], ref, n_boot=n_boot)
        for attribute, ref in _compared(groupings, references).items()
    }


def _references(
    rows: _Rows, groupings: Mapping[str, _Grouping], reference: Mapping[str, str], *, k: int
) -> dict[str, str]:
    """The reference group of each attribute (the given one, else the highest-paid), as
    `_gap_table` chooses it; attributes without one are left out. A given reference that is not
    a group of the attribute stays: `_gap_table` then leaves the attribute out."""
    out = {}
    for attribute, grouping in groupings.items():
        ref = reference.get(attribute) or _default_reference(rows.usd, grouping, k=k)
        if ref is not None:
            out[attribute] = ref
    return out


def _compared(groupings: Mapping[str, _Grouping], references: Mapping[str, str]) -> dict[str, str]:
    """The attributes `_gap_table` compares, with their reference groups."""
    return {a: ref for a, ref in references.items() if ref in set(groupings[a].labels)}


def _after_fits(
    y_after: np.ndarray,
    controls: _Controls,
    groupings: Mapping[str, _Grouping],
    references: Mapping[str, str],
) -> dict[tuple[str, str], dict[str, GapEstimate]]:
    """The adjusted gaps of every attribute against its reference after the raises."""
    with _single_threaded_blas():
        return {
            (attribute, ref): _adjusted_gaps(y_after, groupings[attribute], controls, reference=ref)
            for attribute, ref in _compared(groupings, references).items()
        }


def remediation_effect(
    applications: pd.DataFrame,
    plan: pd.DataFrame,
    groups: Mapping[str, pd.Series],
    gaps: pd.DataFrame,
) -> pd.DataFrame:
    """The adjusted gap of every modelled comparison before and after the plan's raises."""
    raised = apply_raises(applications, plan)
    groupings = {name: _grouping_from_series(applications, s) for name, s in groups.items()}
    return _remediation_effect(_log_modelable(raised), _Controls.of(raised), groupings, gaps)


def _remediation_effect(
    y_after: np.ndarray,
    controls: _Controls,
    groupings: Mapping[str, _Grouping],
    gaps: pd.DataFrame,
    *,
    after_fits: Mapping[tuple[str, str], dict[str, GapEstimate]] | None = None,
) -> pd.DataFrame:
    """The remediation effect table; `after_fits`: `_after_fits` when computed already."""
    columns = [
        "attribute", "group", "reference_group", "adjusted_gap_pct_before",
        "adjusted_gap_pct_after", "adjusted_ci_low_after", "adjusted_ci_high_after",
        "adjusted_p_value_after",
    ]  # fmt: skip
    if gaps.empty:
        return pd.DataFrame(columns=columns)
    out = []
    modelled = gaps[gaps["method"] == "ols_hc3"]
    for (attribute, reference), part in modelled.groupby(["attribute", "reference_group"]):
        if after_fits is not None and (attribute, reference) in after_fits:
            after_all = after_fits[attribute, reference]
        else:
            after_all = _adjusted_gaps(y_after, groupings[attribute], controls, reference=reference)
        for row in part.itertuples(index=False):
            after = after_all[row.group]
            out.append(
                {
                    "attribute": attribute,
                    "group": row.group,
                    "reference_group": reference,
                    "adjusted_gap_pct_before": row.adjusted_gap_pct,
                    "adjusted_gap_pct_after": after.estimate_pct,
                    "adjusted_ci_low_after": after.ci_low,
                    "adjusted_ci_high_after": after.ci_high,
                    "adjusted_p_value_after": after.p_value,
                }
            )
    return pd.DataFrame(out, columns=columns)


# --- what leaves the system -----------------------------------------------------------------


def _masked(value: object) -> bool:
    return isinstance(value, str)


def _hide_small_group_stats(
    frame: pd.DataFrame, count: str, stats_columns: Sequence[str]
) -> pd.DataFrame:
    # Counts go through suppress_small_cells (primary "<k" and complementary "*"). Statistics
    # of a group under k describe a handful of people, so they are hidden too; those of a group
    # hidden only to protect another ("*") are kept: a mean or a gap does not give a count back.
    small = frame[count].map(lambda v: isinstance(v, str) and v.startswith("<"))
    for column in stats_columns:
        if column in frame:
            frame[column] = frame[column].astype(object)
            frame.loc[small, column] = None
    return frame


def public_tables(analysis: StipendAnalysis, *, k: int = 5) -> dict[str, pd.DataFrame]:
    """The analysis tables as they may leave the system, small cells suppressed.

    Keys are the report names: stipends, stipend_cohort_tests, stipend_flags, remediation,
    stipend_remediation_effect, stipend_pay_gap_reporting, stipend_pay_quartiles,
    stipend_pay_categories.
    """
    gaps = analysis.gaps
    out: dict[str, pd.DataFrame] = {}
    if len(gaps):
        # n and n_real differ by the people without a price level: hide a row's two counts
        # together, or a shown one would give the hidden one back.
        mask = np.zeros(len(gaps), dtype=bool)
        for _ in range(10):
            suppressed = suppress_small_cells(
                gaps,
                count_columns=["n", "n_real"],
                k=k,
                group_columns=["attribute"],
                also_hide={"n": mask, "n_real": mask},
            )
            hidden = (suppressed["n"].map(_masked) | suppressed["n_real"].map(_masked)).to_numpy()
            if (hidden == mask).all():
                break
            mask = hidden
        stats_columns = [
            c
            for c in gaps.columns
            if c not in ("attribute", "group", "reference_group", "n", "n_real")
        ]
        stats_columns = [c for c in stats_columns if c not in ("method", "note")]
        out["stipends"] = _hide_small_group_stats(suppressed, "n", stats_columns)
    else:
        out["stipends"] = gaps.assign(suppressed=pd.Series(dtype=bool))
    tests = analysis.cohort_tests
    if len(tests):
        tests = suppress_small_cells(
            tests,
            count_columns=["n_group", "n_reference"],
            k=k,
            group_columns=["attribute", "group"],
        )
        tests = _hide_small_group_stats(tests, "n_group", ["mean_group_usd", "gap_pct"])
        tests = _hide_small_group_stats(tests, "n_reference", ["mean_reference_usd", "gap_pct"])
    out["stipend_cohort_tests"] = tests
    out["stipend_flags"] = analysis.flags
    out["remediation"] = analysis.remediation
    out["stipend_remediation_effect"] = analysis.remediation_effect
    summary = analysis.eu_uk_summary
    if len(summary):
        summary = suppress_small_cells(
            summary, count_columns=["n_male", "n_female"], k=k, rate_columns=()
        )
        summary = _hide_small_group_stats(summary, "n_male", ["mean_gap_pct", "median_gap_pct"])
        summary = _hide_small_group_stats(summary, "n_female", ["mean_gap_pct", "median_gap_pct"])
    out["stipend_pay_gap_reporting"] = summary
    quartiles = analysis.eu_uk_quartiles
    if len(quartiles):
        # a 2-D table: every band and every sex is a published total
        quartiles = suppress_small_cells(
            quartiles, count_columns=["n"], k=k, rate_columns=["pct"], cross_columns=["band", "sex"]
        )
    out["stipend_pay_quartiles"] = quartiles
    categories = analysis.eu_uk_categories
    if len(categories):
        categories = suppress_small_cells(
            categories,
            count_columns=["n_male", "n_female"],
            k=k,
            rate_columns=["mean_gap_pct", "median_gap_pct"],
        )
    out["stipend_pay_categories"] = categories
    return out


REPORT_TITLES: dict[str, tuple[str, str]] = {
    "stipends": (
        "Stipend gaps by group",
        "Mean and median stipend per group, nominal and real (cost-of-living adjusted); raw gap "
        "in % vs the reference group (negative: paid less); adjusted gap exp(beta)-1 in % from "
        "OLS of log real stipend on role, cohort length and estimated hours (HC3), without and "
        "with location.",
    ),
    "stipend_cohort_tests": (
        "Comparisons too few to model: within-cohort tests",
        "Welch t-test and Mann-Whitney U on real stipends per cohort.",
    ),
    "stipend_flags": (
        "Stipend flags",
        "Unpaid trials, pay below the hourly floor, outside the cohort tier, missing "
        "cost-of-living or exchange-rate data, low outliers.",
    ),
    "remediation": (
        "Remediation plan",
        "Raises for everyone paid more than the tolerance below the group-neutral prediction.",
    ),
    "stipend_remediation_effect": (
        "Adjusted gaps after the remediation raises",
        "The adjusted gap recomputed with the proposed stipends.",
    ),
    "stipend_pay_gap_reporting": (
        "EU/UK gender pay gap (hourly)",
        "100 * (men - women) / men, mean and median of stipend per estimated hour.",
    ),
    "stipend_pay_quartiles": (
        "UK quartile pay bands",
        "Share of men and women per quartile of hourly pay (regulation 13, with its tie rule).",
    ),
    "stipend_pay_categories": (
        "EU 5% flag per category",
        "Mean and median gender pay gap per role; eu_flag when the absolute mean gap >= 5%.",
    ),
}


def report_tables(con: Any, *, settings: Any) -> list[ReportTable]:
    """The stipend tables of `signalboard report` (suppressed; vintage warnings as notes)."""
    analysis = _warehouse_analysis(
        con, pay_floor_per_hour=settings.pay_floor_per_hour, k=settings.min_cell_size
    )
    tables = public_tables(analysis, k=settings.min_cell_size)
    notes = analysis.warnings + (
        f"Remediation: {len(analysis.remediation)} raises, total "
        f"${analysis.remediation_cost_usd:,.2f}.",
    )
    return [
        ReportTable(
            name=name,
            title=REPORT_TITLES[name][0],
            frame=frame,
            description=REPORT_TITLES[name][1],
            notes=notes if name in ("stipends", "remediation") else (),
        )
        for name, frame in tables.items()
    ]


# --- the dashboard page ---------------------------------------------------------------------


@dataclass(frozen=True)
class StipendOverview:
    """What the page needs before its settings: the number of applications with a stipend and
    the price-level vintages the latest-of-each-place resolution uses."""

    n_applications: int
    vintages: tuple[str, ...]


def page_overview(con: Any, params: Mapping[str, Any] | None = None) -> StipendOverview:
    """Applications with a stipend under the filters and the vintages in use (one aggregate)."""
    query = load_query("stipend_applications")
    bound = query.bind({**dict(params or {}), "vintage": None})
    ((n, vintages),) = con.sql(
        f"select count(*), list(distinct col_vintage order by col_vintage) "
        f"from ({query.sql}) as stipends",
        params=bound,
    ).fetchall()
    return StipendOverview(int(n), tuple(sorted(str(v) for v in vintages or () if v is not None)))


@dataclass(frozen=True)
class StipendPage:
    """The Stipends page's small result: the public (suppressed) tables and the headline
    numbers. Cached by the page instead of the per-application frames behind it (at a million
    applications those cost seconds to hash and unpickle on every rerun)."""

    tables: dict[str, pd.DataFrame]
    warnings: tuple[str, ...]
    n_applications: int
    n_without_fx: int
    median_real_usd: float | None
    n_flags: int
    flag_counts: tuple[tuple[str, int], ...]
    n_raises: int
    remediation_cost_usd: float


def page_view(
    con: Any,
    params: Mapping[str, Any] | None = None,
    *,
    vintage: str | None = None,
    reference: Sequence[tuple[str, str]] = (),
    tolerance_pct: float = 5.0,
    pay_floor_per_hour: float = 20.0,
    tiers: pd.DataFrame | None = None,
    k: int = 5,
) -> StipendPage:
    """`analyze` and `public_tables` on the warehouse for the page's filters and settings,
    reduced to what the page shows (`reference`: (attribute, group) pairs, hashable)."""
    analysis = _warehouse_analysis(
        con,
        params,
        vintage=vintage,
        reference=dict(reference),
        tolerance_pct=tolerance_pct,
        pay_floor_per_hour=pay_floor_per_hour,
        tiers=tiers,
        k=k,
    )
    applications = analysis.applications
    real = applications["real_stipend_usd"].dropna()
    reasons = analysis.flags["reason"].value_counts()
    return StipendPage(
        tables=public_tables(analysis, k=k),
        warnings=analysis.warnings,
        n_applications=len(applications),
        n_without_fx=int(applications["stipend_usd"].isna().sum()),
        median_real_usd=float(real.median()) if len(real) else None,
        n_flags=len(analysis.flags),
        flag_counts=tuple((str(r), int(n)) for r, n in reasons.items()),
        n_raises=len(analysis.remediation),
        remediation_cost_usd=analysis.remediation_cost_usd,
    )
