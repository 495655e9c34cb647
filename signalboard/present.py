"""Tables for people: human column labels, units and formats for the pages and report.html.

A published table keeps machine column names and full precision in its CSV (report CSVs and the
pages' downloads). What a person reads goes through `humanize`, driven by the column registry
`COLUMNS` (machine name -> label and kind): rates as percent, dollars with a symbol, counts with
thousands separators, dates without a midnight time, blanks instead of None/NA/NaN, p-values as
"< 0.001", and the key columns pinned first. Every cell of the result is plain text; callers that
write HTML escape it (`html_table`).

No Streamlit here: the dashboard and the report share this module.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal[
    "text",  # shown as given (ids, categories, suppression marks such as "<5")
    "count",  # whole number with thousands separators
    "rate",  # a fraction 0..1 shown as a percent with one decimal
    "percent",  # already in percent units (gap_pct = -7.9 means -7.9%)
    "usd",  # US dollars: "$1,234.56"
    "usd0",  # US dollars, whole: "$1,235"
    "ratio",  # a dimensionless ratio with two decimals (impact ratio 0.43)
    "number",  # a measured quantity with two decimals (points, SDs, statistics)
    "days",  # calendar days with no decimals when whole
    "pvalue",  # "< 0.001" below a thousandth, three decimals otherwise
    "date",  # YYYY-MM-DD; a datetime at midnight drops its time
    "datetime",  # YYYY-MM-DD HH:MM; midnight drops the time
    "bool",  # Yes / No
]


@dataclass(frozen=True)
class Column:
    """How one machine column is shown: its label, its kind and whether it is a key (pinned)."""

    label: str
    kind: Kind = "text"
    key: bool = False


def _c(label: str, kind: Kind = "text", *, key: bool = False) -> Column:
    return Column(label, kind, key)


# Machine column name -> how a person sees it. A column not listed gets a label from its name
# and a kind from its dtype (`column_for`). Names are those of the published tables.
COLUMNS: dict[str, Column] = {
    # keys and segments
    "step": _c("Step", key=True),
    "track": _c("Track", key=True),
    "attribute": _c("Attribute", key=True),
    "group": _c("Group", key=True),
    "segment_type": _c("Breakdown", key=True),
    "segment": _c("Segment", key=True),
    "stage": _c("Stage", key=True),
    "cohort_id": _c("Cohort", key=True),
    "grader_id": _c("Grader", key=True),
    "axis": _c("Rubric axis", key=True),
    "clock": _c("Clock", key=True),
    "mode": _c("Rate", key=True),
    "table": _c("Table", key=True),
    "category": _c("Category", key=True),
    "application_id": _c("Application", key=True),
    "month": _c("Month", "date", key=True),
    "metric": _c("Metric", key=True),
    "table_name": _c("Table", key=True),
    "file_name": _c("File", key=True),
    "load_id": _c("Load", "count", key=True),
    "band": _c("Pay quartile", key=True),
    "sex": _c("Sex", key=True),
    "pay": _c("Pay measure", key=True),
    "reference_group": _c("Reference group"),
    # counts
    "n": _c("n", "count"),
    "selected": _c("Selected", "count"),
    "reached": _c("Reached", "count"),
    "pending": _c("Pending", "count"),
    "drop_off": _c("Drop-off", "count"),
    "hired": _c("Hired", "count"),
    "count": _c("Count", "count"),
    "n_scored": _c("Ratings", "count"),
    "n_group": _c("n (group)", "count"),
    "n_reference": _c("n (reference)", "count"),
    "n_male": _c("n (men)", "count"),
    "n_female": _c("n (women)", "count"),
    "n_real": _c("n (with price level)", "count"),
    "n_total": _c("n (all)", "count"),
    "unknown_n": _c("Unknown", "count"),
    "still_in_stage": _c("Still in stage", "count"),
    "pairs": _c("LLM x human pairs", "count"),
    "graders": _c("Graders", "count"),
    "n_deliverables": _c("Deliverables", "count"),
    "rows_in_warehouse": _c("Rows in warehouse", "count"),
    "rows_read": _c("Rows read", "count"),
    "rows_loaded": _c("Rows loaded", "count"),
    "rows_rejected": _c("Rows rejected", "count"),
    "rows_replaced": _c("Rows replaced", "count"),
    "rejected_rows": _c("Rejected rows", "count"),
    "stage_index": _c("Stage order", "count"),
    # rates (fractions)
    "selection_rate": _c("Selection rate", "rate"),
    "rate": _c("Rate", "rate"),
    "expected_rate": _c("Expected rate", "rate"),
    "lower_limit": _c("Lower control limit", "rate"),
    "step_conversion": _c("Step conversion", "rate"),
    "overall_conversion": _c("Overall conversion", "rate"),
    "drop_off_rate": _c("Drop-off rate", "rate"),
    "unknown_share": _c("Unknown share", "rate"),
    "p_hired_by_30d": _c("P(hired by day 30)", "rate"),
    "p_hired_by_60d": _c("P(hired by day 60)", "rate"),
    "p_hired_by_90d": _c("P(hired by day 90)", "rate"),
    "exact_agreement": _c("Exact agreement", "rate"),
    "adjacent_agreement": _c("Adjacent agreement", "rate"),
    "extremes_share": _c("Share at scale ends", "rate"),
    "midpoint_share": _c("Share at midpoint", "rate"),
    # ratios
    "impact_ratio": _c("Impact ratio", "ratio"),
    "ir_ci_low": _c("Impact ratio, 95% CI low", "ratio"),
    "ir_ci_high": _c("Impact ratio, 95% CI high", "ratio"),
    "ir_bound_low": _c("Impact ratio if unknowns known, low", "ratio"),
    "ir_bound_high": _c("Impact ratio if unknowns known, high", "ratio"),
    "ir_unknowns_in_group": _c("Impact ratio, unknowns in group", "ratio"),
    "ir_unknowns_proportional": _c("Impact ratio, unknowns proportional", "ratio"),
    "qwk": _c("Quadratic weighted kappa", "ratio"),
    "hh_qwk": _c("Human-human kappa", "ratio"),
    "pearson_r": _c("Pearson r", "ratio"),
    "hh_pearson_r": _c("Human-human r", "ratio"),
    "degradation_qwk": _c("Kappa degradation", "ratio"),
    "degradation_r": _c("r degradation", "ratio"),
    "smd": _c("Standardized mean difference", "ratio"),
    "phi": _c("Phi (dependability)", "ratio"),
    "e_rho2": _c("E rho squared (generalizability)", "ratio"),
    "halo": _c("Halo", "ratio"),
    "shrinkage": _c("Shrinkage", "ratio"),
    # p-values
    "p_value": _c("p", "pvalue"),
    "q_value": _c("q (BH)", "pvalue"),
    "p_adjusted": _c("p (Holm)", "pvalue"),
    "adjusted_p_value": _c("Adjusted gap p", "pvalue"),
    "adjusted_p_value_after": _c("Adjusted gap p after raises", "pvalue"),
    "welch_p_value": _c("Welch p", "pvalue"),
    "mann_whitney_p_value": _c("Mann-Whitney p", "pvalue"),
    # points and statistics
    "severity": _c("Severity (points)", "number"),
    "severity_ci_low": _c("Severity, 95% CI low", "number"),
    "severity_ci_high": _c("Severity, 95% CI high", "number"),
    "severity_unshrunk": _c("Severity before shrinkage", "number"),
    "severity_se": _c("Severity SE", "number"),
    "raw_mean": _c("Raw mean", "number"),
    "fair_mean": _c("Fair mean", "number"),
    "bias_points": _c("Bias (points)", "number"),
    "se": _c("SE", "number"),
    "raw_score": _c("Raw score", "number"),
    "fair_score": _c("Fair score", "number"),
    "pass_mark": _c("Pass mark", "number"),
    "sd": _c("SD", "number"),
    "shortfall": _c("Shortfall (people)", "number"),
    # days
    "median_days_among_hired": _c("Median days among hires", "days"),
    "median_days_cif": _c("Median days (censoring-aware)", "days"),
    "median_ci_low": _c("Median days, 95% CI low", "days"),
    "median_ci_high": _c("Median days, 95% CI high", "days"),
    "p25_days_cif": _c("P25 days", "days"),
    "p50_days_cif": _c("P50 days", "days"),
    "p75_days_cif": _c("P75 days", "days"),
    "p90_days_cif": _c("P90 days", "days"),
    "median_days": _c("Median days", "days"),
    "p75_days": _c("P75 days", "days"),
    "p90_days": _c("P90 days", "days"),
    "duration_seconds": _c("Seconds", "number"),
    # money
    "mean_nominal_usd": _c("Mean stipend (USD)", "usd"),
    "mean_real_usd": _c("Mean real stipend (USD)", "usd"),
    "median_real_usd": _c("Median real stipend (USD)", "usd"),
    "median_nominal_usd": _c("Median stipend (USD)", "usd"),
    "mean_group_usd": _c("Group mean (USD)", "usd"),
    "mean_reference_usd": _c("Reference mean (USD)", "usd"),
    "current_usd": _c("Current (USD)", "usd"),
    "proposed_usd": _c("Proposed (USD)", "usd"),
    "raise_usd": _c("Raise (USD)", "usd"),
    "predicted_real_usd": _c("Predicted real (USD)", "usd"),
    "min_usd": _c("Minimum (USD)", "usd"),
    "max_usd": _c("Maximum (USD)", "usd"),
    # percent units
    "raw_gap_pct_nominal": _c("Raw gap", "percent"),
    "raw_gap_pct_real": _c("Raw gap, real", "percent"),
    "adjusted_gap_pct": _c("Adjusted gap", "percent"),
    "adjusted_ci_low": _c("Adjusted gap, 95% CI low", "percent"),
    "adjusted_ci_high": _c("Adjusted gap, 95% CI high", "percent"),
    "adjusted_gap_pct_with_location": _c("Adjusted gap with location", "percent"),
    "adjusted_gap_pct_before": _c("Adjusted gap before raises", "percent"),
    "adjusted_gap_pct_after": _c("Adjusted gap after raises", "percent"),
    "adjusted_ci_low_after": _c("After raises, 95% CI low", "percent"),
    "adjusted_ci_high_after": _c("After raises, 95% CI high", "percent"),
    "residual_pct": _c("Below prediction", "percent"),
    "gap_pct": _c("Gap", "percent"),
    "mean_gap_pct": _c("Mean gap", "percent"),
    "median_gap_pct": _c("Median gap", "percent"),
    "pct": _c("Share", "percent"),
    # dates
    "cohort_start": _c("Cohort start", "date"),
    "as_of": _c("As of", "datetime"),
    "started_at": _c("Started", "datetime"),
    "finished_at": _c("Finished", "datetime"),
    # yes/no
    "flagged": _c("Flagged", "bool"),
    "suppressed": _c("Suppressed", "bool"),
    "below_four_fifths": _c("Below four-fifths", "bool"),
    "complete": _c("Complete", "bool"),
    "flip_flop": _c("Flip-flop", "bool"),
    "excluded_from_ir": _c("Left out of ratios", "bool"),
    "reference": _c("Reference", "bool"),
    "eu_flag": _c("EU 5% flag", "bool"),
    "passes": _c("Passes all gates", "bool"),
    "qwk_pass": _c("Kappa gate", "bool"),
    "r_pass": _c("r gate", "bool"),
    "smd_pass": _c("SMD gate", "bool"),
    "degradation_pass": _c("Degradation gate", "bool"),
    "raw_pass": _c("Raw pass", "bool"),
    "fair_pass": _c("Fair pass", "bool"),
    "flips": _c("Flips", "bool"),
    "strict": _c("Strict", "bool"),
    # text with a better label
    "test": _c("Test"),
    "status": _c("Status"),
    "reason": _c("Reason"),
    "detail": _c("Detail"),
    "method": _c("Method"),
    "grader_kind": _c("Grader kind"),
    "content_sha256": _c("SHA-256"),
}

_KEY_ORDER = {name: index for index, name in enumerate(COLUMNS)}

# Suffix rules for columns the registry does not list (a section adds a column later).
_SUFFIX_KINDS: tuple[tuple[str, Kind], ...] = (
    ("_usd", "usd"),
    ("_pct", "percent"),
    ("_rate", "rate"),
    ("_share", "rate"),
    ("_p_value", "pvalue"),
    ("_days", "days"),
    ("_ratio", "ratio"),
)

_ACRONYMS = {"usd": "USD", "ci": "CI", "ir": "IR", "llm": "LLM", "id": "id", "sd": "SD"}


def _label_from_name(name: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in str(name).split("_") if word]
    if not words:
        return str(name)
    first = words[0]
    words[0] = first if first.isupper() else first[:1].upper() + first[1:]
    return " ".join(words)


def column_for(name: str, series: pd.Series | None = None) -> Column:
    """The registry entry for `name`, or one derived from the name's suffix and the dtype."""
    if name in COLUMNS:
        return COLUMNS[name]
    label = _label_from_name(name)
    for suffix, kind in _SUFFIX_KINDS:
        if str(name).endswith(suffix):
            return Column(label, kind)
    if series is not None:
        if pd.api.types.is_bool_dtype(series):
            return Column(label, "bool")
        if pd.api.types.is_integer_dtype(series):
            return Column(label, "count")
        if pd.api.types.is_float_dtype(series):
            return Column(label, "number")
        if pd.api.types.is_datetime64_any_dtype(series):
            return Column(label, "datetime")
    return Column(label, "text")


def is_blank(value: Any) -> bool:
    """None, pandas NA/NaT and float NaN: shown as an empty cell."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if np.ndim(value) == 0 else False
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> float | None:
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    return None


def _is_midnight(value: dt.datetime) -> bool:
    return value.hour == value.minute == value.second == value.microsecond == 0


def format_value(value: Any, kind: Kind) -> str:
    """One cell as text. Text values (such as suppression marks "<5" and "*") pass through."""
    if isinstance(value, str) and kind not in ("bool", "date", "datetime"):
        return _string_text(value, kind)  # text is never blank: no further checks
    if is_blank(value):
        return ""
    if kind == "bool":
        if isinstance(value, bool | np.bool_):
            return "Yes" if value else "No"
        return str(value)
    if kind in ("date", "datetime"):
        if isinstance(value, str):
            try:
                value = pd.Timestamp(value)
            except ValueError:
                return value
        if isinstance(value, pd.Timestamp):
            value = value.to_pydatetime()
        if isinstance(value, dt.datetime):
            if kind == "date" or _is_midnight(value):
                return value.date().isoformat()
            return value.strftime("%Y-%m-%d %H:%M")
        if isinstance(value, dt.date):
            return value.isoformat()
        return str(value)
    number = _number(value)
    if number is None:
        return str(value)
    return _format_number(number, kind)


def _string_text(value: str, kind: Kind) -> str:
    """A text cell in a column of `kind` (not bool, date or datetime)."""
    if kind == "text":
        return str(value)
    # Suppressed columns hold numbers as text beside "<k" and "*" marks (for_display).
    try:
        number = float(value.replace(",", ""))
    except ValueError:
        return value
    return _format_number(number, kind)


def _format_number(number: float, kind: Kind) -> str:
    """A number's text in a column of `kind` (not bool, date or datetime)."""
    if math.isinf(number):
        return "∞" if number > 0 else "-∞"
    if kind == "count":
        return f"{number:,.0f}" if number == round(number) else f"{number:,.1f}"
    if kind == "rate":
        return f"{number:.1%}"
    if kind == "percent":
        return f"{number:.1f}%"
    if kind == "usd":
        return f"-${-number:,.2f}" if number < 0 else f"${number:,.2f}"
    if kind == "usd0":
        return f"-${-number:,.0f}" if number < 0 else f"${number:,.0f}"
    if kind == "ratio":
        return f"{number:.2f}"
    if kind == "days":
        return f"{number:,.0f}" if number == round(number) else f"{number:,.1f}"
    if kind == "pvalue":
        if number < 0.001:
            return "< 0.001"
        return f"{number:.3f}"
    if kind == "number":
        return f"{number:,.2f}"
    # text: a number in a text column keeps a readable form
    if number == round(number) and abs(number) < 1e15:
        return f"{number:,.0f}"
    return f"{number:,.4g}"


def column_order(frame: pd.DataFrame, *, pinned: Iterable[str] = ()) -> list[str]:
    """The machine names of `frame` in the order `humanize` shows them: `pinned`, then the
    registry's key columns, then the rest as they come."""
    names = [str(c) for c in frame.columns]
    first = [c for c in pinned if c in names]
    # Keys in registry order (step, track, attribute, group, ...): the nesting a reader expects.
    keys = sorted((c for c in names if c not in first and column_for(c).key), key=_KEY_ORDER.get)
    rest = [c for c in names if c not in first and c not in keys]
    return first + keys + rest


def humanize(
    frame: pd.DataFrame,
    *,
    pinned: Iterable[str] = (),
    labels: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """`frame` for people: every cell formatted as text, columns relabelled, keys first.

    `pinned` names columns to put first (in that order) beyond the registry's key columns;
    `labels` overrides registry labels for this table. The index is dropped.
    """
    labels = dict(labels or {})
    out: dict[str, list[str]] = {}
    for name in column_order(frame, pinned=pinned):
        series = frame[name]
        column = column_for(name, series)
        label = labels.get(name, column.label)
        while label in out:  # two machine names with one label stay two columns
            label = f"{label} ({name})"
        out[label] = _formatted(series, column.kind)
    return pd.DataFrame(out, columns=list(out), dtype="string" if out else None)


def _formatted(series: pd.Series, kind: Kind) -> list[str]:
    """`format_value` of every cell. A numeric column (the long ones: a row per cohort) skips
    the per-cell type checks: its cells are numbers or blanks, so each is formatted directly
    (the same text; a page redraws its tables on every rerun)."""
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if numeric and kind not in ("bool", "date", "datetime"):
        values = series.to_numpy(dtype=float, na_value=np.nan).tolist()
        return ["" if v != v else _format_number(v, kind) for v in values]
    return [format_value(v, kind) for v in series.tolist()]


def html_table(
    frame: pd.DataFrame,
    *,
    max_rows: int | None = None,
    below: Mapping[str, float] | None = None,
    **options: Any,
) -> str:
    """A humanized table as escaped HTML (every cell text, never markup).

    `below` maps machine column names to a limit: a cell whose number is under it gets
    `class='below'` (the report styles it red), as impact ratios under four-fifths.
    """
    rows_in = frame.head(max_rows) if max_rows else frame
    shown = humanize(rows_in, **options)
    order = column_order(rows_in, pinned=options.get("pinned", ()))
    marks = np.zeros((len(rows_in), len(order)), dtype=bool)
    for name, limit in (below or {}).items():
        if name in order:
            values = pd.to_numeric(rows_in[name], errors="coerce").to_numpy(dtype=float)
            marks[:, order.index(name)] = values < limit
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for i, values in enumerate(shown.itertuples(index=False)):
        cells = "".join(
            f"<td class='below'>{html.escape(str(v))}</td>"
            if marks[i, j]
            else f"<td>{html.escape(str(v))}</td>"
            for j, v in enumerate(values)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
