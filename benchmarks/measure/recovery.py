"""What a load saw around an injected fault: before, during, after, and how long recovery took.

Windows on the load's exact samples (a request belongs to the window it started in):
``before`` is the measured window up to the injection, ``during`` from the injection
until the fault was healed (the target answers again), ``after`` from then to the end.
A request counts as a server error when it got a 5xx; other failures (a refused or reset
connection, a timeout) are counted by their error's first word. ``recovery_ms`` is how
long after the heal the last failed request ended (0 when none failed after the heal):
the time the service needed to answer well again once its dependency did.

Acknowledged orders: every order the load generator got a ``201`` for
(``acks-*.txt`` beside the samples) must be in Postgres afterwards; ``lost_orders``
names the ones that are not.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from benchmarks.measure.samples import Samples
from scenarios.protocol import ACK_GLOB

__all__ = ["SETTLE_S", "acknowledged_orders", "fault_figures", "lost_orders", "window_figures"]

#: Seconds after the heal from which a recovered service answers every request again: a
#: failure later than this counts in ``settled_failures``.
SETTLE_S = 5.0

_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")


def _category(error: str) -> str:
    """``HTTP 503`` for an HTTP failure, else the error's first word (its exception type)."""
    status = _HTTP_STATUS.search(error)
    if status:
        return f"HTTP {status.group(1)}"
    return re.split(r"[:(\s]", error.strip(), maxsplit=1)[0] or "unknown"


def window_figures(samples: Samples) -> dict[str, Any]:
    """Requests, failures by kind, p95 and the longest response of ``samples``."""
    errors = Counter(_category(error) for error in samples.error[samples.failed].tolist())
    server = sum(n for kind, n in errors.items() if kind.startswith("HTTP 5"))
    values = samples.response_ms
    return {
        "requests": len(samples),
        "failed": int(samples.failed.sum()),
        "server_errors": server,
        "server_errors_not_503": server - errors.get("HTTP 503", 0),
        "failed_not_503": int(samples.failed.sum()) - errors.get("HTTP 503", 0),
        "errors": dict(errors.most_common()),
        "p95_ms": round(float(np.percentile(values, 95)), 3) if len(values) else None,
        "max_ms": round(float(values.max()), 3) if len(values) else None,
    }


def fault_figures(
    samples: Samples,
    *,
    started_at: float,
    measured_from: float,
    end: float,
    injected_at: float,
    healed_at: float,
) -> dict[str, Any]:
    """The fault's figures; times are epoch seconds in, seconds since ``started_at`` out."""
    before = window_figures(samples.between(measured_from, injected_at))
    during = window_figures(samples.between(injected_at, healed_at))
    after = window_figures(samples.between(healed_at, end))
    ends = samples.t + samples.response_ms / 1000
    late = samples.failed & (ends > healed_at) & (samples.t < end)
    recovery = float(ends[late].max() - healed_at) if late.any() else 0.0
    settled = samples.between(healed_at + SETTLE_S, end)
    return {
        "injected_at_s": round(injected_at - started_at, 3),
        "healed_at_s": round(healed_at - started_at, 3),
        "before": before,
        "during": during,
        "after": after,
        "server_errors": during["server_errors"] + after["server_errors"],
        "server_errors_not_503": during["server_errors_not_503"] + after["server_errors_not_503"],
        "failed": during["failed"] + after["failed"],
        "failed_not_503": during["failed_not_503"] + after["failed_not_503"],
        "longest_ms": max(
            (w["max_ms"] for w in (during, after) if w["max_ms"] is not None), default=None
        ),
        "recovery_ms": round(recovery * 1000, 1),
        "settled_failures": int(settled.failed.sum()),
    }


def acknowledged_orders(directory: Path) -> list[int]:
    """Ids of every order acknowledged to the load generator (each process's file)."""
    ids: list[int] = []
    for path in sorted(directory.glob(ACK_GLOB)):
        ids += [int(line) for line in path.read_text().split() if line.isdigit()]
    return ids


def lost_orders(postgres_url: str, ids: Iterable[int]) -> list[int]:
    """The acknowledged ``ids`` that are not in Postgres's ``orders`` table."""
    wanted = sorted(set(ids))
    if not wanted:
        return []
    with psycopg.connect(postgres_url, connect_timeout=10) as connection:
        rows = connection.execute("SELECT id FROM orders WHERE id = ANY(%s)", (wanted,)).fetchall()
    found = {int(row[0]) for row in rows}
    return [order_id for order_id in wanted if order_id not in found]
