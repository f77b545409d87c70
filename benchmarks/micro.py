"""pytest-benchmark micro-benchmarks of the hot code, run by the gate against its Postgres.

Runs ``tests/benchmarks/test_hot_code.py`` in a subprocess with ``--benchmark-json``
and turns the JSON into the result document's ``microbenchmarks`` list.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["MICROBENCHMARKS", "parse_benchmark_json", "run_microbenchmarks"]

ROOT = Path(__file__).resolve().parent.parent
MICROBENCHMARKS = ROOT / "tests" / "benchmarks" / "test_hot_code.py"
_TIMEOUT_S = 300


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


def run_microbenchmarks(
    database_url: str, work_dir: Path
) -> tuple[list[dict[str, Any]], str | None]:
    """The micro-benchmarks' figures, and why some are missing (``None`` when all ran)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    output = work_dir / "microbenchmarks.json"
    log = work_dir / "microbenchmarks.log"
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(MICROBENCHMARKS),
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
                cwd=ROOT,
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
