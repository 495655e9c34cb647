"""Pure analysis functions: DataFrames in, tidy DataFrames or small frozen dataclasses out.

Nothing in this package imports Streamlit; the pages and `signalboard report` call the same functions.
"""
