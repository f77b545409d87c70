"""Figures of a load around a fault: windows, failure kinds, recovery, acknowledged orders;
the fault budgets judging them; choosing faults by name."""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from benchmarks.commands.faults import (
    FAULTS,
    Injector,
    choose,
    faults_markdown,
)
from benchmarks.judge.budgets import evaluate, load_budgets
from benchmarks.judge.document import budgets_not_run, judge_faults
from benchmarks.measure.recovery import SETTLE_S, acknowledged_orders, fault_figures
from benchmarks.measure.samples import read_samples
from containers.faults import Fault
from containers.stack import Stack
from results import write
from scenarios.protocol import START_FILE, ack_path, sample_path

T0 = 1_800_000_000.0
INJECT, HEAL = T0 + 20, T0 + 30


def _load(tmp_path: Path, failures: list[tuple[float, float, str]]) -> dict[str, Any]:
    """One request every 0.1 s for 60 s taking 10 ms, then ``failures`` (start offset,
    response ms, error); figures with the fault from 20 s to 30 s."""
    rows = [(T0 + i / 10, "GET", "/api/restaurants", 10.0, 0, "") for i in range(600)]
    rows += [(T0 + t, "POST", "/api/orders", ms, 1, error) for t, ms, error in failures]
    with sample_path(tmp_path, 1).open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return fault_figures(
        read_samples(tmp_path),
        started_at=T0,
        measured_from=T0 + 10,
        end=T0 + 60,
        injected_at=INJECT,
        healed_at=HEAL,
    )


def test_windows_split_at_injection_and_heal(tmp_path: Path) -> None:
    figures = _load(
        tmp_path,
        [
            (21.0, 2.0, "HTTP 503: database unavailable, retry shortly"),
            (22.0, 9000.0, "HTTP 503: database unavailable, retry shortly"),
            (25.0, 3.0, "HTTP 500: boom"),
            (31.0, 1.0, "ConnectionRefusedError(111, 'Connection refused')"),
        ],
    )
    assert figures["injected_at_s"] == 20.0
    assert figures["healed_at_s"] == 30.0
    before, during, after = figures["before"], figures["during"], figures["after"]
    assert before == {
        "requests": 100,
        "failed": 0,
        "server_errors": 0,
        "server_errors_not_503": 0,
        "failed_not_503": 0,
        "errors": {},
        "p95_ms": 10.0,
        "max_ms": 10.0,
    }
    assert during["requests"] == 103
    assert during["failed"] == 3
    assert during["errors"] == {"HTTP 503": 2, "HTTP 500": 1}
    assert during["server_errors"] == 3
    assert during["server_errors_not_503"] == 1
    assert after["errors"] == {"ConnectionRefusedError": 1}
    assert figures["server_errors"] == 3
    assert figures["server_errors_not_503"] == 1
    assert figures["failed"] == 4
    assert figures["failed_not_503"] == 2
    assert figures["longest_ms"] == 9000.0
    # The last failure to end after the heal: the 22 s request ended at 31 s, the refused
    # connection at 31.001 s.
    assert figures["recovery_ms"] == pytest.approx(1001.0)
    assert figures["settled_failures"] == 0


def test_no_failure_after_the_heal_is_an_immediate_recovery(tmp_path: Path) -> None:
    figures = _load(tmp_path, [(21.0, 5.0, "HTTP 503: busy")])
    assert figures["recovery_ms"] == 0.0
    assert figures["settled_failures"] == 0


def test_a_failure_after_settling_counts(tmp_path: Path) -> None:
    figures = _load(tmp_path, [(30 + SETTLE_S + 1, 5.0, "HTTP 503: busy")])
    assert figures["settled_failures"] == 1
    assert figures["recovery_ms"] == pytest.approx((SETTLE_S + 1) * 1000 + 5, abs=0.01)


def test_acknowledged_orders_are_read_from_every_process(tmp_path: Path) -> None:
    ack_path(tmp_path, 1).write_text("4\n7\n")
    ack_path(tmp_path, 2).write_text("9\n12")  # a process killed mid-line leaves no newline
    assert sorted(acknowledged_orders(tmp_path)) == [4, 7, 9, 12]


def _document(**overrides: object) -> dict[str, Any]:
    entry = {
        "measured": True,
        "failed": 0,
        "failed_not_503": 0,
        "server_errors_not_503": 0,
        "recovery_ms": 1200.0,
        "longest_ms": 5200.0,
        "settled_failures": 0,
        "acknowledged_orders": {"acknowledged": 60, "lost": 0},
    }
    faults = [{"name": fault.name, **entry} for fault in FAULTS]
    faults[0].update(overrides)
    return {"faults": faults}


def _failed(document: dict[str, object]) -> set[str]:
    return {v.budget for v in evaluate(document, load_budgets(command="faults")) if not v.passed}


def test_fault_budgets_pass_a_clean_run_and_name_each_problem() -> None:
    assert _failed(_document()) == set()
    assert _failed(_document(acknowledged_orders={"acknowledged": 60, "lost": 1})) == {
        "fault_acknowledged_orders_lost"
    }
    # faults[0] is a Redis fault: any failure during it fails; a 503 still is not a 500.
    assert _failed(_document(failed=1)) == {"fault_redis_failed_requests"}
    assert _failed(_document(server_errors_not_503=1)) == {"fault_server_errors_not_503"}
    # An entry without figures (not injected, or the loss check failed) says so.
    assert _failed(_document(measured=False)) == {"fault_measured"}
    assert _failed(_document(acknowledged_orders={"acknowledged": 3, "lost": 0})) == {
        "fault_orders_acknowledged"
    }


def test_postgres_budgets_judge_only_postgres_faults() -> None:
    document = _document()
    postgres = next(f for f in document["faults"] if f["name"] == "postgres-paused")
    postgres["recovery_ms"] = 6000.0
    postgres["failed_not_503"] = 2
    postgres["longest_ms"] = 30_000.0
    assert _failed(document) == {
        "fault_postgres_recovery",
        "fault_postgres_errors_are_503",
        "fault_postgres_longest_request",
    }
    # The same figures on the service kill (connections refused while it restarts) pass.
    document = _document()
    killed = next(f for f in document["faults"] if f["name"] == "service-killed")
    killed["recovery_ms"] = 6000.0
    killed["failed_not_503"] = 2
    killed["longest_ms"] = 30_000.0
    assert _failed(document) == set()


POSTGRES_BUDGETS = {
    "fault_postgres_errors_are_503",
    "fault_postgres_recovery",
    "fault_postgres_longest_request",
}


def _partial(only: set[str], **overrides: object) -> dict[str, Any]:
    """A document of a run with ``--only`` ``only``; ``overrides`` on its first fault."""
    document = _document()
    document["faults"] = [f for f in document["faults"] if f["name"] in only]
    document["faults"][0].update(overrides)
    document["faults_not_run"] = [f.name for f in FAULTS if f.name not in only]
    document["environment"] = {
        "reproduce": f"python -m benchmarks faults --only {','.join(sorted(only))}"
    }
    return document


def _statuses(document: dict[str, Any]) -> dict[str, set[str]]:
    judge_faults(document, load_budgets(command="faults"), duration_s=1.0)
    statuses: dict[str, set[str]] = {"passed": set(), "failed": set(), "not run": set()}
    for verdict in document["verdicts"]:
        status = {True: "passed", False: "failed", None: "not run"}[verdict["passed"]]
        statuses[status].add(verdict["budget"])
    return statuses


def test_a_partial_run_does_not_judge_the_budgets_of_faults_it_left_out() -> None:
    document = _partial({"redis-paused"})
    statuses = _statuses(document)
    assert statuses["not run"] == POSTGRES_BUDGETS
    assert statuses["failed"] == set()
    # Every fault measured means every fault chosen: the eight left out do not count.
    assert {"fault_measured", "fault_redis_failed_requests"} <= statuses["passed"]
    assert document["passed"] is True
    (recovery,) = (v for v in document["verdicts"] if v["budget"] == "fault_postgres_recovery")
    assert recovery["explanation"] == (
        "it reads only postgres-restarted, postgres-paused, postgres-loss, postgres-partition, "
        "postgres-throttled, pool-exhausted, which this run left out (--only)"
    )
    assert recovery["measured"] is None


def test_a_partial_run_judges_its_faults_as_usual() -> None:
    document = _partial({"redis-paused", "pool-exhausted"}, failed=2)
    statuses = _statuses(document)
    assert statuses["failed"] == {"fault_redis_failed_requests"}
    assert statuses["not run"] == set()  # pool-exhausted ran: the Postgres budgets judge it
    assert statuses["passed"] >= POSTGRES_BUDGETS
    assert document["passed"] is False


def test_a_chosen_fault_that_was_not_measured_still_fails() -> None:
    document = _partial({"redis-paused"}, measured=False)
    del document["faults"][0]["failed"]  # no figures: the fault was never injected
    statuses = _statuses(document)
    assert statuses["failed"] == {"fault_measured", "fault_redis_failed_requests"}
    assert statuses["not run"] == POSTGRES_BUDGETS
    assert document["passed"] is False


def test_a_full_run_skips_no_budget() -> None:
    document = _document()
    assert budgets_not_run(document, load_budgets(command="faults")) == {}
    document["faults_not_run"] = []
    assert _statuses(document)["not run"] == set()
    assert document["passed"] is True


def test_the_summary_of_a_partial_run_names_what_was_not_run() -> None:
    entry = {
        "before": {"p95_ms": 20.0},
        "during": {"failed": 0, "server_errors": 0, "p95_ms": 510.0},
        "after": {"failed": 0, "server_errors": 0, "p95_ms": 22.0},
        "recovery_ms": 0.0,
    }
    document = _partial({"redis-paused", "service-killed"}, **entry)
    document["faults"][1].update(entry)
    judge_faults(document, load_budgets(command="faults"), duration_s=1.0)
    text = faults_markdown(document)
    assert text.startswith("# Faults: passed (partial run: 2 of 9 faults)\n")
    assert "Faults not run (--only): redis-killed, postgres-restarted," in text
    assert "Budgets: 6 held, 0 failed, 3 not run." in text
    assert "Budgets not run (neither passed nor failed):\n- `fault_postgres_errors_are_503`: " in (
        text
    )
    assert "Failed budgets" not in text


def test_the_gate_does_not_load_fault_budgets() -> None:
    gate = {budget.name for budget in load_budgets()}
    faults = {budget.name for budget in load_budgets(command="faults")}
    assert faults
    assert not gate & faults
    assert all(name.startswith("fault_") for name in faults)


def test_choose_faults_by_name() -> None:
    assert [f.name for f in choose("redis-paused, service-killed")] == [
        "redis-paused",
        "service-killed",
    ]
    assert len(choose(None)) == len(FAULTS)
    assert choose(None)[0] is not FAULTS[0]  # copies: a fault holds state while injected
    with pytest.raises(ValueError, match=r"unknown fault.*redis-pasued"):
        choose("redis-pasued")
    with pytest.raises(ValueError, match="names no fault"):
        choose(" , ")


@dataclass
class _Noted(Fault):
    """A fault that only notes what was done to it."""

    done: list[str] = field(default_factory=list)

    def inject(self, stack: Stack) -> None:
        self.done.append("inject")

    def heal(self, stack: Stack) -> None:
        self.done.append("heal")


def test_the_injector_waits_for_the_loads_start(tmp_path: Path) -> None:
    fault = _Noted("noted", "redis", "nothing really", hold_s=0)
    injector = Injector(cast(Stack, None), fault, tmp_path, after_s=0)
    injector.start()
    writer = threading.Timer(0.3, write, [tmp_path / START_FILE, {"started_at": 1.0}])
    writer.start()
    injector.join(timeout=10)
    writer.join()
    injector.finish()
    assert (injector.error, fault.done) == (None, ["inject", "heal"])
    assert injector.injected_at is not None


def test_an_unreadable_start_is_an_error_not_a_wait(tmp_path: Path) -> None:
    # The marker is renamed into place whole: a malformed one will not get better.
    fault = _Noted("noted", "redis", "nothing really", hold_s=0)
    (tmp_path / START_FILE).write_text('{"started_at": ')
    injector = Injector(cast(Stack, None), fault, tmp_path, after_s=0)
    injector.start()
    injector.join(timeout=10)
    injector.finish()
    assert injector.error is not None
    assert injector.error.startswith("the load's start time is unreadable")
    assert fault.done == []
