"""The short forms of a run's verdict: ``summary.md`` for CI job summaries and PR
comments, ``junit.xml`` (one test case per budget verdict) for CI systems."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reports._compare import RunComparison
from reports._document import RunDocument, Verdict
from reports._findings import verdict_findings
from reports._format import format_value, margin

__all__ = ["headline", "junit_xml", "limit_text", "summary_markdown"]

# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|#!~])")
_HTML_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def limit_text(verdict: Verdict) -> str:
    """``≤ 300.0 MiB`` / ``≥ 0.850``."""
    relation = "≤" if verdict.lower_is_better else "≥"
    return f"{relation} {format_value(verdict.limit, verdict.unit)}"


def headline(run: RunDocument) -> str:
    """One line: did the run hold its budgets (those judged; the others were not run)."""
    if not run.verdicts:
        return "no budget verdicts in this run: nothing was judged"
    total = run.judged
    not_run = f", {len(run.not_run)} not run" if run.not_run else ""
    if not total:
        return f"no budget was judged: all {len(run.not_run)} were not run"
    if run.passed:
        return f"all {total} budgets held{not_run}"
    if not run.failed:
        return f"the gate failed the run although all {total} budget verdicts held{not_run}"
    return f"{len(run.failed)} of {total} budgets failed{not_run}"


def _md(text: str) -> str:
    """Text for markdown (and a table cell): no markup, no HTML, no line breaks."""
    escaped = _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))
    return "".join(_HTML_SPECIAL.get(char, char) for char in escaped)


def _phase_label(verdict: Verdict) -> str:
    return verdict.phase or "run"


def summary_markdown(run: RunDocument, comparison: RunComparison | None) -> str:
    """Verdict and budget table (with deltas when ``comparison`` is given) as markdown."""
    mark = "✅" if run.passed else "❌"
    commit = (run.environment.commit or "unknown commit")[:12]
    lines = [
        f"## {mark} TasteMatch Bench: {headline(run)}",
        "",
        f"Run {_md(run.run_id)} · commit {_md(commit)}"
        + (f" · branch {_md(run.environment.branch)}" if run.environment.branch else "")
        + (" (uncommitted changes)" if run.environment.dirty else ""),
        "",
    ]
    if comparison is not None:
        base_commit = (comparison.base.environment.commit or "unknown commit")[:12]
        lines += [
            f"Compared with base run {_md(comparison.base.run_id)} (commit {_md(base_commit)}): "
            + ", ".join(f"{count} {status}" for status, count in comparison.counts().items())
            + ".",
            "",
        ]
        lines += [f"- ⚠️ {_md(warning)}" for warning in comparison.warnings]
        if comparison.warnings:
            lines.append("")
    lines += [
        f"- ⚠️ Phase {_md(phase.name)} did not complete: {_md(phase.error)}"
        for phase in run.phases
        if phase.error
    ]
    if any(phase.error for phase in run.phases):
        lines.append("")
    header = "| | budget | phase | measured | limit | margin |"
    rule = "|---|---|---|---|---|---|"
    if comparison is not None:
        header += " vs base |"
        rule += "---|"
    lines += [header, rule]
    for verdict in run.verdicts:
        status = "⏭️ not run" if verdict.not_run else "✅" if verdict.passed else "❌"
        if verdict.unstable:
            status += " ⚠️ unstable"
        cells = [
            status,
            _md(verdict.budget),
            _md(_phase_label(verdict)),
            format_value(verdict.measured, verdict.unit),
            limit_text(verdict),
            margin(verdict),
        ]
        if comparison is not None:
            delta = comparison.verdict(verdict)
            cells.append(_md(delta.describe()) if delta else "")
        lines.append("| " + " | ".join(cells) + " |")
    if run.failed:
        lines += ["", "### Failed budgets", ""]
        for verdict in run.failed:
            lines.append(
                f"- **{_md(verdict.budget)}** ({_md(_phase_label(verdict))}): "
                f"{_md(verdict.explanation or verdict.description)}"
            )
            lines += [f"  - {_md(note)}" for note in verdict_findings(run, verdict)]
    if run.not_run:
        lines += ["", "### Budgets not run (neither passed nor failed)", ""]
        lines += [f"- **{_md(v.budget)}**: {_md(v.explanation)}" for v in run.not_run]
    unstable = [v for v in run.verdicts if v.unstable]
    if unstable:
        lines += [
            "",
            "⚠️ Uncertain (the limit lies inside the figure's 95 % confidence interval; "
            "version-1 runs: sub-windows spread ≥ 10 %): ",
        ]
        lines[-1] += ", ".join(_md(v.budget) for v in unstable)
    lines += ["", "The full report with charts is `index.html` beside this file.", ""]
    return "\n".join(lines)


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def junit_xml(run: RunDocument) -> str:
    """One ``testcase`` per verdict; a failed budget is a ``failure`` saying measured vs limit,
    one that was not run is ``skipped``."""
    failures = len(run.failed)
    suites = ET.Element(
        "testsuites",
        {"name": "tastematch-bench", "tests": str(len(run.verdicts)), "failures": str(failures)},
    )
    suite = ET.SubElement(
        suites,
        "testsuite",
        {
            "name": "budgets",
            "tests": str(len(run.verdicts)),
            "failures": str(failures),
            "errors": "0",
            "skipped": str(len(run.not_run)),
            **({"timestamp": _xml_text(run.created_at)} if run.created_at else {}),
        },
    )
    properties = ET.SubElement(suite, "properties")
    facts = {
        "run_id": run.run_id,
        "commit": run.environment.commit or "",
        "branch": run.environment.branch or "",
        "passed": "true" if run.passed else "false",
    }
    for name, value in facts.items():
        ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
    for verdict in run.verdicts:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": _xml_text(f"budgets.{_phase_label(verdict)}"),
                "name": _xml_text(verdict.budget),
            },
        )
        measured = format_value(verdict.measured, verdict.unit)
        figures = (
            f"measured {measured}" if verdict.measured is not None else measured
        ) + f", limit {limit_text(verdict)}"
        if verdict.not_run:
            ET.SubElement(
                case, "skipped", {"message": _xml_text(f"not run: {verdict.explanation}")}
            )
        elif not verdict.passed:
            failure = ET.SubElement(
                case,
                "failure",
                {
                    "type": "BudgetExceeded" if verdict.measured is not None else "NotMeasured",
                    "message": _xml_text(figures),
                },
            )
            details = [verdict.explanation, verdict.description, *verdict_findings(run, verdict)]
            failure.text = _xml_text("\n".join(line for line in details if line))
        notes = [verdict.description, figures]
        if verdict.unstable and verdict.ci95 is not None:
            low, high = verdict.ci95
            notes.append(
                f"uncertain: the limit lies inside the 95 % confidence interval {low}-{high}"
            )
        elif verdict.unstable:
            notes.append(f"unstable: spread {verdict.spread or 0:.0%} of the median")
        ET.SubElement(case, "system-out").text = _xml_text("\n".join(n for n in notes if n))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
