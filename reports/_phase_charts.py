"""The charts of one load phase: memory per container, latency per endpoint, cache hit
rate and database connections, and statements per request."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reports._document import (
    ContainerFigures,
    MemorySample,
    Phase,
    Point,
    RequestWindow,
    RunDocument,
    Verdict,
)
from reports._figure import (
    CAP,
    OOM,
    OUTCOMES,
    PALETTE,
    PERCENTILES,
    Chart,
    Decorations,
    base_layout,
    finish,
    label_text,
    mark_stages,
    thin,
)
from reports._findings import budget_containers, budget_endpoints, metric_of
from reports._format import format_value, mib

__all__ = ["cache_db_chart", "latency_chart", "memory_chart", "sql_chart"]


def _memory_budget(verdicts: Sequence[Verdict], container: ContainerFigures) -> Verdict | None:
    return next(
        (v for v in verdicts if v.limit is not None and budget_containers(v, [container])), None
    )


def memory_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
    names = sorted(set(phase.memory) | set(phase.containers))
    if not phase.memory:
        return None
    figure = make_subplots(
        rows=len(names),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.09 if len(names) > 1 else 0.0,
        subplot_titles=[label_text(name) for name in names],
    )
    decorations = Decorations(figure)
    for row, name in enumerate(names, start=1):
        samples = thin(phase.memory.get(name, ()), lambda s: s.working_set_bytes)
        times = [sample.t for sample in samples]
        series: tuple[tuple[str, Callable[[MemorySample], float | None], dict[str, Any]], ...] = (
            ("working set", lambda s: s.working_set_bytes, {"color": PALETTE[0], "width": 2}),
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
    mark_stages(
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
    decorations: Decorations, run: RunDocument, container: ContainerFigures, row: int, top: float
) -> float:
    """Draw the cap, the budget and any OOM kill of ``container``; the y extent they need."""
    cell = (row, 1)
    if container.cap_bytes is not None:
        cap = "cap " + format_value(container.cap_bytes, "bytes")
        decorations.limit(cell, mib(container.cap_bytes), cap, color=CAP, right=True)
        top = max(top, mib(container.cap_bytes) or 0.0)
    budget = _memory_budget(run.verdicts, container)
    if budget is not None and budget.limit is not None:
        text = f"{label_text(budget.budget)} ≤ {format_value(budget.limit, 'bytes')}"
        decorations.limit(cell, mib(budget.limit), text, right=True)
        top = max(top, mib(budget.limit) or 0.0)
    if container.oom_killed and container.oom_kill_t is not None:
        decorations.moment(cell, container.oom_kill_t, width=3, dash="solid")
        text = f"OOM kill at {container.oom_kill_t:.1f} s"
        decorations.label(cell, container.oom_kill_t, 0.5, text, left_of=True, color=OOM, size=13)
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


def latency_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
    endpoints = sorted(phase.requests)
    if not endpoints:
        return None
    cols = 2 if len(endpoints) > 1 else 1
    rows = math.ceil(len(endpoints) / cols)
    figure = make_subplots(
        rows=rows,
        cols=cols,
        specs=[[{"secondary_y": True}] * cols for _ in range(rows)],
        subplot_titles=[label_text(name) for name in endpoints],
        vertical_spacing=min(0.3 / rows, 0.12) if rows > 1 else 0.0,
        horizontal_spacing=0.1,
    )
    decorations = Decorations(figure)
    cells = [(position // cols + 1, position % cols + 1) for position in range(len(endpoints))]
    for position, endpoint in enumerate(endpoints):
        row, col = position // cols + 1, position % cols + 1
        windows = thin(phase.requests[endpoint], lambda w: w.p99_ms)
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
        for key, label, color in PERCENTILES:
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
            text = f"{label_text(verdict.budget)} ≤ {format_value(verdict.limit, 'ms')}"
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
    mark_stages(decorations, phase, cells, names=False)
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
    thinned = thin(points, lambda p: p.value)
    figure.add_trace(
        go.Scatter(
            x=[point.t for point in thinned],
            y=[point.value for point in thinned],
            name=label_text(name),
            mode="lines",
            line={"shape": shape, "width": 2},
        ),
        row=row,
        col=1,
    )


def _service_replicas(phase: Phase) -> int:
    return max(1, sum(1 for c in phase.containers.values() if c.role == "service"))


def cache_db_chart(run: RunDocument, phase: Phase, index: int) -> Chart | None:
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
    decorations = Decorations(figure)
    row = 1
    if phase.cache_hit_rate:
        for cache, points in phase.cache_hit_rate.items():
            _add_points(figure, points, name=f"{cache} hit rate", row=row)
        for verdict in run.verdicts:
            if verdict.unit == "ratio" and metric_of(verdict).endswith(".hit_rate"):
                text = f"{label_text(verdict.budget)} ≥ {verdict.limit:.2f}"
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
    mark_stages(decorations, phase, [(row, 1) for row in range(1, len(panels) + 1)])
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


def sql_chart(phase: Phase, index: int) -> Chart | None:
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
        color = OUTCOMES.get(outcome, PALETTE[len(OUTCOMES) % len(PALETTE)])
        figure.add_trace(
            go.Bar(
                x=[label_text(route) for route, _ in chosen],
                y=[figures.mean for _, figures in chosen],
                name=label_text(outcome),
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
