"""Exact per-request samples and the exit code of a plain ``locust`` run.

Locust's own statistics round response times to about two significant digits;
the gate decides on percentiles, so every request is also appended, unrounded,
to ``<samples-dir>/samples-<host>-<pid>.csv`` (one file per Locust process, so a
distributed run's workers need no locking; the master sends no requests and its
file stays empty). Columns: ``start_epoch_s, method, name, response_time_ms,
failed, error``, and for a request of the open model (``scenarios.open_model``) a seventh,
``scheduled_epoch_s``: when its arrival was due (from the request's Locust
``context``), so its latency can be counted from then. Each process leaves
``samples-<host>-<pid>.done`` with its row count when it closes its file, and
``acks-<host>-<pid>.txt`` holds the id of every order acknowledged to it
(``SampleRecorder.acknowledge``); the master (or the only process)
writes ``start.json`` at the test start and ``counted.json`` with Locust's own request count as it
quits, so the merge can be checked (``scenarios.protocol``).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from locust import events
from locust.env import Environment
from locust.runners import WorkerRunner

from results import write
from scenarios.protocol import (
    COUNTED_FILE,
    SAMPLES_DIR_ENV,
    SCHEDULED_COLUMN,
    START_FILE,
    ack_path,
    done_path,
    sample_path,
)

__all__ = ["SampleRecorder"]

_MAX_ERROR_CHARS = 200


class SampleRecorder:
    """Appends every request to this process's sample file once ``open`` was called."""

    def __init__(self) -> None:
        self._file: IO[str] | None = None
        self._acks: IO[str] | None = None
        self._path: Path | None = None
        self._writer: Any = None
        self.rows = 0

    def open(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._path = sample_path(directory, os.getpid())
        self._file = self._path.open("a", newline="")
        self._writer = csv.writer(self._file)
        # Line-buffered: an acknowledged order is on disk even if the process is killed.
        self._acks = ack_path(directory, os.getpid()).open("a", buffering=1)
        self.rows = 0

    def acknowledge(self, order_id: int) -> None:
        """Note an order the service acknowledged (``201`` with its id)."""
        if self._acks is not None:
            self._acks.write(f"{order_id}\n")

    def record(
        self,
        *,
        request_type: str,
        name: str,
        response_time: float,
        exception: BaseException | None,
        start_time: float | None = None,
        context: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if self._writer is None:
            return
        started = start_time if start_time is not None else time.time() - response_time / 1000
        error = "" if exception is None else f"{type(exception).__name__}: {exception}"
        row: tuple[object, ...] = (
            f"{started:.6f}",
            request_type,
            name,
            f"{response_time:.3f}",
            int(exception is not None),
            error[:_MAX_ERROR_CHARS].replace("\n", " "),
        )
        scheduled = (context or {}).get(SCHEDULED_COLUMN)
        if isinstance(scheduled, float):
            row += (f"{scheduled:.6f}",)
        self._writer.writerow(row)
        self.rows += 1

    def close(self) -> None:
        """Close the file and leave the marker saying how many rows it holds."""
        if self._acks is not None:
            self._acks.close()
            self._acks = None
        if self._file is not None and self._path is not None:
            self._file.close()
            write(done_path(self._path), {"rows": self.rows})
            self._file = None
            self._writer = None


RECORDER = SampleRecorder()


def _add_arguments(parser: Any) -> None:
    parser.add_argument(
        "--samples-dir",
        default="",
        env_var=SAMPLES_DIR_ENV,
        help="write every request's exact response time to CSV files in this folder",
    )


def _open_samples(environment: Environment, **_: Any) -> None:
    directory = getattr(environment.parsed_options, "samples_dir", "")
    if directory:
        RECORDER.open(Path(directory))


def _mark_start(environment: Environment, **_: Any) -> None:
    directory = getattr(environment.parsed_options, "samples_dir", "")
    if not directory or isinstance(environment.runner, WorkerRunner):
        return
    marker = Path(directory) / START_FILE
    if not marker.exists():
        write(marker, {"started_at": time.time()})


def _set_exit_code(environment: Environment, **_: Any) -> None:
    # The verdict of a plain run: any failed request fails it. The gate's
    # budgets (latency, memory, cache) are checked by `python -m benchmarks run`.
    RECORDER.close()
    stats = environment.runner.stats.total if environment.runner else None
    directory = getattr(environment.parsed_options, "samples_dir", "")
    if directory and stats is not None and not isinstance(environment.runner, WorkerRunner):
        # A headless run's master has had its workers' final reports by now (it quits
        # the runner before `quitting` fires): its totals are what the merge must match.
        counted = {"requests": stats.num_requests, "failures": stats.num_failures}
        write(Path(directory) / COUNTED_FILE, counted)
    if stats is not None and stats.num_failures > 0:
        environment.process_exit_code = 1
    else:
        environment.process_exit_code = 0


def _listen(hook: Any, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)


_listen(events.init_command_line_parser, _add_arguments)
_listen(events.init, _open_samples)
_listen(events.test_start, _mark_start)
_listen(events.request, RECORDER.record)
_listen(events.quitting, _set_exit_code)
