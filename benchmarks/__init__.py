"""Benchmarks of the load, the report sections and the pages at scale (`signalboard benchmark`).

Not part of the library: it drives the Streamlit app, AppTest and Chromium, which the library never
imports. `signalboard benchmark` finds it at run time.
"""
