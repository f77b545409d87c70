"""The reports of every command, rendered from its result document alone.

``render_run(run_dir, base=None)`` renders whichever document the folder holds. A gate
(or OOM, or faults) run's ``result.json`` gets ``index.html`` (self-contained, charts
included), ``summary.md`` (verdict and budget table for CI summaries and PR comments)
and ``junit.xml`` (one test case per budget verdict); ``selftest.json`` gets
``selftest.md`` and ``selftest.html``; ``capacity.json`` gets ``capacity.md`` and
``capacity.html``. ``python -m reports render <run dir | document> [--base ...]`` does
the same from the command line. The document is read and checked by the
:mod:`results` package; ``reports`` never imports ``benchmarks``.
"""

from reports._capacity import capacity_html, capacity_markdown
from reports._compare import NoiseRule, RunComparison, compare_runs
from reports._document import (
    SUPPORTED_SCHEMA_VERSIONS,
    DocumentError,
    ReportError,
    RunDocument,
    load_document,
)
from reports._render import DOCUMENTS, OUTPUTS, render_document, render_run
from reports._selftest import selftest_html, selftest_markdown, selftest_table, tally

__all__ = [
    "DOCUMENTS",
    "OUTPUTS",
    "SUPPORTED_SCHEMA_VERSIONS",
    "DocumentError",
    "NoiseRule",
    "ReportError",
    "RunComparison",
    "RunDocument",
    "capacity_html",
    "capacity_markdown",
    "compare_runs",
    "load_document",
    "render_document",
    "render_run",
    "selftest_html",
    "selftest_markdown",
    "selftest_table",
    "tally",
]
