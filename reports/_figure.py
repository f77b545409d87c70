"""The kit every chart of the reports is built with: the :class:`Chart` record, the
shared layout and colours, thinning long series, and stage bands, limit lines and
labels drawn as plain layout shapes.

Plotly renders a subset of HTML in every label and decodes entities back to
text, so each string taken from the document goes through :func:`label_text`
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

from reports._document import (
    Phase,
)

__all__ = [
    "CAP",
    "MAX_POINTS",
    "OOM",
    "OUTCOMES",
    "PALETTE",
    "PERCENTILES",
    "Chart",
    "Decorations",
    "base_layout",
    "finish",
    "label_text",
    "mark_stages",
    "thin",
]


#: A trace keeps at most this many points; longer series are thinned keeping
#: each bucket's highest value, so peaks (what budgets judge) stay visible.
MAX_POINTS = 400


CAP = "#c62828"


_BUDGET = "#ef6c00"


OOM = "#b71c1c"


PERCENTILES = (
    ("p50_ms", "p50", "#2e7d32"),
    ("p95_ms", "p95", "#f9a825"),
    ("p99_ms", "p99", "#c62828"),
)


PALETTE = ("#1565c0", "#6a1b9a", "#00838f", "#ad1457", "#4e342e", "#558b2f", "#283593", "#ff8f00")


OUTCOMES = {"hit": "#2e7d32", "miss": "#c62828", "none": "#1565c0", "probe": "#6a1b9a"}


T = TypeVar("T")


@dataclass(frozen=True)
class Chart:
    """One figure: ``dom_id`` of its element on the page, ``title`` for its heading."""

    dom_id: str
    title: str
    caption: str
    figure: dict[str, Any]


def label_text(value: str) -> str:
    return html.escape(value, quote=False)


def thin(items: Sequence[T], key: Callable[[T], float | None]) -> list[T]:
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
        "colorway": list(PALETTE),
    }
    layout.update(extra)
    return layout


def finish(figure: go.Figure) -> dict[str, Any]:
    """The figure's grid styled, checked by plotly and returned as plain JSON."""
    figure.update_xaxes(showgrid=True, gridcolor="#eceff1", zeroline=False, linecolor="#90a4ae")
    figure.update_yaxes(showgrid=True, gridcolor="#eceff1", zeroline=False, linecolor="#90a4ae")
    result: dict[str, Any] = json.loads(pio.to_json(figure, validate=True))
    return result


class Decorations:
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
                "line": {"color": OOM, "width": width, "dash": dash},
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


def _users_label(users: int | None) -> str:
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


def mark_stages(
    decorations: Decorations,
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
            decorations.band(cell, *fault_window, OOM, 0.18)
    if not cells:
        return
    if fault_window is not None:
        text = f"fault: {label_text(str((phase.fault or {}).get('name', '')))}"
        decorations.label(cells[0], fault_window[0], 0.92, text, color=OOM)
    for stage in phase.stages if names else ():
        users = _users_label(stage.users)
        decorations.label(cells[0], stage.start_t, 1.0, label_text(stage.name) + users)
    for container in phase.containers.values() if oom_on_all else ():
        if container.oom_killed and container.oom_kill_t is not None:
            text = f"{label_text(container.name)} OOM-killed"
            decorations.label(cells[0], container.oom_kill_t, 0.85, text, left_of=True, color=OOM)
