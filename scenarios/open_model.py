"""Open-model load (constant arrival rate): ``locust -f scenarios/open_model.py OpenModelUser``.

Locust's own wait times (``constant_throughput``, ``constant_pacing``) pace each user
after its task, so a slow service lowers the rate it is offered; dropping the arrivals
that find no free user hides the wait they would have had (coordinated omission). Here
a scheduler queues each arrival at its due time (``scenarios.arrivals``) and never drops
one; users take arrivals from the queue and send them, and the sample recorder writes
the due time beside each request, so latency is counted from when it was due.

The ladder comes as a :class:`~scenarios.arrivals.LadderConfig` in ``TASTEMATCH_OPEN_LADDER``.
First ``accounts`` seeded diners log in (outside the statistics: bcrypt is not the load);
an anchored ladder then runs ``warmup_users`` users back to back for ``warmup_s`` and takes
their throughput as ``X0``. The plan (every step's rate and times) goes to ``ladder.json``
in the samples folder before the first step; a ``stop`` file there ends the ladder at
once. One Locust process only: the scheduler and the shape share its memory.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import gevent
from gevent.pool import Pool
from gevent.queue import Empty, Queue
from locust import FastHttpUser, LoadTestShape, constant, events, task
from locust.env import Environment

from scenarios import recording  # noqa: F401  (registers the sample and exit-code listeners)
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from scenarios.arrivals import LADDER_ENV, PLAN_FILE, STOP_FILE, LadderConfig, LadderPlan
from scenarios.protocol import SCHEDULED_COLUMN

__all__ = ["OpenModelShape", "OpenModelUser"]

#: Logins sent at once (each is a bcrypt check on the service).
_LOGIN_CONCURRENCY = 4
#: Seconds between the plan's writing and its first step: the pool's users get started.
_LEAD_S = 2.0
#: Seconds the shape waits after the last step for queued arrivals to be sent and answered.
_DRAIN_S = 5.0
#: Users started per second when the pool grows.
_SPAWN_RATE = 500.0


class _Ladder:
    """The scheduler's state, shared by the users and the shape of this process."""

    def __init__(self) -> None:
        self.config: LadderConfig | None = None
        self.samples_dir: Path | None = None
        self.tokens: list[dict[str, str]] = []
        self.arrivals: Queue[float] = Queue()
        self.closed_loop = False
        self.warmup_users = 0
        self.completed_at: list[float] = []
        self.plan: LadderPlan | None = None
        self.finished_at: float | None = None
        self._headers: Iterator[dict[str, str]] = itertools.cycle([{}])

    def headers(self) -> dict[str, str]:
        return next(self._headers)

    def run(self, host: str) -> None:
        """Log in, warm up (an anchored ladder), write the plan, then queue every arrival."""
        config, samples_dir = self.config, self.samples_dir
        assert config is not None
        assert samples_dir is not None
        try:
            self.tokens = _log_in(host, config.accounts)
            self._headers = itertools.cycle(self.tokens)
            x0 = self._warm_up(config) if config.anchored else None
            plan = LadderPlan.build(config, x0=x0, start=time.time() + _LEAD_S)
            plan.write(samples_dir / PLAN_FILE)
            self.plan = plan
            self._schedule(plan, samples_dir / STOP_FILE)
        finally:
            self.finished_at = time.time()

    def _warm_up(self, config: LadderConfig) -> float:
        self.completed_at = []
        self.warmup_users = config.warmup_users
        self.closed_loop = True
        started = time.time()
        gevent.sleep(config.warmup_s)
        self.closed_loop = False
        # The second half only: the first has the users starting and the cache filling.
        half = started + config.warmup_s / 2
        return sum(1 for t in self.completed_at if t >= half) / (config.warmup_s / 2)

    def _schedule(self, plan: LadderPlan, stop: Path) -> None:
        for step in plan.steps:
            count, k = step.arrivals, 0
            while k < count:
                if stop.exists():
                    return
                now = time.time()
                # Every arrival already due goes in now: late, never dropped.
                while k < count and step.start + k / step.rate <= now:
                    self.arrivals.put(step.start + k / step.rate)
                    k += 1
                if k < count:
                    gevent.sleep(min(0.25, max(0.0, step.start + k / step.rate - time.time())))


LADDER = _Ladder()


def _log_in(host: str, accounts: int) -> list[dict[str, str]]:
    def one(index: int) -> dict[str, str]:
        body = json.dumps({"email": user_email(index), "password": LOAD_TEST_PASSWORD}).encode()
        request = urllib.request.Request(
            f"{host}/auth/login", data=body, headers={"Content-Type": "application/json"}
        )
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    return {"Authorization": f"Bearer {json.loads(response.read())['token']}"}
            except (OSError, KeyError, ValueError):
                gevent.sleep(0.5 * (attempt + 1))
        raise RuntimeError(f"open model: account {index} could not log in")

    return list(Pool(_LOGIN_CONCURRENCY).imap(one, range(accounts)))


class OpenModelUser(FastHttpUser):
    """Sends one queued arrival at a time (back to back during a closed-loop warm-up)."""

    wait_time = constant(0)
    network_timeout = 30.0
    connection_timeout = 10.0

    @task
    def arrive(self) -> None:
        config = LADDER.config
        if config is None or not LADDER.tokens:
            gevent.sleep(0.1)
            return
        if LADDER.closed_loop:
            self._send(config, None)
            LADDER.completed_at.append(time.time())
            return
        try:
            due = LADDER.arrivals.get(timeout=0.5)
        except Empty:
            return
        self._send(config, due)

    def _send(self, config: LadderConfig, due: float | None) -> None:
        context = {} if due is None else {SCHEDULED_COLUMN: due}
        with self.client.get(
            config.path,
            name=config.name,
            headers=LADDER.headers(),
            context=context,
            catch_response=True,
        ) as response:
            if not 200 <= (response.status_code or 0) < 300:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:120]}")


class OpenModelShape(LoadTestShape):
    """Users enough for each step's rate; the end once the ladder and its drain are over."""

    def tick(self) -> tuple[int, float] | None:
        finished = LADDER.finished_at
        if finished is not None and time.time() - finished >= _DRAIN_S:
            return None
        plan = LADDER.plan
        if plan is None:
            return max(1, LADDER.warmup_users if LADDER.closed_loop else 1), _SPAWN_RATE
        now = time.time()
        step = plan.step_at(now + _LEAD_S) or plan.step_at(now) or plan.steps[-1]
        return step.pool, _SPAWN_RATE


def _start(environment: Environment, **_: Any) -> None:
    LADDER.config = LadderConfig.from_json(os.environ[LADDER_ENV])
    directory = getattr(environment.parsed_options, "samples_dir", "")
    LADDER.samples_dir = Path(directory or ".")
    host = environment.host or ""
    gevent.spawn(LADDER.run, host.rstrip("/"))


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.test_start, _start)
