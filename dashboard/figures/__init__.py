"""Plotly figure builders: a result frame in, a `go.Figure` out (never shown here)."""
