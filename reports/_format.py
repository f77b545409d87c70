"""Numbers for people: sizes in KiB/MiB/GiB, times in ms, ratios, counts, budget margins."""

from __future__ import annotations

from reports._document import Verdict

__all__ = ["format_delta", "format_duration", "format_value", "headroom", "margin", "mib"]

_BINARY = (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024))


def mib(value: float | None) -> float | None:
    """Bytes as MiB, rounded to what a chart can show."""
    return None if value is None else round(value / 1024**2, 2)


def _size(value: float) -> str:
    for suffix, scale in _BINARY:
        if abs(value) >= scale:
            return f"{value / scale:.1f} {suffix}"
    return f"{value:.0f} B"


def format_value(value: float | None, unit: str) -> str:
    """``value`` in ``unit`` (bytes, ms, ratio, count, s, rps); ``None`` is "not measured"."""
    if value is None:
        return "not measured"
    if unit == "bytes":
        return _size(value)
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return format_duration(value)
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "rps":
        return f"{value:.1f}/s"
    if unit == "count":
        return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"
    return f"{value:g} {unit}"


def format_duration(seconds: float | None) -> str:
    """A duration with the unit that keeps 3 significant digits (ns to s)."""
    if seconds is None:
        return "not measured"
    for suffix, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {suffix}"
    return f"{seconds / 1e-9:.3g} ns"


def format_delta(change: float, unit: str) -> str:
    """A signed difference in ``unit`` (``+12.0 MiB``, ``-3.1 ms``)."""
    sign = "+" if change >= 0 else "-"
    return sign + format_value(abs(change), unit)


def headroom(verdict: Verdict) -> float | None:
    """Share of a non-zero limit still unused (negative past the limit), or ``None``."""
    if verdict.measured is None or not verdict.limit:
        return None
    room = verdict.limit - verdict.measured
    return (room if verdict.lower_is_better else -room) / abs(verdict.limit)


def margin(verdict: Verdict) -> str:
    """Headroom left under the limit, or how far past it the measurement is (and the
    share of the limit that is): ``109.6 MiB left (37%)``, ``over by 688.5 MiB (229%)``."""
    if verdict.measured is None or verdict.limit is None:
        return "—"
    room = (
        verdict.limit - verdict.measured
        if verdict.lower_is_better
        else verdict.measured - verdict.limit
    )
    text = format_value(abs(room), verdict.unit)
    share = f" ({abs(room) / abs(verdict.limit):.0%})" if verdict.limit else ""
    if room >= 0:
        return f"{text} left{share}"
    return f"{'over' if verdict.lower_is_better else 'under'} by {text}{share}"
