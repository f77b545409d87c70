"""The report of a base-vs-head run: one table per relative limit and both distributions."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.judge.relative import judge_versus_base, load_relative_limits
from reports import load_document, render_run
from tests.reports.synthetic_runs import checked

Document = dict[str, Any]
ENDPOINT = "GET /api/recommendations"


def _round(name: str, side: str, statements: float) -> Document:
    return {
        "name": name,
        "side": side,
        "commit": "0123456789ab" if side == "base" else None,
        "service_image": f"tastematch-bench/service:{side}",
        "error": None,
        "endpoints": {},
        "containers": {"service-0": {"peak_working_set_bytes": 150 * 2**20}},
        "cache": {"recommendations": {"hit_rate": 0.9}},
        "sql_probe": {"GET /api/orders": {"max": statements}},
        "work_probe": {},
        "load_generator": {},
    }


def versus_base_block(*, slower: float) -> Document:
    """Three pairs of rounds; head's recommendations ``slower`` times base's, one statement more."""
    rng = np.random.default_rng(7)
    order = ["base-1", "head-1", "head-2", "base-2", "base-3", "head-3"]
    samples = {
        name: {
            ENDPOINT: (rng.lognormal(2.0, 0.4, 400) * (slower if name.startswith("head") else 1.0))
            .round(3)
            .tolist()
        }
        for name in order
    }
    block: Document = {
        "base": {"ref": "main", "commit": "0123456789ab", "image": "tastematch-bench/service:base"},
        "head": {"ref": "working tree", "commit": None, "image": "tastematch-bench/service:head"},
        "same_image": False,
        "scenario": "standard",
        "users": 50,
        "warmup_s": 15,
        "measure_s": 20,
        "order": order,
        "pairs": [
            {"base": "base-1", "head": "head-1"},
            {"head": "head-2", "base": "base-2"},
            {"base": "base-3", "head": "head-3"},
        ],
        "rounds": [_round(name, name.split("-")[0], 2 if name[0] == "b" else 3) for name in order],
        "samples": samples,
        "errors": [],
    }
    block["verdicts"] = judge_versus_base(block, load_relative_limits())
    block["passed"] = all(verdict["passed"] for verdict in block["verdicts"])
    return block


def test_a_slower_head_is_shown_failing_with_its_figures_and_chart(
    make_document: Callable[[str], Document], write_document: Callable[[str, Document], Path]
) -> None:
    document = make_document("passing")
    document["versus_base"] = versus_base_block(slower=3.0)
    run_dir = write_document("versus", checked(document))
    assert load_document(run_dir).passed is False
    render_run(run_dir)
    html = (run_dir / "index.html").read_text()
    section = html[html.index('<section id="versus-base">') :]
    section = section[: section.index("</section>")]
    assert "Against base revision main" in section
    assert re.search(r"FAIL</span> p95_vs_base", section)
    assert re.search(r"FAIL</span> sql_vs_base", section)
    assert f"{ENDPOINT} p95" in section
    figures = json.loads(re.findall(r'id="report-figures">(.*?)</script>', html, re.S)[0])
    assert "chart-versus-base" in figures
    assert 'href="#versus-base"' in html


def test_an_equal_head_passes(
    make_document: Callable[[str], Document], write_document: Callable[[str, Document], Path]
) -> None:
    document = make_document("passing")
    block = versus_base_block(slower=1.0)
    for entry in block["rounds"]:
        entry["sql_probe"]["GET /api/orders"]["max"] = 2
    block["verdicts"] = judge_versus_base(block, load_relative_limits())
    block["passed"] = all(verdict["passed"] for verdict in block["verdicts"])
    document["versus_base"] = block
    run_dir = write_document("same", checked(document))
    render_run(run_dir)
    html = (run_dir / "index.html").read_text()
    assert "p95_vs_base" in html
    assert not re.search(r"FAIL</span> (p95|p50|sql)_vs_base", html)


def test_the_distributions_chart_orders_equally_busy_endpoints_by_name(
    make_document: Callable[[str], Document], write_document: Callable[[str, Document], Path]
) -> None:
    """Equally busy endpoints keep one order whatever the process's string hashing."""
    document = make_document("passing")
    block = versus_base_block(slower=1.0)
    names = ["GET /z", "GET /b", "GET /m", "GET /a", "GET /k"]
    for samples in block["samples"].values():
        samples.update({name: [1.0, 2.0, 3.0] for name in names})
    document["versus_base"] = block
    run_dir = write_document("ties", checked(document))
    render_run(run_dir)
    html = (run_dir / "index.html").read_text()
    figures = json.loads(re.findall(r'id="report-figures">(.*?)</script>', html, re.S)[0])
    titles = [item["text"] for item in figures["chart-versus-base"]["layout"]["annotations"]]
    # The busiest first (400 samples a round), then the ties by name; four panels at most.
    assert titles == [ENDPOINT, "GET /a", "GET /b", "GET /k"]
