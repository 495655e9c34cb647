"""Build each shipped mapping's example export (etl/mappings/examples/<vendor>/) from the contract
sample: the first `APPLICATIONS` applications of data/sample and their stage events, written in
the vendor's shape, plus the sample's cohorts.csv and rubrics.csv (which no ATS exports).

    python -m tests.mapping_examples     # rewrite the examples

tests/etl/test_load_vendors.py checks the shipped files equal what this writes and that each loads to
the same rows as the canonical subset (`canonical_subset`).
"""

from __future__ import annotations

import csv
import io
import shutil
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from tests.paths import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "sample"
EXAMPLES = REPO_ROOT / "etl" / "mappings" / "examples"
APPLICATIONS = 120
VENDORS = ("greenhouse", "lever", "ashby")

ROLE_NAMES = {
    "data_analyst": "Data Analyst",
    "software_engineer": "Software Engineer",
    "product_designer": "Product Designer",
    "marketing_associate": "Marketing Associate",
}
TRACK_NAMES = {"greenhouse": {"micro_internship": "Micro-internship", "traditional": "Standard"}}

GREENHOUSE_STAGES = {
    "applied": "Application Review",
    "selected": "Micro-internship Offer",
    "submitted": "Project Submitted",
    "triage_passed": "Triage",
    "rubric_passed": "Rubric Review",
    "take_home_passed": "Take Home Test",
    "extension": "Project Extension",
    "retainer": "Probationary Retainer",
    "hired": "Offer Accepted",
    "rejected": "Rejected",
    "withdrew": "Candidate Withdrew",
}
LEVER_STAGES = {
    "applied": "Stage: New applicant (GMT)",
    "selected": "Stage: Project offered (GMT)",
    "submitted": "Stage: Project submitted (GMT)",
    "triage_passed": "Stage: Triage passed (GMT)",
    "rubric_passed": "Stage: Rubric review passed (GMT)",
    "take_home_passed": "Stage: Take-home passed (GMT)",
    "extension": "Stage: Extension (GMT)",
    "retainer": "Stage: Retainer (GMT)",
    "hired": "Hired At (GMT)",
}
LEVER_ARCHIVE = {"rejected": "Underqualified", "withdrew": "Withdrew"}
ASHBY_STAGES = {
    "applied": "Application Review",
    "selected": "Paid Project Offered",
    "submitted": "Project Submitted",
    "triage_passed": "Triage",
    "rubric_passed": "Rubric Review",
    "take_home_passed": "Take-home",
    "extension": "Extension",
    "retainer": "Retainer",
    "hired": "Hired",
    "rejected": "Archived: Rejected",
    "withdrew": "Archived: Candidate Withdrew",
}


def _read(name: str) -> list[dict[str, str]]:
    with open(SAMPLE / name, newline="") as handle:
        return list(csv.DictReader(handle))


def _csv(header: list[str], rows: list[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def subset() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The first APPLICATIONS applications of the sample and their stage events."""
    applications = _read("applications.csv")[:APPLICATIONS]
    ids = {a["application_id"] for a in applications}
    events = [e for e in _read("stage_events.csv") if e["application_id"] in ids]
    return applications, events


def _when(text: str, fmt: str) -> str:
    return datetime.fromisoformat(text).strftime(fmt)


def greenhouse() -> dict[str, str]:
    applications, events = subset()
    fmt = "%m/%d/%Y %H:%M"
    apps = [
        [
            a["application_id"],
            a["candidate_id"],
            a["full_name"],
            a["email"],
            ROLE_NAMES[a["role"]],
            TRACK_NAMES["greenhouse"][a["track"]],
            a["cohort_id"],
            _when(a["applied_at"], fmt),
            a["source"],
            a["country"],
            a["region"],
            a["metro"],
            a["stipend_amount"],
            a["stipend_currency"],
            a["hours_logged"],
            "Sam Recruiter",
        ]
        for a in applications
    ]
    header = [
        "Application ID",
        "Candidate ID",
        "Candidate Name",
        "Email",
        "Job Name",
        "Application Type",
        "Cohort (custom field)",
        "Applied On",
        "Source",
        "Country",
        "State/Province",
        "Metro (CBSA)",
        "Stipend (custom field)",
        "Stipend Currency (custom field)",
        "Hours Logged (custom field)",
        "Recruiter",
    ]
    roles = {a["application_id"]: ROLE_NAMES[a["role"]] for a in applications}
    stages = [
        [
            e["application_id"],
            roles[e["application_id"]],
            GREENHOUSE_STAGES[e["event"]],
            _when(e["occurred_at"], fmt),
            "Sam",
        ]
        for e in events
    ]
    return {
        "greenhouse_applications.csv": _csv(header, apps),
        "greenhouse_stage_history.csv": _csv(
            ["Application ID", "Job Name", "Stage", "Entered Stage On", "Stage Owner"], stages
        ),
    }


def lever() -> dict[str, str]:
    """One row per opportunity: its fields, one timestamp column per stage, and the archive
    time and reason of a rejected or withdrawn opportunity."""
    applications, events = subset()
    by_app: dict[str, dict[str, str]] = defaultdict(dict)
    for e in events:
        by_app[e["application_id"]][e["event"]] = e["occurred_at"]
    header = [
        "Opportunity ID",
        "Contact ID",
        "Contact Name",
        "Emails",
        "Posting Title",
        "Posting Commitment",
        "Cohort",
        "Origin",
        "Created At (GMT)",
        "Country",
        "Region",
        "Metro",
        "Stipend",
        "Stipend Currency",
        "Hours Logged",
        *LEVER_STAGES.values(),
        "Archived At (GMT)",
        "Archive Reason",
    ]
    rows = []
    for a in applications:
        stages = by_app[a["application_id"]]
        outcome = next((o for o in LEVER_ARCHIVE if o in stages), None)
        rows.append(
            [
                a["application_id"],
                a["candidate_id"],
                a["full_name"],
                a["email"],
                ROLE_NAMES[a["role"]],
                "Micro-internship" if a["track"] == "micro_internship" else "Full-time",
                a["cohort_id"],
                a["source"],
                a["applied_at"],
                a["country"],
                a["region"],
                a["metro"],
                a["stipend_amount"],
                a["stipend_currency"],
                a["hours_logged"],
                *(stages.get(event, "") for event in LEVER_STAGES),
                stages[outcome] if outcome else "",
                LEVER_ARCHIVE[outcome] if outcome else "",
            ]
        )
    return {"lever_opportunities.csv": _csv(header, rows)}


def ashby() -> dict[str, str]:
    """An applications report and an application-history report, from an account whose
    dates read day first (%d/%m/%Y)."""
    applications, events = subset()
    fmt = "%d/%m/%Y %H:%M:%S"
    header = [
        "Application ID",
        "Candidate ID",
        "Candidate Name",
        "Candidate Email",
        "Job",
        "Employment Type",
        "Cohort",
        "Source",
        "Applied At",
        "Country",
        "Region",
        "Metro",
        "Stipend",
        "Stipend Currency",
        "Hours Logged",
    ]
    apps = [
        [
            a["application_id"],
            a["candidate_id"],
            a["full_name"],
            a["email"],
            ROLE_NAMES[a["role"]],
            "Paid Project" if a["track"] == "micro_internship" else "FullTime",
            a["cohort_id"],
            a["source"],
            _when(a["applied_at"], fmt),
            a["country"],
            a["region"],
            a["metro"],
            a["stipend_amount"],
            a["stipend_currency"],
            a["hours_logged"],
        ]
        for a in applications
    ]
    history = [
        [e["application_id"], ASHBY_STAGES[e["event"]], _when(e["occurred_at"], fmt)]
        for e in events
    ]
    return {
        "ashby_applications.csv": _csv(header, apps),
        "ashby_application_history.csv": _csv(
            ["Application ID", "Stage", "Entered Stage At"], history
        ),
    }


BUILDERS = {"greenhouse": greenhouse, "lever": lever, "ashby": ashby}


def canonical_subset(folder: Path) -> Path:
    """The same applications and events as the examples, in the contract's own files."""
    folder.mkdir(parents=True, exist_ok=True)
    applications, events = subset()
    for name, rows in (("applications.csv", applications), ("stage_events.csv", events)):
        with open(folder / name, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
    for name in ("cohorts.csv", "rubrics.csv"):
        shutil.copy(SAMPLE / name, folder / name)
    return folder


def write_examples(root: Path = EXAMPLES) -> None:
    for vendor, build in BUILDERS.items():
        folder = root / vendor
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in build().items():
            (folder / name).write_text(text)
        for name in ("cohorts.csv", "rubrics.csv"):
            shutil.copy(SAMPLE / name, folder / name)


if __name__ == "__main__":
    write_examples()
