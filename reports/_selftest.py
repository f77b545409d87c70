"""The self-test's matrix from a ``selftest.json``: terminal table, markdown and HTML.

``python -m benchmarks selftest`` writes the document, prints :func:`selftest_table` and
calls :func:`reports.render_run`, which writes ``selftest.md`` and ``selftest.html``.
"""

from __future__ import annotations

from collections.abc import Sequence

from reports._html import page_assets, page_environment
from results import SelftestCase, SelftestDocument, SelftestMutant

__all__ = ["selftest_html", "selftest_markdown", "selftest_table", "tally"]

_HEADER = ("case", "failed budgets", "expected budget (any)", "caught")
Row = tuple[str, str, str, str]


def _is_control(case: SelftestCase) -> bool:
    """The optimised profile (no regression switched on): it must pass, not fail."""
    return not case.regressions


def _status(ok: bool, control: bool) -> str:
    if control:
        return "passed" if ok else "FAILED"
    return "yes" if ok else "NO"


def _cases(document: SelftestDocument) -> list[SelftestCase]:
    """The control first, then the regressions by name."""
    return sorted(document.cases, key=lambda case: (not _is_control(case), case.case))


def _mutants(document: SelftestDocument) -> list[SelftestMutant]:
    """The mutants in the order they ran."""
    return [] if document.mutants is None else list(document.mutants.results)


def _sorted_mutants(document: SelftestDocument) -> list[SelftestMutant]:
    """The A/A control first, then the mutants by name."""
    return sorted(_mutants(document), key=lambda mutant: (not mutant.control, mutant.mutant))


def _checks(names: Sequence[str]) -> str:
    """The first failed check, and how many more (the report lists every one)."""
    more = f" +{len(names) - 1} more" if len(names) > 1 else ""
    return f"{names[0]}{more}"


def _case_row(case: SelftestCase) -> Row:
    failed = [
        f"{name} ({_checks(case.contract_failures)})"
        if name == "http_contract" and case.contract_failures
        else name
        for name in case.failed
    ]
    expected = " / ".join(case.expected) or "(every budget holds)"
    return (case.case, ", ".join(failed) or "(none)", expected, _status(case.ok, _is_control(case)))


def _mutant_row(mutant: SelftestMutant) -> Row:
    return (
        f"mutant {mutant.mutant}",
        ", ".join(mutant.failed) or "(none)",
        " / ".join(mutant.expected) or "(every limit holds: A/A)",
        _status(mutant.ok, mutant.control),
    )


def _rows(document: SelftestDocument) -> list[Row]:
    return [_case_row(case) for case in _cases(document)] + [
        _mutant_row(mutant) for mutant in _sorted_mutants(document)
    ]


def _unmeasured_lines(document: SelftestDocument) -> list[str]:
    """Per case, the budgets that failed only for want of a measurement (and why)."""
    return [
        f"{case.case}: not measured: {', '.join(case.unmeasured)}"
        + (f" ({case.error})" if case.error else "")
        for case in _cases(document)
        if case.unmeasured
    ]


def _mutant_error_lines(document: SelftestDocument) -> list[str]:
    """Per mutant, the rounds that could not run."""
    return [
        f"mutant {mutant.mutant}: {error}"
        for mutant in _mutants(document)
        for error in mutant.errors
    ]


def tally(document: SelftestDocument) -> str:
    """``caught 8/8 regressions; optimised profile passed`` (or what fell short), and the
    mutants' line when they ran."""
    regressions = [case for case in document.cases if not _is_control(case)]
    controls = [case for case in document.cases if _is_control(case)]
    control = "passed" if all(case.ok for case in controls) else "FAILED"
    if not controls:
        control = "not run"
    caught = sum(case.ok for case in regressions)
    parts = [f"caught {caught}/{len(regressions)} regressions; optimised profile {control}"]
    mutants = _mutants(document)
    if mutants:
        changes = [mutant for mutant in mutants if not mutant.control]
        aa = "passed" if all(mutant.ok for mutant in mutants if mutant.control) else "FAILED"
        mutant_part = f"caught {sum(m.ok for m in changes)}/{len(changes)} mutants; A/A {aa}"
        parts = [*(parts if document.cases else []), mutant_part]
    return "; ".join(parts)


def selftest_table(document: SelftestDocument) -> str:
    """The matrix as an aligned terminal table, with a closing tally."""
    rows = [_HEADER, *_rows(document)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADER))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(
        [
            *lines,
            *_unmeasured_lines(document),
            *_mutant_error_lines(document),
            tally(document),
        ]
    )


def selftest_markdown(document: SelftestDocument) -> str:
    """The matrix as a markdown table (for CI summaries)."""
    lines = [
        "## TasteMatch Bench: regression self-test",
        "",
        "| " + " | ".join(_HEADER) + " |",
        "|---|---|---|---|",
    ]
    for row in _rows(document):
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    lines += [
        "",
        *_unmeasured_lines(document),
        *_mutant_error_lines(document),
        "",
        tally(document),
        "",
    ]
    return "\n".join(lines)


def _load_text(document: SelftestDocument) -> str:
    load = document.load
    return (
        f"{load.scenario}, {load.users} users, {load.warmup_s:g} s warm-up + "
        f"{load.measure_s:g} s measured"
    )


def selftest_html(document: SelftestDocument) -> str:
    """A self-contained page of the matrix and every failed verdict."""
    cases = _cases(document)
    mutants = _sorted_mutants(document)
    duration = document.duration_s
    return (
        page_environment()
        .get_template("selftest.html.j2")
        .render(
            document=document,
            tally=tally(document),
            duration="" if duration is None else f"{duration:.0f} s",
            load=_load_text(document),
            reproduce=document.environment.reproduce or "python -m benchmarks selftest",
            header=_HEADER,
            cases=[(_case_row(case), case) for case in cases],
            mutants=[(_mutant_row(mutant), mutant) for mutant in mutants],
            css=page_assets(charts=False)["css"],
        )
    )
