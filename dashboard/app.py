"""Entry point of the Streamlit app: navigation, global filters, then the chosen page.

Run with `signalboard serve` (or `signalboard demo` for the bundled sample).
"""

from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the repository root.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

import streamlit as st  # noqa: E402

from dashboard import ui  # noqa: E402

PAGES_DIR = Path(__file__).resolve().parent / "pages"

PAGES = [
    st.Page(
        str(PAGES_DIR / "funnel.py"), title="Funnel", icon=":material/filter_alt:", default=True
    ),
    st.Page(str(PAGES_DIR / "time_to_hire.py"), title="Time to hire", icon=":material/schedule:"),
    st.Page(str(PAGES_DIR / "assessors.py"), title="Assessors", icon=":material/grading:"),
    st.Page(str(PAGES_DIR / "fairness.py"), title="Fairness", icon=":material/balance:"),
    st.Page(str(PAGES_DIR / "stipends.py"), title="Stipends", icon=":material/payments:"),
    st.Page(str(PAGES_DIR / "sql.py"), title="SQL", icon=":material/database:"),
    st.Page(
        str(PAGES_DIR / "data_health.py"), title="Data health", icon=":material/health_and_safety:"
    ),
]

st.set_page_config(page_title="signalboard", page_icon=":material/insights:", layout="wide")
page = st.navigation(PAGES)
ui.sidebar_filters()
page.run()
