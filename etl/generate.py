"""Synthetic exports in the data contract, with planted effects the analyses must find.

`generate(out_dir, config=GeneratorConfig())` writes the eight contract CSVs (see etl/contract.py)
for a fictional employer hiring through paid micro-internships and a traditional track. Every
number comes from a numpy Generator seeded from the config, and every value is written with a fixed
format, so the same config gives byte-identical files. Applications are generated in chunks of
`chunk_size` (vectorized, appended to the CSVs), so 1,000,000 applications run in bounded memory.

Planted effects (each switchable off with `config.without({...})`, all off with
`plant_effects=False`); `planted_effects(config)` returns where and how large they are:

- "harsh_grader": one human grader scores every axis `harsh_severity` points lower.
- "grader_group_bias": one grader scores one demographic group `bias_points` lower than the
  co-graders of the same deliverable do.
- "submission_leak": one cohort's selected -> submitted conversion drops to `leak_submission_rate`.
- "stipend_gap": one group is paid `stipend_gap_pct` % less inside the same cohort and tier.
- "llm_triage_bias": the LLM scores one group `llm_bias_points` lower on every axis, so fewer of
  that group pass triage.

Everything else is null by construction: true deliverable quality, selection and later stages do
not depend on demographics. docs/generator.md describes the distributions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TextIO

import numpy as np
import pandas as pd

from etl import reference_data as ref
from etl.contract import STAGES, TABLES_BY_NAME

EFFECTS: tuple[str, ...] = (
    "harsh_grader",
    "grader_group_bias",
    "submission_leak",
    "stipend_gap",
    "llm_triage_bias",
)

DAY = 86_400
HOUR = 3_600

ROLES: tuple[str, ...] = (
    "data_analyst",
    "software_engineer",
    "product_designer",
    "marketing_associate",
)
ROLE_ABBR = ("DA", "SE", "PD", "MA")
# Traditional-track applications by role; cohorts rotate through COHORT_ROLE_PATTERN.
ROLE_WEIGHTS = np.array([0.32, 0.30, 0.18, 0.20])
COHORT_ROLE_PATTERN = (0, 1, 0, 2, 1, 3)
HOURLY_USD = np.array([30.0, 38.0, 32.0, 26.0])
BRIEFS: tuple[tuple[str, ...], ...] = (
    ("Churn drivers in a subscription dataset", "Sales dashboard for a regional retailer",
     "Cleaning and auditing a survey export", "Forecasting weekly demand"),
    ("REST API for a booking service", "Fixing flaky tests in a payments library",
     "CLI tool to sync calendars", "Rate limiter for a public API"),
    ("Onboarding flow redesign", "Accessibility audit of a checkout",
     "Design system tokens for a mobile app"),
    ("Launch plan for a budgeting app", "Email campaign for a nonprofit",
     "Competitor teardown for a B2B tool"),
)  # fmt: skip

AXES: tuple[str, ...] = ("problem_framing", "execution", "communication", "insight")
AXIS_DESCRIPTIONS = {
    "v1": (
        "States the problem, constraints and what success looks like.",
        "The work runs, is correct and is built with care.",
        "Writes up clearly for a non-specialist reader.",
        "Draws conclusions or trade-offs beyond the brief.",
    ),
    "v2": (
        "Frames the problem and its constraints; names what success looks like.",
        "Correct, working, maintainable deliverable.",
        "Clear write-up and hand-over for a non-specialist.",
        "Insight or trade-offs that go beyond the brief, with evidence.",
    ),
}
RUBRIC_V2_FROM = np.datetime64("2025-10-01")
MIN_SCORE, MAX_SCORE, PASS_MARK = 1, 5, 3.0
TRIAGE_THRESHOLD = 3.0

GRADERS: tuple[str, ...] = tuple(f"G{i:02d}" for i in range(1, 15))
# Graders specialise by role; the pools overlap in a ring (G05, G09, G12, G01 bridge two roles),
# so the grader-deliverable graph is connected but each pair of graders rarely co-scores.
GRADER_POOLS: tuple[tuple[str, ...], ...] = (
    ("G01", "G02", "G03", "G04", "G05"),
    ("G05", "G06", "G07", "G08", "G09"),
    ("G09", "G10", "G11", "G12"),
    ("G12", "G13", "G14", "G01"),
)
# G14 is an occasional grader: few ratings, so a severity estimate must shrink, not flag.
# G07 (the default biased grader) carries a heavier load, so its bias is measurable at 3,000.
GRADER_LOAD = {g: {"G14": 0.2, "G07": 1.6}.get(g, 1.0) for g in GRADERS}
POOL_WIDTH = max(len(p) for p in GRADER_POOLS)

# Locations: (country, region, metro, weight). Country weights are the sums.
LOCATIONS: tuple[tuple[str, str, str, float], ...] = (
    ("US", "US-CA", "41860", 0.060), ("US", "US-CA", "31080", 0.050), ("US", "US-CA", "41940", 0.025),
    ("US", "US-CA", "41740", 0.015), ("US", "US-CA", "", 0.020), ("US", "US-WA", "42660", 0.040),
    ("US", "US-WA", "", 0.008), ("US", "US-NY", "35620", 0.090), ("US", "US-NJ", "35620", 0.020),
    ("US", "US-NJ", "", 0.010), ("US", "US-FL", "33100", 0.030), ("US", "US-HI", "46520", 0.008),
    ("US", "US-MA", "14460", 0.035), ("US", "US-GA", "12060", 0.040), ("US", "US-NM", "10740", 0.010),
    ("US", "US-DC", "47900", 0.020), ("US", "US-AR", "", 0.010), ("US", "US-MS", "", 0.008),
    ("US", "US-SD", "", 0.006), ("US", "US-TX", "19100", 0.040), ("US", "US-TX", "12420", 0.030),
    ("US", "US-IL", "16980", 0.040), ("US", "US-CO", "19740", 0.020), ("US", "US-PA", "37980", 0.025),
    ("US", "US-OH", "", 0.015), ("US", "US-NC", "", 0.015), ("US", "", "", 0.026),
    ("CA", "CA-ON", "", 0.030), ("CA", "CA-BC", "", 0.015), ("CA", "CA-QC", "", 0.015),
    ("GB", "GB-LND", "", 0.030), ("GB", "GB-MAN", "", 0.015),
    ("DE", "DE-BE", "", 0.020), ("DE", "DE-BY", "", 0.015),
    ("IN", "IN-KA", "", 0.030), ("IN", "IN-MH", "", 0.025), ("IN", "", "", 0.010),
    ("BR", "BR-SP", "", 0.020), ("BR", "BR-RJ", "", 0.010),
    ("MX", "MX-CMX", "", 0.015), ("MX", "MX-JAL", "", 0.008),
    ("PH", "PH-00", "", 0.015),
)  # fmt: skip
SOURCES = ("job_board", "referral", "university", "social", "marketplace")
SOURCE_WEIGHTS = np.array([0.35, 0.15, 0.20, 0.15, 0.15])

SEX = ("Female", "Male", "Non-binary", "", "Decline to state")
SEX_WEIGHTS = np.array([0.46, 0.445, 0.015, 0.045, 0.035])
RACE = (
    "White",
    "Hispanic or Latino",
    "Black or African American",
    "Asian",
    "Two or More Races",
    "Native Hawaiian or Pacific Islander",
    "Native American or Alaska Native",
    "",
    "Decline to state",
    "Prefer not to say",
)
# Self-ID mix differs by country (location-based pay can then create raw group gaps that vanish
# once location is controlled for, which the stipend page must show).
RACE_WEIGHTS_BY_GROUP = np.array(
    [
        [0.40, 0.17, 0.14, 0.12, 0.04, 0.008, 0.012, 0.05, 0.05, 0.01],  # US
        [0.60, 0.03, 0.07, 0.15, 0.04, 0.003, 0.007, 0.05, 0.04, 0.01],  # CA, GB, DE
        [0.02, 0.01, 0.01, 0.83, 0.02, 0.00, 0.00, 0.06, 0.04, 0.01],  # IN, PH
        [0.25, 0.55, 0.07, 0.02, 0.02, 0.00, 0.00, 0.05, 0.03, 0.01],  # BR, MX
    ]
)
RACE_GROUP_OF_COUNTRY = {"US": 0, "CA": 1, "GB": 1, "DE": 1, "IN": 2, "PH": 2, "BR": 3, "MX": 3}
DISABILITY = ("Yes", "No", "Decline to state", "")
DISABILITY_WEIGHTS = np.array([0.08, 0.77, 0.08, 0.07])
VETERAN = ("Yes", "No", "Decline to state", "")
VETERAN_WEIGHTS = np.array([0.04, 0.84, 0.06, 0.06])
AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+", "")
AGE_WEIGHTS = np.array([0.36, 0.35, 0.14, 0.06, 0.03, 0.06])

FIRST_NAMES = (
    "Ava", "Liam", "Maya", "Noah", "Zoe", "Ethan", "Priya", "Mateo", "Aisha", "Lucas", "Sofia",
    "Kenji", "Amara", "Diego", "Hannah", "Omar", "Chloe", "Ravi", "Isla", "Jamal", "Elena", "Tariq",
    "Grace", "Felipe", "Mei", "Samuel", "Leila", "Jonas", "Nia", "Arjun",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Nguyen", "Johnson", "Patel", "Okafor", "Muller", "Silva", "Kim", "Brown",
    "Lopez", "Williams", "Singh", "Chen", "Martin", "Hernandez", "Davis", "Khan", "Rossi", "Walker",
    "Santos", "Ibrahim", "Novak", "Taylor", "Moreau",
)  # fmt: skip

P_REPEAT = 0.07  # share of applications from someone who applied before
P_MICRO = 0.75
P_SELECT = 0.45
P_THREE_GRADERS = 0.3
P_AUDIT = 0.2  # triage-failed deliverables that humans score anyway
P_UNPAID = 0.003  # stipend 0: an unpaid trial the policy check must catch
P_HOURS_LOGGED = 0.65

# Micro-internship stages after applied: probability of passing (None = decided by scores), share
# of failures that are withdrawals rather than rejections.
MICRO_LATER = {
    "take_home_passed": (0.70, 0.3),
    "extension": (0.75, 0.4),
    "retainer": (0.70, 0.3),
    "hired": (0.85, 0.5),
}
TRADITIONAL_STAGES = ("applied", "selected", "take_home_passed", "hired")

CohortShape = Literal["few", "realistic"]
COHORT_SHAPES: tuple[str, ...] = ("few", "realistic")
# Realistic shape: one entry cohort per this many applications (6,666 cohorts at 1,000,000), with
# lognormal sizes: real programs run many small cohorts and a few large ones.
APPLICATIONS_PER_COHORT = 150
COHORT_SIZE_SIGMA = 0.8

START = np.datetime64("2025-01-06T00:00:00", "s")
TRADITIONAL_FROM = np.datetime64("2025-01-01T00:00:00", "s")


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. Same config, byte-identical files (chunk_size included)."""

    n_applications: int = 3000
    seed: int = 7
    plant_effects: bool = True
    disabled: frozenset[str] = frozenset()
    chunk_size: int = 100_000
    cutoff: str = "2026-06-30T00:00:00"
    n_cohorts: int = 24
    # "few": `n_cohorts` cohorts of similar size. "realistic": a new entry cohort every few days,
    # one per APPLICATIONS_PER_COHORT applications (n_cohorts is then ignored), lognormal sizes.
    cohort_shape: CohortShape = "few"
    # harsh_grader: severity in rubric points (positive = lower scores), every axis.
    harsh_grader_id: str = "G03"
    harsh_severity: float = 0.6
    # grader_group_bias: the grader scores this group lower than co-graders on the same work.
    biased_grader_id: str = "G07"
    bias_attribute: str = "race_ethnicity"
    bias_group: str = "Black or African American"
    bias_points: float = 0.8
    # submission_leak: the cohort at this position (0..1 along the schedule) loses submissions.
    leak_position: float = 0.6
    submission_rate: float = 0.82
    leak_submission_rate: float = 0.40
    # stipend_gap: percent paid less inside the same cohort and tier.
    stipend_gap_attribute: str = "sex"
    stipend_gap_group: str = "Female"
    stipend_gap_pct: float = 8.0
    # llm_triage_bias: LLM points lower on every axis for this group.
    llm_bias_attribute: str = "race_ethnicity"
    llm_bias_group: str = "Hispanic or Latino"
    llm_bias_points: float = 0.6

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - set(EFFECTS)
        if unknown:
            raise ValueError(f"unknown effects {sorted(unknown)}; known: {', '.join(EFFECTS)}")
        if self.n_applications < 0 or self.chunk_size <= 0 or self.n_cohorts < 6:
            raise ValueError("n_applications >= 0, chunk_size > 0 and n_cohorts >= 6 required")
        if self.cohort_shape not in COHORT_SHAPES:
            raise ValueError(
                f"unknown cohort shape {self.cohort_shape!r}; known: {', '.join(COHORT_SHAPES)}"
            )
        for attribute in (self.bias_attribute, self.stipend_gap_attribute, self.llm_bias_attribute):
            if attribute not in ("sex", "race_ethnicity"):
                raise ValueError(f"effects can target sex or race_ethnicity, not {attribute!r}")

    @property
    def cohort_count(self) -> int:
        """How many cohorts the schedule has: `n_cohorts`, or one per 150 applications (min 6)."""
        if self.cohort_shape == "realistic":
            return max(6, self.n_applications // APPLICATIONS_PER_COHORT)
        return self.n_cohorts

    def without(self, names: Iterable[str]) -> GeneratorConfig:
        """The same config with the named effects switched off."""
        return replace(self, disabled=frozenset(self.disabled) | frozenset(names))

    def active(self, name: str) -> bool:
        """Whether effect `name` is planted."""
        if name not in EFFECTS:
            raise ValueError(f"unknown effect {name!r}")
        return self.plant_effects and name not in self.disabled


@dataclass(frozen=True)
class PlantedEffects:
    """Ground truth of what a config plants. Ids are always given; sizes are 0 when switched off."""

    enabled: frozenset[str]
    harsh_grader: str
    harsh_severity: float
    biased_grader: str
    bias_attribute: str
    bias_group: str
    bias_points: float
    leak_cohort: str
    leak_stage: str
    leak_rate_before: float
    leak_rate_after: float
    stipend_gap_attribute: str
    stipend_gap_group: str
    stipend_gap_pct: float
    llm_bias_attribute: str
    llm_bias_group: str
    llm_bias_points: float


def planted_effects(config: GeneratorConfig) -> PlantedEffects:
    """What `config` plants: grader ids, groups, the leak cohort and the sizes."""
    on = {name for name in EFFECTS if config.active(name)}
    cohorts = _cohorts(config)
    return PlantedEffects(
        enabled=frozenset(on),
        harsh_grader=config.harsh_grader_id,
        harsh_severity=config.harsh_severity if "harsh_grader" in on else 0.0,
        biased_grader=config.biased_grader_id,
        bias_attribute=config.bias_attribute,
        bias_group=config.bias_group,
        bias_points=config.bias_points if "grader_group_bias" in on else 0.0,
        leak_cohort=str(cohorts.cohort_id[_leak_index(config)]),
        leak_stage="submitted",
        leak_rate_before=config.submission_rate,
        leak_rate_after=(
            config.leak_submission_rate if "submission_leak" in on else config.submission_rate
        ),
        stipend_gap_attribute=config.stipend_gap_attribute,
        stipend_gap_group=config.stipend_gap_group,
        stipend_gap_pct=config.stipend_gap_pct if "stipend_gap" in on else 0.0,
        llm_bias_attribute=config.llm_bias_attribute,
        llm_bias_group=config.llm_bias_group,
        llm_bias_points=config.llm_bias_points if "llm_triage_bias" in on else 0.0,
    )


# ----------------------------------------------------------------------------------------------
# Static tables: cohorts, rubrics, graders, reference data


@dataclass(frozen=True)
class _Cohorts:
    cohort_id: np.ndarray
    role: np.ndarray  # role index
    starts: np.ndarray  # datetime64[s]
    ends: np.ndarray  # datetime64[s], the last day at 00:00
    hours: np.ndarray
    rubric: np.ndarray
    weight: np.ndarray
    brief: np.ndarray


def _leak_index(config: GeneratorConfig) -> int:
    return int(config.leak_position * config.cohort_count)


def _cohorts(config: GeneratorConfig) -> _Cohorts:
    if config.cohort_shape == "realistic":
        return _realistic_cohorts(config)
    rng = np.random.default_rng([config.seed, 0])
    k = config.cohort_count
    # Spread over ~17.5 months before the cut-off; the last ones are still running at the cut-off.
    span_days = 529
    spacing = span_days / (k - 1)
    offsets = np.round(np.arange(k) * spacing + rng.integers(-3, 4, size=k)).astype(np.int64)
    offsets[0] = max(offsets[0], 0)
    starts = START + offsets * np.timedelta64(1, "D")
    weeks = rng.integers(1, 5, size=k)
    ends = starts + (weeks * 7 - 1) * np.timedelta64(1, "D")
    hours = np.clip(np.round(4 + weeks * 8 + rng.normal(0, 3, size=k)), 10, 40)
    role = np.array([COHORT_ROLE_PATTERN[i % len(COHORT_ROLE_PATTERN)] for i in range(k)])
    brief = np.array(
        [BRIEFS[r][int(u * len(BRIEFS[r]))] for r, u in zip(role, rng.random(k), strict=True)]
    )
    rubric = np.where(starts < RUBRIC_V2_FROM, "v1", "v2")
    weight = rng.uniform(0.7, 1.3, size=k)
    # The leak cohort is at least of average size, so ~45 selected at 3,000 applications: a drop to
    # 40% then falls below a p-chart's 3-sigma limit on essentially every seed (45% missed 1 in 10).
    leak = _leak_index(config)
    weight[leak] = max(weight[leak], 1.0)
    day = np.datetime_as_string(starts, unit="D")
    cohort_id = np.array([f"{ROLE_ABBR[r]}-{d}" for r, d in zip(role, day, strict=True)])
    return _Cohorts(cohort_id, role, starts, ends, hours, rubric, weight / weight.sum(), brief)


def _realistic_cohorts(config: GeneratorConfig) -> _Cohorts:
    """One cohort per APPLICATIONS_PER_COHORT applications, starts spread over the schedule.

    At 1,000,000 applications that is 6,666 cohorts, about 12 opening a day across the four roles'
    programmes; sizes are lognormal, so most cohorts are small and a few are several times larger.
    """
    rng = np.random.default_rng([config.seed, 0, 1])
    k = config.cohort_count
    span_days = 529
    # Starts spread evenly over the schedule (sorted), several a day at a million applications.
    offsets = np.sort(rng.integers(0, span_days + 1, size=k)).astype(np.int64)
    starts = START + offsets * np.timedelta64(1, "D")
    weeks = rng.integers(1, 5, size=k)
    ends = starts + (weeks * 7 - 1) * np.timedelta64(1, "D")
    hours = np.clip(np.round(4 + weeks * 8 + rng.normal(0, 3, size=k)), 10, 40)
    role = np.array(COHORT_ROLE_PATTERN)[np.arange(k) % len(COHORT_ROLE_PATTERN)]
    brief_u = rng.random(k)
    brief = np.empty(k, dtype=object)
    for r, titles in enumerate(BRIEFS):
        mine = role == r
        brief[mine] = np.array(titles)[(brief_u[mine] * len(titles)).astype(np.int64)]
    rubric = np.where(starts < RUBRIC_V2_FROM, "v1", "v2")
    # Lognormal sizes (median ~0.7 of the mean, a tail of cohorts several times the mean).
    weight = rng.lognormal(0.0, COHORT_SIZE_SIGMA, size=k)
    leak = _leak_index(config)
    weight[leak] = max(weight[leak], float(weight.mean()))
    day = np.datetime_as_string(starts, unit="D")
    # Several cohorts of one role can open on one day: number them within (role, day).
    key = pd.Series(np.char.add(np.array(ROLE_ABBR)[role], day))
    seq = key.groupby(key, sort=False).cumcount().to_numpy() + 1
    cohort_id = np.char.add(
        np.char.add(np.char.add(np.array(ROLE_ABBR)[role], "-"), day.astype(str)),
        np.char.add("-", np.char.zfill(seq.astype(str), 2)),
    )
    return _Cohorts(
        cohort_id, role, starts, ends, hours, rubric, weight / weight.sum(), brief.astype(str)
    )


def _cohorts_frame(c: _Cohorts) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cohort_id": c.cohort_id,
            "role": np.array(ROLES)[c.role],
            "brief_title": c.brief,
            "starts_on": np.datetime_as_string(c.starts, unit="D"),
            "ends_on": np.datetime_as_string(c.ends, unit="D"),
            "rubric_version": c.rubric,
            "estimated_hours": c.hours.astype(np.int64),
        }
    )


def _rubrics_frame() -> pd.DataFrame:
    rows = [
        (version, axis, text, float(MIN_SCORE), float(MAX_SCORE), PASS_MARK)
        for version, texts in AXIS_DESCRIPTIONS.items()
        for axis, text in zip(AXES, texts, strict=True)
    ]
    return pd.DataFrame(rows, columns=[c.name for c in TABLES_BY_NAME["rubrics"].columns])


def _cost_of_living_frame() -> pd.DataFrame:
    columns = [c.name for c in TABLES_BY_NAME["cost_of_living"].columns]
    return pd.DataFrame(ref.cost_of_living_rows(), columns=columns)


def _fx_frame(config: GeneratorConfig) -> pd.DataFrame:
    as_of = config.cutoff[:10]
    return pd.DataFrame(
        [(cur, rate, as_of) for cur, rate in ref.USD_PER_UNIT.items()],
        columns=["currency", "usd_per_unit", "as_of"],
    )


@dataclass(frozen=True)
class _World:
    """Everything a chunk needs that does not depend on the chunk."""

    config: GeneratorConfig
    cohorts: _Cohorts
    cutoff: np.int64  # seconds since epoch
    severity: np.ndarray  # per grader index, rubric points (positive = harsher)
    noise_sd: np.ndarray  # per grader index
    pool_idx: np.ndarray  # role x POOL_WIDTH grader indices, -1 = padding
    pool_load: np.ndarray  # role x POOL_WIDTH weights, 0 = padding
    leak_index: int
    loc_country: np.ndarray
    loc_region: np.ndarray
    loc_metro: np.ndarray
    loc_p: np.ndarray
    loc_race_group: np.ndarray
    loc_currency: np.ndarray
    loc_usd_per_unit: np.ndarray
    loc_pay_factor: np.ndarray
    active: frozenset[str] = field(default_factory=frozenset)


def _world(config: GeneratorConfig) -> _World:
    rng = np.random.default_rng([config.seed, 1])
    # Ordinary graders differ a little in severity (well inside the 0.25-point flag threshold).
    severity = rng.uniform(-0.08, 0.08, size=len(GRADERS))
    noise_sd = rng.uniform(0.35, 0.55, size=len(GRADERS))
    if config.active("harsh_grader"):
        severity[GRADERS.index(config.harsh_grader_id)] += config.harsh_severity
    pool_idx = np.full((len(ROLES), POOL_WIDTH), -1, dtype=np.int64)
    pool_load = np.zeros((len(ROLES), POOL_WIDTH))
    for r, pool in enumerate(GRADER_POOLS):
        pool_idx[r, : len(pool)] = [GRADERS.index(g) for g in pool]
        pool_load[r, : len(pool)] = [GRADER_LOAD[g] for g in pool]
    countries = np.array([loc[0] for loc in LOCATIONS])
    currency = np.array([ref.COUNTRIES[c][0] for c in countries])
    pli = {c: ref.derived_pli(c) for c in ref.COUNTRIES}
    # Location-based pay: outside the US stipends are partly indexed to local prices.
    pay_factor = np.array(
        [1.0 if c == "US" else 0.5 + 0.5 * (pli[c] or 40.0) / 100.0 for c in countries]
    )
    weights = np.array([loc[3] for loc in LOCATIONS])
    return _World(
        config=config,
        cohorts=_cohorts(config),
        cutoff=np.datetime64(config.cutoff, "s").astype(np.int64),
        severity=severity,
        noise_sd=noise_sd,
        pool_idx=pool_idx,
        pool_load=pool_load,
        leak_index=_leak_index(config),
        loc_country=countries,
        loc_region=np.array([loc[1] for loc in LOCATIONS]),
        loc_metro=np.array([loc[2] for loc in LOCATIONS]),
        loc_p=weights / weights.sum(),
        loc_race_group=np.array([RACE_GROUP_OF_COUNTRY[c] for c in countries]),
        loc_currency=currency,
        loc_usd_per_unit=np.array([ref.USD_PER_UNIT[c] for c in currency]),
        loc_pay_factor=pay_factor,
        active=frozenset(e for e in EFFECTS if config.active(e)),
    )


# ----------------------------------------------------------------------------------------------
# One chunk of applications


def _gamma_days(rng: np.random.Generator, shape: float, mean_days: float, n: int) -> np.ndarray:
    """Delays in whole seconds, gamma-distributed with the given mean in days."""
    return np.round(rng.gamma(shape, mean_days / shape, size=n) * DAY).astype(np.int64)


def _choice_by_row(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs` (rows sum to 1), vectorized."""
    cum = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None] * cum[:, -1:]
    return np.minimum((u > cum).sum(axis=1), probs.shape[1] - 1)


def _funnel(
    times: np.ndarray,
    passes: np.ndarray,
    withdraw_p: np.ndarray,
    rng: np.random.Generator,
    cutoff: np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Event rows (row index, event code, time) for applications moving through ordered stages.

    times[:, s] is when stage s is reached or decided; passes[:, s] whether it is passed (column 0,
    applied, always). The first failed stage ends the application with a rejection (at the decision
    time) or a withdrawal (somewhere between the previous stage and that time). Events after the
    cut-off are not in the export, so applications still running have no terminal event.
    Event codes: 0..S-1 = the stages, S = rejected, S+1 = withdrew.
    """
    n, s_count = times.shape
    reached = np.cumprod(passes, axis=1).astype(bool)
    depth = reached.sum(axis=1)  # stages reached (>= 1)
    failed = depth < s_count
    fail_stage = np.minimum(depth, s_count - 1)
    rows = np.arange(n)
    prev_t = times[rows, fail_stage - 1]
    decide_t = times[rows, fail_stage]
    withdrew = rng.random(n) < withdraw_p[fail_stage]
    frac = rng.uniform(0.2, 1.0, size=n)
    fail_t = np.where(
        withdrew, prev_t + np.round(frac * (decide_t - prev_t)).astype(np.int64), decide_t
    )
    stage_rows, stage_codes = np.nonzero(reached & (times <= cutoff))
    stage_t = times[stage_rows, stage_codes]
    term = failed & (fail_t <= cutoff)
    term_rows = rows[term]
    term_codes = np.where(withdrew[term], s_count + 1, s_count)
    return (
        np.concatenate([stage_rows, term_rows]),
        np.concatenate([stage_codes, term_codes]),
        np.concatenate([stage_t, fail_t[term]]),
    )


def _round_scores(latent: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(latent), MIN_SCORE, MAX_SCORE).astype(np.int64)


def _chunk(world: _World, start: int, n: int, chunk_index: int) -> dict[str, pd.DataFrame]:
    cfg = world.config
    c = world.cohorts
    rng = np.random.default_rng([cfg.seed, 2, chunk_index])
    cutoff = world.cutoff
    idx = np.arange(n)

    # --- who applies: repeat applicants point at an earlier application of the same chunk
    is_repeat = (rng.random(n) < P_REPEAT) & (idx > 0)
    parent = np.where(is_repeat, np.floor(rng.random(n) * idx).astype(np.int64), idx)
    root = parent.copy()
    while True:  # pointer jumping: O(log n) vectorized passes, not a loop per row
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    is_new = root == idx

    loc = rng.choice(len(LOCATIONS), size=n, p=world.loc_p)[root]
    sex = rng.choice(len(SEX), size=n, p=SEX_WEIGHTS)[root]
    race = _choice_by_row(rng, RACE_WEIGHTS_BY_GROUP[world.loc_race_group[loc]])[root]
    disability = rng.choice(len(DISABILITY), size=n, p=DISABILITY_WEIGHTS)
    veteran = rng.choice(len(VETERAN), size=n, p=VETERAN_WEIGHTS)
    age = rng.choice(len(AGE_BANDS), size=n, p=AGE_WEIGHTS)
    first = rng.integers(0, len(FIRST_NAMES), size=n)[root]
    last = rng.integers(0, len(LAST_NAMES), size=n)[root]

    # --- what they apply to
    micro = rng.random(n) < P_MICRO
    coh = rng.choice(len(c.cohort_id), size=n, p=c.weight)
    same = is_repeat & micro & micro[parent] & (coh == coh[parent])
    # A repeat applicant picks another cohort than the application it repeats.
    coh = np.where(same, (coh + 1) % len(c.cohort_id), coh)
    role = np.where(micro, c.role[coh], rng.choice(len(ROLES), size=n, p=ROLE_WEIGHTS))
    starts = c.starts.astype(np.int64)[coh]
    ends = c.ends.astype(np.int64)[coh]
    t_lo = TRADITIONAL_FROM.astype(np.int64)
    applied = np.where(
        micro,
        starts - np.round(rng.uniform(2, 28, size=n) * DAY).astype(np.int64),
        t_lo + np.floor(rng.random(n) * (cutoff - HOUR - t_lo)).astype(np.int64),
    )
    source = rng.choice(len(SOURCES), size=n, p=SOURCE_WEIGHTS)

    # Group membership for the planted effects.
    def member(attribute: str, group: str) -> np.ndarray:
        if attribute == "sex":
            return np.array(SEX)[sex] == group
        return np.array(RACE)[race] == group

    # --- micro-internship funnel, computed for every row, used where micro
    t_sel = np.clip(applied + _gamma_days(rng, 2.0, 4.0, n), applied + 2 * HOUR, starts - 12 * HOUR)
    sel_pass = rng.random(n) < P_SELECT
    sub_rate = np.full(n, cfg.submission_rate)
    if "submission_leak" in world.active:
        sub_rate[coh == world.leak_index] = cfg.leak_submission_rate
    sub_pass = rng.random(n) < sub_rate
    early = rng.random(n) < 0.3
    t_sub = (
        ends
        + np.round(rng.uniform(8, 23.5, size=n) * HOUR).astype(np.int64)
        - np.where(early, np.round(rng.uniform(0, 2, size=n) * DAY).astype(np.int64), 0)
    )
    t_sub = np.maximum(t_sub, t_sel + HOUR)

    # Deliverable quality and the scores (only submitted micro-internship applications are scored).
    quality = rng.normal(3.25, 0.7, size=n)
    axis_quality = rng.normal(0.0, 0.3, size=(n, len(AXES)))
    llm_noise = rng.normal(0.0, 0.35, size=(n, len(AXES)))
    llm_latent = quality[:, None] + axis_quality + 0.1 + llm_noise
    if "llm_triage_bias" in world.active:
        hit = member(cfg.llm_bias_attribute, cfg.llm_bias_group)
        llm_latent -= np.where(hit, cfg.llm_bias_points, 0.0)[:, None]
    llm_scores = _round_scores(llm_latent)
    t_llm = t_sub + np.round(rng.uniform(1, 24, size=n) * HOUR).astype(np.int64)
    triage_pass = llm_scores.mean(axis=1) >= TRIAGE_THRESHOLD
    t_triage = t_llm + np.round(rng.uniform(1, 20, size=n) * HOUR).astype(np.int64)

    submitted = micro & sel_pass & sub_pass
    audited = rng.random(n) < P_AUDIT
    human = submitted & (triage_pass | audited)

    # Graders: 2-3 from the role's pool, drawn without replacement weighted by load
    # (exponential race: the smallest Exp(1)/load keys win).
    n_graders = np.where(rng.random(n) < P_THREE_GRADERS, 3, 2)
    keys = rng.exponential(size=(n, POOL_WIDTH)) / np.maximum(world.pool_load[role], 1e-12)
    keys[world.pool_load[role] == 0] = np.inf
    order = np.argsort(keys, axis=1, kind="stable")[:, :3]
    panel = np.take_along_axis(world.pool_idx[role], order, axis=1)  # n x 3 grader indices
    scored_at = t_triage[:, None] + np.round(rng.uniform(0.2, 5.0, size=(n, 3)) * DAY).astype(
        np.int64
    )
    slot_used = np.arange(3)[None, :] < n_graders[:, None]
    grader_noise = rng.normal(0.0, 1.0, size=(n, 3, len(AXES))) * world.noise_sd[panel][:, :, None]
    human_latent = (
        quality[:, None, None]
        + axis_quality[:, None, :]
        - world.severity[panel][:, :, None]
        + grader_noise
    )
    if "grader_group_bias" in world.active:
        hit = member(cfg.bias_attribute, cfg.bias_group)
        biased = (panel == GRADERS.index(cfg.biased_grader_id)) & hit[:, None]
        human_latent -= np.where(biased, cfg.bias_points, 0.0)[:, :, None]
    human_scores = _round_scores(human_latent)
    used_scores = np.where(slot_used[:, :, None], human_scores, 0)
    human_mean = used_scores.sum(axis=(1, 2)) / (n_graders * len(AXES))
    rubric_pass = human_mean >= PASS_MARK
    last_scored = np.where(slot_used, scored_at, 0).max(axis=1)
    t_rubric = last_scored + np.round(rng.uniform(2, 24, size=n) * HOUR).astype(np.int64)

    t_take = t_rubric + _gamma_days(rng, 4.0, 8.0, n)
    t_ext = t_take + _gamma_days(rng, 4.0, 4.0, n)
    t_ret = t_ext + _gamma_days(rng, 6.0, 14.0, n)
    t_hire = t_ret + _gamma_days(rng, 6.0, 21.0, n)
    later_pass = [rng.random(n) < p for p, _ in MICRO_LATER.values()]

    micro_times = np.stack(
        [applied, t_sel, t_sub, t_triage, t_rubric, t_take, t_ext, t_ret, t_hire], axis=1
    )
    micro_passes = np.stack(
        [np.ones(n, bool), sel_pass, sub_pass, triage_pass, rubric_pass, *later_pass], axis=1
    )
    micro_withdraw = np.array([0.0, 0.15, 0.8, 0.0, 0.0] + [w for _, w in MICRO_LATER.values()])

    # --- traditional funnel: screen, take-home, offer; slower than the micro-internship path
    t1 = applied + _gamma_days(rng, 3.0, 21.0, n)
    t2 = t1 + _gamma_days(rng, 4.0, 40.0, n)
    t3 = t2 + _gamma_days(rng, 5.0, 90.0, n)
    trad_times = np.stack([applied, t1, t2, t3], axis=1)
    trad_passes = np.stack(
        [np.ones(n, bool), rng.random(n) < 0.35, rng.random(n) < 0.5, rng.random(n) < 0.45], axis=1
    )
    trad_withdraw = np.array([0.0, 0.2, 0.3, 0.4])

    m_rows = np.flatnonzero(micro)
    t_rows = np.flatnonzero(~micro)
    mr, mc, mt = _funnel(micro_times[m_rows], micro_passes[m_rows], micro_withdraw, rng, cutoff)
    tr, tc, tt = _funnel(trad_times[t_rows], trad_passes[t_rows], trad_withdraw, rng, cutoff)
    micro_names = np.array(list(STAGES) + ["rejected", "withdrew"])
    trad_names = np.array(list(TRADITIONAL_STAGES) + ["rejected", "withdrew"])
    # Funnel rank of each event (terminal outcomes last) breaks ties between equal timestamps.
    trad_rank = np.array([STAGES.index(s) for s in TRADITIONAL_STAGES] + [len(STAGES)] * 2)
    ev_row = np.concatenate([m_rows[mr], t_rows[tr]])
    ev_name = np.concatenate([micro_names[mc], trad_names[tc]])
    ev_time = np.concatenate([mt, tt])
    ev_order = np.concatenate([np.minimum(mc, len(STAGES)), trad_rank[tc]])
    sort = np.lexsort((ev_order, ev_time, ev_row))

    # --- stipends (set at selection), hours logged (after submission)
    selected_known = micro & sel_pass & (t_sel <= cutoff)
    tier = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    tier_mult = np.array([1.0, 1.15, 1.3])[tier]
    usd = (
        HOURLY_USD[role]
        * c.hours[coh]
        * tier_mult
        * world.loc_pay_factor[loc]
        * np.exp(rng.normal(0.0, 0.04, size=n))
    )
    if "stipend_gap" in world.active:
        gap = member(cfg.stipend_gap_attribute, cfg.stipend_gap_group)
        usd *= np.where(gap, 1.0 - cfg.stipend_gap_pct / 100.0, 1.0)
    local = np.rint(usd / world.loc_usd_per_unit[loc])
    local[rng.random(n) < P_UNPAID] = 0.0
    stipend = pd.array(np.where(selected_known, local, np.nan), dtype="Int64")
    stipend_currency = np.where(selected_known, world.loc_currency[loc], "")
    submitted_known = submitted & (t_sub <= cutoff)
    logged = np.round(c.hours[coh] * np.exp(rng.normal(0.05, 0.25, size=n)) * 2) / 2
    hours_logged = np.where(submitted_known & (rng.random(n) < P_HOURS_LOGGED), logged, np.nan)

    # --- output frames
    gidx = start + idx
    app_ids = _ids("A", gidx, cfg.n_applications)
    cand_ids = _ids("C", start + root, cfg.n_applications)
    first_names = np.array(FIRST_NAMES)[first]
    last_names = np.array(LAST_NAMES)[last]
    emails = pd.Series(first_names).str.lower() + "." + pd.Series(last_names).str.lower()
    emails = emails + pd.Series(start + root).astype(str) + "@example.com"
    applications = pd.DataFrame(
        {
            "application_id": app_ids,
            "candidate_id": cand_ids,
            "track": np.where(micro, "micro_internship", "traditional"),
            "cohort_id": np.where(micro, c.cohort_id[coh], ""),
            "role": np.array(ROLES)[role],
            "applied_at": _timestamps(applied),
            "source": np.array(SOURCES)[source],
            "country": world.loc_country[loc],
            "region": world.loc_region[loc],
            "metro": world.loc_metro[loc],
            "stipend_amount": stipend,
            "stipend_currency": stipend_currency,
            "hours_logged": hours_logged,
            "full_name": pd.Series(first_names) + " " + pd.Series(last_names),
            "email": emails,
        }
    )
    demographics = pd.DataFrame(
        {
            "candidate_id": cand_ids[is_new],
            "sex": np.array(SEX)[sex[is_new]],
            "race_ethnicity": np.array(RACE)[race[is_new]],
            "disability": np.array(DISABILITY)[disability[is_new]],
            "veteran": np.array(VETERAN)[veteran[is_new]],
            "age_band": np.array(AGE_BANDS)[age[is_new]],
        }
    )
    stage_events = pd.DataFrame(
        {
            "application_id": app_ids[ev_row[sort]],
            "event": ev_name[sort],
            "occurred_at": _timestamps(ev_time[sort]),
        }
    )
    scores = _scores_frame(
        app_ids,
        submitted,
        human,
        llm_scores,
        t_llm,
        panel,
        slot_used,
        human_scores,
        scored_at,
        cutoff,
    )
    return {
        "applications": applications,
        "demographics": demographics,
        "scores": scores,
        "stage_events": stage_events,
    }


def _scores_frame(
    app_ids: np.ndarray,
    submitted: np.ndarray,
    human: np.ndarray,
    llm_scores: np.ndarray,
    t_llm: np.ndarray,
    panel: np.ndarray,
    slot_used: np.ndarray,
    human_scores: np.ndarray,
    scored_at: np.ndarray,
    cutoff: np.int64,
) -> pd.DataFrame:
    n_axes = len(AXES)
    # LLM: one score per axis for every submitted deliverable scored before the cut-off.
    llm_rows = np.flatnonzero(submitted & (t_llm <= cutoff))
    llm = pd.DataFrame(
        {
            "row": np.repeat(llm_rows, n_axes),
            "slot": -1,
            "axis_i": np.tile(np.arange(n_axes), len(llm_rows)),
            "grader_id": "llm",
            "grader_kind": "llm",
            "score": llm_scores[llm_rows].ravel(),
            "t": np.repeat(t_llm[llm_rows], n_axes),
        }
    )
    # Humans: a deliverable's panel is exported once complete (all its graders scored before the
    # cut-off), so every exported deliverable has 2-3 graders on every axis.
    last = np.where(slot_used, scored_at, 0).max(axis=1)
    done = human & (last <= cutoff)
    d_rows, d_slots = np.nonzero(slot_used & done[:, None])
    grader_names = np.array(GRADERS)[panel[d_rows, d_slots]]
    humans = pd.DataFrame(
        {
            "row": np.repeat(d_rows, n_axes),
            "slot": np.repeat(d_slots, n_axes),
            "axis_i": np.tile(np.arange(n_axes), len(d_rows)),
            "grader_id": np.repeat(grader_names, n_axes),
            "grader_kind": "human",
            "score": human_scores[d_rows, d_slots].ravel(),
            "t": np.repeat(scored_at[d_rows, d_slots], n_axes),
        }
    )
    both = pd.concat([llm, humans], ignore_index=True)
    both = both.sort_values(["row", "slot", "axis_i"], kind="stable")
    return pd.DataFrame(
        {
            "application_id": app_ids[both["row"].to_numpy()],
            "grader_id": both["grader_id"].to_numpy(),
            "grader_kind": both["grader_kind"].to_numpy(),
            "axis": np.array(AXES)[both["axis_i"].to_numpy()],
            "score": both["score"].to_numpy(),
            "scored_at": _timestamps(both["t"].to_numpy()),
        }
    )


def _ids(prefix: str, numbers: np.ndarray, total: int) -> np.ndarray:
    width = max(7, len(str(max(total, 1))))
    if numbers.size == 0:
        return np.array([], dtype=f"<U{width + 1}")
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width))


def _timestamps(seconds: np.ndarray) -> pd.Series:
    """Whole-second timestamps; pandas writes them as 'YYYY-MM-DD HH:MM:SS'."""
    return pd.Series(np.asarray(seconds, dtype=np.int64).astype("datetime64[s]"))


# ----------------------------------------------------------------------------------------------
# Writing


CHUNKED = ("applications", "demographics", "scores", "stage_events")


def _write(frame: pd.DataFrame, handle: TextIO, *, header: bool) -> None:
    frame.to_csv(handle, index=False, header=header, lineterminator="\n")


def generate(out_dir: Path, config: GeneratorConfig | None = None) -> dict[str, int]:
    """Write the contract CSVs for `config` into `out_dir`; return rows written per file name."""
    config = config or GeneratorConfig()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    world = _world(config)
    counts: dict[str, int] = {}
    static = {
        "cohorts": _cohorts_frame(world.cohorts),
        "rubrics": _rubrics_frame(),
        "cost_of_living": _cost_of_living_frame(),
        "fx_rates": _fx_frame(config),
    }
    for name, frame in static.items():
        with open(out_dir / f"{name}.csv", "w", encoding="utf-8", newline="") as handle:
            _write(frame, handle, header=True)
        counts[f"{name}.csv"] = len(frame)

    handles = {
        name: open(out_dir / f"{name}.csv", "w", encoding="utf-8", newline="")  # noqa: SIM115
        for name in CHUNKED
    }
    try:
        for name in CHUNKED:
            counts[f"{name}.csv"] = 0
        starts = range(0, max(config.n_applications, 1), config.chunk_size)
        for chunk_index, start in enumerate(starts):
            n = min(config.chunk_size, config.n_applications - start)
            frames = _chunk(world, start, n, chunk_index)
            for name in CHUNKED:
                _write(frames[name], handles[name], header=chunk_index == 0)
                counts[f"{name}.csv"] += len(frames[name])
    finally:
        for handle in handles.values():
            handle.close()
    ordered = ("cohorts", "rubrics", "applications", "demographics", "scores", "stage_events")
    ordered += ("cost_of_living", "fx_rates")
    return {f"{name}.csv": counts[f"{name}.csv"] for name in ordered}
