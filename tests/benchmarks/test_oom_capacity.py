"""The open-model capacity: each step judged from its samples, the ladder's capacity and
the comparisons (no containers, no clock: samples are built by hand)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import results
from benchmarks.commands.capacity import capacity_document
from benchmarks.judge.ladder import (
    Ladder,
    StepResult,
    ceiling_fraction,
    judge_step,
    profile_ratio,
)
from benchmarks.measure.ladders import answers_pending, refinement, targets
from benchmarks.measure.samples import Samples
from reports import capacity_html, capacity_markdown, render_run
from results import write
from scenarios.arrivals import LadderConfig, LadderPlan, due_times

GOLDEN = Path(__file__).resolve().parent.parent / "results" / "golden"
T0 = 1_800_000_000.0
MIB = 2**20
ENDPOINT = "GET /api/recommendations"
CONFIG = LadderConfig(
    path="/x",
    name="/api/recommendations",
    step_s=10.0,
    settle_s=2.0,
    accounts=1,
    min_pool=4,
    rates=(10.0, 20.0),
)


def _samples(
    due: list[float], *, lag_s: float = 0.001, response_ms: float = 20.0, failed: int = 0
) -> Samples:
    """One request per due time, sent ``lag_s`` later and answered in ``response_ms``;
    the last ``failed`` fail."""
    count = len(due)
    return Samples(
        t=np.array(due) + lag_s,
        endpoint=np.array([ENDPOINT] * count, dtype=np.str_),
        response_ms=np.full(count, response_ms),
        failed=np.array([i >= count - failed for i in range(count)], dtype=np.bool_),
        error=np.array(["HTTP 503" if i >= count - failed else "" for i in range(count)]),
        scheduled=np.array(due, dtype=np.float64),
    )


def _judge(samples: Samples, **options: object) -> StepResult:
    plan = LadderPlan.build(CONFIG, x0=None, start=T0)
    return judge_step(
        plan.steps[0],
        samples,
        plan,
        endpoint=ENDPOINT,
        p95_limit_ms=150.0,
        **options,  # type: ignore[arg-type]
    )


def test_a_step_served_on_time_holds_and_counts_from_its_settled_window() -> None:
    step = _judge(_samples(due_times(T0, 10.0, 10.0)))

    assert step.held
    assert (step.arrivals, step.answered, step.failures) == (80, 80, 0)
    assert step.sustained_rps == 10.0
    assert step.p95_ms == 21.0  # 20 ms answer + 1 ms waiting to be sent
    assert step.users_in_flight == 0.2  # 10/s x 20 ms
    assert step.backlog_at_end == 0
    assert not step.generator_bound


def test_latency_counts_from_the_due_time_not_from_the_sending() -> None:
    step = _judge(_samples(due_times(T0, 10.0, 10.0), lag_s=0.2))

    assert step.p95_ms == 220.0
    assert step.broken == {"p95": "p95 220 ms from schedule > 150 ms"}
    # Waiting 200 ms for a free user when 4 of them were idle: the generator's lag.
    assert step.generator_bound


def test_errors_missing_answers_and_a_backlog_each_break_a_step() -> None:
    due = due_times(T0, 10.0, 10.0)
    assert set(_judge(_samples(due, failed=1)).broken) == {"errors"}
    # The last 3 s of arrivals were never sent: unanswered, and waiting at the step's end.
    unsent = _judge(_samples([t for t in due if t < T0 + 7.0]))
    assert set(unsent.broken) == {"answered", "backlog"}
    assert unsent.backlog_at_end == 30
    assert unsent.broken["answered"] == "50 of 80 arrivals answered (< 97 %)"


def test_memory_at_the_cap_an_oom_kill_and_a_busy_generator() -> None:
    samples = _samples(due_times(T0, 10.0, 10.0))
    full = _judge(samples, peak_working_set_bytes=1000 * MIB, cap_bytes=1024 * MIB)
    assert full.broken == {"memory": "memory 1000 MiB at the cap"}
    assert set(_judge(samples, oom_killed=True).broken) == {"oom"}
    busy = _judge(samples, cpu_percent=95.0)
    assert busy.held
    assert busy.generator_bound


def _step(rate: float, **changes: object) -> StepResult:
    fields: dict[str, object] = {
        "name": f"step-{rate:g}",
        "rate": rate,
        "pool": 8,
        "arrivals": int(rate * 10),
        "answered": int(rate * 10),
        "failures": 0,
        "sustained_rps": rate,
        "p50_ms": 10.0,
        "p95_ms": 20.0,
        "service_p95_ms": 19.0,
        "dispatch_lag_p95_ms": 0.5,
        "backlog_at_end": 0,
        "users_in_flight": rate / 100,
        "load_generator_cpu_percent": 40.0,
        "peak_working_set_bytes": 200 * MIB,
        "oom_killed": False,
        "broken": {},
        "generator_bound": False,
    }
    fields.update(changes)
    return StepResult(**fields)  # type: ignore[arg-type]


def _ladder(target: str, *steps: StepResult, endpoint: str = ENDPOINT) -> Ladder:
    return Ladder(target, "optimized", endpoint, 400.0, steps, 150.0)


SLOW = {"p95": "p95 400 ms from schedule > 150 ms"}


def test_the_capacity_is_the_highest_rate_held_before_the_first_broken_step() -> None:
    ladder = _ladder("optimized", _step(200), _step(300), _step(400, broken=SLOW))

    assert ladder.capacity_rps == 300
    assert not ladder.lower_bound
    assert ladder.summary() == (
        "optimized (GET /api/recommendations, optimized): capacity = 300 req/s sustained at "
        "the 300 req/s step (3 users in flight, pool 8, p95 20 ms); at 400 req/s p95 400 ms "
        "from schedule > 150 ms"
    )


def test_a_limit_is_narrowed_between_the_last_held_rate_and_the_first_broken_one() -> None:
    optimized, live, baseline = targets()
    ladder = _ladder("optimized", _step(200), _step(300), _step(400, broken=SLOW))
    narrower = refinement(optimized, ladder)
    assert narrower is not None
    assert narrower.config.rates == (325, 350, 375)
    assert not narrower.config.anchored
    assert refinement(narrower, ladder) is None  # narrowed once
    assert refinement(live, ladder) is not None
    assert refinement(baseline, ladder) is None
    # Nothing to narrow: no bracket, or the load generator broke.
    assert refinement(optimized, _ladder("optimized", _step(200), _step(300))) is None
    assert refinement(optimized, _ladder("optimized", _step(200, broken=SLOW))) is None
    generator = _step(400, broken=SLOW, generator_bound=True)
    assert refinement(optimized, _ladder("optimized", _step(300), generator)) is None


def test_narrowed_the_capacity_is_the_highest_rate_held_below_the_lowest_broken_one() -> None:
    first = (_step(200), _step(300), _step(400, broken=SLOW))
    narrowed = _ladder("optimized", *first, _step(325), _step(350, broken=SLOW))
    assert narrowed.capacity_rps == 325
    assert narrowed.limit_step is not None
    assert narrowed.limit_step.rate == 350
    # A refinement step that breaks below the first ladder's held rate lowers the capacity.
    lower = _ladder("optimized", *first, _step(250, broken=SLOW))
    assert lower.capacity_rps == 200


def test_a_ladder_that_never_broke_or_broke_on_the_generator_is_a_bound() -> None:
    assert _ladder("live", _step(200), _step(300)).lower_bound
    bound = _ladder("live", _step(200), _step(300, broken=SLOW, generator_bound=True))
    assert bound.lower_bound
    assert "capacity >= 200 req/s" in bound.summary()
    assert "(load generator bound)" in bound.summary()


def test_a_baseline_that_held_nothing_says_so_and_what_it_served() -> None:
    baseline = _ladder(
        "baseline",
        _step(0.1, broken={"p95": "p95 4400 ms from schedule > 150 ms"}, p95_ms=4400.0),
        _step(0.2, broken={"oom": "OOM-killed"}),
    )
    assert baseline.capacity_step is None
    assert baseline.summary().startswith(
        "baseline (GET /api/recommendations, optimized): no step held"
    )
    assert "at 0.1 req/s p95 4400 ms" in baseline.summary()
    # The ladder stops at its first broken step, so the serving rate is that of the first.
    assert "served without errors up to 0.1 req/s (p95 4400 ms)" in baseline.summary()
    ratio = profile_ratio(_ladder("optimized", _step(400), _step(500, broken=SLOW)), baseline)
    assert (ratio.value, ratio.relation) == (4000.0, "=")
    assert "held no step within its budgets" in ratio.text


def test_the_fraction_of_the_trivial_endpoint_is_a_bound_when_either_ceiling_is() -> None:
    recommendations = _ladder("optimized", _step(400), _step(500, broken=SLOW))
    measured = _ladder("live", _step(450), _step(600, broken=SLOW), endpoint="GET /health/live")
    fraction = ceiling_fraction(recommendations, measured)
    assert (fraction.value, fraction.relation) == (0.889, "=")
    assert fraction.text.endswith("(goal >= 0.8: met)")

    unbroken = _ladder("live", _step(1000), _step(2000), endpoint="GET /health/live")
    bounded = ceiling_fraction(recommendations, unbroken)
    assert (bounded.value, bounded.relation) == (0.2, "<=")
    assert bounded.text.endswith("(goal >= 0.8: undecided)")


def _written(folder: Path, ladders: list[Ladder]) -> results.CapacityDocument:
    """``ladders`` as the ``capacity.json`` the command writes, read back as reports read it."""
    head = {
        "schema_version": 2,
        "kind": "capacity",
        "run_id": "r1<capacity>",
        "environment": {"reproduce": "python -m benchmarks capacity"},
    }
    write(folder / "capacity.json", capacity_document(head, ladders, {}, duration_s=1.0))
    document = results.load(folder / "capacity.json")
    assert isinstance(document, results.CapacityDocument)
    return document


def test_the_reports_show_every_step_and_the_comparisons(tmp_path: Path) -> None:
    ladders = [
        _ladder("optimized", _step(400), _step(500, broken=SLOW)),
        _ladder("live", _step(450), _step(600, broken=SLOW), endpoint="GET /health/live"),
        Ladder("baseline", "baseline", ENDPOINT, None, (), 150.0, "the stack could not run"),
    ]
    document = _written(tmp_path, ladders)
    text = capacity_markdown(document)
    assert "| step-400 | 400/s | 400/s | 4000/4000 | 0 | 20.0 ms | 0.5 ms | 4 / 8 | 40 % |" in text
    assert (
        "baseline (GET /api/recommendations, baseline): not measured (the stack could not run)"
        in text
    )
    assert "fraction of /health/live" not in text  # the comparisons line below says it
    assert text.endswith("Run again: `python -m benchmarks capacity`\n")
    page = capacity_html(document)
    assert "capacity = 400 req/s" in page
    assert "r1&lt;capacity&gt;" in page  # document values are escaped
    assert 'id="capacity-p95"' in page
    # The command renders both pages from the document it wrote.
    written = render_run(tmp_path)
    assert [path.name for path in written] == ["capacity.md", "capacity.html"]
    assert (tmp_path / "capacity.md").read_text(encoding="utf-8") == text


def test_the_three_ladders_and_their_rates() -> None:
    optimized, live, baseline = targets()
    assert (optimized.key, live.key, baseline.key) == ("optimized", "live", "baseline")
    assert live.config.path == "/health/live"
    assert live.profile == "optimized"
    assert baseline.config.rates == (0.1, 0.2, 0.3)
    assert optimized.config.anchored


def test_the_document_fits_its_schema_with_no_key_left_undeclared(tmp_path: Path) -> None:
    ladders = [
        _ladder("optimized", _step(400), _step(500, broken=SLOW)),
        _ladder("live", _step(450), _step(600, broken=SLOW), endpoint="GET /health/live"),
        _ladder("baseline", _step(0.1, broken={"oom": "OOM-killed"})),
    ]
    head = {
        "schema_version": 2,
        "kind": "capacity",
        "run_id": "r1-capacity",
        "environment": json.loads((GOLDEN / "capacity-v1.json").read_text())["environment"],
    }
    runs = {"optimized": {"locust_exit_code": 0, "error": None}}
    write(tmp_path / "capacity.json", capacity_document(head, ladders, runs, duration_s=1.0))

    document = results.load(tmp_path / "capacity.json")

    assert isinstance(document, results.CapacityDocument)
    assert results.unknown_keys(document) == []
    assert [ladder.target for ladder in document.ladders] == ["optimized", "live", "baseline"]
    assert document.ladders[0].capacity_rps == 400
    # A baseline killed at its first step held and served nothing: no ratio to give.
    assert [item.relation for item in document.comparisons] == [None, "="]
    assert document.comparisons[0].text.endswith("the baseline held no step and served none")


def test_the_baseline_ladder_goes_on_past_slow_steps_until_it_fails_to_serve() -> None:
    optimized, _, baseline = targets()
    slow = _step(0.1, broken={"p95": "p95 4400 ms from schedule > 150 ms"})
    killed = _step(0.2, broken={"oom": "OOM-killed"})
    assert optimized.stops(slow)
    assert not baseline.stops(slow)
    assert baseline.stops(killed)
    assert not baseline.stops(_step(0.1))


def test_a_step_short_of_answers_is_judged_again_until_they_may_have_come() -> None:
    optimized, _, baseline = targets()
    unanswered = {"answered": "0 of 3 arrivals answered (< 97 %)"}
    waiting = _step(0.1, broken={**unanswered, "backlog": "4 arrivals waiting at its end"})
    assert answers_pending(baseline, waiting, waited_s=5.0)
    assert not answers_pending(baseline, waiting, waited_s=40.0)
    assert not answers_pending(baseline, _step(0.1, broken=SLOW), waited_s=5.0)
    # The optimised ladder stops for its backlog anyway: no reason to wait.
    assert not answers_pending(optimized, waiting, waited_s=5.0)


def test_an_arrival_due_at_the_step_end_belongs_to_the_next_step() -> None:
    due = [*due_times(T0, 10.0, 10.0), T0 + 10.0 - 4e-7]  # the next step's first, as written
    step = _judge(_samples(due))
    assert (step.arrivals, step.answered) == (80, 80)
