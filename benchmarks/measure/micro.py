"""pytest-benchmark micro-benchmarks of the hot code, run by the gate against its Postgres.

Runs ``benchmarks/micro/test_hot_code.py`` in a subprocess with ``--benchmark-json``
and turns the JSON into the result document's ``microbenchmarks`` list. With a base
revision, the base's own copy runs from its exported tree (its ``service`` package
first on the path; a revision from before the file moved there keeps it at
``tests/benchmarks/test_hot_code.py``), and the round times of both feed the
``micro_vs_base`` limit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = [
    "FORMER_MICRO_PATH",
    "MICROBENCHMARKS",
    "MICRO_JSON",
    "MICRO_PATH",
    "micro_path",
    "parse_benchmark_json",
    "round_times_ms",
    "run_microbenchmarks",
]

ROOT = Path(__file__).resolve().parents[2]
#: The micro-benchmarks, relative to a project tree.
MICRO_PATH = Path("benchmarks") / "micro" / "test_hot_code.py"
#: Where the trees of older revisions keep them (a base ref from before the move).
FORMER_MICRO_PATH = Path("tests") / "benchmarks" / "test_hot_code.py"
MICROBENCHMARKS = ROOT / MICRO_PATH
#: The name of pytest-benchmark's JSON in a run's folder.
MICRO_JSON = "microbenchmarks.json"
_TIMEOUT_S = 300
#: Round times kept per benchmark for the base-vs-head test (evenly spaced).
_KEPT_ROUNDS = 200


def parse_benchmark_json(data: dict[str, Any]) -> list[dict[str, Any]]:
    """pytest-benchmark's JSON as ``microbenchmarks`` entries (seconds)."""
    entries = []
    for bench in data.get("benchmarks", []):
        stats = bench.get("stats", {})
        entries.append(
            {
                "name": bench.get("name"),
                "group": bench.get("group"),
                "description": bench.get("extra_info", {}).get("description", ""),
                "mean_s": stats.get("mean"),
                "median_s": stats.get("median"),
                "stddev_s": stats.get("stddev"),
                "min_s": stats.get("min"),
                "max_s": stats.get("max"),
                "rounds": stats.get("rounds"),
            }
        )
    return entries


def round_times_ms(path: Path) -> dict[str, list[float]]:
    """Per benchmark of pytest-benchmark's JSON at ``path``, its rounds' times in ms (at
    most 200, evenly spaced over the run); empty when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    times: dict[str, list[float]] = {}
    for bench in data.get("benchmarks", []):
        rounds = [float(value) for value in bench.get("stats", {}).get("data") or []]
        step = max(1, -(-len(rounds) // _KEPT_ROUNDS))
        times[str(bench.get("name"))] = [round(value * 1000, 6) for value in rounds[::step]]
    return times


def micro_path(root: Path) -> Path | None:
    """The micro-benchmarks of the project tree at ``root``: its :data:`MICRO_PATH`, else
    (an older revision's tree) its :data:`FORMER_MICRO_PATH`; ``None`` when it has neither."""
    for relative in (MICRO_PATH, FORMER_MICRO_PATH):
        if (root / relative).is_file():
            return root / relative
    return None


def run_microbenchmarks(
    database_url: str, work_dir: Path, root: Path = ROOT
) -> tuple[list[dict[str, Any]], str | None]:
    """The micro-benchmarks' figures, and why some are missing (``None`` when all ran).

    ``root`` is the project tree whose micro-benchmarks and service run (another
    revision's exported tree for a base).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    output = work_dir / MICRO_JSON
    log = work_dir / "microbenchmarks.log"
    path = micro_path(root)
    if path is None:
        former = f"nor {FORMER_MICRO_PATH}, where older revisions keep it"
        return [], f"{root} has no {MICRO_PATH} ({former})"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(path),
        "--benchmark-only",
        f"--benchmark-json={output}",
        "-p",
        "no:cacheprovider",
        "-q",
    ]
    env = dict(os.environ, TASTEMATCH_BENCH_DATABASE_URL=database_url)
    try:
        with log.open("wb") as handle:
            completed = subprocess.run(
                command,
                cwd=root,
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                timeout=_TIMEOUT_S,
                check=False,
            )
    except subprocess.TimeoutExpired:
        return [], f"micro-benchmarks did not finish within {_TIMEOUT_S} s (see {log})"
    if not output.exists():
        return [], f"micro-benchmarks wrote no JSON (exit code {completed.returncode}, see {log})"
    entries = parse_benchmark_json(json.loads(output.read_text()))
    problem = (
        None
        if completed.returncode == 0
        else f"pytest exit code {completed.returncode} (see {log})"
    )
    return entries, problem
