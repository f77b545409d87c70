"""The report rendered from synthetic result documents (``synthetic_runs``): files,
content, determinism, size, escaping and comparison with a base run (bad input and the
other document kinds: ``test_report_documents.py``)."""

from __future__ import annotations

import base64
import gzip
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.offline

from reports import OUTPUTS, render_run
from tests.reports.page import page_figures, script

MAX_REPORT_BYTES = 5_000_000
Document = dict[str, Any]
Maker = Callable[[str], Document]
Writer = Callable[[str, Document], Path]


def test_render_writes_the_three_files(passing_run: Path) -> None:
    written = render_run(passing_run)

    assert [path.name for path in written] == list(OUTPUTS)
    assert all(path.parent == passing_run and path.stat().st_size > 0 for path in written)


def test_render_accepts_the_result_json_path(passing_run: Path) -> None:
    written = render_run(passing_run / "result.json")

    assert {path.parent for path in written} == {passing_run}


def test_passing_report_says_pass_and_lists_every_budget(
    passing_run: Path, make_document: Maker
) -> None:
    render_run(passing_run)
    html = (passing_run / "index.html").read_text()
    document = make_document("passing")

    assert 'data-verdict="pass"' in html
    assert f"all {len(document['verdicts'])} budgets held" in html
    for verdict in document["verdicts"]:
        assert f"<strong>{verdict['budget']}</strong>" in html
    tightest = html[html.index('<p class="tightest">') :].split("</p>")[0]
    assert (
        "<strong>db_connections_per_replica</strong> (optimized) 4 of ≤ 4, 0 left (0%)" in tightest
    )


def test_failing_report_names_each_failed_budget_with_its_numbers(failing_run: Path) -> None:
    render_run(failing_run)
    html = (failing_run / "index.html").read_text()
    banner = html[html.index('id="verdict"') : html.index('<nav class="toc">')]

    assert 'data-verdict="fail"' in html
    assert "measured 988.5 MiB, limit ≤ 300.0 MiB — over by 688.5 MiB" in banner
    assert "service-0 was OOM-killed at 61.5 s (measured), exit code 137" in banner
    assert "largest allocation site (memray): service/catalog.py:88 load_restaurants" in banner
    assert "worst one-second p95 of GET /api/recommendations" in banner
    assert "recommendations_p95" in banner
    assert "unstable" in html
    assert "postgres_peak_working_set" not in banner  # it held


def test_every_chart_has_its_element_and_one_plotly_bundle(
    failing_run: Path, make_document: Maker
) -> None:
    render_run(failing_run)
    html = (failing_run / "index.html").read_text()
    figures = page_figures(html)

    phases = make_document("failing")["phases"]
    traced = sum(1 for phase in phases if phase["trace_waterfalls"])
    # memory, latency, cache/db and SQL per phase; span waterfalls per traced phase;
    # p95 by phase; memray top sites
    assert len(figures) == 4 * len(phases) + traced + 2
    for dom_id, figure in figures.items():
        assert f'id="{dom_id}"' in html
        assert figure["data"], dom_id
    assert html.count('id="plotly-js-gzip"') == 1
    bundle = gzip.decompress(base64.b64decode(script(html, "plotly-js-gzip")))
    assert bundle.decode() == plotly.offline.get_plotlyjs()


def test_traced_phases_show_span_counts_and_one_waterfall_per_endpoint(passing_run: Path) -> None:
    render_run(passing_run)
    html = (passing_run / "index.html").read_text()
    assert "<h3>Traces</h3>" in html
    waterfall = page_figures(html)["chart-waterfall-0"]
    assert [b["label"] for b in waterfall["layout"]["updatemenus"][0]["buttons"]] == [
        "GET /api/orders",
        "GET /api/recommendations",
    ]
    assert [trace["visible"] for trace in waterfall["data"]] == [True, True, False, False]
    typical, slowest = waterfall["data"][:2]
    assert typical["base"] == [0.0, 0.5, 1.5, 0.2]  # spans on the request's own clock
    assert slowest["y"][0].startswith("slowest · 41.0 ms · 4 spans · 00 GET /api/orders")


def test_oom_kill_cap_and_budget_are_drawn_on_the_memory_chart(failing_run: Path) -> None:
    render_run(failing_run)
    figure = page_figures((failing_run / "index.html").read_text())["chart-memory-0"]
    texts = [a.get("text", "") for a in figure["layout"]["annotations"]]

    assert "OOM kill at 61.5 s" in texts
    assert "cap 1.0 GiB" in texts
    assert "service_peak_working_set ≤ 300.0 MiB" in texts
    assert any(text.startswith("warm-up") for text in texts)


def test_output_is_deterministic_with_sorted_embedded_json(passing_run: Path) -> None:
    first = [path.read_bytes() for path in render_run(passing_run)]
    second = [path.read_bytes() for path in render_run(passing_run)]
    html = first[0].decode()
    block = script(html, "report-figures")

    assert first == second
    assert block == json.dumps(
        json.loads(block), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def test_report_stays_under_5_mb(failing_run: Path, passing_run: Path) -> None:
    render_run(failing_run, base=passing_run)

    assert (failing_run / "index.html").stat().st_size < MAX_REPORT_BYTES


def test_long_timelines_are_thinned_keeping_the_peak(
    make_document: Maker, write_document: Writer
) -> None:
    document = make_document("passing")
    samples = document["phases"][0]["timeline"]["memory"]["service-0"]
    peak = max(sample["working_set_bytes"] for sample in samples)
    # an hour-long phase at 4 Hz
    document["phases"][0]["timeline"]["memory"]["service-0"] = [
        {**samples[i % len(samples)], "t": i * 0.25} for i in range(14_400)
    ]
    run = write_document("long", document)
    render_run(run)
    html = (run / "index.html").read_text()
    trace = page_figures(html)["chart-memory-0"]["data"][4]  # service-0 working set

    assert trace["name"] == "working set"
    assert len(trace["y"]) <= 400
    assert max(trace["y"]) == round(peak / 1024**2, 2)
    assert (run / "index.html").stat().st_size < MAX_REPORT_BYTES


def test_summary_markdown_has_the_verdict_and_budget_table(
    failing_run: Path, make_document: Maker
) -> None:
    render_run(failing_run)
    summary = (failing_run / "summary.md").read_text()
    document = make_document("failing")
    failed = [v for v in document["verdicts"] if not v["passed"]]

    assert summary.startswith(
        f"## ❌ TasteMatch Bench: {len(failed)} of {len(document['verdicts'])} budgets failed"
    )
    assert (
        "| ❌ | service\\_peak\\_working\\_set | optimized | 988.5 MiB | ≤ 300.0 MiB | "
        "over by 688.5 MiB (229%) |"
    ) in summary
    assert "### Failed budgets" in summary
    assert summary.count("\n- **") == len(failed)


def test_junit_reports_failed_budgets_as_failures(failing_run: Path, make_document: Maker) -> None:
    render_run(failing_run)
    root = ET.parse(failing_run / "junit.xml").getroot()
    document = make_document("failing")
    cases = root.findall("./testsuite/testcase")
    failures = {case.get("name"): case.find("failure") for case in cases}

    assert len(cases) == len(document["verdicts"])
    assert root.get("failures") == str(sum(not v["passed"] for v in document["verdicts"]))
    failure = failures["service_peak_working_set"]
    assert failure is not None
    assert failure.get("message") == "measured 988.5 MiB, limit ≤ 300.0 MiB"
    assert failures["postgres_peak_working_set"] is None
    unmeasured = failures["sql_per_recommendations_miss"]  # the OOM kill stopped its probe
    assert unmeasured is not None
    assert unmeasured.get("type") == "NotMeasured"
    assert unmeasured.get("message") == "not measured, limit ≤ 4"
    assert {case.get("classname") for case in cases} == {"budgets.optimized", "budgets.run"}


def test_comparison_marks_noise_and_regressions(failing_run: Path, passing_run: Path) -> None:
    render_run(failing_run, base=passing_run)
    summary = (failing_run / "summary.md").read_text()
    html = (failing_run / "index.html").read_text()

    assert "Compared with base run TEST-FIXTURE-passing (commit f1x7ure00000): " in summary
    assert " worse." in summary
    row = next(line for line in summary.splitlines() if "service\\_peak" in line)
    assert row.endswith("+798.1 MiB (+419%), worse |")
    row = next(line for line in summary.splitlines() if "postgres\\_peak" in line)
    assert row.endswith("within noise |")
    assert "Compared with base run TEST-FIXTURE-passing" in html


def test_a_run_compared_with_itself_is_all_noise(passing_run: Path) -> None:
    render_run(passing_run, base=passing_run)
    summary = (passing_run / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| ✅")]

    assert rows
    assert all(row.endswith(("(±0%), within noise |", "+0, within noise |")) for row in rows)


def test_different_machines_are_flagged(
    failing_run: Path, make_document: Maker, write_document: Writer
) -> None:
    other = make_document("passing")
    other["environment"]["machine"]["cpus"] = 8
    base = write_document("other", other)
    render_run(failing_run, base=base)

    assert "different machine (cpus differ)" in (failing_run / "index.html").read_text()


def test_names_are_escaped_everywhere(hostile_run: Path, xss_strings: tuple[str, str]) -> None:
    xss_script, _ = xss_strings
    render_run(hostile_run)
    html = (hostile_run / "index.html").read_text()
    summary = (hostile_run / "summary.md").read_text()
    figures_block = script(html, "report-figures")

    assert xss_script not in html
    assert "<img" not in html
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=&#34;window.__xss=2&#34;&gt;" in html
    assert 'href="x.html"' not in html
    assert "<" not in figures_block
    assert ">" not in figures_block
    assert "&lt;script&gt;" in json.dumps(json.loads(figures_block))  # labels escaped for Plotly
    assert "<script>" not in summary
    assert "<img" not in summary
    ET.parse(hostile_run / "junit.xml")  # still well-formed XML


def test_flamegraph_is_linked_when_it_is_beside_the_report(passing_run: Path) -> None:
    render_run(passing_run)
    assert "not found beside this report" in (passing_run / "index.html").read_text()

    (passing_run / "memray-flamegraph.html").write_text("<html></html>")
    render_run(passing_run)
    assert '<a href="memray-flamegraph.html">' in (passing_run / "index.html").read_text()


def test_sections_without_data_say_so(passing_document: Document, write_document: Writer) -> None:
    passing_document.update(memray=None, microbenchmarks=[], comparison=None)
    del passing_document["phases"][1:]
    for key in (
        "timeline",
        "sql_per_request",
        "sql_probe",
        "trace_probe",
        "trace_waterfalls",
        "cache",
        "containers",
    ):
        del passing_document["phases"][0][key]
    run = write_document("sparse", passing_document)
    render_run(run)
    html = (run / "index.html").read_text()

    assert "No memray figures recorded in this run." in html
    assert "No micro-benchmarks recorded in this run." in html
    assert "No container figures recorded." in html
    assert list(page_figures(html)) == ["chart-phases-p95"]


def test_a_run_without_verdicts_does_not_pass(
    passing_document: Document, write_document: Writer
) -> None:
    passing_document["verdicts"] = []
    run = write_document("unjudged", passing_document)
    render_run(run)

    assert "FAIL: no budget verdicts in this run" in (run / "index.html").read_text()
    assert ET.parse(run / "junit.xml").getroot().get("tests") == "0"
