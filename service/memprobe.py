"""Measure with memray what one uncached ``GET /api/recommendations`` allocates.

``python -m service.memprobe --database-url URL [--regressions R1] [--user 1]`` starts the
app in this process (lifespan included), signs in a seeded user, warms up with two requests,
marks the user's taste vector stale (the costliest miss: it is recomputed from the orders),
then records exactly one request with ``refresh=true`` under ``memray.Tracker`` and prints a
JSON summary: bytes allocated during the request, the peak heap it added, the allocation
count and the largest allocation sites at the peak.

Without ``--redis-url`` the cache is off (R3 is added): the request is uncached either way.
Needs the ``bench`` extra (httpx) besides the service's own dependencies.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import memray
from sqlalchemy import update

from service.config import Settings, one_process_jwt_secret
from service.main import create_app
from service.models import UserPreference
from service.regressions import parse_regressions
from service.seed import LOAD_TEST_PASSWORD, user_email

__all__ = ["RequestAllocation", "main", "measure_recommendation_request"]

_RELEASES = ("FREE", "MUNMAP")

with warnings.catch_warnings():
    # Starlette notes that its TestClient prefers httpx2; httpx (a bench extra) works.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient


@dataclass(frozen=True, slots=True)
class RequestAllocation:
    """What one recommendation request allocated, per memray."""

    regressions: list[str]
    restaurants: int | None
    allocated_bytes: int
    peak_bytes: int
    allocations: int
    status: int
    top_allocations: list[dict[str, Any]] = field(default_factory=list)


def measure_recommendation_request(
    database_url: str,
    *,
    regressions: str = "",
    redis_url: str | None = None,
    user: int = 1,
    capture: Path,
) -> RequestAllocation:
    """Record one uncached recommendation request of seeded user ``user`` into ``capture``."""
    chosen = parse_regressions(regressions)
    if redis_url is None:
        chosen |= parse_regressions("R3")
    fields: dict[str, Any] = {
        "database_url": database_url,
        "regressions": ",".join(sorted(chosen)),
        "jwt_secret": one_process_jwt_secret(),
    }
    if redis_url is not None:
        fields["redis_url"] = redis_url
    settings = Settings(**fields)
    with TestClient(create_app(settings)) as client:
        login = client.post(
            "/auth/login", json={"email": user_email(user), "password": LOAD_TEST_PASSWORD}
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['token']}"}
        user_id = int(login.json()["user"]["id"])
        path = "/api/recommendations?refresh=true"
        for _ in range(2):
            client.get(path, headers=headers).raise_for_status()
        ctx = client.app.state.ctx  # type: ignore[attr-defined]
        with ctx.sessions() as session:
            session.execute(
                update(UserPreference)
                .where(UserPreference.user_id == user_id)
                .values(vector_stale=True)
            )
            session.commit()
        capture.unlink(missing_ok=True)
        with memray.Tracker(capture, trace_python_allocators=True):
            status = client.get(path, headers=headers).status_code
        restaurants = ctx.index.size_if_loaded
    return _summarise(capture, sorted(chosen), restaurants, status)


def _summarise(
    capture: Path, regressions: list[str], restaurants: int | None, status: int
) -> RequestAllocation:
    reader = memray.FileReader(capture)
    allocated = 0
    count = 0
    for record in reader.get_allocation_records():
        if not memray.AllocatorType(record.allocator).name.endswith(_RELEASES):
            allocated += record.size
            count += 1
    top = sorted(
        reader.get_high_watermark_allocation_records(merge_threads=True),
        key=lambda record: record.size,
        reverse=True,
    )[:8]
    return RequestAllocation(
        regressions=regressions,
        restaurants=restaurants,
        allocated_bytes=allocated,
        peak_bytes=int(reader.metadata.peak_memory),
        allocations=count,
        status=status,
        top_allocations=[_site(record) for record in top],
    )


def _site(record: Any) -> dict[str, Any]:
    frames = record.stack_trace(max_stacks=1)
    where = "unknown"
    if frames:
        function, filename, line = frames[0]
        where = f"{filename}:{line} {function}"
    return {"location": where, "bytes": int(record.size), "count": int(record.n_allocations)}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the measurement as JSON; 2 when it cannot be made."""
    parser = argparse.ArgumentParser(prog="python -m service.memprobe", description=__doc__)
    parser.add_argument("--database-url", required=True, help="a seeded database")
    parser.add_argument("--regressions", default="", help="e.g. R1 (default: optimised)")
    parser.add_argument("--redis-url", help="use this Redis (default: no cache)")
    parser.add_argument("--user", type=int, default=1, help="seeded user index (default 1)")
    parser.add_argument("--capture", type=Path, help="memray capture file to keep")
    args = parser.parse_args(argv)
    try:
        parse_regressions(args.regressions)
    except ValueError as error:
        print(f"memprobe: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="tastematch-memprobe-") as scratch:
        capture = args.capture or Path(scratch) / "request.bin"
        try:
            result = measure_recommendation_request(
                args.database_url,
                regressions=args.regressions,
                redis_url=args.redis_url,
                user=args.user,
                capture=capture,
            )
        except Exception as error:  # a CLI answer, not a traceback: name what failed
            print(f"memprobe: {type(error).__name__}: {error}", file=sys.stderr)
            return 2
    print(json.dumps(asdict(result), indent=2, sort_keys=True))
    return 0 if result.status == 200 else 1


if __name__ == "__main__":
    raise SystemExit(main())
