"""The protocol between the gate and its Locust processes, one home for both sides.

The gate (``benchmarks.measure.loadgen``) starts Locust with the environment named
here; the locustfile and its users read it. Every Locust process that records
requests (``scenarios.recording``) writes the files named here; the gate reads them
(``benchmarks.measure.samples``). No Locust import here: the gate reads these files
without loading Locust (whose import patches the standard library for gevent).

Environment: :data:`SCENARIO_ENV` (the scenario whose load shape runs),
:data:`USERS_ENV`, :data:`WARMUP_ENV`, :data:`MEASURE_ENV` (overrides of it),
:data:`SAMPLES_DIR_ENV` (where to record), :data:`REPLICA_URLS_ENV` (the replicas the
users spread their requests over), :data:`ACCOUNTS_ENV` and :data:`LOAD_SEED_ENV`
(the seeded accounts the users log in as, and the seed of their picks).

A sample row holds :data:`SAMPLE_COLUMNS`; an open-model request adds
:data:`SCHEDULED_COLUMN`.

In ``<samples-dir>``, every Locust process that records requests writes

- ``samples-<host>-<pid>.csv``: one row per request (the host name too, so workers
  in containers or pods, which all see small pids, can share one folder);
- ``samples-<host>-<pid>.done``: ``{"rows": n}`` once it closed the file, so a
  reader can tell a whole file from the file of a process that was killed;
- ``acks-<host>-<pid>.txt``: the id of every order the service acknowledged (``201``)
  to it, one per line (simulated orders excepted: the demo's reset deletes them), so a
  fault run can check that each is in Postgres afterwards;

and the process that owns the run's statistics (the master, or Locust's only
process) writes ``start.json`` (``{"started_at": epoch}``) at the test start and
``counted.json`` (``{"requests": n, "failures": m}``, Locust's own totals) as it quits.
"""

from __future__ import annotations

import json
import math
import re
import socket
from pathlib import Path

__all__ = [
    "ACCOUNTS_ENV",
    "ACK_GLOB",
    "COUNTED_FILE",
    "DONE_SUFFIX",
    "LOAD_SEED_ENV",
    "MEASURE_ENV",
    "REPLICA_URLS_ENV",
    "SAMPLES_DIR_ENV",
    "SAMPLE_COLUMNS",
    "SAMPLE_GLOB",
    "SCENARIO_ENV",
    "SCHEDULED_COLUMN",
    "START_FILE",
    "USERS_ENV",
    "WARMUP_ENV",
    "ack_path",
    "done_path",
    "read_started_at",
    "run_files",
    "sample_path",
]

SCENARIO_ENV = "TASTEMATCH_SCENARIO"
USERS_ENV = "TASTEMATCH_USERS"
WARMUP_ENV = "TASTEMATCH_WARMUP_S"
MEASURE_ENV = "TASTEMATCH_MEASURE_S"
SAMPLES_DIR_ENV = "TASTEMATCH_SAMPLES_DIR"
REPLICA_URLS_ENV = "TASTEMATCH_REPLICA_URLS"
ACCOUNTS_ENV = "TASTEMATCH_ACCOUNTS"
LOAD_SEED_ENV = "TASTEMATCH_LOAD_SEED"

#: The columns of one sample row.
SAMPLE_COLUMNS = ("start_epoch_s", "method", "name", "response_time_ms", "failed", "error")
#: The seventh column of an open-model request, and the ``context`` key it comes from.
SCHEDULED_COLUMN = "scheduled_epoch_s"

SAMPLE_GLOB = "samples-*.csv"
ACK_GLOB = "acks-*.txt"
DONE_SUFFIX = ".done"
START_FILE = "start.json"
COUNTED_FILE = "counted.json"


def _host(host: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", host if host is not None else socket.gethostname())


def sample_path(directory: Path, pid: int, host: str | None = None) -> Path:
    """The sample file of process ``pid`` on ``host`` (default: this machine's name)."""
    return directory / f"samples-{_host(host)}-{pid}.csv"


def ack_path(directory: Path, pid: int, host: str | None = None) -> Path:
    """The acknowledged-orders file of process ``pid`` on ``host``."""
    return directory / f"acks-{_host(host)}-{pid}.txt"


def done_path(sample_file: Path) -> Path:
    """The marker its writer leaves next to ``sample_file`` once it closed it."""
    return sample_file.with_suffix(DONE_SUFFIX)


def read_started_at(directory: Path) -> float | None:
    """When the load in ``directory`` started (epoch seconds), as its ``start.json`` says;
    ``None`` while there is no such file.

    Raises :class:`ValueError` naming the file when it is not ``{"started_at": <seconds>}``
    (its writer renames a complete file into place: a reader never sees half of one).
    """
    path = directory / START_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        content = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not JSON ({error})") from None
    started_at = content.get("started_at") if isinstance(content, dict) else None
    if (
        not isinstance(started_at, int | float)
        or isinstance(started_at, bool)
        or not math.isfinite(started_at)
    ):
        raise ValueError(f'{path}: expected {{"started_at": <epoch seconds>}}, got {text[:80]!r}')
    return float(started_at)


def run_files(directory: Path) -> list[Path]:
    """Every file a run leaves in ``directory`` (what must go before the next run there)."""
    found = [*directory.glob(SAMPLE_GLOB), *directory.glob(f"samples-*{DONE_SUFFIX}")]
    found += directory.glob(ACK_GLOB)
    found += [directory / name for name in (START_FILE, COUNTED_FILE)]
    return [path for path in found if path.exists()]
