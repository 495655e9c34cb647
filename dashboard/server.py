"""`python -m dashboard.server run APP [options]`: Streamlit's own command line, started after
importing every module the pages use.

Streamlit imports nothing of the app until the first session runs its script, so the first
person after a restart waited for pandas, SciPy, statsmodels, plotly and the analysis modules
to import (several seconds, measured in docs/performance.md) before the page computed anything.
Importing them here, before the server answers its health check, moves that wait to the start,
where a process manager's readiness probe absorbs it. The page scripts still import what they
use; these imports only make that a lookup in `sys.modules`.
"""

from __future__ import annotations

import importlib
import sys

from signalboard.memory import keep_freed_memory

# Modules that define Streamlit caches when imported: imported before the server's runtime
# exists, their caches would fall back to a storage of their own ("No runtime found, using
# MemoryCacheStorageManager"). The pages import them, and everything they import is preloaded.
STREAMLIT_BOUND: tuple[str, ...] = ("dashboard.auth", "dashboard.ui")

# Every module a page (or a module in STREAMLIT_BOUND) imports that costs time to import: the
# analysis sections (which pull in pandas, SciPy and statsmodels), the figures (plotly) and the
# warehouse seam. A test checks this covers each project module they import.
PRELOADED: tuple[str, ...] = (
    "dashboard.escape",
    "dashboard.figures.assessors",
    "dashboard.figures.fairness",
    "dashboard.figures.funnel",
    "dashboard.figures.sql",
    "dashboard.figures.stipends",
    "etl.contract",
    "plotly.express",
    "plotly.graph_objects",
    "signalboard.analysis.assessors",
    "signalboard.analysis.data_health",
    "signalboard.analysis.fairness",
    "signalboard.analysis.findings",
    "signalboard.analysis.funnel",
    "signalboard.analysis.sql_library",
    "signalboard.analysis.stipends",
    "signalboard.analysis.time_to_hire",
    "signalboard.access",
    "signalboard.csv_safety",
    "signalboard.db",
    "signalboard.present",
    "signalboard.query_cli",
    "signalboard.queries",
    "signalboard.sandbox",
    "signalboard.settings",
    "signalboard.stats.adverse_impact",
    "signalboard.stats.reliability",
    "signalboard.stats.suppression",
)


def preload() -> None:
    """Import every module in `PRELOADED` (each once; later imports are lookups)."""
    for name in PRELOADED:
        importlib.import_module(name)


def main(argv: list[str] | None = None) -> None:
    """Preload, then hand the arguments to Streamlit's CLI exactly as `python -m streamlit`."""
    # the sections' large temporaries reuse the server's pages instead of faulting in fresh ones
    keep_freed_memory()
    preload()
    from streamlit.web.cli import main as streamlit_main

    # Streamlit reads its own command line from sys.argv (click), and names itself "streamlit"
    # so the server sees the same command string as `streamlit run` (streamlit/__main__.py).
    sys.argv = ["streamlit", *(sys.argv[1:] if argv is None else argv)]
    streamlit_main(prog_name="streamlit")


if __name__ == "__main__":
    main()
