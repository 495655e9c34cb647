"""Assessors: reliability, severity, grader x group bias and LLM-vs-human agreement (issue 4).

`analyze(scores, groups, ...)` turns the rows of queries/assessor_scores.sql and
queries/assessor_candidate_groups.sql into every table the Assessors page and `signalboard
report` show; the statistics live in `reliability`, `severity` and `agreement`.

"total" is the grader's mean over the rubric's axes for a deliverable (the scale of the pass
mark), counted only when the grader scored every axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from dashboard.analysis import agreement, reliability, severity
from dashboard.analysis.suppression import suppress_small_cells
from dashboard.analysis.tables import ReportTable
from signalboard.queries import run_query
from signalboard.settings import Settings

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
]
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


def totals(scores: pd.DataFrame) -> pd.DataFrame:
    """One row per (application, grader): the mean over the rubric's axes ("total").

    A grader who did not score every axis the deliverable was scored on gets no total.
    """
    if scores.empty:
        return scores.assign(axis=pd.Series(dtype=object))
    axes_per_app = scores.groupby("application_id")["axis"].nunique().rename("axes_expected")
    grouped = scores.groupby(["application_id", "grader_id", "grader_kind"], as_index=False).agg(
        score=("score", "mean"),
        axes=("axis", "nunique"),
        min_score=("min_score", "mean"),
        max_score=("max_score", "mean"),
        pass_mark=("pass_mark", "mean"),
        scored_at=("scored_at", "max"),
    )
    grouped = grouped.merge(axes_per_app, left_on="application_id", right_index=True)
    complete = grouped[grouped["axes"] == grouped["axes_expected"]]
    return complete.drop(columns=["axes", "axes_expected"]).assign(axis=TOTAL)


def _by_axis(scores: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    axes = sorted(scores["axis"].dropna().unique()) if len(scores) else []
    parts = [(axis, scores[scores["axis"] == axis]) for axis in axes]
    parts.append((TOTAL, totals(scores)))
    return [(axis, part) for axis, part in parts if len(part)]


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
        group_columns=["grader_id", "attribute"],
    )
    small = out["n"].astype(str).str.startswith("<")
    for column in ("bias_points", "flagged"):
        out[column] = out[column].astype(object)
        out.loc[small, column] = None
    return out[BIAS_COLUMNS]


def analyze(
    scores: pd.DataFrame,
    groups: pd.DataFrame,
    *,
    threshold: float = 0.25,
    min_cell_size: int = 5,
    n_boot: int = 200,
    seed: int = 0,
) -> AssessorResults:
    """All assessor analyses for the scores of queries/assessor_scores.sql.

    Parameters
    ----------
    scores
        application_id, grader_id, grader_kind, axis, score, min_score, max_score, pass_mark,
        scored_at (one row per score).
    groups
        application_id, attribute, group (queries/assessor_candidate_groups.sql).
    threshold
        Practical severity / bias threshold in rubric points (settings.severity_threshold).
    min_cell_size
        Suppression size k (settings.min_cell_size) for every demographic breakdown.
    n_boot
        Bootstrap replicates for the alpha intervals.
    seed
        Seed of the bootstrap.
    """
    human_all = scores[scores["grader_kind"] == "human"]
    rel_rows, var_rows, d_rows, grader_rows, design_rows = [], [], [], [], []
    agreement_rows = []
    grader_design = overlap = flips = drift = _empty([])
    bias = omnibus = _empty([])
    for axis, part in _by_axis(scores):
        human = part[part["grader_kind"] == "human"]
        per_deliverable = human.groupby("application_id").size()
        # reliability and severity need at least two deliverables, one of them double-scored
        if len(per_deliverable) >= 2 and (per_deliverable >= 2).any():
            fit = reliability.fit_crossed(human)
            icc = reliability.icc_forms(fit)
            for level in ("interval", "ordinal"):
                value, low, high = reliability.alpha_bootstrap(
                    human["application_id"].to_numpy(),
                    human["score"].to_numpy(),
                    level=level,  # type: ignore[arg-type]
                    n_boot=n_boot,
                    seed=seed,
                )
                icc.loc[len(icc)] = {
                    "metric": f"alpha_{level}",
                    "value": value,
                    "ci_low": low,
                    "ci_high": high,
                    "k": np.nan,
                }
            rel_rows.append(icc.assign(axis=axis, n_deliverables=len(fit.units)))
            curve, needed = reliability.d_study(fit)
            d_rows.append(curve.assign(axis=axis))
            var_rows.append(
                {
                    "axis": axis,
                    **{f"var_{k}": v for k, v in reliability.variance_components(fit).items()},
                    "graders_for_phi_80": needed,
                }
            )
            design_rows.append(reliability.design_summary(fit).assign(axis=axis))
            sev = severity.grader_severity(human, threshold=threshold, fit=fit).assign(
                grader_kind="human"
            )
            llm = part[part["grader_kind"] == "llm"]
            if len(llm):
                ext = severity.external_severity(fit, llm, threshold=threshold)
                sev = pd.concat([sev, ext.assign(grader_kind="llm", component=0)])
            grader_rows.append(sev.assign(axis=axis))
            if axis == TOTAL:
                grader_design = reliability.grader_design(fit)
                overlap = reliability.grader_overlap(fit)
                flips = severity.decision_flips(
                    human,
                    sev[sev["grader_kind"] == "human"],
                    pass_mark=human.groupby("application_id")["pass_mark"].first(),
                )
                drift = severity.severity_drift(human, threshold=threshold)
                if len(groups):
                    bias, omnibus = severity.grader_bias(
                        fit, groups, threshold=threshold, min_cell_size=min_cell_size
                    )
                    bias = bias.assign(axis=TOTAL)
        if (part["grader_kind"] == "llm").any() and (part["grader_kind"] == "human").any():
            agreement_rows.append(agreement.llm_agreement(part, groups, axis=axis))

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
    style = severity.rating_style(human_all) if len(human_all) else _empty([])
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


def load(
    con: duckdb.DuckDBPyConnection, params: dict[str, object] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The scores and candidate groups (the two library queries) for the filters `params`."""
    return (
        run_query(con, "assessor_scores", params),
        run_query(con, "assessor_candidate_groups", params),
    )


def report_tables(con: duckdb.DuckDBPyConnection, *, settings: Settings) -> list[ReportTable]:
    """The Assessors section of `signalboard report`."""
    scores, groups = (
        run_query(con, "assessor_scores", queries_dir=settings.queries_dir),
        run_query(con, "assessor_candidate_groups", queries_dir=settings.queries_dir),
    )
    res = analyze(
        scores,
        groups,
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
            "Ranks only within a connected component.",
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
            "The grader's mean residual on a group's deliverables, estimated jointly for all "
            "graders (grader x group effect minus the grader's overall effect; negative = scores "
            "the group lower than co-graders on the same work), t test, Benjamini-Hochberg q "
            f"over all grader x group tests; flagged when q < 0.05 and |bias| >= {thr}. Cells "
            f"under {k} are shown as <{k} with no statistics.",
            notes=(SHARED_BIAS_NOTE,),
        ),
        ReportTable(
            "grader_bias_omnibus",
            "Grader x group bias: omnibus test per attribute",
            res.bias_omnibus,
            "F test of grader x group cell means against grader means.",
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
