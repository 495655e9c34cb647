"""The cohort alerts on generated data: the planted submission leak is flagged over several seeds,
and null data (`plant_effects=False`) raises alerts at no more than the nominal rate.

Each dataset goes the whole way a user's data goes: etl.generate writes the exports, etl.load
builds a warehouse, the application_journeys query reads it, cohort_trends tests it. The alerts
control the family-wise error over all (cohort, step) tests of a dataset at alpha = 0.05, so the
nominal rate is "at most 5% of null datasets with any alert".

Measured when this was written (see docs/funnel-and-time-to-hire.md): leak flagged 20/20 seeds
at 6,000 applications and 18/20 at 3,000 (the leak cohort has ~40 selected applicants there);
null datasets with any alert 0/20 at both sizes.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest

from etl.generate import GeneratorConfig, generate, planted_effects
from etl.load import load_paths
from signalboard.analysis import funnel
from signalboard.db import connect_readonly
from signalboard.queries import run_query
from signalboard.settings import Settings

ALPHA = 0.05


def alerts_for(config: GeneratorConfig, folder: Path) -> pd.DataFrame:
    """Generate, load and test one dataset; return its funnel_alerts rows."""
    generate(folder / "exports", config=config)
    settings = Settings(db_path=folder / "w.duckdb", pseudonym_key_file=folder / "key")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        load_paths([folder / "exports"], settings=settings, progress=False)
    con = connect_readonly(settings.db_path)
    try:
        journeys = run_query(con, "application_journeys")
    finally:
        con.close()
    return funnel.funnel_alerts(funnel.cohort_trends(journeys, alpha=ALPHA))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(5))
def test_planted_leak_is_the_only_alert(seed, tmp_path):
    config = GeneratorConfig(n_applications=6000, seed=seed)
    truth = planted_effects(config)
    assert "submission_leak" in truth.enabled
    alerts = alerts_for(config, tmp_path)
    flagged = alerts.loc[alerts["flagged"], ["cohort_id", "stage"]]
    assert [tuple(r) for r in flagged.itertuples(index=False)] == [
        (truth.leak_cohort, truth.leak_stage)
    ]
    row = alerts.loc[alerts["flagged"]].iloc[0]
    assert row["rate"] < row["lower_limit"] < row["expected_rate"]


@pytest.mark.slow
def test_null_data_alerts_at_no_more_than_the_nominal_rate(tmp_path):
    seeds = range(10)
    datasets_with_alerts = 0
    tests = 0
    for seed in seeds:
        config = GeneratorConfig(n_applications=3000, seed=seed, plant_effects=False)
        alerts = alerts_for(config, tmp_path / str(seed))
        tests += int(alerts["complete"].sum())
        datasets_with_alerts += bool(alerts["flagged"].any())
    assert tests > 100 * len(seeds)  # many (cohort, step) tests per dataset were made
    # Nominal: 5% of datasets. With 10 datasets, more than one would be above it.
    assert datasets_with_alerts <= max(1, int(ALPHA * len(seeds)))


@pytest.mark.slow
def test_switching_the_leak_off_silences_it(tmp_path):
    config = GeneratorConfig(n_applications=6000, seed=0).without({"submission_leak"})
    alerts = alerts_for(config, tmp_path)
    assert not alerts["flagged"].any()
