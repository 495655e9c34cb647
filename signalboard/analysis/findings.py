"""Headline findings: each section's published tables turned into plain sentences.

A finding is one sentence a talent lead or a reviewer can act on: which cohort, grader or group,
how big the effect is and how sure the analysis is. It is read from the tables the sections
already publish (`report_tables`, and the same frames on the pages), with their machine column
names, so the sentence and the table can never disagree.

Noise is not a finding. Only what a section's own test flags is reported as a flag (a Holm- or
Benjamini-Hochberg-adjusted test, or an interval that excludes the threshold); results below a
threshold that their test does not support are counted as "too few to tell", never listed as if
they meant something.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from signalboard.present import format_value, is_blank

Severity = Literal["flag", "ok", "too_few"]

DEFAULT_CLAIMED_REDUCTION = 0.40
"""The claimed time-to-hire reduction of micro-internships: "40% shorter" (ratio 0.60)."""

FOUR_FIFTHS = 0.8
"""EEOC Uniform Guidelines, 29 CFR 1607.4(D): a selection rate under four-fifths of the highest
group's rate is evidence of adverse impact."""

SIGNIFICANCE = 0.05
MIN_GROUP_N = 50
"""Group size below which a rule-based gap without its own test (an LLM subgroup difference, an
LL144 ratio) is reported as too few to tell rather than listed as a flag."""
MIN_HIRES_FOR_SPEED = 10
"""Hires per track below which a median time to hire is too unstable to compare with a claim."""


@dataclass(frozen=True)
class Finding:
    """One plain sentence about one section, with how to read it.

    `severity`: "flag" (act on it), "ok" (checked, nothing found) or "too_few" (cannot tell on
    this selection). `table` names the published table with the detail (its CSV file stem).
    """

    section: str
    severity: Severity
    text: str
    table: str = ""


def _track(value: Any) -> str:
    return str(value).replace("_", "-")


def _p(value: Any) -> str:
    text = format_value(value, "pvalue")
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def _q(value: Any) -> str:
    text = format_value(value, "pvalue")
    return f"q {text}" if text.startswith("<") else f"q = {text}"


def _numeric(series: pd.Series) -> pd.Series:
    # Suppressed cells hold "<k" or "*" text beside numbers.
    return pd.to_numeric(series, errors="coerce")


def _true(series: pd.Series) -> pd.Series:
    return series.map(lambda v: v is True or v is np.True_ or v == "True").astype(bool)


def _attr(name: Any) -> str:
    return str(name).replace("race_ethnicity", "race/ethnicity").replace("_", " ")


def _ratio(value: Any) -> str:
    # 0.7989 must not read "0.80, under 0.80".
    number = float(value)
    return f"{number:.3f}" if 0.795 <= number < FOUR_FIFTHS else f"{number:.2f}"


def _is_false(value: Any) -> bool:
    return value is False or value is np.False_ or value == "False"


# --- funnel -------------------------------------------------------------------------------------


def funnel_findings(alerts: pd.DataFrame) -> list[Finding]:
    """Cohorts whose step conversion is below the earlier cohorts of their track (funnel_alerts)."""
    section, table = "Funnel", "funnel_alerts"
    if alerts is None or alerts.empty:
        return [Finding(section, "too_few", "No cohort has applications at any step yet.", table)]
    complete = alerts[_true(alerts["complete"])] if "complete" in alerts else alerts
    flagged = alerts[_true(alerts["flagged"])]
    out = []
    for row in flagged.itertuples(index=False):
        out.append(
            Finding(
                section,
                "flag",
                f"Cohort {row.cohort_id} ({_track(row.track)}): {format_value(row.rate, 'rate')} "
                f"reached {row.stage} ({format_value(row.reached, 'count')} of "
                f"{format_value(row.n, 'count')}), against {format_value(row.expected_rate, 'rate')}"
                f" in the earlier cohorts; {_p(row.p_adjusted)} after Holm adjustment over "
                f"{len(alerts):,} cohort-step tests.",
                table,
            )
        )
    if not out:
        if complete.empty:
            out.append(
                Finding(
                    section,
                    "too_few",
                    "No cohort has completed a step in this selection: too few to tell whether "
                    "any converts worse than the cohorts before it.",
                    table,
                )
            )
        else:
            out.append(
                Finding(
                    section,
                    "ok",
                    f"No cohort converts below the earlier cohorts of its track "
                    f"({len(complete):,} complete cohort-step tests, Holm-adjusted).",
                    table,
                )
            )
    return out


# --- time to hire -------------------------------------------------------------------------------


def time_to_hire_findings(
    time_to_hire: pd.DataFrame,
    *,
    claimed_reduction: float = DEFAULT_CLAIMED_REDUCTION,
    ci: tuple[float, float] | None = None,
) -> list[Finding]:
    """Median days from application to hire among hires, micro-internship against traditional,
    beside the claimed reduction (`claimed_reduction` = 0.40 means "40% shorter").

    `ci`: the 95% interval of the ratio of medians (micro / traditional) when known.
    """
    section, table = "Time to hire", "time_to_hire"
    claim = f"the claimed {claimed_reduction:.0%} shorter"
    rows = time_to_hire
    if rows is None or rows.empty:
        return [Finding(section, "too_few", "No application in this selection.", table)]
    pick = rows[(rows["clock"] == "applied_to_hired") & (rows["segment"] == "all")]
    by_track = {r.track: r for r in pick.itertuples(index=False)}
    micro, trad = by_track.get("micro_internship"), by_track.get("traditional")
    hires = [0 if r is None else int(r.hired) for r in (micro, trad)]
    if micro is None or trad is None or min(hires) < MIN_HIRES_FOR_SPEED:
        return [
            Finding(
                section,
                "too_few",
                f"Too few to tell against {claim}: the comparison needs at least "
                f"{MIN_HIRES_FOR_SPEED} hires on each track; this selection has {hires[0]} "
                f"micro-internship and {hires[1]} traditional hires.",
                table,
            )
        ]
    a, b = float(micro.median_days_among_hired), float(trad.median_days_among_hired)
    ratio = a / b if b else math.nan
    reduction = 1 - ratio
    text = (
        f"Micro-internship hires took a median {a:.0f} days from application to hire, "
        f"traditional hires {b:.0f} days: {reduction:.0%} shorter"
    )
    severity: Severity = "ok"
    claimed_ratio = 1 - claimed_reduction
    if ci is not None and all(math.isfinite(v) for v in ci):
        low, high = 1 - ci[1], 1 - ci[0]
        text += f" (95% CI {low:.0%} to {high:.0%})"
        if ci[0] <= claimed_ratio <= ci[1]:
            verdict = f"consistent with {claim}"
        else:
            severity = "flag"
            side = "less" if ratio > claimed_ratio else "more"
            verdict = f"{side} than {claim}: the claim is outside the interval"
    else:
        verdict = f"against {claim}"
    return [
        Finding(
            section,
            severity,
            f"{text}, {verdict} ({int(micro.hired):,} and {int(trad.hired):,} hires).",
            table,
        )
    ]


# --- assessors ----------------------------------------------------------------------------------


def assessor_findings(
    graders: pd.DataFrame | None,
    grader_bias: pd.DataFrame | None,
    llm_agreement: pd.DataFrame | None = None,
    *,
    axis: str = "total",
) -> list[Finding]:
    """Graders flagged for severity, grader x group cells flagged for bias, failing LLM gates."""
    section = "Assessors"
    out: list[Finding] = []
    if graders is not None and len(graders):
        flagged = graders[_true(graders["flagged"])]
        for grader, rows in flagged.groupby("grader_id", sort=True):
            main = rows[rows["axis"] == axis]
            row = (main if len(main) else rows).iloc[0]
            others = sorted(set(rows["axis"]) - {row["axis"]})
            word = "harsher" if row["severity"] > 0 else "more lenient"
            also = f"; also flagged on {', '.join(others)}" if others else ""
            out.append(
                Finding(
                    section,
                    "flag",
                    f"Grader {grader} scores {abs(row['severity']):.2f} points {word} than "
                    f"co-graders on the same work ({row['axis']}, 95% CI "
                    f"{row['severity_ci_low']:+.2f} to {row['severity_ci_high']:+.2f}, "
                    f"{format_value(row['n_scored'], 'count')} ratings){also}.",
                    "graders",
                )
            )
        if flagged.empty:
            out.append(
                Finding(
                    section,
                    "ok",
                    f"No grader's severity interval lies beyond the threshold "
                    f"({graders['grader_id'].nunique()} graders).",
                    "graders",
                )
            )
    if grader_bias is not None and len(grader_bias):
        flagged = grader_bias[_true(grader_bias["flagged"])]
        if "axis" not in flagged.columns:
            flagged = flagged.assign(axis=axis)
        # one finding per grader x group cell: its row on `axis` (else its first), the other
        # axes it is flagged on named
        for _, rows in flagged.groupby(["grader_id", "attribute", "group"], sort=True):
            main = rows[rows["axis"] == axis]
            row = (main if len(main) else rows).iloc[0]
            others = [a for a in rows["axis"] if a != row["axis"]]
            also = f"; also flagged on {', '.join(others)}" if others else ""
            word = "lower" if row["bias_points"] < 0 else "higher"
            out.append(
                Finding(
                    section,
                    "flag",
                    f"Grader {row['grader_id']} scores {row['group']} candidates "
                    f"({_attr(row['attribute'])}) {abs(row['bias_points']):.2f} points {word} "
                    "than co-graders of the same deliverables, beyond its severity toward "
                    f"everyone else ({format_value(row['n'], 'count')} deliverables, "
                    f"{_q(row['q_value'])}, {row['axis']}){also}.",
                    "grader_bias",
                )
            )
        if flagged.empty:
            out.append(
                Finding(
                    section,
                    "ok",
                    "No grader x group cell is flagged for bias "
                    f"({int(_numeric(grader_bias['q_value']).notna().sum()):,} cells tested).",
                    "grader_bias",
                )
            )
    if llm_agreement is not None and len(llm_agreement):
        out.extend(llm_findings(llm_agreement, axis=axis))
    return out


_GATES = (
    ("qwk_pass", "kappa"),
    ("r_pass", "Pearson r"),
    ("smd_pass", "standardized mean difference"),
    ("degradation_pass", "degradation"),
)


def llm_findings(llm_agreement: pd.DataFrame, *, axis: str = "total") -> list[Finding]:
    """LLM scorer against humans: the Williamson, Xi & Breyer (2012) gates that fail."""
    section, table = "Assessors", "llm_agreement"
    rows = llm_agreement[llm_agreement["axis"] == axis]
    if rows.empty:
        return []
    out: list[Finding] = []
    overall = rows[rows["attribute"] == "all"]
    if len(overall):
        row = overall.iloc[0]
        failing = [label for column, label in _GATES if _is_false(row.get(column))]
        if failing:
            out.append(
                Finding(
                    section,
                    "flag",
                    f"The LLM scorer fails the {', '.join(failing)} gate(s) on {axis} "
                    f"(kappa {row['qwk']:.2f}, r {row['pearson_r']:.2f}, standardized mean "
                    f"difference {row['smd']:+.2f}; {format_value(row['pairs'], 'count')} "
                    "LLM x human pairs).",
                    table,
                )
            )
        else:
            out.append(
                Finding(section, "ok", f"The LLM scorer passes every gate on {axis}.", table)
            )
    groups = rows[(rows["attribute"] != "all") & ~_true(rows["suppressed"])]
    smd = _numeric(groups["smd"])
    # The subgroup gate is |SMD| <= 0.10; the largest departures are the ones to act on.
    beyond = groups.assign(smd_value=smd).loc[smd.abs() > 0.10]
    counts = _numeric(beyond["n"])
    worst = beyond[counts >= MIN_GROUP_N].sort_values("smd_value", key=abs).iloc[::-1]
    for row in worst.itertuples(index=False):
        word = "lower" if row.smd_value < 0 else "higher"
        out.append(
            Finding(
                section,
                "flag",
                f"The LLM scores {row.group} candidates ({_attr(row.attribute)}) {word} than "
                f"human graders do "
                f"(standardized mean difference {row.smd_value:+.2f}, gate ±0.10; "
                f"{format_value(row.n, 'count')} deliverables).",
                table,
            )
        )
    small = int((counts.isna() | (counts < MIN_GROUP_N)).sum())
    if small:
        out.append(
            Finding(
                section,
                "too_few",
                f"{small} more group(s) with fewer than {MIN_GROUP_N} deliverables miss the "
                "subgroup gate: too few to tell.",
                table,
            )
        )
    return out


# --- fairness -----------------------------------------------------------------------------------


def fairness_findings(
    adverse_impact: pd.DataFrame, ll144_triage: pd.DataFrame | None = None
) -> list[Finding]:
    """Groups below four-fifths AND significant (listed), and how many more are too few to tell."""
    section, table = "Fairness", "adverse_impact"
    if adverse_impact is None or adverse_impact.empty:
        return [Finding(section, "too_few", "No applicant in this selection.", table)]
    out: list[Finding] = []
    status = adverse_impact["status"]
    flagged = adverse_impact[status == "below_four_fifths_significant"]
    for row in flagged.itertuples(index=False):
        who = (
            f"At {row.step} ({_track(row.track)}), {row.group} applicants ({_attr(row.attribute)})"
        )
        if is_blank(row.impact_ratio):
            # A suppressed row: its rate and ratio would give a hidden count back, so the
            # sentence names the finding without them.
            text = (
                f"{who}: below four-fifths and significant after the step's multiple-testing "
                "correction; their rate, ratio, p-value and some counts are hidden so that a "
                "small group's count cannot be worked out."
            )
        else:
            text = (
                f"{who} pass at {format_value(row.selection_rate, 'rate')} "
                f"({format_value(row.selected, 'count')} of {format_value(row.n, 'count')}): "
                f"an impact ratio of {format_value(row.impact_ratio, 'ratio')} (95% CI "
                f"{format_value(row.ir_ci_low, 'ratio')} to {format_value(row.ir_ci_high, 'ratio')}"
                f"), below four-fifths and significant ({_p(row.p_value)}, {_q(row.q_value)})."
            )
        out.append(Finding(section, "flag", text, table))
    # Below four-fifths but too few to test (an expected count under 5) is noise as well.
    too_few = (status == "too_few_to_test") & _true(adverse_impact["below_four_fifths"])
    noise = int(((status == "below_four_fifths_not_significant") | too_few).sum())
    # Tested: the rows in a multiple-testing family (too_few_to_test rows have no q-value).
    tested = int(_numeric(adverse_impact["q_value"]).notna().sum())
    if noise:
        out.append(
            Finding(
                section,
                "too_few",
                f"{noise} more group(s) fall below four-fifths without a significant difference: "
                "too few applicants to tell, not evidence of adverse impact.",
                table,
            )
        )
    if flagged.empty and not noise:
        out.append(
            Finding(
                section,
                "ok" if tested else "too_few",
                f"No group is below four-fifths ({tested:,} groups tested)."
                if tested
                else "Too few applicants per group to test adverse impact in this selection.",
                table,
            )
        )
    if ll144_triage is not None and len(ll144_triage):
        ratio = _numeric(ll144_triage["impact_ratio"])
        low = ll144_triage[(ratio < FOUR_FIFTHS) & ~_true(ll144_triage["excluded_from_ir"])]
        low = low.assign(n_value=_numeric(low["n"]))
        for row in low[low["n_value"] >= MIN_GROUP_N].itertuples(index=False):
            out.append(
                Finding(
                    section,
                    "flag",
                    f"LL144 LLM triage, {row.mode} rate: {row.category} ({_attr(row.table)}) has "
                    f"an impact ratio of {_ratio(row.impact_ratio)} (n = "
                    f"{format_value(row.n_value, 'count')}), under 0.80.",
                    "ll144_triage",
                )
            )
        small = int((low["n_value"] < MIN_GROUP_N).sum())
        if small:
            out.append(
                Finding(
                    section,
                    "too_few",
                    f"{small} more LL144 ratio(s) under 0.80 come from categories with fewer "
                    f"than {MIN_GROUP_N} applicants: too few to tell.",
                    "ll144_triage",
                )
            )
    return out


# --- stipends -----------------------------------------------------------------------------------


def _bh(p: pd.Series) -> pd.Series:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN)."""
    values = p.dropna()
    if values.empty:
        return p
    order = values.sort_values()
    m = len(order)
    adjusted = (order * m / np.arange(1, m + 1)).iloc[::-1].cummin().iloc[::-1].clip(upper=1)
    return adjusted.reindex(p.index)


def stipend_findings(stipends: pd.DataFrame) -> list[Finding]:
    """Adjusted stipend gaps by group (same role, cohort length, hours and location) that a
    Benjamini-Hochberg correction over the single-attribute comparisons still supports."""
    section, table = "Stipends", "stipends"
    if stipends is None or stipends.empty:
        return [Finding(section, "too_few", "No self-identification data to compare.", table)]
    single = stipends[~stipends["attribute"].astype(str).str.contains(" / ", regex=False)]
    modelled = single[single["method"] == "ols_hc3"].copy()
    p_column = (
        "adjusted_p_value_with_location"
        if "adjusted_p_value_with_location" in modelled
        else "adjusted_p_value"
    )
    suffix = "_with_location" if p_column.endswith("_with_location") else ""
    modelled["q_bh"] = _bh(_numeric(modelled[p_column]))
    out: list[Finding] = []
    for row in modelled[modelled["q_bh"] < SIGNIFICANCE].itertuples(index=False):
        values = row._asdict()
        gap = float(values[f"adjusted_gap_pct{suffix}"])
        low, high = values.get(f"adjusted_ci_low{suffix}"), values.get(f"adjusted_ci_high{suffix}")
        where = (
            "with the same role, cohort length, hours and location"
            if suffix
            else "with the same role, cohort length and hours"
        )
        out.append(
            Finding(
                section,
                "flag",
                f"{row.group} ({_attr(row.attribute)}) are paid {abs(gap):.1f}% "
                f"{'less' if gap < 0 else 'more'} than {row.reference_group} {where} "
                f"(95% CI {format_value(low, 'percent')} to {format_value(high, 'percent')}, "
                f"{_q(row.q_bh)}; n = {format_value(row.n, 'count')}).",
                table,
            )
        )
    few = int((single["method"] == "too_few_to_model").sum())
    if not out:
        out.append(
            Finding(
                section,
                "ok" if len(modelled) else "too_few",
                f"No adjusted stipend gap is significant ({len(modelled)} groups modelled)."
                if len(modelled)
                else "Too few people per group to model stipend gaps in this selection.",
                table,
            )
        )
    if few:
        out.append(
            Finding(
                section,
                "too_few",
                f"{few} group(s) are too small to model: too few to tell (within-cohort tests "
                "in the detail).",
                table,
            )
        )
    return out


# --- all sections -------------------------------------------------------------------------------


def findings_from_tables(
    tables: Mapping[str, pd.DataFrame],
    *,
    claimed_reduction: float = DEFAULT_CLAIMED_REDUCTION,
    time_ratio_ci: tuple[float, float] | None = None,
) -> list[Finding]:
    """Every section's findings from its published tables, keyed by CSV name (funnel_alerts,
    time_to_hire, graders, grader_bias, llm_agreement, adverse_impact, ll144_triage, stipends).
    A section whose tables are missing gives no findings."""
    out: list[Finding] = []
    if "funnel_alerts" in tables:
        out += funnel_findings(tables["funnel_alerts"])
    if "time_to_hire" in tables:
        out += time_to_hire_findings(
            tables["time_to_hire"], claimed_reduction=claimed_reduction, ci=time_ratio_ci
        )
    if "graders" in tables or "grader_bias" in tables:
        out += assessor_findings(
            tables.get("graders"), tables.get("grader_bias"), tables.get("llm_agreement")
        )
    if "adverse_impact" in tables:
        out += fairness_findings(tables["adverse_impact"], tables.get("ll144_triage"))
    if "stipends" in tables:
        out += stipend_findings(tables["stipends"])
    return out
