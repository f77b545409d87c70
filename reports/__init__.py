"""The HTML report of a gate run, rendered from its ``result.json`` alone.

``render_run(run_dir, base=None)`` writes ``index.html`` (self-contained, charts
included), ``summary.md`` (verdict and budget table for CI summaries and PR
comments) and ``junit.xml`` (one test case per budget verdict) into the run
folder. ``python -m reports render <run dir | result.json> [--base ...]`` does
the same from the command line. The document is read and checked by the
:mod:`results` package; ``reports`` never imports ``benchmarks``.
"""

from reports._compare import NoiseRule, RunComparison, compare_runs
from reports._document import (
    SUPPORTED_SCHEMA_VERSIONS,
    DocumentError,
    ReportError,
    RunDocument,
    load_document,
)
from reports._render import OUTPUTS, render_run

__all__ = [
    "OUTPUTS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "DocumentError",
    "NoiseRule",
    "ReportError",
    "RunComparison",
    "RunDocument",
    "compare_runs",
    "load_document",
    "render_run",
]
