"""The data contract: the canonical exports signalboard loads, as code.

The loader validates against these specs, the warehouse tables are created from them, and
docs/data-contract.md describes the same thing for people. Change one, change the others: the test
`tests/etl/test_load_docs.py` checks that docs/data-contract.md is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ColumnType = Literal["text", "date", "timestamp", "number", "integer"]

# DuckDB types that the warehouse stores each contract type as.
DUCKDB_TYPES: dict[ColumnType, str] = {
    "text": "VARCHAR",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "number": "DOUBLE",
    "integer": "BIGINT",
}

STAGES: tuple[str, ...] = (
    "applied",
    "selected",
    "submitted",
    "triage_passed",
    "rubric_passed",
    "take_home_passed",
    "extension",
    "retainer",
    "hired",
)
"""Hiring stages in funnel order. An application that reached a stage passed every earlier one."""

TERMINAL_OUTCOMES: tuple[str, ...] = ("hired", "rejected", "withdrew")
"""Events that end an application; one with none of them is in progress as of the load's as-of."""

EVENTS: tuple[str, ...] = STAGES + ("rejected", "withdrew")
TRACKS: tuple[str, ...] = ("micro_internship", "traditional")
GRADER_KINDS: tuple[str, ...] = ("human", "llm")

SEX_VALUES: tuple[str, ...] = ("Female", "Male")
"""Recognised sex values; any other non-blank value is kept as given ("another value")."""

RACE_ETHNICITY_VALUES: tuple[str, ...] = (
    "Hispanic or Latino",
    "White",
    "Black or African American",
    "Native Hawaiian or Pacific Islander",
    "Asian",
    "Native American or Alaska Native",
    "Two or More Races",
)
"""The EEO-1 / NYC LL144 race and ethnicity categories."""

UNKNOWN = "Unknown"
"""What blank, "Decline to state" and unrecognised demographic values become. Counted, never dropped."""


@dataclass(frozen=True)
class Column:
    """One column of a canonical export."""

    name: str
    type: ColumnType = "text"
    required: bool = True
    description: str = ""
    allowed: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None
    # "drop": personal data that never reaches the warehouse.
    # "application"/"candidate": replaced by a keyed pseudonym of that kind.
    privacy: Literal["drop", "application", "candidate"] | None = None


@dataclass(frozen=True)
class TableSpec:
    """One canonical export and the warehouse table it loads into."""

    name: str
    grain: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    description: str = ""
    # Further columns in the file are kept (demographics: as further attributes) instead of ignored.
    keeps_extra_columns: bool = False
    file_stems: tuple[str, ...] = field(default=())

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required and c.privacy != "drop")

    @property
    def stored_columns(self) -> tuple[Column, ...]:
        """Columns that reach the warehouse (personal data is dropped at the door)."""
        return tuple(c for c in self.columns if c.privacy != "drop")

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


COHORTS = TableSpec(
    name="cohorts",
    grain="one row per micro-internship cohort",
    key=("cohort_id",),
    columns=(
        Column("cohort_id", description="Unique cohort identifier."),
        Column("role", description="Role the cohort hires for."),
        Column("brief_title", description="Title of the project brief."),
        Column("starts_on", "date", description="First day of the paid project."),
        Column(
            "ends_on", "date", description="Last day of the paid project; not before starts_on."
        ),
        Column(
            "rubric_version", description="The rubric the deliverables are scored on (rubrics.csv)."
        ),
        Column(
            "estimated_hours",
            "number",
            description="Hours the brief is estimated to take; greater than 0.",
            minimum=0.0,
        ),
    ),
)

RUBRICS = TableSpec(
    name="rubrics",
    grain="one row per rubric version and axis",
    key=("rubric_version", "axis"),
    columns=(
        Column("rubric_version", description="Version of the public rubric."),
        Column("axis", description="Scored axis, for example 'code_quality'."),
        Column("description", required=False, description="What the axis rewards."),
        Column("min_score", "number", description="Lowest score on the axis."),
        Column(
            "max_score", "number", description="Highest score on the axis; greater than min_score."
        ),
        Column("pass_mark", "number", description="Mean axis score that passes the rubric."),
    ),
)

APPLICATIONS = TableSpec(
    name="applications",
    grain="one row per application",
    key=("application_id",),
    columns=(
        Column(
            "application_id",
            description="Unique per application; stored as a keyed pseudonym.",
            privacy="application",
        ),
        Column(
            "candidate_id",
            description="A person may apply more than once; stored as a keyed pseudonym.",
            privacy="candidate",
        ),
        Column("track", allowed=TRACKS, description="micro_internship or traditional."),
        Column(
            "cohort_id",
            required=False,
            description="Required for micro_internship, blank for traditional; refers to cohorts.",
        ),
        Column("role", description="Role applied for."),
        Column("applied_at", "timestamp", description="When the application was made."),
        Column("source", required=False, description="Where the candidate came from."),
        Column("country", description="ISO 3166-1 alpha-2 country code."),
        Column("region", required=False, description="ISO 3166-2 subdivision, e.g. US-CA."),
        Column("metro", required=False, description="US CBSA code of the metro area."),
        Column(
            "stipend_amount",
            "number",
            required=False,
            minimum=0.0,
            description="Stipend in stipend_currency; >= 0; blank until selected.",
        ),
        Column("stipend_currency", required=False, description="ISO 4217 currency code."),
        Column("hours_logged", "number", required=False, minimum=0.0, description="Hours logged."),
        Column("full_name", required=False, privacy="drop", description="Never stored."),
        Column("email", required=False, privacy="drop", description="Never stored."),
    ),
)

DEMOGRAPHICS = TableSpec(
    name="demographics",
    grain="one row per candidate",
    key=("candidate_id",),
    description="Voluntary self-identification, kept apart from hiring data.",
    keeps_extra_columns=True,
    columns=(
        Column("candidate_id", description="Stored as a keyed pseudonym.", privacy="candidate"),
        Column(
            "sex",
            required=False,
            description="Female, Male or another value; blank/Decline to state = Unknown.",
        ),
        Column(
            "race_ethnicity",
            required=False,
            description="EEO-1 categories; blank, Decline to state or unrecognised = Unknown.",
        ),
    ),
)

SCORES = TableSpec(
    name="scores",
    grain="one row per application, grader and rubric axis",
    key=("application_id", "grader_id", "axis"),
    columns=(
        Column("application_id", description="Refers to applications.", privacy="application"),
        Column("grader_id", description="Who scored: a human grader or the LLM."),
        Column("grader_kind", allowed=GRADER_KINDS, description="human or llm."),
        Column("axis", description="An axis of the cohort's rubric_version."),
        Column("score", "number", description="Within the axis's min_score..max_score."),
        Column("scored_at", "timestamp", description="When the score was given."),
    ),
)

STAGE_EVENTS = TableSpec(
    name="stage_events",
    grain="one row per application and event",
    key=("application_id", "event"),
    columns=(
        Column("application_id", description="Refers to applications.", privacy="application"),
        Column("event", allowed=EVENTS, description="A stage, or a terminal outcome."),
        Column("occurred_at", "timestamp", description="Not before the application's applied_at."),
    ),
)

COST_OF_LIVING = TableSpec(
    name="cost_of_living",
    grain="one row per place, source and vintage",
    key=("country", "region", "source", "vintage"),
    columns=(
        Column("country", description="ISO 3166-1 alpha-2 country code."),
        Column(
            "region",
            required=False,
            description="Blank = whole country; else ISO 3166-2 or a CBSA code.",
        ),
        Column(
            "price_level",
            "number",
            minimum=0.0,
            description="Price level, US national average = 100.",
        ),
        Column("source", description="Publisher and table, e.g. 'BEA SARPP'."),
        Column("vintage", description="Year or release the price level describes."),
    ),
)

FX_RATES = TableSpec(
    name="fx_rates",
    grain="one row per currency and date",
    key=("currency", "as_of"),
    columns=(
        Column("currency", description="ISO 4217 code."),
        Column("usd_per_unit", "number", minimum=0.0, description="US dollars per unit."),
        Column("as_of", "date", description="Date of the rate."),
    ),
)

TABLES: tuple[TableSpec, ...] = (
    COHORTS,
    RUBRICS,
    APPLICATIONS,
    DEMOGRAPHICS,
    SCORES,
    STAGE_EVENTS,
    COST_OF_LIVING,
    FX_RATES,
)
TABLES_BY_NAME: dict[str, TableSpec] = {t.name: t for t in TABLES}
