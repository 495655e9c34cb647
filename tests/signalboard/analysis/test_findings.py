"""Findings in plain sentences: from the published tables of the sample warehouse (the planted
effects of docs/generator.md must be named), into report.html and report.pdf, and "too few to
tell" instead of noise on tiny tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pypdf
import pytest

from signalboard.analysis.findings import (
    fairness_findings,
    funnel_findings,
    stipend_findings,
    time_to_hire_findings,
)
from signalboard.report import write_report
from signalboard.settings import Settings

# The planted effects of the sample (seed 7, docs/generator.md) and the words that name them.
PLANTED = {
    "submission_leak": ("DA-2025-11-24", "submitted"),
    "harsh_grader": ("G03", "harsher"),
    "grader_group_bias": ("G07", "Black or African American"),
    "llm_triage_bias": ("Hispanic or Latino", "four-fifths"),
    "stipend_gap": ("Female", "less than Male"),
}


@pytest.fixture(scope="module")
def report_dir(sample_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report_pdf")
    write_report(settings=sample_settings, out_dir=out, pdf=True)
    return out


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.)])\s+(?=[A-Z])", " ".join(text.split())) if s]


def _named(text: str, words: tuple[str, ...]) -> bool:
    return any(all(w in s for w in words) for s in _sentences(text))


def test_summary_of_report_html_names_every_planted_effect(report_dir: Path) -> None:
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    summary = page[page.index("id='executive-summary'") : page.index("id='findings'")]
    text = re.sub(r"<[^>]+>", " ", summary)
    for effect, words in PLANTED.items():
        assert _named(text, words), (effect, text)
    # Findings come before the charts, the charts before the appendix of tables.
    assert page.index("id='findings'") < page.index("<svg") < page.index("id='appendix'")
    # The cohort trend is pooled by month with the planted leak's cohort as a flagged cross.
    charts = page[page.index("id='charts'") : page.index("id='methods'")]
    assert "step conversion by entry month" in charts
    cohort, step = PLANTED["submission_leak"]
    assert f"<title>{cohort} {step}" in charts
    # Tables for people: labels and formats, not machine names and raw floats.
    appendix = page[page.index("id='appendix'") :]
    assert "<th>Step conversion</th>" in appendix and "<th>step_conversion</th>" not in appendix
    assert "41.9%" in appendix and "0.41879194630872485" not in appendix


def test_report_pdf_is_the_same_document(report_dir: Path) -> None:
    reader = pypdf.PdfReader(report_dir / "report.pdf")
    text = "\n".join(page.extract_text() for page in reader.pages[:4])
    assert "Executive summary" in text
    for effect, words in PLANTED.items():
        assert _named(text.replace("\n", " "), words), effect


def _audit(n: int, rate: float, p: float, status: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "step": ["applied->selected"],
            "track": ["all"],
            "attribute": ["sex"],
            "group": ["Female"],
            "n": [n],
            "selected": [round(n * rate)],
            "selection_rate": [rate],
            "impact_ratio": [0.5],
            "ir_ci_low": [0.2],
            "ir_ci_high": [1.3],
            "p_value": [p],
            "q_value": [None if status == "too_few_to_test" else p],
            "status": [status],
            "below_four_fifths": [True],
        }
    )


@pytest.mark.parametrize(
    ("status", "severity", "words"),
    [
        ("below_four_fifths_significant", "flag", "Female applicants"),
        ("below_four_fifths_not_significant", "too_few", "too few applicants to tell"),
        ("too_few_to_test", "too_few", "too few applicants to tell"),
        ("no_evidence", "ok", "No group is below four-fifths"),
    ],
)
def test_fairness_lists_flagged_groups_and_calls_small_ones_too_few(
    status: str, severity: str, words: str
) -> None:
    (finding,) = fairness_findings(_audit(6, 0.2, 0.01 if "significant" in status else 0.4, status))
    assert finding.severity == severity
    assert words in finding.text


def test_a_flagged_suppressed_group_is_named_without_its_hidden_numbers() -> None:
    """A row hidden as a complement keeps its status; the sentence gives no blank rate or '*'."""
    audit = _audit(60, 0.2, 0.001, "below_four_fifths_significant").astype(object)
    hidden = ["n", "selection_rate", "impact_ratio", "ir_ci_low", "ir_ci_high", "p_value"]
    audit.loc[0, hidden] = ["*", None, None, None, None, None]
    audit.loc[0, "q_value"] = None
    (finding,) = fairness_findings(audit)
    assert finding.severity == "flag"
    assert finding.text == (
        "At applied->selected (all), Female applicants (sex): below four-fifths and significant "
        "after the step's multiple-testing correction; their rate, ratio, p-value and some counts "
        "are hidden so that a small group's count cannot be worked out."
    )


def test_time_to_hire_too_few_hires_and_claim_outside_interval() -> None:
    rows = pd.DataFrame(
        {
            "clock": ["applied_to_hired"] * 2,
            "segment": ["all"] * 2,
            "track": ["micro_internship", "traditional"],
            "hired": [50, 40],
            "median_days_among_hired": [90.0, 100.0],
        }
    )
    (finding,) = time_to_hire_findings(rows, claimed_reduction=0.40, ci=(0.85, 0.95))
    assert finding.severity == "flag"
    assert "10% shorter" in finding.text and "claimed 40% shorter" in finding.text
    (finding,) = time_to_hire_findings(rows, claimed_reduction=0.10, ci=(0.85, 0.95))
    assert finding.severity == "ok"
    few = rows.assign(hired=[3, 2])
    (finding,) = time_to_hire_findings(few, claimed_reduction=0.40)
    assert finding.severity == "too_few" and "3 micro-internship and 2 traditional" in finding.text


def test_funnel_without_complete_cohorts_is_too_few() -> None:
    alerts = pd.DataFrame(
        {"cohort_id": ["A"], "stage": ["submitted"], "flagged": [False], "complete": [False]}
    )
    (finding,) = funnel_findings(alerts)
    assert finding.severity == "too_few"


def test_stipend_gap_needs_a_corrected_significant_test() -> None:
    frame = pd.DataFrame(
        {
            "attribute": ["sex", "sex", "race_ethnicity"],
            "group": ["Female", "Non-binary", "Asian"],
            "reference_group": ["Male", "Male", "White"],
            "n": [400, 30, 100],
            "method": ["ols_hc3", "ols_hc3", "too_few_to_model"],
            "adjusted_gap_pct": [-8.0, 2.0, None],
            "adjusted_ci_low": [-10.0, -1.0, None],
            "adjusted_ci_high": [-6.0, 5.0, None],
            "adjusted_p_value": [1e-6, 0.2, None],
        }
    )
    found = stipend_findings(frame)
    flags = [f.text for f in found if f.severity == "flag"]
    assert len(flags) == 1 and flags[0].startswith("Female (sex) are paid 8.0% less than Male")
    assert any(f.severity == "too_few" for f in found)
