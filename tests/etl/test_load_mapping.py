"""Vendor mappings (etl/mappings/greenhouse.toml) and converters (etl/sources.py): files that are
not in the contract's shape load through the same validation, rejects and idempotence path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl import sources
from etl.load import LoadError
from etl.sources import ConvertedFile
from tests.load_helpers import load, settings_for, write_exports
from tests.paths import REPO_ROOT

GREENHOUSE = REPO_ROOT / "etl" / "mappings" / "greenhouse.toml"

GREENHOUSE_APPLICATIONS = """\
"Application ID","Candidate ID","Candidate Name","Email","Job Name","Application Type",\
"Cohort (custom field)","Applied On","Source","Country","State/Province","Metro (CBSA)",\
"Stipend (custom field)","Stipend Currency (custom field)","Hours Logged (custom field)",\
"Recruiter"
1001,501,Ada Lovelace,ada@example.com,Data Analyst,Micro-internship,C1,01/02/2024 09:00,\
LinkedIn,US,US-CA,31080,500,USD,18,Sam Recruiter
1002,502,Alan Kay,alan@example.com,Data Engineer,Standard,,01/05/2024 14:30,Referral,GB,,,,,,\
Sam Recruiter
"""

GREENHOUSE_STAGES = """\
Application ID,Job Name,Stage,Entered Stage On,Stage Owner
1001,Data Analyst,Application Review,01/02/2024 09:00,Sam
1001,Data Analyst,Micro-internship Offer,01/06/2024 10:00,Sam
1001,Data Analyst,Project Submitted,01/26/2024 17:00,Sam
1001,Data Analyst,Offer Accepted,02/20/2024 09:00,Sam
1002,Data Engineer,Application Review,01/05/2024 14:30,Sam
1002,Data Engineer,Recruiter Screen,01/09/2024 11:00,Sam
1002,Data Engineer,Technical Interview,01/16/2024 11:00,Sam
1002,Data Engineer,Coffee Chat,01/18/2024 11:00,Sam
1002,Data Engineer,Candidate Withdrew,01/20/2024 08:00,Sam
"""


def test_greenhouse_exports_load_through_the_mapping(tmp_path: Path) -> None:
    folder = write_exports(tmp_path / "in", applications=None, scores=None, stage_events=None)
    (folder / "greenhouse_applications_2024-02.csv").write_text(GREENHOUSE_APPLICATIONS)
    (folder / "greenhouse_stage_history.csv").write_text(GREENHOUSE_STAGES)
    settings = settings_for(tmp_path)
    result = load([folder], settings, mapping=GREENHOUSE)
    by_file = {f.file_name: (f.table, f.rows_loaded, f.rows_rejected) for f in result.files}
    assert by_file["greenhouse_applications_2024-02.csv"] == ("applications", 2, 0)
    assert by_file["greenhouse_stage_history.csv"] == ("stage_events", 8, 1)
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        applications = con.execute(
            "select track, cohort_id, role, applied_at, source, stipend_amount "
            "from applications order by applied_at"
        ).fetchall()
        events = con.execute(
            "select e.event, e.occurred_at from stage_events as e "
            "join applications as a using (application_id) "
            "where a.track = 'traditional' order by e.occurred_at"
        ).fetchall()
        reject = con.execute("select line, column_name, reason from rejects").fetchall()
        mapping_name = con.execute("select mapping from loads").fetchall()
    finally:
        con.close()
    assert applications == [
        ("micro_internship", "C1", "data_analyst", dt.datetime(2024, 1, 2, 9), "LinkedIn", 500.0),
        ("traditional", None, "data_engineer", dt.datetime(2024, 1, 5, 14, 30), "Referral", None),
    ]
    assert [e for e, _ in events] == ["applied", "selected", "take_home_passed", "withdrew"]
    assert events[-1][1] == dt.datetime(2024, 1, 20, 8)
    assert reject == [
        (
            9,
            "event",
            "not one of applied, selected, submitted, triage_passed, "
            "rubric_passed, take_home_passed, extension, retainer, hired, rejected, "
            "withdrew: Coffee Chat",
        )
    ]
    assert mapping_name == [("greenhouse.toml",)]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[candidates]\nfiles = ['x*']\n", "[candidates] is not a contract table"),
        (
            "[applications.columns]\n'Job' = 'job_title'\n",
            "maps to 'job_title', which is not a column of applications",
        ),
        ("[scores.formats]\nscore = '%d'\n", "'score' is not a date or timestamp column"),
        ("[scores\n", "is not valid TOML"),
    ],
)
def test_bad_mapping_files_stop_the_load(tmp_path: Path, toml: str, message: str) -> None:
    mapping = tmp_path / "vendor.toml"
    mapping.write_text(toml)
    with pytest.raises(LoadError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load([write_exports(tmp_path / "in")], settings_for(tmp_path), mapping=mapping)


def price_table(path: Path) -> ConvertedFile | None:
    """A test converter: '.prices' files are 'place|level' lines for one source and year."""
    if not path.name.endswith(".prices"):
        return None
    lines = path.read_text().splitlines()
    rows = [line.split("|") for line in lines]
    frame = pd.DataFrame(
        {
            "country": [r[0].split("-")[0] for r in rows],
            "region": [r[0] if "-" in r[0] else None for r in rows],
            "price_level": [r[1] for r in rows],
            "source": "Test RPP",
            "vintage": 2023,
        }
    )
    return ConvertedFile(
        "cost_of_living", frame, note="converted", lines=list(range(1, len(rows) + 1))
    )


def test_converted_files_take_the_same_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "CONVERTERS", [price_table])
    folder = write_exports(tmp_path / "in")
    (folder / "rpp_2023.prices").write_text("US|100\nUS-CA|112.5\nUS-NY|cheap\n")
    settings = settings_for(tmp_path)
    result = load([folder], settings)
    [converted] = [f for f in result.files if f.file_name == "rpp_2023.prices"]
    assert (converted.table, converted.rows_loaded, converted.rows_rejected) == (
        "cost_of_living",
        2,
        1,
    )
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        rows = con.execute(
            "select region, price_level from cost_of_living where source = 'Test RPP' "
            "order by region nulls first"
        ).fetchall()
        reject = con.execute("select line, reason from rejects").fetchall()
        file_format = con.execute(
            "select file_format from load_files where file_name = 'rpp_2023.prices'"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(None, 100.0), ("US-CA", 112.5)]
    assert reject == [(3, "not a number: cheap")]
    assert file_format == [("converted",)]
    again = load([folder], settings)
    assert not again.changed
