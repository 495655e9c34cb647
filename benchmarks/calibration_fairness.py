"""Null calibration of the adverse-impact flags and the funnel cohort alerts over generated data,
and the planted effects still found. Usage:

    python -m benchmarks.calibration_fairness [NULL_SIMS] [PLANTED_SIMS] [N_APPLICATIONS] [WORKERS]
        [FIRST_NULL_SEED]

Each dataset goes the whole way a user's data goes: etl.generate writes the exports
(`plant_effects=False` for the null ones), etl.load builds a warehouse, and the Fairness audit
(queries/fairness_cells.sql) and the funnel alerts (queries/funnel_application_states.sql) read
it as the report does. Printed rates carry their simulation standard error; docs/fairness.md
and docs/funnel-and-time-to-hire.md hold the measured numbers. The suite's small versions are
tests/signalboard/analysis/test_fairness_calibration.py and tests/signalboard/analysis/test_funnel_calibration.py.
"""

from __future__ import annotations

import contextlib
import io
import math
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from etl.generate import GeneratorConfig, generate, planted_effects
from etl.load import load_paths
from signalboard.analysis import fairness, funnel
from signalboard.db import connect_readonly
from signalboard.settings import Settings

ALPHA = 0.05


def one_dataset(seed: int, n_applications: int, plant: bool) -> dict[str, object]:
    """Generate, load and audit one dataset; the counts the calibration needs."""
    config = GeneratorConfig(n_applications=n_applications, seed=seed, plant_effects=plant)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        generate(root / "exports", config=config)
        settings = Settings(db_path=root / "w.duckdb", pseudonym_key_file=root / "key")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            load_paths([root / "exports"], settings=settings, progress=False)
        con = connect_readonly(settings.db_path)
        try:
            cells = fairness.load_cells(con)
            trends = funnel.cohort_trends_from_counts(
                funnel.stage_counts(con, by=list(funnel.TREND_KEYS)), alpha=ALPHA
            )
        finally:
            con.close()
    table = fairness.audit_from_counts(fairness.step_counts_from_cells(cells)).table
    significant = table["q_value"] < ALPHA
    flagged = table["status"] == "below_four_fifths_significant"
    per_step = table.assign(sig=significant, flag=flagged).groupby("step")[["sig", "flag"]].any()
    z_rows = table[table["test"] == "z"]
    ci_below = z_rows["ir_ci_high"] < 1
    ci_above = z_rows["ir_ci_low"] > 1
    p_small = z_rows["p_value"] < ALPHA
    truth = planted_effects(config)
    planted_row = table[
        (table["step"] == fairness.TRIAGE_STEP)
        & (table["attribute"] == truth.llm_bias_attribute)
        & (table["group"] == truth.llm_bias_group)
    ]
    alerts = trends[trends["flagged"]]
    leak = alerts[
        (alerts["cohort_id"] == truth.leak_cohort) & (alerts["stage"] == truth.leak_stage)
    ]
    return {
        "families": len(per_step),
        "families_sig": int(per_step["sig"].sum()),
        "families_flag": int(per_step["flag"].sum()),
        "any_sig": bool(significant.any()),
        "any_flag": bool(flagged.any()),
        "rows_z": len(z_rows),
        "rows_p05": int(p_small.sum()),
        "rows_too_few": int((table["status"] == "too_few_to_test").sum()),
        "disagree": int(((ci_below | ci_above) != p_small).sum()),
        "planted_flagged": bool(
            len(planted_row) and planted_row["status"].iloc[0] == "below_four_fifths_significant"
        ),
        "other_flags": int(flagged.sum())
        - int(
            len(planted_row) > 0
            and planted_row["status"].iloc[0] == "below_four_fifths_significant"
        ),
        "funnel_tests": int((trends["complete"] & trends["p_value"].notna()).sum()),
        "funnel_any_alert": bool(len(alerts)),
        "leak_found": bool(len(leak)),
        "funnel_other_alerts": len(alerts) - len(leak),
    }


def _rate(hits: float, total: float) -> str:
    if not total:
        return "n/a"
    p = hits / total
    return f"{p:.3f} (SE {math.sqrt(max(p * (1 - p), 1e-12) / total):.3f}; {hits:g}/{total:g})"


def run(seeds: range, n_applications: int, plant: bool, workers: int) -> list[dict]:
    args = [(seed, n_applications, plant) for seed in seeds]
    if workers <= 1:
        return [one_dataset(*a) for a in args]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one_dataset, *zip(*args, strict=True)))


def main(
    null_sims: int = 100,
    planted_sims: int = 20,
    n: int = 2000,
    workers: int = 2,
    first_seed: int = 1000,
) -> None:
    start = time.perf_counter()
    null = run(range(first_seed, first_seed + null_sims), n, False, workers)
    total = {key: sum(r[key] for r in null) for key in null[0]}
    print(f"null datasets: {null_sims} x {n:,} applications, seeds {first_seed}..")
    print(
        "fairness, (dataset, step) families with a q < .05 row: "
        + _rate(total["families_sig"], total["families"])
    )
    print(
        "fairness, (dataset, step) families with a below_four_fifths_significant row: "
        + _rate(total["families_flag"], total["families"])
    )
    print("fairness, datasets with any q < .05 row: " + _rate(total["any_sig"], null_sims))
    print("fairness, datasets with any flag: " + _rate(total["any_flag"], null_sims))
    print(
        "fairness, z-tested rows with p < .05 (unadjusted): "
        + _rate(total["rows_p05"], total["rows_z"])
    )
    print(f"fairness, too_few_to_test rows per dataset: {total['rows_too_few'] / null_sims:.1f}")
    print(f"fairness, rows whose CI and p disagree: {total['disagree']}")
    print(
        "funnel, datasets with any alert (Holm over "
        f"{total['funnel_tests'] / null_sims:.0f} tests each): "
        + _rate(total["funnel_any_alert"], null_sims)
    )
    if planted_sims:
        planted = run(range(planted_sims), max(n, 3000), True, workers)
        hits = {key: sum(r[key] for r in planted) for key in planted[0]}
        print(f"planted datasets: {planted_sims} x {max(n, 3000):,} applications")
        print(
            "fairness, planted LLM triage bias flagged: "
            + _rate(hits["planted_flagged"], planted_sims)
        )
        print(f"fairness, other flagged rows per dataset: {hits['other_flags'] / planted_sims:.2f}")
        print("funnel, planted submission leak alerted: " + _rate(hits["leak_found"], planted_sims))
        print(f"funnel, other alerts per dataset: {hits['funnel_other_alerts'] / planted_sims:.2f}")
    print(f"wall time: {time.perf_counter() - start:.0f} s with {workers} worker(s)")
    sys.stdout.flush()


if __name__ == "__main__":
    values = [int(v) for v in sys.argv[1:]]
    main(*values)
