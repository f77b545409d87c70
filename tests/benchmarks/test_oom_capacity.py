"""The capacity curve of a recorded step ramp: where p95, memory or a kill set the limit."""

from __future__ import annotations

from typing import Any

from benchmarks.capacity import capacity_html, capacity_markdown, curve

MIB = 2**20
ENDPOINT = "GET /api/recommendations"


def _phase(peaks_mib: list[float], *, kill_t: float | None = None) -> dict[str, Any]:
    """Warm-up 0-10 s, then steps of 10/20/30 users, 10 s each; one memory sample per step."""
    stages = [{"name": "warm-up", "start_t": 0, "end_t": 10, "users": 10, "measured": False}]
    stages += [
        {"name": f"step-{i}", "start_t": 10 * i, "end_t": 10 * (i + 1), "users": 10 * i}
        for i in (1, 2, 3)
    ]
    samples = [
        {"t": 10.0 * i + 5, "working_set_bytes": int(peak * MIB)}
        for i, peak in enumerate(peaks_mib)
    ]
    return {
        "stages": stages,
        "timeline": {"memory": {"service-0": samples}},
        "containers": {
            "service-0": {
                "cap_bytes": 1024 * MIB,
                "oom_killed": kill_t is not None,
                "oom_kill_t": kill_t,
            }
        },
        "load_generator": {"saturated": False},
        "error": None,
    }


def _figures(*p95: float) -> dict[str, dict[str, Any]]:
    return {
        f"step-{i}": {ENDPOINT: {"count": 100, "failures": 0, "p95_ms": value}}
        for i, value in enumerate(p95, start=1)
    }


def test_capacity_is_the_last_step_before_p95_breaks_its_budget() -> None:
    result = curve(
        "optimized", _phase([100, 110, 120, 130]), _figures(20, 90, 400), p95_limit_ms=150
    )
    assert [step.users for step in result.steps] == [10, 20, 30]
    assert result.limit_step is not None
    assert result.limit_step.users == 30
    assert result.summary() == "optimized: capacity 20 users; at 30 users p95 400 ms > 150 ms"


def test_memory_at_the_cap_sets_the_limit() -> None:
    result = curve(
        "optimized", _phase([100, 100, 990, 1000]), _figures(20, 30, 40), p95_limit_ms=150
    )
    assert result.summary() == "optimized: capacity 10 users; at 20 users memory 990 MiB at the cap"


def test_a_ramp_that_holds_reports_a_lower_bound() -> None:
    result = curve(
        "optimized", _phase([100, 100, 100, 100]), _figures(10, 10, 10), p95_limit_ms=150
    )
    assert result.limit_step is None
    assert result.summary() == "optimized: no limit reached up to 30 users (capacity >= 30)"


def test_a_later_kill_is_named_after_the_limit() -> None:
    result = curve(
        "baseline", _phase([100, 500, 1024], kill_t=25.0), _figures(3000, 4000), p95_limit_ms=150
    )
    assert result.summary() == (
        "baseline: capacity 0 users; at 10 users p95 3000 ms > 150 ms; OOM-killed at 20 users"
    )


def test_steps_after_the_kill_are_not_reported() -> None:
    # Killed in step 1 at 14 s; memory sampling (and the load) ended soon after.
    result = curve("baseline", _phase([900, 1024], kill_t=14.0), _figures(3000), p95_limit_ms=150)
    assert [step.name for step in result.steps] == ["step-1"]
    assert result.steps[0].oom_killed
    assert result.summary().startswith("baseline: capacity 0 users; at 10 users OOM-killed")
    text = capacity_markdown([result], "python -m benchmarks.capacity")
    assert "| step-1 | 10 | 100 | 0 | 3000 ms | 1024 MiB | OOM-killed" in text
    page = capacity_html([result], run_id="r1", reproduce="python -m benchmarks.capacity")
    assert "baseline: capacity 0 users" in page


def test_no_step_is_not_measured() -> None:
    phase = _phase([])
    phase["error"] = "the stack could not run this phase"
    result = curve("baseline", phase, {}, p95_limit_ms=150)
    assert result.summary() == "baseline: not measured (the stack could not run this phase)"
