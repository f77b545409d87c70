"""``index.html``: one self-contained page rendered from a run's result document.

One cached Jinja environment with autoescape (every document value is escaped);
assets are inlined so the file works offline: our CSS and JS, the figures as
one JSON block (sorted keys, ``<``/``>``/``&`` escaped so no value can close
the script element), and plotly.js from the installed plotly package, gzipped
and base64-encoded once per page — the raw bundle alone is ~4.6 MiB — and
unpacked by the browser's ``DecompressionStream``.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import posixpath
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import plotly.offline
from markupsafe import Markup

from reports._charts import RunCharts
from reports._compare import NOISE_RULE, RunComparison
from reports._document import RunDocument, Verdict, label
from reports._findings import verdict_findings
from reports._format import format_value, headroom, margin
from reports._summary import headline, limit_text

__all__ = ["index_html", "page_assets", "page_environment", "script_json"]

_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


def script_json(data: object) -> Markup:
    """``data`` as JSON that is safe inside a ``<script>`` element (sorted keys)."""
    text = json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    for raw, escaped in _JSON_ESCAPES.items():
        text = text.replace(raw, escaped)
    return Markup(text)  # every character that could end the element is escaped above


@functools.cache
def _plotly_js_gzip() -> str:
    """plotly.js of the installed plotly package, gzipped (mtime 0: same bytes every time)."""
    source = plotly.offline.get_plotlyjs().encode("utf-8")
    return base64.b64encode(gzip.compress(source, compresslevel=9, mtime=0)).decode("ascii")


def _asset(name: str) -> Markup:
    text = resources.files("reports").joinpath("templates", name).read_text(encoding="utf-8")
    return Markup(text)  # our own stylesheet and script, not document data


def _epoch(value: float | None) -> str:
    if value is None:
        return "n/a"
    return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@functools.cache
def page_environment() -> jinja2.Environment:
    """The Jinja environment of every page (autoescape on, the report's filters)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    environment.filters["value"] = format_value
    environment.filters["label"] = label
    environment.filters["epoch"] = _epoch
    environment.globals["margin"] = margin
    environment.globals["limit"] = limit_text
    return environment


def page_assets(charts: bool) -> dict[str, Markup | str]:
    """What every page inlines: our CSS and JS, and plotly.js when it draws ``charts``."""
    return {
        "css": _asset("report.css"),
        "js": _asset("report.js"),
        "plotly_js_gzip": _plotly_js_gzip() if charts else "",
    }


@dataclass(frozen=True)
class _Flamegraph:
    href: str
    exists: bool


def _flamegraph(run: RunDocument, run_dir: Path) -> _Flamegraph | None:
    """The memray flamegraph link, only as a plain relative path inside the run folder."""
    if run.memray is None or not run.memray.flamegraph:
        return None
    href = run.memray.flamegraph
    normal = posixpath.normpath(href)
    inside = not href.startswith(("/", "\\")) and not normal.startswith("..") and ":" not in href
    return _Flamegraph(href=href, exists=inside and (run_dir / normal).is_file())


def _reproduce(run: RunDocument) -> str:
    commit = run.environment.commit
    lines = [f"git checkout {commit}" if commit else "# check out the commit this run measured"]
    if run.environment.dirty:
        lines.append("# the run had uncommitted changes: the commit alone may not reproduce it")
    lines.append(run.environment.reproduce or "make bench")
    lines += [
        "# re-render this report from its result.json (no containers needed):",
        f".venv/bin/python -m reports render reports/out/{run.run_id}",
    ]
    return "\n".join(lines)


def _tightest(run: RunDocument, count: int = 3, below: float = 0.2) -> list[Verdict]:
    """Passing budgets with less than ``below`` of their limit left, tightest first."""
    close = [
        (share, index, verdict)
        for index, verdict in enumerate(run.verdicts)
        if verdict.passed and (share := headroom(verdict)) is not None and share < below
    ]
    return [verdict for _, _, verdict in sorted(close)[:count]]


def index_html(
    run: RunDocument, charts: RunCharts, comparison: RunComparison | None, *, run_dir: Path
) -> str:
    """The page for ``run`` (with deltas against ``comparison.base`` when given)."""

    def findings(verdict: Verdict) -> list[str]:
        return verdict_findings(run, verdict)

    figures: dict[str, Any] = {chart.dom_id: chart.figure for chart in charts.all()}
    context = {
        "run": run,
        "charts": charts,
        "comparison": comparison,
        "headline": headline(run),
        "findings": findings,
        "unstable_count": sum(1 for v in run.verdicts if v.unstable),
        "tightest": _tightest(run),
        "noise_rule": NOISE_RULE,
        "flamegraph": _flamegraph(run, run_dir),
        "reproduce": _reproduce(run),
        "figures_json": script_json(figures),
        **page_assets(bool(figures)),
    }
    return page_environment().get_template("index.html.j2").render(context)
