"""One section per area: compute from the warehouse into a result, publish it as tables and files.

Nothing in this package imports Streamlit or plotly; the pages and `signalboard report` call the
same sections.
"""
