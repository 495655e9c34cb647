"""Paths of the checkout the tests run from (the library itself resolves its files from the package)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = REPO_ROOT / "dashboard" / "app.py"
VIEWS = REPO_ROOT / "dashboard" / "views"
LIBRARY = REPO_ROOT / "queries" / "library"
ANALYSIS_QUERIES = REPO_ROOT / "queries" / "analysis"
