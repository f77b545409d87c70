"""Plotly figures of one run, as JSON-ready dicts the page hands to ``Plotly.newPlot``.

Plotly renders a subset of HTML in every label and decodes entities back to
text, so each string taken from the document goes through :func:`_text`
(HTML-escaped) before it reaches a figure: a route named ``<script>`` shows as
text and never becomes markup.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from reports._document import (
    ContainerFigures,
    MemorySample,
    MemrayFigures,
    Phase,
    Point,
    RequestWindow,
    RunDocument,
    Verdict,
)
from reports._findings import budget_containers, budget_endpoints, metric_of
from reports._format import format_value, mib

__all__ = ["MAX_POINTS", "Chart", "RunCharts", "base_layout", "finish", "run_charts"]

#: A trace keeps at most this many points; longer series are thinned keeping
#: each bucket's highest value, so peaks (what budgets judge) stay visible.
MAX_POINTS = 400

_CAP = "#c62828"
_BUDGET = "#ef6c00"
_OOM = "#b71c1c"
_PERCENTILES = (
    ("p50_ms", "p50", "#2e7d32"),
    ("p95_ms", "p95", "#f9a825"),
    ("p99_ms", "p99", "#c62828"),
)
_PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#558b2f", "#283593", "#ff8f00")
_OUTCOMES = {"hit": "#2e7d32", "miss": "#c62828", "none": "#1565c0", "probe": "#6a1b9a"}

T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    """One figure: ``dom_id`` of its element on the page, ``title`` for its heading."""

    dom_id: str
    title: str
    caption: str
    figure: dict[str, Any]


def _text(value: str) -> str:
    return html.escape(value, quote=False)


def _thin(items: Sequence[T], key: Callable[[T], float | None]) -> list[T]:
    """At most :data:`MAX_POINTS` items, keeping the highest ``key`` of each bucket."""
    if len(items) <= MAX_POINTS:
        return list(items)

    def rank(item: T) -> float:
        value = key(item)
        return -math.inf if value is None else value

    size = math.ceil(len(items) / MAX_POINTS)
    return [max(items[start : start + size], key=rank) for start in range(0, len(items), size)]


def base_layout(height: int, **extra: Any) -> dict[str, Any]:
    """The layout every chart of the reports shares, updated with ``extra``."""
    layout: dict[str, Any] = {
        "template": "none",
        "height": height,
        "margin": {"l": 64, "r": 24, "t": 36, "b": 48},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "legend": {"orientation": "h", "y": -0.12, "yanchor": "top"},
        "colorway": list(_PALETTE),
    }
    layout.update(extra)
    return layout


def finish(figure: go.Figure) -> dict[str, Any]:
    """The figure's grid styled, checked by plotly and returned as plain JSON."""
    figure.update_xaxes(showgrid=True, gridcolor="#eceff1", zeroline=False, linecolor="#90a4ae")
    figure.update_yaxes(showgrid=True, gridcolor="#eceff1", zeroline=False, linecolor="#90a4ae")
    result: dict[str, Any] = json.loads(pio.to_json(figure, validate=True))
    return result


class _Decorations:
    """Stage bands, limit lines and labels of one subplot figure, kept as plain layout
    dicts and set in one go: plotly's ``add_vrect``/``add_hline`` re-scan every shape
    of the figure on each call, which took seconds per report."""

    def __init__(self, figure: go.Figure) -> None:
        self.figure = figure
        self.shapes: list[dict[str, Any]] = []
        self.annotations: list[dict[str, Any]] = []
        self._axes: dict[tuple[int, int], tuple[str, str]] = {}

    def axes(self, row: int, col: int) -> tuple[str, str]:
        """The axis references (``x2``, ``y3``) of the primary axes of a subplot."""
        if (row, col) not in self._axes:
            subplot = self.figure.get_subplot(row, col)
            self._axes[row, col] = (
                subplot.xaxis.plotly_name.replace("axis", ""),
                subplot.yaxis.plotly_name.replace("axis", ""),
            )
        return self._axes[row, col]

    def band(self, cell: tuple[int, int], x0: float, x1: float, color: str, opacity: float) -> None:
        x, y = self.axes(*cell)
        self.shapes.append(
            {
                "type": "rect",
                "xref": x,
                "yref": f"{y} domain",
                "x0": x0,
                "x1": x1,
                "y0": 0,
                "y1": 1,
                "fillcolor": color,
                "opacity": opacity,
                "layer": "below",
                "line": {"width": 0},
            }
        )

    def limit(
        self,
        cell: tuple[int, int],
        value: float | None,
        text: str,
        *,
        color: str = _BUDGET,
        right: bool = False,
        above: bool = True,
    ) -> None:
        """A dashed line across the subplot at ``value`` (a budget, or a cap in red), labelled."""
        if value is None:
            return
        x, y = self.axes(*cell)
        self.shapes.append(
            {
                "type": "line",
                "xref": f"{x} domain",
                "x0": 0,
                "x1": 1,
                "yref": y,
                "y0": value,
                "y1": value,
                "line": {"color": color, "dash": "dash", "width": 2},
            }
        )
        self.annotations.append(
            {
                "xref": f"{x} domain",
                "x": 1 if right else 0,
                "xanchor": "right" if right else "left",
                "yref": y,
                "y": value,
                "yanchor": "bottom" if above else "top",
                "text": text,
                "showarrow": False,
                "font": {"color": color, "size": 11},
            }
        )

    def moment(self, cell: tuple[int, int], t: float, *, width: float, dash: str) -> None:
        """A vertical red line at ``t`` (an OOM kill)."""
        x, y = self.axes(*cell)
        self.shapes.append(
            {
                "type": "line",
                "xref": x,
                "x0": t,
                "x1": t,
                "yref": f"{y} domain",
                "y0": 0,
                "y1": 1,
                "line": {"color": _OOM, "width": width, "dash": dash},
            }
        )

    def label(
        self,
        cell: tuple[int, int],
        x_value: float,
        height: float,
        text: str,
        *,
        left_of: bool = False,
        color: str = "#455a64",
        size: int = 11,
    ) -> None:
        """``text`` at time ``x_value``, ``height`` of the way up the subplot."""
        x, y = self.axes(*cell)
        self.annotations.append(
            {
                "xref": x,
                "x": x_value,
                "yref": f"{y} domain",
                "y": height,
                "xanchor": "right" if left_of else "left",
                "yanchor": "top",
                "text": text,
                "showarrow": False,
                "font": {"size": size, "color": color},
                "bgcolor": "rgba(255,255,255,0.75)",
            }
        )

    def apply(self) -> None:
        self.figure.update_layout(
            shapes=self.shapes, annotations=[*self.figure.layout.annotations, *self.annotations]
        )


def _users(users: int | None) -> str:
    if users is None:
        return ""
    return f" · {users} user" + ("" if users == 1 else "s")


def _fault_window(phase: Phase) -> tuple[float, float] | None:
    """(injected, answering again) of the phase's fault, seconds on its clock; at least
    0.3 s wide so an instant fault still shows."""
    fault = phase.fault or {}
    start, end = fault.get("injected_at_s"), fault.get("healed_at_s")
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return None
    return float(start), max(float(end), float(start) + 0.3)


def _mark_stages(
    decorations: _Decorations,
    phase: Phase,
    cells: Sequence[tuple[int, int]],
    *,
    oom_on_all: bool = True,
    names: bool = True,
) -> None:
    """Shade the load stages on every cell, name them on the first (with ``names``)
    and, with ``oom_on_all``, mark each OOM kill on every cell (the memory chart marks
    a kill on its own container's row instead). An injected fault (``make faults``) is a
    red band from its injection until its target answered again."""
    fault_window = _fault_window(phase)
    for cell in cells:
        for index, stage in enumerate(phase.stages):
            warm = stage.is_warmup
            color = "#90a4ae" if warm else ("#e3f2fd" if index % 2 else "#f1f8e9")
            decorations.band(cell, stage.start_t, stage.end_t, color, 0.25 if warm else 0.35)
        if oom_on_all:
            for container in phase.containers.values():
                if container.oom_killed and container.oom_kill_t is not None:
                    decorations.moment(cell, container.oom_kill_t, width=2, dash="dot")
        if fault_window is not None:
            decorations.band(cell, *fault_window, _OOM, 0.18)
    if not cells:
        return
    if fault_window is not None:
        text = f"fault: {_text(str((phase.fault or {}).get('name', '')))}"
        decorations.label(cells[0], fault_window[0], 0.92, text, color=_OOM)
    for stage in phase.stages if names else ():
        users = _users(stage.users)
        decorations.label(cells[0], stage.start_t, 1.0, _text(stage.name) + users)
    for container in phase.containers.values() if oom_on_all else ():
        if container.oom_killed and container.oom_kill_t is not None:
            text = f"{_text(container.name)} OOM-killed"
            decorations.label(cells[0], container.oom_kill_t, 0.85, text, left_of=True, color=_OOM)


def _memory_budget(verdicts: Sequence[Verdict], container: ContainerFigures) -> Verdict | None:
    return next(
        (v for v in verdicts if v.limit is not None and budget_containers(v, [container])), None
    )


def _memory_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
    names = sorted(set(phase.memory) | set(phase.containers))
    if not phase.memory:
        return None
    figure = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.09 if len(names) > 1 else 0.0,
        subplot_titles=[_text(name) for name in names],
    )
    decorations = _Decorations(figure)
    for row, name in enumerate(names, start=1):
        samples = _thin(phase.memory.get(name, ()), lambda s: s.working_set_bytes)
        times = [sample.t for sample in samples]
        series: tuple[tuple[str, Callable[[MemorySample], float | None], dict[str, Any]], ...] = (
            ("working set", lambda s: s.working_set_bytes, {"color": _PALETTE[0], "width": 2}),
            ("usage", lambda s: s.usage_bytes, {"color": "#78909c", "width": 1, "dash": "dot"}),
        )
        for label, value, line in series:
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=[mib(value(sample)) for sample in samples],
                    name=label,
                    legendgroup=label,
                    showlegend=row == 1,
                    mode="lines",
                    line=line,
                    hovertemplate="%{y:.1f} MiB",
                ),
                row=row,
                col=1,
            )
        container = phase.containers.get(name)
        top = max((mib(s.working_set_bytes) or 0.0 for s in samples), default=0.0)
        if container is not None:
            top = _memory_limits(decorations, run, container, row, top)
        figure.update_yaxes(title_text="MiB", range=[0, top * 1.12 or 1], row=row, col=1)
    figure.update_xaxes(title_text="seconds since phase start", row=len(names), col=1)
    _mark_stages(
        decorations, phase, [(row, 1) for row in range(1, len(names) + 1)], oom_on_all=False
    )
    decorations.apply()
    figure.update_layout(**base_layout(240 * len(names) + 90))
    return Chart(
        dom_id=f"chart-memory-{index}",
        title="Memory per container",
        caption=(
            "Working set (what the cgroup limit is judged against) and raw usage; red: the "
            "container's cap, orange: its budget; an OOM kill is marked where it happened."
        ),
        figure=finish(figure),
    )


def _memory_limits(
    decorations: _Decorations, run: RunDocument, container: ContainerFigures, row: int, top: float
) -> float:
    """Draw the cap, the budget and any OOM kill of ``container``; the y extent they need."""
    cell = (row, 1)
    if container.cap_bytes is not None:
        cap = "cap " + format_value(container.cap_bytes, "bytes")
        decorations.limit(cell, mib(container.cap_bytes), cap, color=_CAP, right=True)
        top = max(top, mib(container.cap_bytes) or 0.0)
    budget = _memory_budget(run.verdicts, container)
    if budget is not None and budget.limit is not None:
        text = f"{_text(budget.budget)} ≤ {format_value(budget.limit, 'bytes')}"
        decorations.limit(cell, mib(budget.limit), text, right=True)
        top = max(top, mib(budget.limit) or 0.0)
    if container.oom_killed and container.oom_kill_t is not None:
        decorations.moment(cell, container.oom_kill_t, width=3, dash="solid")
        text = f"OOM kill at {container.oom_kill_t:.1f} s"
        decorations.label(cell, container.oom_kill_t, 0.5, text, left_of=True, color=_OOM, size=13)
    return top


def _latency_budgets(verdicts: Sequence[Verdict], endpoint: str) -> list[Verdict]:
    found: dict[str, Verdict] = {}
    for verdict in verdicts:
        if verdict.limit is not None and budget_endpoints(verdict, [endpoint]):
            found.setdefault(verdict.budget, verdict)
    return [found[name] for name in sorted(found)]


def _percentile(window: RequestWindow, key: str) -> float | None:
    value: float | None = getattr(window, key)
    return value


def _latency_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
    endpoints = sorted(phase.requests)
    if not endpoints:
        return None
    cols = 2 if len(endpoints) > 1 else 1
    rows = math.ceil(len(endpoints) / cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        specs=[[{"secondary_y": True}] * cols for _ in range(rows)],
        subplot_titles=[_text(name) for name in endpoints],
        vertical_spacing=min(0.3 / rows, 0.12) if rows > 1 else 0.0,
        horizontal_spacing=0.1,
    )
    decorations = _Decorations(figure)
    cells = [(position // cols + 1, position % cols + 1) for position in range(len(endpoints))]
    for position, endpoint in enumerate(endpoints):
        row, col = position // cols + 1, position % cols + 1
        windows = _thin(phase.requests[endpoint], lambda w: w.p99_ms)
        times = [window.t for window in windows]
        figure.add_trace(
            go.Bar(
                x=times,
                y=[window.rps for window in windows],
                name="requests/s",
                legendgroup="rps",
                showlegend=position == 0,
                marker={"color": "#90caf9"},
                opacity=0.45,
                hovertemplate="%{y:.1f}/s",
            ),
            row=row,
            col=col,
            secondary_y=True,
        )
        for key, label, color in _PERCENTILES:
            figure.add_trace(
                go.Scatter(
                    x=times,
                    y=[_percentile(window, key) for window in windows],
                    name=label,
                    legendgroup=label,
                    showlegend=position == 0,
                    mode="lines",
                    line={"color": color, "width": 1.5},
                    hovertemplate=label + " %{y:.1f} ms",
                ),
                row=row,
                col=col,
                secondary_y=False,
            )
        for verdict in _latency_budgets(run.verdicts, endpoint):
            text = f"{_text(verdict.budget)} ≤ {format_value(verdict.limit, 'ms')}"
            decorations.limit((row, col), verdict.limit, text)
        figure.update_yaxes(
            title_text="ms", rangemode="tozero", row=row, col=col, secondary_y=False
        )
        figure.update_yaxes(
            title_text="req/s",
            rangemode="tozero",
            showgrid=False,
            row=row,
            col=col,
            secondary_y=True,
        )
    _mark_stages(decorations, phase, cells, names=False)
    decorations.apply()
    figure.update_layout(**base_layout(260 * rows + 90, bargap=0.1))
    return Chart(
        dom_id=f"chart-latency-{index}",
        title="Latency and throughput per endpoint",
        caption="p50/p95/p99 of each one-second window (lines, ms) and requests per second "
        "(bars); the grey band is the warm-up, excluded from every figure.",
        figure=finish(figure),
    )


def _add_points(
    figure: go.Figure, points: Sequence[Point], *, name: str, row: int, shape: str = "linear"
) -> None:
    thinned = _thin(points, lambda p: p.value)
    figure.add_trace(
        go.Scatter(
            x=[point.t for point in thinned],
            y=[point.value for point in thinned],
            name=_text(name),
            mode="lines",
            line={"shape": shape, "width": 2},
        ),
        row=row,
        col=1,
    )


def _service_replicas(phase: Phase) -> int:
    return max(1, sum(1 for c in phase.containers.values() if c.role == "service"))


def _cache_db_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
    panels: list[str] = []
    if phase.cache_hit_rate:
        panels.append("cache hit rate")
    if phase.db_connections:
        panels.append("database connections in use")
    if phase.users_over_time:
        panels.append("simulated users")
    if not panels:
        return None
    figure = make_subplots(
        rows=len(panels), cols=1, shared_xaxes=True, subplot_titles=panels, vertical_spacing=0.12
    )
    decorations = _Decorations(figure)
    row = 1
    if phase.cache_hit_rate:
        for cache, points in phase.cache_hit_rate.items():
            _add_points(figure, points, name=f"{cache} hit rate", row=row)
        for verdict in run.verdicts:
            if verdict.unit == "ratio" and metric_of(verdict).endswith(".hit_rate"):
                text = f"{_text(verdict.budget)} ≥ {verdict.limit:.2f}"
                decorations.limit((row, 1), verdict.limit, text, right=True, above=False)
                break
        figure.update_yaxes(range=[0, 1.05], title_text="ratio", row=row, col=1)
        row += 1
    if phase.db_connections:
        _add_points(figure, phase.db_connections, name="connections", row=row, shape="hv")
        replicas = _service_replicas(phase)
        for verdict in run.verdicts:
            if metric_of(verdict) == "db.connections_per_replica" and verdict.limit is not None:
                text = f"budget {verdict.limit:g} per replica x {replicas}"
                decorations.limit((row, 1), verdict.limit * replicas, text)
                break
        figure.update_yaxes(rangemode="tozero", title_text="count", row=row, col=1)
        row += 1
    if phase.users_over_time:
        _add_points(figure, phase.users_over_time, name="users", row=row, shape="hv")
        figure.update_yaxes(rangemode="tozero", title_text="users", row=row, col=1)
    figure.update_xaxes(title_text="seconds since phase start", row=len(panels), col=1)
    _mark_stages(decorations, phase, [(row, 1) for row in range(1, len(panels) + 1)])
    decorations.apply()
    figure.update_layout(**base_layout(220 * len(panels) + 90))
    return Chart(
        dom_id=f"chart-cache-db-{index}",
        title="Cache, database connections and load over time",
        caption="Hit rate per cache, connections checked out of the pools, simulated users.",
        figure=finish(figure),
    )


def _count(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def _sql_chart(phase: Phase, index: int) -> Chart | None:
    rows = [
        (route, outcome, figures)
        for route, outcomes in phase.sql_per_request.items()
        for outcome, figures in outcomes.items()
    ] + [(name, "probe", figures) for name, figures in phase.sql_probe.items()]
    if not rows:
        return None
    figure = go.Figure()
    for outcome in sorted({outcome for _, outcome, _ in rows}):
        chosen = [(route, figures) for route, kind, figures in rows if kind == outcome]
        color = _OUTCOMES.get(outcome, _PALETTE[len(_OUTCOMES) % len(_PALETTE)])
        figure.add_trace(
            go.Bar(
                x=[_text(route) for route, _ in chosen],
                y=[figures.mean for _, figures in chosen],
                name=_text(outcome),
                marker={"color": color},
                customdata=[[figures.max, figures.count] for _, figures in chosen],
                hovertemplate="mean %{y:.2f}, max %{customdata[0]}, requests %{customdata[1]}",
                text=[f"max {_count(figures.max)}" for _, figures in chosen],
                textposition="outside",
                cliponaxis=False,
            )
        )
    figure.update_layout(**base_layout(360, barmode="group", hovermode="closest"))
    figure.update_yaxes(title_text="statements per request", rangemode="tozero")
    return Chart(
        dom_id=f"chart-sql-{index}",
        title="SQL statements per request",
        caption="Mean per route and cache outcome (bars), maximum above each bar; 'probe' rows "
        "come from dedicated probe requests.",
        figure=finish(figure),
    )


def _phases_p95_chart(run: RunDocument) -> Chart | None:
    phases = [phase for phase in run.phases if phase.endpoints]
    if not phases:
        return None
    figure = go.Figure()
    for phase in phases:
        names = sorted(phase.endpoints)
        figure.add_trace(
            go.Bar(
                x=[_text(name) for name in names],
                y=[phase.endpoints[name].p95_ms for name in names],
                name=_text(phase.name),
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
            y=[_text(site.location) for site in top],
            orientation="h",
            marker={"color": _PALETTE[1]},
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
        key=lambda endpoint: -min(len(pooled["base"][endpoint]), len(pooled["head"][endpoint])),
    )[:_VERSUS_ENDPOINTS]
    if not busiest:
        return None
    figure = make_subplots(rows=1, cols=len(busiest), subplot_titles=[_text(e) for e in busiest])
    for column, endpoint in enumerate(busiest, start=1):
        for side, color in (("base", _PALETTE[0]), ("head", _PALETTE[3])):
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
            _memory_chart(run, phase, index),
            _latency_chart(run, phase, index),
            _cache_db_chart(run, phase, index),
            _sql_chart(phase, index),
            waterfall_chart(phase, index),
        )
        per_phase.append(tuple(chart for chart in candidates if chart is not None))
    return RunCharts(
        per_phase=tuple(per_phase),
        phases_p95=_phases_p95_chart(run),
        memray=_memray_chart(run.memray),
        versus_base=_versus_base_chart(run),
    )
