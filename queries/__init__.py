"""Package data, not code: the SQL that ships inside signalboard as `signalboard._queries`.

`library/` is what analysts see in `signalboard query --list` and on the SQL page; `analysis/`
holds the inputs of the analysis sections. See queries/README.md.
"""
