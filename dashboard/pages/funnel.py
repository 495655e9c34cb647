"""Funnel page (filled by its own issue; until then it says what it will show)."""

import streamlit as st

from dashboard import ui

st.title("Funnel")
if not ui.warehouse_ready():
    ui.missing_warehouse_message()
else:
    st.info("This page is being built. The Data health page shows what is loaded.")
