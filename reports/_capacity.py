"""``capacity.md`` and ``capacity.html``: the open-model ladders of a ``capacity.json``.

Both are rendered from the document alone (``python -m benchmarks capacity`` writes it,
then calls :func:`reports.render_run`), so a run re-renders without containers.
"""

from __future__ import annotations

import plotly.graph_objects as go

from reports._figure import base_layout, finish
from reports._html import page_assets, page_environment, script_json
from results import CapacityDocument, CapacityLadder, CapacityLadderStep

__all__ = ["capacity_html", "capacity_markdown"]

_MIB = 2**20
_TITLE = "TasteMatch Bench: capacity under an open model (1 GiB per service)"
_HEADER = (
    "step",
    "rate",
    "sustained",
    "answered",
    "failures",
    "p95 from schedule",
    "dispatch lag p95",
    "in flight / pool",
    "Locust CPU",
    "service peak",
    "verdict",
)


#: The rules a step may break, in the order the ladder checks them (the document's keys
#: are sorted).
_RULES = ("p95", "errors", "answered", "backlog", "memory", "oom")


def _reasons(step: CapacityLadderStep) -> str:
    kinds = sorted(
        step.broken, key=lambda kind: (_RULES.index(kind) if kind in _RULES else 99, kind)
    )
    return ", ".join(step.broken[kind] for kind in kinds)


def _reproduce(document: CapacityDocument) -> str:
    return document.environment.reproduce or "python -m benchmarks capacity"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def step_cells(step: CapacityLadderStep) -> tuple[str, ...]:
    """One step as the cells of :data:`_HEADER`."""
    cpu = step.load_generator_cpu_percent
    peak = step.peak_working_set_bytes
    verdict = _reasons(step) if step.broken else "held"
    if step.generator_bound:
        verdict += " (generator-bound)"
    return (
        step.name,
        f"{step.rate:g}/s",
        f"{step.sustained_rps:g}/s",
        f"{step.answered}/{step.arrivals}",
        str(step.failures),
        _ms(step.p95_ms),
        _ms(step.dispatch_lag_p95_ms),
        f"{step.users_in_flight:g} / {step.pool}",
        "-" if cpu is None else f"{cpu:.0f} %",
        "-" if peak is None else f"{peak / _MIB:.0f} MiB",
        verdict,
    )


def capacity_markdown(document: CapacityDocument) -> str:
    """Each ladder as a markdown table under its one-line capacity, then the comparisons."""
    lines = [f"## {_TITLE}", ""]
    # Documents from before the open model hold closed-loop ramps instead of ladders.
    lines += [line for curve in document.curves for line in (f"**{curve.summary}**", "")]
    for ladder in document.ladders:
        lines += [f"**{ladder.summary}**", ""]
        if not ladder.steps:
            continue
        lines += [
            "| " + " | ".join(_HEADER) + " |",
            "|" + "---|" * len(_HEADER),
        ]
        lines += ["| " + " | ".join(step_cells(step)) + " |" for step in ladder.steps]
        lines.append("")
    lines += [f"- {item.text}" for item in document.comparisons]
    lines += ["", f"Run again: `{_reproduce(document)}`"]
    return "\n".join(lines) + "\n"


def _figure(ladders: list[CapacityLadder]) -> dict[str, object]:
    """p95 from schedule against the offered rate, one line per ladder, the budget dashed."""
    figure = go.Figure(
        layout=base_layout(
            420,
            xaxis={"title": {"text": "offered requests/s"}, "type": "log"},
            yaxis={"title": {"text": "p95 from schedule (ms)"}, "type": "log"},
        )
    )
    for ladder in ladders:
        figure.add_trace(
            go.Scatter(
                x=[step.rate for step in ladder.steps],
                y=[step.p95_ms for step in ladder.steps],
                name=f"{ladder.target} p95",
                mode="lines+markers",
            )
        )
    if ladders:
        figure.add_hline(y=ladders[0].p95_limit_ms, line_dash="dash")
    return finish(figure)


def capacity_html(document: CapacityDocument) -> str:
    """Self-contained page: each ladder's summary and steps, and the p95 chart."""
    ladders = [ladder for ladder in document.ladders if ladder.steps]
    figures = {"capacity-p95": _figure(ladders)} if ladders else {}
    return (
        page_environment()
        .get_template("capacity.html.j2")
        .render(
            document=document,
            title=_TITLE,
            header=_HEADER,
            rows={ladder.target: [step_cells(step) for step in ladder.steps] for ladder in ladders},
            reproduce=_reproduce(document),
            has_chart=bool(figures),
            figures_json=script_json(figures),
            **page_assets(bool(figures)),
        )
    )
