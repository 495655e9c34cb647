"""The Streamlit app (pages, widgets) and the pure analysis functions it draws (dashboard.analysis)."""
