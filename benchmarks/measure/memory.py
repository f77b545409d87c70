"""memray: the service's heap through a load under ``memray run``, and one request's allocation.

The load part runs the service container under ``memray run`` (a non-aggregated
capture, readable even after an OOM kill), copies the capture out, and reads the
peak heap, its growth per request after the warm-up (the leak test) and the
largest allocation sites at that peak; memray's flamegraph
HTML is kept beside the result. The per-request part runs the app in this
process (FastAPI's TestClient against the stack's Postgres and Redis) and
traces a single uncached recommendation request with ``memray.Tracker``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import memray
import redis

from benchmarks.errors import RunError
from benchmarks.measure.growth import heap_growth
from benchmarks.measure.loadgen import run_scenario
from containers.errors import StackError
from containers.replicas import MEMRAY_CAPTURE
from containers.stack import Stack
from scenarios.accounts import LOAD_TEST_PASSWORD, user_email
from scenarios.registry import get_scenario
from service.config import Settings, one_process_jwt_secret

__all__ = [
    "MEMRAY_LOAD",
    "memory_phase",
    "request_allocation",
    "service_sites",
    "top_allocations",
]

#: The load the service carries while memray traces it (light: tracing slows it down).
MEMRAY_LOAD = get_scenario("standard").with_overrides(users=10, warmup_s=3, measure_s=12)
FLAMEGRAPH = "memray-flamegraph.html"
#: The account whose request warms the in-process app before any request is traced.
_WARM_ACCOUNT = 1990
_TIMEOUT_S = 300


class MemrayUnsupportedError(RunError):
    """The service's configuration cannot be traced by ``memray run``."""


def top_allocations(capture: Path, count: int = 10) -> list[dict[str, Any]]:
    """The ``count`` largest allocation sites live at the heap's peak."""
    sites: dict[str, dict[str, Any]] = {}
    with memray.FileReader(str(capture)) as reader:
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = record.stack_trace(max_stacks=1)
            function, filename, line = frames[0] if frames else ("???", "???", 0)
            location = f"{filename}:{line} {function}"
            site = sites.setdefault(location, {"location": location, "bytes": 0, "count": 0})
            site["bytes"] += int(record.size)
            site["count"] += int(record.n_allocations)
    return sorted(sites.values(), key=lambda site: -int(site["bytes"]))[:count]


def _memray_cli(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "memray", *args],
        check=True,
        capture_output=True,
        timeout=_TIMEOUT_S,
    )


def service_heap(
    stack: Stack,
    profile: str,
    regressions: frozenset[str],
    run_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Peak heap and top allocation sites of service-0 through :data:`MEMRAY_LOAD`.

    ``memray run`` traces one process: a service running several uvicorn workers
    (R2) cannot be measured this way, and saying so beats reporting the supervisor's
    small heap as the service's.
    """
    settings = Settings(
        profile=profile, regressions=",".join(sorted(regressions)), jwt_secret=stack.jwt_secret
    )
    workers = settings.workers
    if workers > 1:
        raise MemrayUnsupportedError(
            f"the {profile} service runs {workers} uvicorn worker processes and "
            "memray run traces only the first process"
        )
    stack.memray = True
    try:
        stack.restart_services(profile=profile, regressions=sorted(regressions))
        with redis.Redis.from_url(stack.redis_url) as client:
            client.flushdb()
        load = run_scenario(
            MEMRAY_LOAD, host=stack.service_url, out_dir=run_dir / "work" / "memray"
        )
        service = stack.docker_containers()["service-0"]
        service.stop(timeout=20)  # a clean exit lets memray finish its capture file
        service.reload()
        capture = stack.copy_from("service-0", MEMRAY_CAPTURE, run_dir / "work" / "memray")
        oom_killed = bool(service.attrs["State"].get("OOMKilled"))
    finally:
        stack.memray = False
    with memray.FileReader(str(capture)) as reader:
        peak = int(reader.metadata.peak_memory)
        total = int(reader.metadata.total_allocations)
        snapshots = list(reader.get_memory_snapshots())
    # memray stamps its heap snapshots in epoch milliseconds; requests in epoch seconds.
    heap = heap_growth(
        [snapshot.time / 1000 for snapshot in snapshots],
        [snapshot.heap for snapshot in snapshots],
        load.samples.t,
        start=load.started_at + load.warmup_s,
        end=load.started_at + load.end_s,
    )
    _memray_cli("flamegraph", "--force", "-o", str(run_dir / FLAMEGRAPH), str(capture))
    log(f"memray: peak heap {peak / 2**20:.1f} MiB over {total} allocations")
    return {
        "peak_heap_bytes": peak,
        "total_allocations": total,
        "heap_growth": heap,
        "top_allocations": top_allocations(capture),
        "flamegraph": FLAMEGRAPH,
        "oom_killed": oom_killed,
        "load": {
            "scenario": MEMRAY_LOAD.name,
            "users": MEMRAY_LOAD.users,
            "warmup_s": MEMRAY_LOAD.warmup_s,
            "measure_s": MEMRAY_LOAD.measure_s,
            "requests": len(load.samples),
        },
    }


@dataclass(frozen=True, slots=True)
class _Request:
    """One request traced alone: ``account`` signs it in, after ``prepare`` ran."""

    name: str
    method: str
    path: str
    account: int
    body: dict[str, Any] | None = None


#: The requests whose allocation is budgeted, each as costly as it gets: an uncached
#: recommendation (the first, reported as ``per_request_bytes``), the insight of a
#: restaurant the account has no cached entry for, and onboarding with five cuisines (the
#: pre-fix path reads every restaurant of them as a full row).
_TRACED = (
    _Request("recommendations", "GET", "/api/recommendations?limit=12&refresh=true", 1991),
    _Request("insight", "GET", "/api/recommendations/4242/insight", 1992),
    _Request(
        "onboarding",
        "POST",
        "/api/onboarding/complete",
        1993,
        {"selected_cuisines": ["Italian", "Japanese", "Mexican", "Indian", "Thai"]},
    ),
)


def request_allocation(
    database_url: str, redis_url: str, *, profile: str, regressions: frozenset[str]
) -> dict[str, Any]:
    """Peak bytes allocated by each request of ``_TRACED``, alone, in a warmed app.

    The recommendation's figure is ``per_request_bytes`` (and its sites
    ``per_request_top_allocations``); every request's is in ``per_endpoint_bytes``.
    """
    with warnings.catch_warnings():
        # Starlette's TestClient prefers httpx2; httpx (what the suite uses) still works.
        warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
        from fastapi.testclient import TestClient

    from service.main import create_app

    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        profile=profile,
        regressions=",".join(sorted(regressions)),
        jwt_secret=one_process_jwt_secret(),
    )
    block: dict[str, Any] = {"per_endpoint_bytes": {}, "request": _TRACED[0].path}
    with TestClient(create_app(settings)) as client, tempfile.TemporaryDirectory() as scratch:

        def sign_in(account: int) -> tuple[dict[str, str], int]:
            response = client.post(
                "/auth/login", json={"email": user_email(account), "password": LOAD_TEST_PASSWORD}
            )
            response.raise_for_status()
            answer = response.json()
            return {"Authorization": f"Bearer {answer['token']}"}, int(answer["user"]["id"])

        # The first recommendation of a process loads its shared restaurant index: that
        # belongs to the process, not to a request, so another account warms it first.
        client.get(_TRACED[0].path, headers=sign_in(_WARM_ACCOUNT)[0]).raise_for_status()
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        for request in _TRACED:
            headers, user_id = sign_in(request.account)
            # The load may have cached this account's entries: drop them, so the miss is
            # measured.
            ctx.cache.invalidate_user(
                ctx.user_cache_key(user_id), settings.recommendation_cache_ttl_s
            )
            capture = Path(scratch) / f"{request.name}.bin"
            with memray.Tracker(str(capture)):
                response = client.request(
                    request.method, request.path, headers=headers, json=request.body
                )
            response.raise_for_status()
            with memray.FileReader(str(capture)) as reader:
                peak = int(reader.metadata.peak_memory)
            block["per_endpoint_bytes"][request.name] = peak
            if request is _TRACED[0]:
                block["per_request_bytes"] = peak
                block["per_request_top_allocations"] = top_allocations(capture, count=5)
    return block


def memory_phase(
    stack: Stack,
    profile: str,
    regressions: frozenset[str],
    run_dir: Path,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The ``memray`` block of the result document; a part that fails is ``null`` with its error."""
    block: dict[str, Any] = {"peak_heap_bytes": None, "per_request_bytes": None, "errors": []}
    try:
        block.update(service_heap(stack, profile, regressions, run_dir, log))
    except (
        MemrayUnsupportedError,
        StackError,
        subprocess.SubprocessError,
        OSError,
        KeyError,
    ) as error:
        block["errors"].append(f"service heap: {type(error).__name__}: {error}")
    try:
        block.update(
            request_allocation(
                stack.postgres_url, stack.redis_url, profile=profile, regressions=regressions
            )
        )
    except Exception as error:  # the app's own failure is a finding to record, not a crash
        block["errors"].append(f"per-request allocation: {type(error).__name__}: {error}")
    log(
        f"memray: one uncached request allocates {json.dumps(block.get('per_request_bytes'))} bytes"
    )
    return block


#: Path fragment of the service's own code inside the image's stack traces.
_SERVICE_CODE = "/service/"


def service_sites(capture: Path, count: int = 10) -> list[dict[str, Any]]:
    """The service's own lines that allocated most of the heap at its peak.

    memray's innermost frame is usually a library (the JSON decoder, SQLAlchemy);
    the first frame in TasteMatch's code says which call made it allocate.
    """
    sites: dict[str, dict[str, Any]] = {}
    with memray.FileReader(str(capture)) as reader:
        for record in reader.get_high_watermark_allocation_records(merge_threads=True):
            frames = record.stack_trace()
            own = next((frame for frame in frames if _SERVICE_CODE in frame[1]), None)
            if own is None:
                location = "(no frame in the service's code)"
            else:
                function, filename, line = own
                location = f"service/{filename.rpartition(_SERVICE_CODE)[2]}:{line} {function}"
            site = sites.setdefault(location, {"location": location, "bytes": 0, "count": 0})
            site["bytes"] += int(record.size)
            site["count"] += int(record.n_allocations)
    return sorted(sites.values(), key=lambda site: -int(site["bytes"]))[:count]
