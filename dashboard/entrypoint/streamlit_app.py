"""The script `signalboard serve` hands to `streamlit run`: it runs dashboard/app.py.

Why not run dashboard/app.py directly: Streamlit treats a `pages/` folder beside the entry script
as a v1 multipage app, and on the first run of a fresh server (and on every AppTest run) a deep
link such as /data_health is served from that folder alone, bypassing st.navigation and the
sidebar's filters (compare streamlit/streamlit#9624). There is no pages/ folder beside this file,
so every run goes through dashboard/app.py.
"""

import runpy
from pathlib import Path

runpy.run_path(str(Path(__file__).resolve().parent.parent / "app.py"), run_name="__main__")
