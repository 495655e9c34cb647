"""Tiny hand-written exports for the load tests: every table, every row valid.

Tests copy this set into tmp_path and spoil one thing at a time, so each test shows which row is
rejected, why, and that every other row still loads.
"""

from __future__ import annotations

from pathlib import Path

from etl.load import LoadResult, load_paths
from signalboard.settings import Settings

NAMES = ("Ada Lovelace", "Grace Hopper", "Katherine Johnson", "Mary Jackson")
EMAILS = ("ada@example.com", "grace@example.org", "kj@example.net", "mj@example.com")

EXPORTS: dict[str, str] = {
    "rubrics.csv": """rubric_version,axis,description,min_score,max_score,pass_mark
v1,code_quality,Readable tested code,1,5,3
v1,communication,Clear write-up,1,5,3
""",
    "cohorts.csv": """cohort_id,role,brief_title,starts_on,ends_on,rubric_version,estimated_hours
C1,data_analyst,Churn dashboard,2024-01-08,2024-01-26,v1,20
C2,data_engineer,Pipeline repair,2024-02-05,2024-02-23,v1,25
""",
    "applications.csv": f"""application_id,candidate_id,track,cohort_id,role,applied_at,source,country,region,metro,stipend_amount,stipend_currency,hours_logged,full_name,email
A1,P1,micro_internship,C1,data_analyst,2024-01-02 09:00:00,job_board,US,US-CA,31080,500,USD,18,{NAMES[0]},{EMAILS[0]}
A2,P2,micro_internship,C1,data_analyst,2024-01-03 10:30:00,referral,US,US-NY,35620,500,USD,22,{NAMES[1]},{EMAILS[1]}
A3,P3,traditional,,data_engineer,2024-01-05 14:00:00,careers_site,GB,,,,,,{NAMES[2]},{EMAILS[2]}
A4,P1,micro_internship,C2,data_engineer,2024-02-01 08:15:00,job_board,US,US-CA,31080,,,,{NAMES[3]},{EMAILS[3]}
""",
    "demographics.csv": f"""candidate_id,sex,race_ethnicity,disability,full_name
P1,Female,Asian,No,{NAMES[0]}
P2,Male,Decline to state,,{NAMES[1]}
P3,Nonbinary,Martian,Yes,{NAMES[2]}
""",
    "scores.csv": """application_id,grader_id,grader_kind,axis,score,scored_at
A1,g1,human,code_quality,4,2024-01-29 10:00:00
A1,g1,human,communication,3,2024-01-29 10:00:00
A1,llm,llm,code_quality,5,2024-01-29 11:00:00
A2,g2,human,code_quality,2,2024-01-30 10:00:00
A2,g2,human,communication,2,2024-01-30 10:00:00
""",
    "stage_events.csv": """application_id,event,occurred_at
A1,applied,2024-01-02 09:00:00
A1,selected,2024-01-05 12:00:00
A1,submitted,2024-01-26 17:00:00
A1,hired,2024-02-20 09:00:00
A2,applied,2024-01-03 10:30:00
A2,selected,2024-01-05 12:00:00
A2,rejected,2024-02-01 09:00:00
A3,applied,2024-01-05 14:00:00
A4,applied,2024-02-01 08:15:00
""",
    "cost_of_living.csv": """country,region,price_level,source,vintage
US,,100,BEA SARPP,2022
US,US-CA,112.6,BEA SARPP,2022
GB,,91.3,World Bank PLI,2022
""",
    "fx_rates.csv": """currency,usd_per_unit,as_of
USD,1,2024-01-31
GBP,1.27,2024-01-31
""",
}

ROWS = {name.removesuffix(".csv"): text.count("\n") - 1 for name, text in EXPORTS.items()}


def write_exports(folder: Path, **replace: str | None) -> Path:
    """Write the valid set into `folder`; `table=text` replaces one file, `table=None` omits it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in EXPORTS.items():
        table = name.removesuffix(".csv")
        if table in replace:
            if replace[table] is None:
                continue
            text = replace[table]
        (folder / name).write_text(text)
    return folder


def settings_for(folder: Path) -> Settings:
    return Settings(
        db_path=folder / "warehouse.duckdb", pseudonym_key_file=folder / "pseudonym.key"
    )


def load(paths: list[Path], settings: Settings, **options: object) -> LoadResult:
    return load_paths(paths, settings=settings, progress=False, **options)  # type: ignore[arg-type]
