"""Where an OOM kill landed on the load's timeline, read from a phase of ``result.json``
(``python -m benchmarks oom`` reports it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["COMPARED_ENDPOINT", "KillReport", "kill_report"]

_MIB = 2**20


COMPARED_ENDPOINT = "GET /api/recommendations"


class KillReport:
    """Where on the load's timeline a kill landed (all from a phase entry of ``result.json``)."""

    def __init__(self, phase: Mapping[str, Any], container: str = "service-0") -> None:
        figures = (phase.get("containers") or {}).get(container) or {}
        self.container = container
        self.killed = bool(figures.get("oom_killed"))
        kill_t = figures.get("oom_kill_t")
        self.t: float | None = float(kill_t) if isinstance(kill_t, int | float) else None
        peaks = [
            figures.get(key)
            for key in ("cgroup_peak_bytes", "peak_usage_bytes", "peak_working_set_bytes")
        ]
        known = [int(value) for value in peaks if isinstance(value, int | float)]
        self.peak_bytes: int | None = max(known) if known else None
        self.cap_bytes = figures.get("cap_bytes")
        at = self.t if self.t is not None else float("inf")
        self.stage_users = _stage_users(phase.get("stages") or [], at)
        self.running_users = _last_before(
            (phase.get("timeline") or {}).get("users") or [], at, "users"
        )
        requests = [
            entry
            for entry in (phase.get("timeline") or {}).get("requests") or []
            if entry.get("endpoint") == COMPARED_ENDPOINT
        ]
        # Per-second buckets of request starts: the last one wholly before the kill.
        self.p95_ms = _last_before(requests, at - 1.0, "p95_ms")

    @property
    def users(self) -> int | None:
        """Users running when the kill landed (Locust's count, else the stage's plan)."""
        value = self.running_users if self.running_users is not None else self.stage_users
        return None if value is None else int(value)

    def line(self) -> str:
        """``OOM-killed at t=…s, users=…, peak=… MiB`` (or that it did not reproduce)."""
        peak = "?" if self.peak_bytes is None else f"{self.peak_bytes / _MIB:.0f}"
        if not self.killed:
            return (
                f"NOT reproduced: {self.container} was not OOM-killed "
                f"(users up to {self.users}, peak={peak} MiB)"
            )
        when = "?" if self.t is None else f"{self.t:.1f}"
        return f"OOM-killed at t={when}s, users={self.users}, peak={peak} MiB"

    def to_json(self) -> dict[str, Any]:
        return {
            "container": self.container,
            "reproduced": self.killed,
            "t": self.t,
            "users": self.users,
            "stage_users": self.stage_users,
            "peak_bytes": self.peak_bytes,
            "cap_bytes": self.cap_bytes,
            "p95_ms_before_kill": self.p95_ms,
            "summary": self.line(),
        }


def _stage_users(stages: Sequence[Mapping[str, Any]], t: float) -> int | None:
    users = None
    for stage in stages:
        if float(stage.get("start_t", 0)) <= t:
            users = stage.get("users")
    return None if users is None else int(users)


def _last_before(entries: Sequence[Mapping[str, Any]], t: float, key: str) -> Any:
    value = None
    for entry in entries:
        if isinstance(entry.get("t"), int | float) and float(entry["t"]) <= t:
            value = entry.get(key, value)
    return value


def kill_report(phase: Mapping[str, Any]) -> KillReport:
    """The kill of ``service-0`` (or of the first service replica that was killed)."""
    names = sorted(n for n in (phase.get("containers") or {}) if n.startswith("service-"))
    for name in names:
        report = KillReport(phase, name)
        if report.killed:
            return report
    return KillReport(phase, names[0] if names else "service-0")
