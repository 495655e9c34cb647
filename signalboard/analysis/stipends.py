"""Stipend equity adjusted for cost of living: fetch, compute, publish.

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

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from signalboard.analysis.tables import ReportTable
from signalboard.queries import load_query
from signalboard.stats.blas import single_threaded_blas
from signalboard.stats.pay_gap import (
    MIN_MODEL_N,
    MIN_SMALLER_GROUP,
    UNKNOWN,
    Controls,
    GapEstimate,
    GroupCells,
    Grouping,
    adjusted_gap_estimates,
    answer_groupings,
    cell_gap_fits,
    cohort_view,
    default_reference,
    group_neutral_predictions,
    group_sizes,
    is_unknown,
    log_modelable,
    raw_gap_table,
    reference_problem,
)
from signalboard.stats.pay_policy import policy_flags, remediation_plan
from signalboard.stats.pay_reporting import pay_gap_reporting
from signalboard.stats.suppression import suppress_small_cells

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
"""The columns stipends.csv has at least, in this order; more follow them."""


# --- loading --------------------------------------------------------------------------------


def answer_groupings_by_key(application_ids: pa.Array, answers: pa.Table) -> dict[str, Grouping]:
    """Each stipend row's group per attribute (and intersection): row i is the application
    `application_ids[i]`, and each answer of `answers` (application_id, attribute, value) is
    joined to its row by application_id, so neither input's row order matters. An answer whose
    application is not among the rows is left out; a row without an answer is Unknown."""
    if answers.num_rows == 0:
        return {}
    # Arrow's hash lookup of each answer's id among the rows' ids (null: not a stipend row)
    rows = pc.index_in(answers["application_id"], value_set=application_ids)
    return _row_groupings(len(application_ids), rows.fill_null(-1).to_numpy(), answers)


def _row_groupings(n_rows: int, row_codes: np.ndarray, answers: pa.Table) -> dict[str, Grouping]:
    """The groupings of answers whose rows are `row_codes` (-1: none)."""
    attribute_codes, attribute_names = _dictionary_codes(answers["attribute"])
    value_codes, values = _dictionary_codes(answers["value"])
    return answer_groupings(
        n_rows,
        row_codes.astype(np.int64),
        attribute_codes,
        attribute_names,
        value_codes,
        values,
    )


def _fetch_groupings(
    con: Any, params: Mapping[str, Any], application_ids: pa.Array
) -> dict[str, Grouping]:
    """`answer_groupings_by_key` of queries/analysis/stipend_attribute_answers.sql, the answers
    joined to the rows by application_id in DuckDB: the same join (neither side's order
    matters; an answer of no row is left out), run on every core, handing back each answer's
    row number instead of its id to look up in Python."""
    query = load_query("stipend_attribute_answers")
    rows = con.from_arrow(
        pa.table(
            {
                "application_id": application_ids,
                "stipend_row": pa.array(np.arange(len(application_ids), dtype=np.int64)),
            }
        )
    )
    answers = (
        con.sql(query.sql, params=query.bind(params))
        .join(rows, "application_id")
        .select("stipend_row", "attribute", "value")
        .to_arrow_table()
    )
    if answers.num_rows == 0:
        return {}
    return _row_groupings(len(application_ids), answers["stipend_row"].to_numpy(), answers)


ANALYSIS_COLUMNS: tuple[str, ...] = (
    "application_id", "cohort_id", "role", "country", "region", "metro", "stipend_amount",
    "stipend_currency", "estimated_hours", "cohort_length_days", "price_level", "col_source",
    "col_vintage", "stipend_usd", "real_stipend_usd", "hourly_usd",
)  # fmt: skip
"""The columns of queries/stipend_applications.sql that the analysis reads (controls, flags,
vintage warnings): the report and the page fetch only these (DuckDB pushes the projection
into the query, so the others, candidate ids among them, are neither computed nor sorted)."""


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
    """The stipend analysis of the warehouse under `params` (the oracle
    `tests/oracles/stipends.analyze(*load_frames(...))` gives the same numbers; the applications
    frame has the `ANALYSIS_COLUMNS` only).

    The answers query runs on a worker thread while this one converts the stipends and computes
    everything no group enters: DuckDB releases the GIL while it runs a query. `con` is not used
    here while the worker has it.
    """
    params = dict(params or {})
    stipends = _arrow(
        con, "stipend_applications", {**params, "vintage": vintage}, columns=ANALYSIS_COLUMNS
    )
    with ThreadPoolExecutor(max_workers=1) as worker:
        # the worker also turns the answers into codes (Arrow compute and numpy's array loops
        # release the GIL too)
        pending = worker.submit(
            _fetch_groupings, con, params, stipends["application_id"].combine_chunks()
        )
        applications = _to_pandas(stipends, text=("application_id",))
        with single_threaded_blas():
            pay = _pay_results(
                applications,
                tolerance_pct=tolerance_pct,
                pay_floor_per_hour=pay_floor_per_hour,
                tiers=tiers,
            )
        groupings = pending.result()
    with single_threaded_blas():
        return _with_groups(pay, groupings, reference=reference, k=k, n_boot=400)


def _dictionary_codes(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Codes into the distinct values (in order of first appearance, as pd.factorize gives
    them; -1 for a null) of an Arrow text column."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    codes = encoded.indices.fill_null(-1).to_numpy().astype(np.int64)
    return codes, encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)


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

    Dictionary-encoded in Arrow: one Python string per distinct value instead of one per row .
    Dates come back as datetime64 as from `run_query`. The `text` columns become object arrays
    through numpy (the same strings as pandas' own conversion, without its per-value overhead).
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
    # in place, in the query's column order (frame[order] would copy every column)
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


# --- raw gaps -------------------------------------------------------------------------------


# --- adjusted gaps --------------------------------------------------------------------------


# --- group-neutral predictions, outliers, remediation ---------------------------------------


# --- policy checks --------------------------------------------------------------------------


# --- EU/UK reporting ------------------------------------------------------------------------


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


@dataclass(frozen=True)
class _Rows:
    """The per-application arrays every comparison uses, computed once per analysis."""

    applications: pd.DataFrame
    usd: np.ndarray
    real: np.ndarray
    y: np.ndarray
    controls: Controls

    @classmethod
    def of(cls, applications: pd.DataFrame) -> _Rows:
        return cls(
            applications,
            pd.to_numeric(applications["stipend_usd"], errors="coerce").to_numpy(float),
            pd.to_numeric(applications["real_stipend_usd"], errors="coerce").to_numpy(float),
            log_modelable(applications),
            Controls.of(applications),
        )

    def pair(self, grouping: Grouping, group: str, reference: str, value: str) -> pd.DataFrame:
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
    groupings: Mapping[str, Grouping],
    *,
    reference: Mapping[str, str] | None = None,
    k: int = 5,
    n_boot: int = 400,
    raw_tables: Mapping[str, pd.DataFrame] | None = None,
    fits: Mapping[str, list[dict[str, GapEstimate]]] | None = None,
    cells: Mapping[str, GroupCells] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The gap table; `raw_tables`, `fits` and `cells`: `_raw_gap_tables`, `_gap_fits` and
    `GroupCells.every` of the same references and attributes, when computed already."""
    reference = dict(reference or {})
    value = "real_stipend_usd" if (~np.isnan(rows.real)).any() else "stipend_usd"
    tables, cohort_tables = [], []
    for attribute, grouping in groupings.items():
        ref = reference.get(attribute) or default_reference(rows.usd, grouping)
        if ref is None or ref not in set(grouping.labels):
            continue
        if raw_tables is not None and attribute in raw_tables:
            raw = raw_tables[attribute]
        else:
            raw = _raw_gap_table(rows, grouping, ref, n_boot=n_boot)
        every = (
            cells[attribute]
            if cells is not None and attribute in cells
            else GroupCells.every(rows.y, grouping, rows.controls)
        )
        if fits is not None and attribute in fits:
            plain_all, located_all = fits[attribute]
        else:
            plain_all, located_all = _gap_fits(rows, grouping, every, ref)
        adjusted = []
        for group in raw["group"]:
            if group == ref:
                others = _versus_others(rows, grouping, every, group)
                adjusted.append(
                    {
                        "group": group,
                        "method": "reference",
                        "adjusted_status": "reference",
                        "vs_others_gap_pct": others.estimate_pct,
                        "vs_others_ci_low": others.ci_low,
                        "vs_others_ci_high": others.ci_high,
                        "vs_others_p_value": others.p_value,
                        "vs_others_status": adjusted_status(others),
                    }
                )
                continue
            plain, located = plain_all[group], located_all[group]
            others = _versus_others(rows, grouping, every, group)
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
                    "adjusted_status": adjusted_status(plain),
                    "vs_others_gap_pct": others.estimate_pct,
                    "vs_others_ci_low": others.ci_low,
                    "vs_others_ci_high": others.ci_high,
                    "vs_others_p_value": others.p_value,
                    "vs_others_status": adjusted_status(others),
                }
            )
            if plain.method == "too_few_to_model":
                pair = rows.pair(grouping, group, ref, value)
                tests = cohort_view(pair, group=group, reference=ref, value=value)
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
        "adjusted_status", "vs_others_gap_pct", "vs_others_ci_low", "vs_others_ci_high",
        "vs_others_p_value", "vs_others_status",
    ]  # fmt: skip
    columns = list(STIPEND_COLUMNS) + extra
    text = (
        "attribute", "group", "reference_group", "method", "note", "adjusted_status",
        "vs_others_status",
    )  # fmt: skip
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
        else cohort_view(
            pd.DataFrame(columns=["cohort_id", "group", value]),
            group="",
            reference="",
            value=value,
        )
    )
    if "attribute" not in cohort_tests:
        cohort_tests.insert(0, "attribute", pd.Series(dtype=object))
    return gaps, cohort_tests


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
    predictions = group_neutral_predictions(applications, rows.controls)
    flags = policy_flags(
        applications, predictions, pay_floor_per_hour=pay_floor_per_hour, tiers=tiers
    )
    # predictions are the rows with a price level, in the applications' order
    level = pd.to_numeric(applications["price_level"], errors="coerce").to_numpy(float)
    with np.errstate(invalid="ignore"):
        targets = np.flatnonzero((level > 0) & applications["role"].notna().to_numpy(bool))
    merged = predictions.assign(stipend_usd=rows.usd[targets], real_stipend_usd=rows.real[targets])
    plan, raised_rows = remediation_plan(merged, tolerance_pct=tolerance_pct)
    usd_after = rows.usd.copy()
    usd_after[targets[raised_rows]] = plan["proposed_usd"].to_numpy(float)
    real_after = usd_after / (level / 100.0)
    frame_after = pd.DataFrame({"real_stipend_usd": real_after, "role": applications["role"]})
    return _PayResults(
        rows=rows,
        predictions=predictions,
        flags=flags,
        plan=plan,
        y_after=log_modelable(frame_after),
        warnings=vintage_warnings(applications),
    )


def _with_groups(
    pay: _PayResults,
    groupings: Mapping[str, Grouping],
    *,
    reference: Mapping[str, str] | None,
    k: int,
    n_boot: int,
) -> StipendAnalysis:
    """The analysis from its group-free part and each row's groups.

    The reference groups come first; then a worker thread computes the raw gaps and the EU/UK
    view while this one fits the adjusted gaps, before and after the raises (numpy's and
    LAPACK's loops release the GIL).
    """
    rows = pay.rows
    applications = rows.applications
    references, reference_warnings = _references(rows, groupings, dict(reference or {}))
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
        compared = _compared(groupings, references)
        cells = {a: GroupCells.every(rows.y, groupings[a], rows.controls) for a in compared}
        fits = {
            attribute: _gap_fits(rows, groupings[attribute], cells[attribute], ref)
            for attribute, ref in compared.items()
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
            cells=cells,
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
        warnings=pay.warnings + reference_warnings,
    )


def _raw_gap_table(rows: _Rows, grouping: Grouping, ref: str, *, n_boot: int) -> pd.DataFrame:
    return raw_gap_table(rows.usd, rows.real, grouping, reference=ref, n_boot=n_boot)


def _raw_gap_tables(
    rows: _Rows,
    groupings: Mapping[str, Grouping],
    references: Mapping[str, str],
    *,
    n_boot: int,
) -> dict[str, pd.DataFrame]:
    """`raw_gap_table` of every attribute against its reference."""
    return {
        attribute: _raw_gap_table(rows, groupings[attribute], ref, n_boot=n_boot)
        for attribute, ref in _compared(groupings, references).items()
    }


MIN_TELL_N = 10
"""Below this many people in the group, an adjusted gap's status is "too_few_to_tell": with
fewer than 10 people the 95% interval of a gap spans tens of percent at the generator's
spread (docs/stipends.md, "Small groups"), so the estimate is shown but not read as a finding."""

AdjustedStatus = Literal[
    "reference", "lower", "higher", "no_clear_gap", "too_few_to_tell", "too_few_to_model",
    "not_identifiable",
]  # fmt: skip


def adjusted_status(estimate: GapEstimate, *, alpha: float = 0.05) -> AdjustedStatus:
    """How to read an adjusted gap: ``lower``/``higher`` when p < `alpha` (the 95% interval
    excludes 0), ``no_clear_gap`` otherwise, ``too_few_to_tell`` when the group has fewer than
    `MIN_TELL_N` people, or the method when nothing was modelled."""
    if estimate.method != "ols_hc3":
        return estimate.method
    if estimate.n_group < MIN_TELL_N:
        return "too_few_to_tell"
    if not estimate.p_value < alpha:
        return "no_clear_gap"
    return "lower" if estimate.estimate_pct < 0 else "higher"


def _gap_fits(
    rows: _Rows, grouping: Grouping, every: GroupCells, reference: str
) -> list[dict[str, GapEstimate]]:
    """The adjusted gaps against `reference` without and with location, from the attribute's
    cells (`GroupCells.every`)."""
    return cell_gap_fits(
        every, grouping.labels, rows.controls, reference=reference, locations=(False, True)
    )


def _versus_others(rows: _Rows, grouping: Grouping, every: GroupCells, group: str) -> GapEstimate:
    """The adjusted gap (no location) of `group` vs all other known groups of the attribute
    together (Unknown and groups with an Unknown part left out): the same model as against the
    reference, with the others as the baseline (`every`: the attribute's cells,
    `GroupCells.every`, merged into the two sides)."""
    code = grouping.code(group)
    known = np.array([not is_unknown(label) for label in grouping.labels], dtype=bool)
    into = np.where(np.arange(len(grouping.labels)) == code, 0, np.where(known, 1, -1))
    pair = np.array([group, "all others"], dtype=object)
    (estimates,) = cell_gap_fits(
        every.merged(into), pair, rows.controls, reference="all others", locations=(False,)
    )
    return estimates.get(
        group,
        GapEstimate(np.nan, np.nan, np.nan, np.nan, 0, 0, 0, "too_few_to_model", False),
    )


def _references(
    rows: _Rows, groupings: Mapping[str, Grouping], reference: Mapping[str, str]
) -> tuple[dict[str, str], tuple[str, ...]]:
    """The reference group of each attribute and the warnings about given ones not used.

    A given reference (`reference`, e.g. from SIGNALBOARD_STIPEND_REFERENCE) is used when it
    is a group of the attribute that may be a reference (`reference_problem`); otherwise the
    attribute falls back to `default_reference`, with a warning. Attributes without any
    eligible group are left out."""
    out, warnings = {}, []
    for attribute, grouping in groupings.items():
        ref = reference.get(attribute)
        if ref is not None:
            sizes = dict(zip(grouping.labels, group_sizes(rows.usd, grouping), strict=True))
            problem = (
                "it is not a group of the attribute"
                if ref not in sizes
                else reference_problem(ref, int(sizes[ref]))
            )
            if problem is not None:
                warnings.append(
                    f"Reference {ref!r} for {attribute} not used: {problem}; "
                    "the largest known group is the reference instead."
                )
                ref = None
        ref = ref or default_reference(rows.usd, grouping)
        if ref is not None:
            out[attribute] = ref
    return out, tuple(warnings)


def reference_setting(text: str | None) -> dict[str, str]:
    """The reference groups of SIGNALBOARD_STIPEND_REFERENCE: ``attribute=value,...`` (e.g.
    ``sex=Male,race_ethnicity=White``); blank: none. A malformed entry is a ValueError that
    names it."""
    out = {}
    for entry in (text or "").split(","):
        if not entry.strip():
            continue
        attribute, sep, value = entry.partition("=")
        if not sep or not attribute.strip() or not value.strip():
            raise ValueError(
                f"SIGNALBOARD_STIPEND_REFERENCE: {entry.strip()!r} is not attribute=value"
            )
        out[attribute.strip()] = value.strip()
    return out


def _compared(groupings: Mapping[str, Grouping], references: Mapping[str, str]) -> dict[str, str]:
    """The attributes `_gap_table` compares, with their reference groups."""
    return {a: ref for a, ref in references.items() if ref in set(groupings[a].labels)}


def _after_fits(
    y_after: np.ndarray,
    controls: Controls,
    groupings: Mapping[str, Grouping],
    references: Mapping[str, str],
) -> dict[tuple[str, str], dict[str, GapEstimate]]:
    """The adjusted gaps of every attribute against its reference after the raises."""
    with single_threaded_blas():
        return {
            (attribute, ref): adjusted_gap_estimates(
                y_after, groupings[attribute], controls, reference=ref
            )
            for attribute, ref in _compared(groupings, references).items()
        }


def _remediation_effect(
    y_after: np.ndarray,
    controls: Controls,
    groupings: Mapping[str, Grouping],
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
            after_all = adjusted_gap_estimates(
                y_after, groupings[attribute], controls, reference=reference
            )
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
                # n - n_real counts the group's people without a price level.
                nested=[("n", "n_real")],
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
    configured = reference_setting(settings.stipend_reference)
    analysis = _warehouse_analysis(
        con,
        reference=configured,
        pay_floor_per_hour=settings.pay_floor_per_hour,
        k=settings.min_cell_size,
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
