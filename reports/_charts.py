"""Plotly figures of one run, as JSON-ready dicts the page hands to ``Plotly.newPlot``.

:func:`run_charts` gathers every chart of a run: each phase's (:mod:`reports._phase_charts`),
the span waterfalls (:mod:`reports._waterfall`) and the run-wide ones here (p95 across
phases, memray's heap, base against head). Every string from the document goes through
:func:`reports._figure.label_text` before it reaches a figure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports._document import (
    MemrayFigures,
    RunDocument,
)
from reports._figure import (
    MAX_POINTS,
    PALETTE,
    Chart,
    base_layout,
    finish,
    label_text,
)
from reports._format import mib
from reports._phase_charts import cache_db_chart, latency_chart, memory_chart, sql_chart

__all__ = ["RunCharts", "run_charts"]


def _phases_p95_chart(run: RunDocument) -> Chart | None:
    phases = [phase for phase in run.phases if phase.endpoints]
    if not phases:
        return None
    figure = go.Figure()
    for phase in phases:
        names = sorted(phase.endpoints)
        figure.add_trace(
            go.Bar(
                x=[label_text(name) for name in names],
                y=[phase.endpoints[name].p95_ms for name in names],
                name=label_text(phase.name),
                customdata=[[phase.endpoints[name].p99_ms] for name in names],
                hovertemplate="p95 %{y:.1f} ms, p99 %{customdata[0]:.1f} ms",
            )
        )
    values = [
        figures.p95_ms
        for phase in phases
        for figures in phase.endpoints.values()
        if figures.p95_ms is not None and figures.p95_ms > 0
    ]
    log = bool(values) and max(values) / min(values) > 50
    figure.update_layout(**base_layout(380, barmode="group", hovermode="closest"))
    figure.update_yaxes(title_text="p95, ms" + (" (log scale)" if log else ""))
    if log:
        figure.update_yaxes(type="log")
    return Chart(
        dom_id="chart-phases-p95",
        title="p95 latency per endpoint, by phase",
        caption="Measured window only; warm-up excluded.",
        figure=finish(figure),
    )


def _memray_chart(memray: MemrayFigures | None) -> Chart | None:
    if memray is None or not memray.top_allocations:
        return None
    top = sorted(memray.top_allocations, key=lambda a: a.bytes or 0.0, reverse=True)[:15]
    top.reverse()
    figure = go.Figure(
        go.Bar(
            x=[mib(site.bytes) for site in top],
            y=[label_text(site.location) for site in top],
            orientation="h",
            marker={"color": PALETTE[1]},
            customdata=[[site.count] for site in top],
            hovertemplate="%{x:.2f} MiB in %{customdata[0]} allocations",
            name="allocated",
        )
    )
    figure.update_layout(
        **base_layout(
            120 + 28 * len(top),
            hovermode="closest",
            margin={"l": 360, "r": 24, "t": 24, "b": 48},
            showlegend=False,
        )
    )
    figure.update_xaxes(title_text="MiB allocated")
    figure.update_yaxes(automargin=True)
    return Chart(
        dom_id="chart-memray-top",
        title="Top allocation sites (memray)",
        caption="Bytes allocated by each call site at the heap's peak.",
        figure=finish(figure),
    )


#: The distributions of base and head drawn for at most this many endpoints (the busiest).
_VERSUS_ENDPOINTS = 4


def _versus_base_chart(run: RunDocument) -> Chart | None:
    """Base and head response times of the busiest endpoints, as cumulative distributions."""
    versus = run.versus_base
    if versus is None or not versus.samples:
        return None
    pooled: dict[str, dict[str, list[float]]] = {"base": {}, "head": {}}
    for pair in versus.pairs:
        for side in ("base", "head"):
            for endpoint, values in versus.samples.get(pair.get(side, ""), {}).items():
                pooled[side].setdefault(endpoint, []).extend(values)
    busiest = sorted(
        set(pooled["base"]) & set(pooled["head"]),
        # Ties by name: a set's order changes with every process's string hashing.
        key=lambda endpoint: (
            -min(len(pooled["base"][endpoint]), len(pooled["head"][endpoint])),
            endpoint,
        ),
    )[:_VERSUS_ENDPOINTS]
    if not busiest:
        return None
    figure = make_subplots(
        rows=1, cols=len(busiest), subplot_titles=[label_text(e) for e in busiest]
    )
    for column, endpoint in enumerate(busiest, start=1):
        for side, color in (("base", PALETTE[0]), ("head", PALETTE[3])):
            values = sorted(pooled[side][endpoint])
            # The cumulative share at each response time, thinned to MAX_POINTS steps.
            step = max(1, math.ceil(len(values) / MAX_POINTS))
            xs = [*values[::step], values[-1]]
            ys = [min(1.0, (index * step + 1) / len(values)) for index in range(len(xs) - 1)]
            figure.add_trace(
                go.Scatter(
                    x=xs,
                    y=[*ys, 1.0],
                    mode="lines",
                    line={"color": color, "shape": "hv"},
                    name=side,
                    legendgroup=side,
                    showlegend=column == 1,
                    hovertemplate="%{x:.1f} ms: %{y:.1%} of requests",
                ),
                row=1,
                col=column,
            )
        figure.update_xaxes(type="log", title_text="ms", row=1, col=column)
    figure.update_yaxes(title_text="share of requests", row=1, col=1)
    figure.update_layout(**base_layout(340, hovermode="closest"))
    return Chart(
        dom_id="chart-versus-base",
        title="Response times, base against head",
        caption="Every request of every round, pooled per side: the share of requests "
        "answered within each time (log scale). Head's curve to the right of base's is slower.",
        figure=finish(figure),
    )


@dataclass(frozen=True)
class RunCharts:
    """Charts of a run: per phase (in phase order) and run-wide."""

    per_phase: tuple[tuple[Chart, ...], ...]
    phases_p95: Chart | None
    memray: Chart | None
    versus_base: Chart | None = None

    def all(self) -> list[Chart]:
        charts = [chart for charts in self.per_phase for chart in charts]
        run_wide = (self.phases_p95, self.memray, self.versus_base)
        charts += [chart for chart in run_wide if chart is not None]
        return charts


def run_charts(run: RunDocument) -> RunCharts:
    """Every chart the report shows for ``run``; sections without data get none."""
    from reports._waterfall import waterfall_chart  # it builds on this module's helpers

    per_phase: list[tuple[Chart, ...]] = []
    for index, phase in enumerate(run.phases):
        candidates = (
            memory_chart(run, phase, index),
            latency_chart(run, phase, index),
            cache_db_chart(run, phase, index),
            sql_chart(phase, index),
            waterfall_chart(phase, index),
        )
        per_phase.append(tuple(chart for chart in candidates if chart is not None))
    return RunCharts(
        per_phase=tuple(per_phase),
        phases_p95=_phases_p95_chart(run),
        memray=_memray_chart(run.memray),
        versus_base=_versus_base_chart(run),
    )
