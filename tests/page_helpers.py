"""Opening one dashboard page in Streamlit's AppTest, as `signalboard serve` runs it, and reading
the table shown above a download button (shared by the page tests)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.escape import WORD_JOINER
from tests.paths import REPO_ROOT

ENTRY = REPO_ROOT / "dashboard" / "app.py"
TIMEOUT = 120  # per run; two CPUs are shared by the whole test run


def open_app_page(
    page: Path, db_path: Path, monkeypatch: pytest.MonkeyPatch, *, timeout: float = TIMEOUT
) -> AppTest:
    """The app on the warehouse `db_path`, switched to `page` (a file in dashboard/views)."""
    monkeypatch.setenv("SIGNALBOARD_DB", str(db_path))
    at = AppTest.from_file(str(ENTRY), default_timeout=timeout).run()
    return at.switch_page(str(page)).run()


def frame_by_download(at: AppTest, file_name: str) -> pd.DataFrame:
    """The dataframe shown just before the download button of `file_name`.csv."""
    labels = [b.label for b in at.get("download_button")]
    assert f"Download {file_name}.csv" in labels, labels
    return at.dataframe[labels.index(f"Download {file_name}.csv")].value


def shown_text(markdown: str) -> str:
    """What a reader sees of Markdown source written with `dashboard.escape.markdown_text`: the
    backslash escapes resolved and the invisible word joiners dropped (AppTest gives the source)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace(WORD_JOINER, "")
