"""Calibration of the Assessors intervals and flags at scale (the suite's
tests/signalboard/analysis/test_assessors_calibration.py runs small versions): interval coverage on generator-like
sparse designs with and without grader variance, the grader x group bias rate on a null, and
false-flag rates and power over many generated datasets. Usage:
python -m benchmarks.calibration_assessors [SCALE] (SCALE 3: about eleven minutes on the
shared 2-core box; docs/assessors.md has its figures)."""

from __future__ import annotations

import sys
import time

import numpy as np

from tests.signalboard.analysis.test_assessors_calibration import (
    bias_null_rates,
    generated_flag_counts,
    interval_coverage,
)


def _se(rate: float, n: float) -> str:
    return f"{rate:.3f} (SE {np.sqrt(max(rate * (1 - rate), 0.05 * 0.95) / n):.3f})"


def main(scale: float = 1.0) -> None:
    start = time.perf_counter()
    for n_deliverables, grid, sims in ((400, (0.0, 0.1, 0.2, 0.5), 1000), (1500, (0.0, 0.5), 300)):
        for sd_grader in grid:
            n = max(int(sims * scale), 10)
            coverage = interval_coverage(
                n_deliverables=n_deliverables, sd_grader=sd_grader, sims=n, seed=17
            )
            print(
                f"coverage, {n_deliverables} deliverables, grader SD {sd_grader}, {n} designs: "
                + ", ".join(f"{m} {_se(v, n)}" for m, v in coverage.items()),
                flush=True,
            )
    for sd_grader in (0.3,):
        rates = bias_null_rates(sd_grader=sd_grader, sims=max(int(300 * scale), 5), seed=23)
        tests = rates["tests"]
        print(
            f"bias null, grader SD {sd_grader}, {tests} cell tests: p < .05 "
            f"{_se(rates['p_below_05'], tests)}, flagged {rates['flagged']:.4f}",
            flush=True,
        )
    null = generated_flag_counts(range(1000, 1000 + max(int(250 * scale), 2)))
    print(f"generated null: {null}", flush=True)
    for name, rows in (("severity", "severity_rows"), ("bias", "bias_tests"), ("smd", "smd_rows")):
        flags = {"severity": "severity_flags", "bias": "bias_flags", "smd": "smd_fail"}[name]
        print(
            f"  {name}: {null[flags]} of {null[rows]} = {_se(null[flags] / null[rows], null[rows])}"
        )
    planted = generated_flag_counts(range(2000, 2000 + max(int(80 * scale), 2)), plant=True)
    print(f"generated planted: {planted}", flush=True)
    print(f"elapsed {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
