"""Live progress of a phase: in place on a terminal, periodic plain lines elsewhere."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

from benchmarks.measure.progress import PLAIN_EVERY_S, PhaseProgress

MIB = 1024**2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _samples(directory: Path, response_ms: list[float]) -> None:
    directory.mkdir()
    now = time.time()
    with (directory / "samples-1.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(
            (now - 1.0, "GET", "/api/recommendations", ms, 0, "") for ms in response_ms
        )


def test_a_line_names_progress_rate_p95_and_service_memory(tmp_path: Path) -> None:
    _samples(tmp_path / "samples", [10.0] * 95 + [50.0] * 5)
    memory = {"service-0": 147 * MIB, "postgres": 150 * MIB}
    progress = PhaseProgress("optimized", 75, tmp_path / "samples", lambda: memory)
    line = progress.line(42.4)
    assert line.startswith("[optimized] 42/75 s  20.0 req/s  p95 ")
    assert line.endswith("service-0 147 MiB")
    assert "postgres" not in line


def test_a_distributed_runs_line_counts_every_workers_file(tmp_path: Path) -> None:
    directory = tmp_path / "samples"
    directory.mkdir()
    now = time.time()
    (directory / "samples-100.csv").write_text("")  # the master's: no requests
    for pid, response_ms in ((101, 10.0), (102, 40.0)):
        with (directory / f"samples-{pid}.csv").open("w", newline="") as handle:
            csv.writer(handle).writerows(
                (now - 1.0, "GET", "/api/recommendations", response_ms, 0, "") for _ in range(50)
            )
            # A worker's buffer flushed in the middle of a row: not a request yet.
            handle.write(f"{now - 0.5},GET,/api/recomm")
    progress = PhaseProgress("optimized", 20, directory, dict)
    assert progress.line(5.0) == "[optimized] 5/20 s  20.0 req/s  p95 40.0 ms"


def test_plain_streams_get_a_line_every_ten_seconds(tmp_path: Path) -> None:
    stream = io.StringIO()
    progress = PhaseProgress("p", 60, tmp_path / "none", dict, stream=stream)
    for second in range(1, 31):
        progress(float(second))
    progress.close()
    lines = stream.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["10/60", "20/60", "30/60"]
    assert PLAIN_EVERY_S == 10.0


def test_a_terminal_gets_one_line_rewritten_in_place(tmp_path: Path) -> None:
    terminal = _Terminal()
    progress = PhaseProgress("p", 60, tmp_path / "none", dict, stream=terminal)
    for second in range(1, 4):
        progress(float(second))
    progress.close()
    text = terminal.getvalue()
    assert text.count("\r") == 3
    assert text.endswith("3/60 s\n")
