"""Pure numerics: arrays and DataFrames in, tidy DataFrames or frozen dataclasses out.

Nothing here opens a connection, reads a file or imports Streamlit; `signalboard.analysis` feeds
these functions from the warehouse and publishes their results.
"""
