"""The span waterfall of a phase's traced requests: per endpoint, a typical and the slowest.

One figure per phase; a menu picks the endpoint. Each bar is one span on the request's
own clock (ms from its start), coloured by what it waited for: the request itself, the
database, Redis.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from reports._document import Phase
from reports._figure import Chart, base_layout, finish, label_text

__all__ = ["waterfall_chart"]

#: Bars drawn per request (the document keeps up to 150; an N+1 shows well before 40).
MAX_BARS = 40
_COLOURS = {"server": "#1565c0", "db": "#c62828", "redis": "#2e7d32", "internal": "#90a4ae"}


def _bars(phase: Phase, endpoint: str) -> list[go.Bar]:
    entry = phase.trace_waterfalls[endpoint]
    bars: list[go.Bar] = []
    for which, fall in (("typical", entry.typical), ("slowest", entry.slowest)):
        spans = fall.spans[:MAX_BARS]
        head = f"{which} · {fall.duration_ms:.1f} ms · {fall.span_count} spans"
        labels = [
            f"{head} · {i:02d} {'· ' * span.depth}{span.name}" for i, span in enumerate(spans)
        ]
        bars.append(
            go.Bar(
                orientation="h",
                y=[label_text(label) for label in labels],
                x=[max(span.duration_ms, 0.01) for span in spans],
                base=[span.start_ms for span in spans],
                marker={"color": [_COLOURS.get(span.kind, "#90a4ae") for span in spans]},
                name=which,
                customdata=[[span.kind, span.start_ms] for span in spans],
                hovertemplate="%{customdata[0]}: %{x:.2f} ms from %{customdata[1]:.2f} ms"
                "<extra></extra>",
                showlegend=False,
            )
        )
    return bars


def waterfall_chart(phase: Phase, index: int) -> Chart | None:
    """The phase's traced requests as waterfalls, one endpoint at a time (None if untraced)."""
    endpoints = list(phase.trace_waterfalls)
    if not endpoints:
        return None
    figure = go.Figure()
    rows = 0
    for position, endpoint in enumerate(endpoints):
        for bar in _bars(phase, endpoint):
            bar.visible = position == 0
            figure.add_trace(bar)
            rows = max(rows, len(bar.y))
    per_endpoint = 2
    buttons: list[dict[str, Any]] = [
        {
            "label": label_text(endpoint),
            "method": "update",
            "args": [
                {
                    "visible": [
                        position // per_endpoint == chosen
                        for position in range(per_endpoint * len(endpoints))
                    ]
                }
            ],
        }
        for chosen, endpoint in enumerate(endpoints)
    ]
    figure.update_layout(
        **base_layout(
            max(260, 120 + 14 * 2 * rows),
            hovermode="closest",
            margin={"l": 380, "r": 24, "t": 48, "b": 48},
            updatemenus=[{"buttons": buttons, "x": 0, "xanchor": "left", "y": 1.12}],
        )
    )
    figure.update_yaxes(autorange="reversed", type="category", tickfont={"size": 10})
    figure.update_xaxes(title_text="ms from the request's start", rangemode="tozero")
    return Chart(
        dom_id=f"chart-waterfall-{index}",
        title="Traced requests: span waterfalls",
        caption="Per endpoint (menu), the traced request of median duration and the slowest "
        "one; bars are spans on the request's clock: the request (blue), database calls "
        "(red), Redis commands (green). The load is sampled at 2 %.",
        figure=finish(figure),
    )
