"""Judging: budgets and relative limits, read from ``benchmarks/budgets.toml`` and applied
to a result document's JSON.

Pure functions of a document: nothing here boots a container or runs a load, so a
saved run is re-judged without either (``python -m benchmarks evaluate``).
"""
