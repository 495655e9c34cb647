"""Assessors: reliability, severity, grader x group bias and LLM-vs-human agreement.

`compute(con, params)` fetches the filtered scores and self-ID groups from the warehouse as
integer codes (`load_coded`, queries/analysis/assessor_*.sql) and `analyze_coded` turns them
into every table the Assessors page and `signalboard report` show. This module fetches and
assembles; the statistics live in `signalboard.stats` (`reliability`, `severity`,
`agreement`).

"total" is the grader's mean over the rubric's axes for a deliverable (the scale of the pass
mark), counted only when the grader scored every axis.
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from signalboard.analysis.tables import ReportTable
from signalboard.db import quote_identifier
from signalboard.queries import load_query
from signalboard.settings import Settings
from signalboard.stats import agreement, reliability, severity
from signalboard.stats.blas import single_threaded_blas
from signalboard.stats.suppression import suppress_small_cells

TOTAL = "total"

RELIABILITY_COLUMNS = ["axis", "metric", "value", "ci_low", "ci_high", "k", "n_deliverables"]
GRADER_COLUMNS = [
    "axis",
    "grader_id",
    "grader_kind",
    "n_scored",
    "raw_mean",
    "fair_mean",
    "severity",
    "severity_ci_low",
    "severity_ci_high",
    "flagged",
    "severity_unshrunk",
    "severity_se",
    "shrinkage",
    "component",
    "rank_in_component",
    "severity_excludes",
]
OMNIBUS_COLUMNS = ["axis", "attribute", "f_stat", "df1", "df2", "p_value"]
BIAS_COLUMNS = [
    "axis",
    "grader_id",
    "attribute",
    "group",
    "n",
    "bias_points",
    "se",
    "p_value",
    "q_value",
    "flagged",
    "suppressed",
]
AGREEMENT_STAT_COLUMNS = [
    "pairs",
    "qwk",
    "pearson_r",
    "exact_agreement",
    "adjacent_agreement",
    "smd",
    "passes",
    "qwk_pass",
    "r_pass",
    "smd_pass",
    "degradation_pass",
    "hh_qwk",
    "hh_pearson_r",
    "degradation_qwk",
    "degradation_r",
    "smd_ci_low",
    "smd_ci_high",
    "smd_status",
]

SHARED_BIAS_NOTE = (
    "Grader x group bias is measured against co-graders on the same work, so a bias that every "
    "grader shares does not show up here; the Fairness page's outcome rates by group are where "
    "it shows."
)
SEVERITY_NOTE = (
    "ICC(C,1) well above ICC(A,1) means graders differ in severity: they rank deliverables "
    "alike but some score systematically lower, which matters whenever a score is compared "
    "with a pass mark."
)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


@dataclass(frozen=True)
class AssessorResults:
    """Every Assessors table (see docs/assessors.md for the columns)."""

    reliability: pd.DataFrame
    variance: pd.DataFrame
    d_study: pd.DataFrame
    design: pd.DataFrame
    grader_design: pd.DataFrame
    overlap: pd.DataFrame
    graders: pd.DataFrame
    flips: pd.DataFrame
    drift: pd.DataFrame
    style: pd.DataFrame
    grader_bias: pd.DataFrame
    bias_omnibus: pd.DataFrame
    llm_agreement: pd.DataFrame

    @property
    def empty(self) -> bool:
        return self.graders.empty and self.llm_agreement.empty


def _rank_within_component(graders: pd.DataFrame) -> pd.Series:
    # Ranks only compare graders of one connected component (1 = harshest); never across.
    return (
        graders.groupby(["axis", "component"])["severity"]
        .rank(ascending=False, method="min")
        .astype("Int64")
    )


def _suppress_bias(cells: pd.DataFrame, *, k: int) -> pd.DataFrame:
    """Small-cell suppression of the grader x group table.

    A cell under k shows "<k" and no statistics. Complementary suppression ("*") hides the
    count of a second cell of the same grader and attribute (the grader's total is published in
    graders.csv); such a cell keeps its bias and flag, which do not give its count back, but not
    its SE, p and q (SE ~ sigma / sqrt(n) with sigma common to the fit, so SE and a sibling
    cell's SE and count would give the count back, and p through its degrees of freedom).
    """
    out = suppress_small_cells(
        cells,
        count_columns=["n"],
        k=k,
        rate_columns=["se", "p_value", "q_value"],
        group_columns=["axis", "grader_id", "attribute"],
    )
    small = out["n"].astype(str).str.startswith("<")
    for column in ("bias_points", "flagged"):
        out[column] = out[column].astype(object)
        out.loc[small, column] = None
    return out[BIAS_COLUMNS]


@dataclass(frozen=True)
class CodedScores:
    """Scores as integer codes: what `analyze_coded` needs, without label columns.

    One row per (application, grader), sorted by both codes: `wide[p, a]` is that grader's score
    on axis a (NaN = none), the last column the "total" (the mean over the axes, only when the
    grader scored every axis the application was scored on). Codes index the sorted labels
    `units`, `graders`, `axes` (the last one "total"); `groups[a, i]` is unit i's group code of
    `attributes[a]` in `group_labels[a]` (-1 = none).
    """

    units: np.ndarray
    graders: np.ndarray
    axes: np.ndarray
    pair_unit: np.ndarray
    pair_grader: np.ndarray
    pair_human: np.ndarray
    wide: np.ndarray
    month: np.ndarray  # per row: months since 1970-01 of the last score (-1 = unknown)
    scale_min: np.ndarray  # units x axes: the rubric scale's minimum (NaN = no rubric)
    scale_max: np.ndarray  # units x axes: the rubric scale's maximum
    pass_mark: np.ndarray  # per unit: mean pass mark over its axes
    attributes: np.ndarray
    group_labels: tuple[np.ndarray, ...]
    groups: np.ndarray


def _months(values: pd.Series) -> np.ndarray:
    """Months since 1970-01 of `scored_at` (-1 = unknown): timestamps as the warehouse returns
    them, or the text 'YYYY-MM-DD HH:MM:SS' of a scores CSV (a day without a time too)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        stamps = values
    else:
        stamps = pd.to_datetime(values, format="ISO8601")
    months = (stamps.dt.year - 1970) * 12 + stamps.dt.month - 1
    return months.fillna(-1).to_numpy(dtype=np.int64)


def _code_scores(
    *,
    unit: np.ndarray,
    grader: np.ndarray,
    axis: np.ndarray,
    human: np.ndarray,
    score: np.ndarray,
    month: np.ndarray,
    scale: np.ndarray,
    units: np.ndarray,
    graders: np.ndarray,
    axes: list[str],
    attributes: np.ndarray,
    group_labels: tuple[np.ndarray, ...],
    groups: np.ndarray,
) -> CodedScores:
    """`CodedScores` from one row per score; `scale[k]` (k = min, max, pass mark) is units x
    axes from each unit's rubric."""
    n_units, n_graders, n_axes = len(units), len(graders), len(axes)
    # int32 keys and positions when they fit: half the memory of each temporary over every score
    fits = max(n_units * n_graders, (n_axes + 1) * len(unit)) < np.iinfo(np.int32).max
    index = np.int32 if fits else np.int64
    pair, keys = severity._pair_codes(
        unit.astype(index, copy=False) * index(n_graders) + grader.astype(index, copy=False),
        n_units * n_graders,
    )
    n_pairs = len(keys)
    # Fortran order (the transpose of axes x pairs): each axis's column is contiguous, and every
    # analysis reads the matrix one axis at a time (a strided column would touch a cache line
    # per score). Scores land through flat positions rather than a 2-D scatter.
    columns = np.full((n_axes + 1, n_pairs), np.nan)
    columns.reshape(-1)[axis.astype(index, copy=False) * index(n_pairs) + pair] = score
    wide = columns.T
    last = np.full(n_pairs, -1, dtype=month.dtype)
    np.maximum.at(last, pair, month)
    pair_human = np.zeros(n_pairs, dtype=bool)
    pair_human[pair[human]] = True
    pair_unit, pair_grader = keys // max(n_graders, 1), keys % max(n_graders, 1)
    scores = wide[:, :n_axes]
    present = ~np.isnan(scores)
    unit_axes = np.zeros((n_units, n_axes), dtype=bool)
    for k in range(n_axes):
        unit_axes[:, k] = np.bincount(pair_unit[present[:, k]], minlength=n_units) > 0
    complete = (present == unit_axes[pair_unit]).all(axis=1) & present.any(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        wide[:, n_axes] = np.where(
            complete, np.where(present, scores, 0.0).sum(axis=1) / present.sum(axis=1), np.nan
        )
        marks = unit_axes & ~np.isnan(scale[2])
        pass_mark = np.where(marks, scale[2], 0.0).sum(axis=1) / marks.sum(axis=1)
    return CodedScores(
        units=np.asarray(units, dtype=object),
        graders=np.asarray(graders, dtype=object),
        axes=np.array([*axes, TOTAL], dtype=object),
        pair_unit=pair_unit,
        pair_grader=pair_grader,
        pair_human=pair_human,
        wide=wide,
        month=last,
        scale_min=scale[0],
        scale_max=scale[1],
        pass_mark=pass_mark,
        attributes=attributes,
        group_labels=group_labels,
        groups=groups,
    )


def _subset(codes: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes of the values present, in label order: (new code per row, old code per new)."""
    present = np.bincount(codes, minlength=size) > 0
    return (np.cumsum(present) - 1)[codes], np.flatnonzero(present)


def _agreement(data: CodedScores) -> list[pd.DataFrame]:
    """LLM-vs-human agreement on every axis (the pairs are the same on every axis: formed once)."""
    return agreement.llm_agreement(
        data.wide,
        pair_unit=data.pair_unit,
        pair_grader=data.pair_grader,
        pair_human=data.pair_human,
        axes=data.axes,
        n_units=len(data.units),
        groups=data.groups if len(data.attributes) else None,
        attributes=data.attributes,
        group_labels=list(data.group_labels),
    )


def _style(data: CodedScores) -> pd.DataFrame:
    """The human graders' rating style over the rubric's axes."""
    total_code = len(data.axes) - 1
    human = np.flatnonzero(data.pair_human & ~np.isnan(data.wide[:, :total_code]).all(axis=1))
    if not len(human):
        return _empty([])
    # gathered one axis (one contiguous column of `wide`) at a time, into columns again
    scores = np.empty((len(human), total_code), order="F")
    for k in range(total_code):
        np.take(data.wide[:, k], human, out=scores[:, k])
    return severity.rating_style(
        scores,
        grader=data.pair_grader[human],
        scale_min=data.scale_min,
        scale_max=data.scale_max,
        scale_row=data.pair_unit[human],
        grader_labels=data.graders,
    )


def analyze_coded(
    data: CodedScores,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    n_boot: int = 200,
    seed: int = 0,
) -> AssessorResults:
    """Every Assessors table of integer-coded scores.

    Parameters
    ----------
    data
        The scores and groups (`load_coded`).
    threshold
        Practical severity / bias threshold in rubric points (settings.severity_threshold).
    min_cell_size
        Suppression size k (settings.min_cell_size) for every demographic breakdown.
    n_boot
        Bootstrap replicates for the alpha intervals.
    seed
        Seed of the bootstrap.
    """
    total_code = len(data.axes) - 1
    options = {"threshold": threshold, "min_cell_size": min_cell_size, "n_boot": n_boot}
    # The axes' fits, the LLM agreement and the rating style are independent: two worker threads
    # share them (numpy releases the GIL in its loops, so both cores work), the two
    # that need no fit first. BLAS stays on one thread throughout, so the fits' own limits
    # (blas.single_threaded_blas) in either thread set and restore the same value.
    with single_threaded_blas(), ThreadPoolExecutor(max_workers=2) as pool:
        agreement_job = pool.submit(_agreement, data)
        style_job = pool.submit(_style, data)
        # Every axis and the total are usually rated by the same graders on the same
        # deliverables: their codes and the fit's design are found once, here, while the
        # workers start on the agreement and the style
        shared = _ratings(data, ~np.isnan(data.wide[:, total_code]) & data.pair_human)
        total_job = pool.submit(_axis_tables, data, total_code, seed=seed, shared=shared, **options)
        axis_jobs = [
            pool.submit(_axis_tables, data, a, seed=seed, shared=shared, **options)
            for a in range(total_code)
        ]
        per_axis = [job.result() for job in [*axis_jobs, total_job]]
        agreement_rows, style = agreement_job.result(), style_job.result()
    return _assemble(per_axis, agreement_rows, style, min_cell_size=min_cell_size)


@dataclasses.dataclass(frozen=True)
class _Ratings:
    """The human ratings an axis is fitted on: rows of `CodedScores.wide` (`mask`, `rows`),
    their unit and grader codes, dense codes of those (`u`, `r`) with the codes they stand for,
    and the fit's score-free part (None when too few deliverables are double-scored)."""

    mask: np.ndarray
    rows: np.ndarray
    unit: np.ndarray
    grader: np.ndarray
    u: np.ndarray
    unit_codes: np.ndarray
    r: np.ndarray
    grader_codes: np.ndarray
    design: reliability.CrossedDesign | None
    pairable: reliability.PairableLayout | None
    unit_groups: np.ndarray  # attributes x the ratings' units: group codes
    bias: severity.BiasDesign | None  # None without a design or attributes
    # the refits without flagged cells (severity_without_bias) of the axes sharing these ratings
    refits: severity.RefitDesigns = dataclasses.field(default_factory=dict)


def _ratings(data: CodedScores, mask: np.ndarray) -> _Ratings:
    n_units, n_graders = len(data.units), len(data.graders)
    rows = np.flatnonzero(mask)
    unit, grader = data.pair_unit[rows], data.pair_grader[rows]
    per_deliverable = np.bincount(unit, minlength=n_units)
    u, unit_codes = _subset(unit, n_units)
    r, grader_codes = _subset(grader, n_graders)
    design = pairable = bias = None
    unit_groups = data.groups[:, unit_codes]
    if (per_deliverable > 0).sum() >= 2 and (per_deliverable >= 2).any():
        design = reliability.crossed_design(
            u, r, n_units=len(unit_codes), n_raters=len(grader_codes)
        )
        pairable = reliability.pairable_layout(u)
        if len(data.attributes):
            bias = severity.bias_design(
                design,
                data.graders[grader_codes],
                unit_groups,
                attributes=data.attributes,
                group_labels=list(data.group_labels),
            )
    return _Ratings(
        mask,
        rows,
        unit,
        grader,
        u,
        unit_codes,
        r,
        grader_codes,
        design,
        pairable,
        unit_groups,
        bias,
    )


def _axis_tables(
    data: CodedScores,
    a: int,
    *,
    threshold: float,
    min_cell_size: int,
    n_boot: int,
    seed: int,
    shared: _Ratings | None = None,
) -> dict[str, Any]:
    """The tables of axis `a` (reliability, variance, D-study, design, grader x group bias and
    graders; on the total also grader design and overlap, decision flips and drift); empty when
    too few deliverables are double-scored. `shared`: ratings to reuse when this axis's human
    ratings are the same rows."""
    n_units, n_graders = len(data.units), len(data.graders)
    total_code = len(data.axes) - 1
    axis = data.axes[a]
    out: dict[str, Any] = {}
    column = data.wide[:, a]
    present = ~np.isnan(column)
    mask = present & data.pair_human
    ratings = (
        shared if shared is not None and np.array_equal(mask, shared.mask) else _ratings(data, mask)
    )
    if ratings.design is None:
        return out
    h, unit_h, grader_h = ratings.rows, ratings.unit, ratings.grader
    u, unit_codes, r, grader_codes = ratings.u, ratings.unit_codes, ratings.r, ratings.grader_codes
    y = column[h]
    fit = reliability.fit_arrays(
        u, r, y, units=unit_codes, raters=data.graders[grader_codes], design=ratings.design
    )
    icc = reliability.icc_forms(fit)
    alphas = reliability.alpha_bootstraps(u, y, n_boot=n_boot, seed=seed, layout=ratings.pairable)
    for level in ("interval", "ordinal"):
        value, low, high = alphas[level]  # type: ignore[index]
        icc.loc[len(icc)] = {
            "metric": f"alpha_{level}",
            "value": value,
            "ci_low": low,
            "ci_high": high,
            "k": np.nan,
        }
    out["rel"] = icc.assign(axis=axis, n_deliverables=len(fit.units))
    curve, needed = reliability.d_study(fit)
    out["d"] = curve.assign(axis=axis)
    out["var"] = {
        "axis": axis,
        **{f"var_{k}": v for k, v in reliability.variance_components(fit).items()},
        "graders_for_phi_80": needed,
    }
    out["design"] = reliability.design_summary(fit).assign(axis=axis)
    if len(data.attributes):
        # Grader x group bias on every axis and the total, each its own Benjamini-Hochberg family
        unit_groups = ratings.unit_groups
        bias, omnibus = severity.grader_bias(
            fit,
            unit_groups,
            attributes=data.attributes,
            group_labels=list(data.group_labels),
            threshold=threshold,
            min_cell_size=min_cell_size,
            design=ratings.bias,
        )
        out["bias"] = bias.assign(axis=axis)
        out["omnibus"] = omnibus.assign(axis=axis)
        # the severity reported leaves out the confirmed bias cells' ratings
        sev = severity.severity_without_bias(
            fit,
            unit_groups,
            bias,
            attributes=data.attributes,
            group_labels=list(data.group_labels),
            threshold=threshold,
            refits=ratings.refits,
        )
    else:
        sev = severity.grader_severity(fit, threshold=threshold).assign(severity_excludes="")
    sev = sev.assign(grader_kind="human")
    llm = np.flatnonzero(present & ~data.pair_human)
    if len(llm):
        local = np.full(n_units, -1, dtype=np.int64)
        local[unit_codes] = np.arange(len(unit_codes))
        ext = severity.external_severity(
            fit,
            unit=local[data.pair_unit[llm]],
            grader=data.pair_grader[llm],
            score=column[llm],
            grader_labels=data.graders,
            threshold=threshold,
        )
        sev = pd.concat([sev, ext.assign(grader_kind="llm", component=0, severity_excludes="")])
    out["graders"] = sev.assign(axis=axis)
    if a != total_code:
        return out
    out["grader_design"] = reliability.grader_design(fit)
    out["overlap"] = reliability.grader_overlap(fit)
    severity_by_grader = np.full(n_graders, np.nan)
    severity_by_grader[grader_codes] = sev["severity"].to_numpy()[: len(grader_codes)]
    out["flips"] = severity.decision_flips(
        unit=unit_h,
        grader=grader_h,
        score=y,
        severity=severity_by_grader,
        pass_mark=data.pass_mark,
        unit_labels=data.units,
    )
    out["drift"] = severity.severity_drift(
        unit=unit_h,
        grader=grader_h,
        month=data.month[h],
        score=y,
        grader_labels=data.graders,
        threshold=threshold,
    )
    return out


def _assemble(
    per_axis: list[dict[str, Any]],
    agreement_rows: list[pd.DataFrame],
    style: pd.DataFrame,
    *,
    min_cell_size: int,
) -> AssessorResults:
    """`AssessorResults` from the per-axis tables (in axis order, the total last)."""

    def rows(key: str) -> list[Any]:
        return [tables[key] for tables in per_axis if key in tables]

    total = per_axis[-1] if per_axis else {}
    grader_design = total.get("grader_design", _empty([]))
    overlap = total.get("overlap", _empty([]))
    flips = total.get("flips", _empty([]))
    drift = total.get("drift", _empty([]))
    # the total first, then the axes in order
    bias_rows = [t["bias"] for t in [total, *per_axis[:-1]] if "bias" in t]
    omnibus_rows = [t["omnibus"] for t in [total, *per_axis[:-1]] if "omnibus" in t]
    bias = pd.concat(bias_rows, ignore_index=True) if bias_rows else _empty([])
    omnibus = (
        pd.concat(omnibus_rows, ignore_index=True)[OMNIBUS_COLUMNS] if omnibus_rows else _empty([])
    )
    rel_rows, d_rows, design_rows, grader_rows = (
        rows("rel"),
        rows("d"),
        rows("design"),
        rows("graders"),
    )
    var_rows = rows("var")
    graders = pd.concat(grader_rows, ignore_index=True) if grader_rows else _empty(GRADER_COLUMNS)
    if len(graders):
        graders["rank_in_component"] = _rank_within_component(graders).where(
            graders["grader_kind"] == "human"
        )
        graders = graders[GRADER_COLUMNS]
    if len(bias):
        bias = _suppress_bias(bias, k=min_cell_size)
    else:
        bias = _empty(BIAS_COLUMNS)
    llm_table = (
        pd.concat(agreement_rows, ignore_index=True)
        if agreement_rows
        else _empty(["axis", "attribute", "group", "n", *AGREEMENT_STAT_COLUMNS])
    )
    if len(llm_table):
        llm_table = suppress_small_cells(
            llm_table,
            count_columns=["n"],
            k=min_cell_size,
            rate_columns=AGREEMENT_STAT_COLUMNS,
            group_columns=["axis", "attribute"],
        )
        llm_table.loc[llm_table["attribute"] == "all", "suppressed"] = False
    return AssessorResults(
        reliability=(
            pd.concat(rel_rows, ignore_index=True)[RELIABILITY_COLUMNS]
            if rel_rows
            else _empty(RELIABILITY_COLUMNS)
        ),
        variance=pd.DataFrame(var_rows),
        d_study=(
            pd.concat(d_rows, ignore_index=True)[["axis", "graders", "phi", "e_rho2"]]
            if d_rows
            else _empty(["axis", "graders", "phi", "e_rho2"])
        ),
        design=(
            pd.concat(design_rows, ignore_index=True)[["axis", "metric", "value"]]
            if design_rows
            else _empty(["axis", "metric", "value"])
        ),
        grader_design=grader_design,
        overlap=overlap,
        graders=graders,
        flips=flips,
        drift=drift,
        style=style,
        grader_bias=bias,
        bias_omnibus=omnibus,
        llm_agreement=llm_table,
    )


# --- fetching ------------------------------------------------------------------------------------
# DuckDB filters and turns every label into an integer code, so only numeric columns reach
# Python. Application codes ("units") follow the sorted application ids:
# queries/analysis/assessor_units.sql numbers them once and gives each unit's warehouse row id;
# the score and group rows carry that row id, looked up here, so no query restates the numbering.


def _fetch_numpy(
    con: duckdb.DuckDBPyConnection, name: str, values: dict[str, object]
) -> dict[str, np.ndarray]:
    query = load_query(name)
    # Through Arrow from a relation: a cursor's fetchnumpy (or its Arrow output) first
    # materializes the whole result and then copies it
    table = con.sql(query.sql, params=query.bind(values)).to_arrow_table()
    return {name: _numpy(table[name]) for name in table.column_names}


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """One numpy array of an Arrow column, its chunks joined in memory from the system
    allocator: pyarrow's default pool (mimalloc) hands large joins fresh pages on every call
    (measurements in docs/performance.md)."""
    if column.num_chunks < 2:  # nothing to join (an empty result has no chunk)
        return column.to_numpy()
    joined = pa.concat_arrays(column.chunks, memory_pool=pa.system_memory_pool())
    return joined.to_numpy(zero_copy_only=False)


def _column(con: duckdb.DuckDBPyConnection, sql: str) -> list[object]:
    return [row[0] for row in con.execute(sql).fetchall()]


def _second_cursor(con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Another connection to `con`'s database, reading the catalog and schema `con` reads (a
    cursor starts in the in-memory catalog), so a second thread can run a query meanwhile."""
    ((database, schema),) = con.execute("select current_database(), current_schema()").fetchall()
    cursor = con.cursor()
    try:
        # identifiers from DuckDB itself, quoted; no value is formatted into SQL
        cursor.execute(f"use {quote_identifier(database)}.{quote_identifier(schema)}")
    except BaseException:
        cursor.close()
        raise
    return cursor


def _fetch_closing(
    cursor: duckdb.DuckDBPyConnection, name: str, values: dict[str, object]
) -> dict[str, np.ndarray]:
    """`_fetch_numpy` on a cursor of its own (a worker thread's), closed after."""
    try:
        return _fetch_numpy(cursor, name, values)
    finally:
        cursor.close()


def _fetch_labels(cursor: duckdb.DuckDBPyConnection) -> list[tuple[str, str, int]]:
    """Every self-ID (attribute, value) pair, sorted, with its hash as assessor_group_codes
    computes it; closes `cursor`."""
    try:
        return cursor.execute(
            "select attribute, value, hash(attribute, value) from demographic_attributes "
            "where attribute is not null and value is not null "
            "group by attribute, value order by attribute, value"
        ).fetchall()
    finally:
        cursor.close()


def _load_groups(
    cursor: duckdb.DuckDBPyConnection,
    bound: dict[str, object],
    unit_of_row: np.ndarray,
    labels: list[tuple[str, str, int]],
) -> tuple[list[tuple[str, list[str]]], np.ndarray]:
    """The self-ID attributes with their sorted values (`labels`, from `_fetch_labels`), and
    the group code of every unit on each (attributes x units, -1 = none; see
    `CodedScores.groups`); closes `cursor`. Runs in a worker thread beside the coding of the
    scores, mapping and all."""
    try:
        group_rows = _fetch_numpy(cursor, "assessor_group_codes", bound)
    finally:
        cursor.close()
    attribute_values: dict[str, list[str]] = {}
    for attribute, value, _ in labels:
        attribute_values.setdefault(attribute, []).append(value)
    label_hashes = np.array([h for _, _, h in labels], dtype=np.uint64)
    if len(np.unique(label_hashes)) < len(label_hashes):  # 64 bits, a few dozen labels
        raise RuntimeError(
            "two self-ID labels share a hash; the group codes cannot tell them apart"
        )
    # label (in attribute, value order) -> attribute code and value code within the attribute
    label_attribute = np.repeat(
        np.arange(len(attribute_values)), [len(values) for values in attribute_values.values()]
    )
    label_code = np.concatenate(
        [np.arange(len(values)) for values in attribute_values.values()] or [np.zeros(0, int)]
    )
    # each row's label by its hash (rows whose label is not listed, a NULL answer, are dropped)
    by_hash = np.argsort(label_hashes)
    sorted_hashes, row_hash = label_hashes[by_hash], group_rows["label_hash"]
    position = np.minimum(np.searchsorted(sorted_hashes, row_hash), max(len(by_hash) - 1, 0))
    found = sorted_hashes[position] == row_hash if len(by_hash) else np.zeros(len(row_hash), bool)
    label = by_hash[position[found]]
    n_units = int((unit_of_row >= 0).sum())
    # Placed into one byte per unit and attribute, then widened: the rows come in no useful
    # order, and a scattered write lands in a table an eighth the size. An attribute with over
    # 127 values (a code past int8's range) takes the wide table directly.
    narrow = int(label_code.max(initial=0)) < np.iinfo(np.int8).max
    groups = np.full((len(attribute_values), n_units), -1, dtype=np.int8 if narrow else np.int64)
    flat = (
        label_attribute[label].astype(np.int64) * n_units
        + unit_of_row[group_rows["app_row"][found]]
    )
    groups.reshape(-1)[flat] = label_code[label]
    return list(attribute_values.items()), groups.astype(np.int64, copy=False)


def load_coded(
    con: duckdb.DuckDBPyConnection, params: dict[str, object] | None = None
) -> CodedScores:
    """The scores and groups of the filtered applications as `CodedScores`, coded in DuckDB.

    tests/signalboard/analysis/test_assessors.py checks it against coding the label rows of
    queries/analysis/assessor_scores.sql and assessor_candidate_groups.sql in pandas.
    """
    bound = {k: (params or {}).get(k) for k in ("start_date", "end_date", "roles", "cohorts")}
    graders = _column(con, "select distinct grader_id from scores order by 1")
    axes = [a for a in _column(con, "select distinct axis from scores order by 1") if a != TOTAL]
    # Four queries on four cursors, ordered so DuckDB always has work while numpy codes: the
    # score codes (3M rows) start at once beside the units and the small list of self-ID
    # labels; when the units are in, the group codes (a join of every self-ID row) start while
    # this thread codes the scores (numpy's coding runs on one core, so the other one queries
    # meanwhile).
    with ThreadPoolExecutor(max_workers=2) as pool:
        # the self-ID labels (a small aggregate) on the second worker while the first starts
        label_job = pool.submit(_fetch_labels, _second_cursor(con))
        score_job = pool.submit(
            _fetch_closing,
            _second_cursor(con),
            "assessor_score_codes",
            {**bound, "graders": graders, "axes": axes},
        )
        rubric_rows = con.execute(
            "select rubric_version, axis, min_score, max_score, pass_mark from rubrics "
            "order by rubric_version, axis"
        ).fetchall()
        rubrics = sorted({r[0] for r in rubric_rows})
        units = _fetch_numpy(con, "assessor_units", {**bound, "rubrics": rubrics})
        n_units, n_axes = len(units["application_id"]), len(axes)
        # unit code per warehouse row id of an application (-1: not a unit)
        unit_of_row = np.full(int(units["app_row"].max(initial=-1)) + 1, -1, dtype=np.int32)
        unit_of_row[units["app_row"]] = units["unit"]
        group_job = pool.submit(
            _load_groups, _second_cursor(con), bound, unit_of_row, label_job.result()
        )
        # rubric scale and pass mark per (rubric version, axis); NaN where the rubric lacks it
        scale = np.full((3, len(rubrics) + 1, n_axes), np.nan)
        axis_index = {a: i for i, a in enumerate(axes)}
        for version, axis_name, low, high, pass_mark in rubric_rows:
            if axis_name in axis_index:
                scale[:, rubrics.index(version), axis_index[axis_name]] = (low, high, pass_mark)
        rubric = np.where(units["rubric"] >= 0, units["rubric"], len(rubrics)).astype(np.int64)
        rows = score_job.result()
        coded = _code_scores(
            unit=unit_of_row[rows["app_row"]],
            grader=rows["grader"],
            axis=rows["axis"],
            human=rows["human"].astype(bool, copy=False),
            score=rows["score"].astype(float, copy=False),
            month=rows["month"],
            scale=scale[:, rubric],
            units=units["application_id"],
            graders=np.asarray(graders, dtype=object),
            axes=axes,
            attributes=np.zeros(0, dtype=object),
            group_labels=(),
            groups=np.zeros((0, n_units), dtype=np.int64),
        )
        attribute_values, groups = group_job.result()
    attributes = [a for a, _ in attribute_values]
    return dataclasses.replace(
        coded,
        attributes=np.array(attributes, dtype=object),
        group_labels=tuple(np.array(values, dtype=object) for _, values in attribute_values),
        groups=groups,
    )


def compute(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, object] | None = None,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    n_boot: int = 200,
    seed: int = 0,
) -> AssessorResults:
    """Every Assessors table of the filtered warehouse (`analyze_coded` of `load_coded`)."""
    return analyze_coded(
        load_coded(con, params),
        threshold=threshold,
        min_cell_size=min_cell_size,
        n_boot=n_boot,
        seed=seed,
    )


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """The Assessors section of `signalboard report`."""
    res = compute(
        con,
        threshold=settings.severity_threshold,
        min_cell_size=settings.min_cell_size,
    )
    k = settings.min_cell_size
    thr = settings.severity_threshold
    return [
        ReportTable(
            "reliability",
            "Inter-rater reliability",
            res.reliability,
            "Human graders per axis and for the total (mean over axes): ICC(1,1), ICC(A,1), "
            "ICC(C,1) and their k-rating forms from the sparse crossed design's variance "
            "components with McGraw-Wong F intervals; Krippendorff's alpha (interval, ordinal) "
            "with a bootstrap interval over deliverables.",
            notes=(SEVERITY_NOTE,),
        ),
        ReportTable(
            "assessor_variance",
            "Variance components and graders needed",
            res.variance,
            "Deliverable, grader (severity) and residual variance per axis; graders per "
            "deliverable for dependability Phi >= 0.80.",
        ),
        ReportTable(
            "assessor_d_study",
            "D-study",
            res.d_study,
            "Phi (absolute) and E rho^2 (relative) for 1-10 graders per deliverable.",
        ),
        ReportTable(
            "assessor_design",
            "Grading design",
            res.design,
            "Ratings, double-scoring rate, grader overlap and connected components per axis.",
        ),
        ReportTable(
            "graders",
            "Grader severity",
            res.graders,
            "Severity in rubric points (positive = harsher than co-graders on the same work), "
            f"empirical-Bayes shrunk, with a 95% interval; flagged when the interval lies beyond "
            f"+/-{thr} points. The LLM row compares it with the humans' adjusted scores. "
            "Ranks only within a connected component. A grader flagged for bias against a group "
            "(grader_bias) has its severity estimated without those ratings "
            "(severity_excludes names them).",
        ),
        ReportTable(
            "decision_flips",
            "Decisions that flip once severity is removed",
            res.flips,
            "Deliverables whose rubric pass/fail (mean human total vs pass mark) changes when "
            "each grader's severity is added back.",
        ),
        ReportTable(
            "grader_drift", "Severity by month", res.drift, "Per grader and month of scoring."
        ),
        ReportTable(
            "rating_style",
            "Rating style",
            res.style,
            "Scale use (SD, share at the extremes and at the midpoint) and halo (mean "
            "correlation between axes within a grader).",
        ),
        ReportTable(
            "grader_bias",
            "Grader x group bias (differential rater functioning)",
            res.grader_bias,
            "Per rubric axis and the total (axis): how much lower (negative) or higher the "
            "grader scores the group than co-graders score the same deliverables, beyond the "
            "grader's severity toward everyone else (its mean difference from co-graders on the "
            "group's deliverables minus that on its other deliverables), Student t test (grader-pooled variance), "
            "Benjamini-Hochberg q over all grader x group tests of one axis (each axis and the "
            f"total a family); flagged when q < 0.05 and |bias| >= {thr}. Cells under {k} are "
            f"shown as <{k} with no statistics.",
            notes=(SHARED_BIAS_NOTE,),
        ),
        ReportTable(
            "grader_bias_omnibus",
            "Grader x group bias: omnibus test per attribute",
            res.bias_omnibus,
            "Per axis and the total: F test of grader x group cell means against grader means.",
        ),
        ReportTable(
            "llm_agreement",
            "LLM vs human agreement",
            res.llm_agreement,
            "Per axis and total, overall (attribute = group = 'all') and per group: QWK, Pearson "
            "r, exact and adjacent agreement, standardized mean difference, degradation against "
            "human-human agreement; pass/fail against Williamson, Xi & Breyer (2012): QWK and r "
            ">= .70, degradation >= -.10, |SMD| <= .15 overall and <= .10 per group.",
        ),
    ]
