"""Null calibration of the stipend adjusted-gap flag at scale: the share of p < .05 by group
size band over many generated null datasets (the suite's tests/signalboard/stats/test_stipends_calibration.py
runs 200). Usage: python -m benchmarks.calibration_stipends [SIMS]."""

from __future__ import annotations

import sys

import numpy as np

from tests.signalboard.stats.test_stipends_calibration import flag_rates


def main(sims: int = 2000) -> None:
    for spread in (0.15, 0.3):
        rates = flag_rates(spread=spread, sims=sims)
        print(
            f"null, small-group SD {spread}: "
            + ", ".join(f"{b}: {r:.3f}" for b, r in rates.items())
        )
    power = flag_rates(gap=-0.2, spread=0.15, sims=sims // 4)
    print("planted -20%, SD 0.15: " + ", ".join(f"{b}: {r:.3f}" for b, r in power.items()))
    print(f"simulation SE at 5%: {np.sqrt(0.05 * 0.95 / sims):.4f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
