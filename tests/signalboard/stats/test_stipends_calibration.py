"""Null calibration of the stipend adjusted-gap flag by group size, and its power.

Over generated null datasets (no group enters the pay) the share of comparisons with p < .05
must stay at most the nominal 5% within simulation error in each size band (5-9, 10-19, 20+),
including when the small group's pay is more spread out than the reference's (the case where
HC3 with a normal reference rejected 27-39% of the time). benchmarks/calibration_stipends.py
runs the same check at scale; its rates are in docs/stipends.md.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signalboard.stats.pay_gap import Controls, Grouping, adjusted_gap_estimates

SIMS = 200
BANDS = {"5-9": 7, "10-19": 14, "20+": 30}
REFERENCE_N = 150


def null_dataset(seed: int, *, gap: float = 0.0, spread: float = 0.3) -> tuple:
    """A reference group and one group per band; log stipend depends on role and hours only
    (plus `gap` for every non-reference group); the small groups' noise SD is `spread`."""
    rng = np.random.default_rng(seed)
    labels = ["ref", *BANDS]
    sizes = [REFERENCE_N, *BANDS.values()]
    group = np.repeat(np.arange(len(labels)), sizes)
    n = len(group)
    frame = pd.DataFrame(
        {
            "role": rng.choice(["analyst", "engineer", "designer"], n),
            "cohort_length_days": rng.choice([7, 14, 28], n),
            "estimated_hours": rng.choice([10.0, 20.0, 40.0], n),
            "price_level": 100.0,
        }
    )
    sd = np.where(group == 0, 0.15, spread)
    y = (
        6.0
        + 0.3 * (frame["role"] == "engineer").to_numpy()
        + 0.02 * frame["estimated_hours"].to_numpy()
        + np.log1p(gap) * (group > 0)
        + rng.normal(0, 1, n) * sd
    )
    grouping = Grouping(group.astype(np.int64), np.array(labels, dtype=object))
    return y, grouping, Controls.of(frame)


def flag_rates(*, gap: float = 0.0, spread: float = 0.3, sims: int = SIMS) -> dict[str, float]:
    flags = dict.fromkeys(BANDS, 0)
    for seed in range(sims):
        y, grouping, controls = null_dataset(seed, gap=gap, spread=spread)
        gaps = adjusted_gap_estimates(
            y, grouping, controls, reference="ref", min_n=0, min_smaller=5
        )
        for band in BANDS:
            assert gaps[band].method == "ols_hc3"
            flags[band] += gaps[band].p_value < 0.05
    return {band: count / sims for band, count in flags.items()}


@pytest.mark.parametrize("spread", [0.15, 0.3])
def test_null_false_flag_rate_is_nominal_in_every_size_band(spread: float) -> None:
    rates = flag_rates(spread=spread)
    limit = 0.05 + 2 * np.sqrt(0.05 * 0.95 / SIMS)
    assert all(rate <= limit for rate in rates.values()), rates


def test_a_planted_gap_is_still_found_in_groups_of_20_plus() -> None:
    """-20% in a 30-person group with the reference's spread: found in most datasets."""
    rates = flag_rates(gap=-0.2, spread=0.15, sims=100)
    assert rates["20+"] >= 0.9, rates
