"""Entry point of the Streamlit app: navigation, global filters, then the chosen page.

Run with `signalboard serve` (or `signalboard demo` for the bundled sample).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from dashboard import auth, ui

# Not `pages/`: Streamlit treats a `pages/` folder beside the entry script as a v1 multipage app
# and serves a deep link such as /data_health from it, bypassing st.navigation and the sidebar's
# filters (streamlit/streamlit#9624). The views are registered with st.navigation only.
PAGES_DIR = Path(__file__).resolve().parent / "views"


@dataclass(frozen=True)
class PageSpec:
    """One page of the app: its file in dashboard/views/, its title and its icon."""

    file: str
    title: str
    icon: str

    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file

    @property
    def url_path(self) -> str:
        # st.Page derives the URL path from the file name (funnel.py -> /funnel).
        return Path(self.file).stem


# The pages in navigation order; the first is the default. Tests iterate over this list.
PAGE_SPECS: tuple[PageSpec, ...] = (
    PageSpec("funnel.py", "Funnel", ":material/filter_alt:"),
    PageSpec("time_to_hire.py", "Time to hire", ":material/schedule:"),
    PageSpec("assessors.py", "Assessors", ":material/grading:"),
    PageSpec("fairness.py", "Fairness", ":material/balance:"),
    PageSpec("stipends.py", "Stipends", ":material/payments:"),
    PageSpec("sql.py", "SQL", ":material/database:"),
    PageSpec("data_health.py", "Data health", ":material/health_and_safety:"),
)


def main() -> None:
    """Set up the page, draw the navigation and the global filters, then run the chosen page."""
    st.set_page_config(page_title="signalboard", page_icon=":material/insights:", layout="wide")
    # Who is asking decides which pages exist for this session (dashboard/auth.py).
    viewer = auth.current_viewer()
    page = auth.navigation(PAGE_SPECS)
    auth.account_sidebar()
    if viewer.roles:
        ui.sidebar_filters()
    page.run()


# Streamlit runs this file as __main__; importing it (tests, the browser test) only defines PAGE_SPECS.
if __name__ == "__main__":
    main()
