"""Null calibration of the adverse-impact flags and the funnel alerts on simulated counts, and the
planted effects still found: the suite's small version of benchmarks/calibration_fairness.py,
which runs generated datasets through the whole load (its rates are in docs/fairness.md and
docs/funnel-and-time-to-hire.md).

Adverse impact: one funnel step with a sex table (one group under the 5% comparator share) and
a race table of seven groups of realistic, unequal sizes, every group at the same rate: BH runs
over the step, so the nominal rate is at most 5% of steps with any significant row. Testing
only the comparisons with the highest-rate group (the old family) flags about 8% of such steps.

Funnel: twelve cohorts of one track passing every step at the same rates; the alerts control
the family-wise error over all (cohort, step) tests at 5%.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from etl.contract import STAGES
from signalboard.analysis import funnel
from signalboard.stats.adverse_impact import impact_tables

SIMS = 300
FUNNEL_SIMS = 100


def limit(sims: int) -> float:
    """The nominal 5% plus two simulation standard errors."""
    return 0.05 + 2 * np.sqrt(0.05 * 0.95 / sims)


SEX = {"Female": 0.5, "Male": 0.46, "Non-binary": 0.04}
RACE = {
    "White": 0.4,
    "Hispanic or Latino": 0.18,
    "Black or African American": 0.13,
    "Asian": 0.16,
    "Two or More Races": 0.07,
    "Native American or Alaska Native": 0.03,
    "Native Hawaiian or Pacific Islander": 0.03,
}


def step_counts(rng: np.random.Generator, *, shift: float = 1.0) -> pd.DataFrame:
    """One step's sex and race tables for 800 applicants at one rate (drawn per step), with the
    Hispanic or Latino rate multiplied by `shift`."""
    rate = rng.uniform(0.15, 0.6)
    n = 800
    rows = []
    for attribute, shares in (("sex", SEX), ("race_ethnicity", RACE)):
        sizes = rng.multinomial(n, list(shares.values()))
        for group, size in zip(shares, sizes, strict=True):
            p = rate * (shift if group == "Hispanic or Latino" else 1.0)
            rows.append((attribute, group, int(size), int(rng.binomial(size, min(p, 1.0)))))
    frame = pd.DataFrame(rows, columns=["attribute", "group", "n", "selected"])
    frame.insert(0, "step", "applied->selected")
    return frame


def audit_rates(*, shift: float = 1.0, sims: int = SIMS) -> dict[str, float]:
    rng = np.random.default_rng(2024)
    any_significant = any_flag = planted = disagree = 0
    for _ in range(sims):
        out = impact_tables(
            step_counts(rng, shift=shift),
            table_columns=["step", "attribute"],
            family_columns=["step"],
        )
        any_significant += bool((out["q_value"] < 0.05).any())
        any_flag += bool((out["status"] == "below_four_fifths_significant").any())
        row = out[(out["attribute"] == "race_ethnicity") & (out["group"] == "Hispanic or Latino")]
        planted += row["status"].iloc[0] == "below_four_fifths_significant"
        tested = out[out["p_value"].notna()]
        beyond = (tested["ir_ci_high"] < 1) | (tested["ir_ci_low"] > 1)
        disagree += int((beyond != (tested["p_value"] < 0.05)).sum())
    return {
        "any_significant": any_significant / sims,
        "any_flag": any_flag / sims,
        "planted": planted / sims,
        "disagree": disagree,
    }


def test_adverse_impact_null_rate_is_nominal_per_step() -> None:
    rates = audit_rates()
    assert rates["any_significant"] <= limit(SIMS), rates
    assert rates["any_flag"] <= limit(SIMS), rates
    assert rates["disagree"] == 0


def test_a_planted_shortfall_is_still_found() -> None:
    """Hispanic or Latino (about 145 of 800) selected at half everyone else's rate (itself drawn
    from 15-60%): below four-fifths and significant in most steps (measured: 82 of 100)."""
    rates = audit_rates(shift=0.5, sims=100)
    assert rates["planted"] >= 0.7, rates


def cohort_counts(rng: np.random.Generator, *, leak: float = 1.0) -> pd.DataFrame:
    """Twelve cohorts of 150 micro-internship applications, every step passed at its own fixed
    rate; the ninth cohort's submission rate multiplied by `leak`. Counts per cohort and furthest
    stage, nothing pending (the input `cohort_trends_from_counts` takes)."""
    step_rates = np.array([0.5, 0.7, 0.6, 0.6, 0.5, 0.6, 0.7, 0.8])
    rows = []
    for c in range(12):
        rates = step_rates.copy()
        if c == 8:
            rates[1] *= leak
        alive = 150
        for stage in range(len(STAGES)):
            passed = int(rng.binomial(alive, rates[stage])) if stage < len(STAGES) - 1 else 0
            stopped = alive - passed
            if stopped:
                rows.append(
                    {
                        "track": "micro_internship",
                        "entry_cohort": f"c{c:02d}",
                        "cohort_start": pd.Timestamp(2025, 1, 1) + pd.Timedelta(weeks=4 * c),
                        "furthest_stage_index": stage,
                        "pending": False,
                        "in_progress": False,
                        "applications": stopped,
                    }
                )
            alive = passed
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("leak", "expected"),
    [pytest.param(1.0, "null", marks=pytest.mark.slow), (0.5, "found")],
)
def test_funnel_alerts_null_rate_and_planted_leak(leak: float, expected: str) -> None:
    """Null: at most 5% of datasets with any alert; a halved submission rate in one cohort of
    150: alerted in nearly every dataset."""
    rng = np.random.default_rng(7)
    sims = FUNNEL_SIMS if expected == "null" else 30
    any_alert = found = 0
    for _ in range(sims):
        trends = funnel.cohort_trends_from_counts(cohort_counts(rng, leak=leak))
        flagged = trends[trends["flagged"]]
        any_alert += bool(len(flagged))
        found += bool(((flagged["cohort_id"] == "c08") & (flagged["stage"] == "submitted")).any())
    if expected == "null":
        assert any_alert / sims <= limit(sims)
    else:
        assert found / sims >= 0.9
