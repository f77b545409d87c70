"""SIGTERM of a running gate (a cancelled CI job) removes its capped stack and stops its
Locust processes, as Ctrl-C does: nothing keeps running or loading the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import psutil
import pytest

from containers.cleanup import STACK_LABEL, leftovers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _stack_ids(client: docker.DockerClient) -> set[str]:
    listed = client.api.containers(all=True, filters={"label": STACK_LABEL})
    return {str(container["Labels"][STACK_LABEL]) for container in listed}


def _locust_processes(out_dir: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if "locust" in command and str(out_dir) in command:
            found.append(process)
    return found


def test_sigterm_mid_load_leaves_no_stack_and_no_locust(tmp_path: Path) -> None:
    client = docker.from_env()
    before = _stack_ids(client)
    gate = subprocess.Popen(
        [
            *(sys.executable, "-m", "benchmarks", "run", "--users", "5", "--warmup", "2"),
            *("--measure", "120", "--skip-baseline", "--skip-memray", "--skip-micro"),
            *("--out", str(tmp_path)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert gate.stdout is not None
    output = ""
    try:
        deadline = time.monotonic() + 240
        while "phase optimized:" not in output and time.monotonic() < deadline:
            line = gate.stdout.readline()
            if not line:
                break
            output += line
        assert "phase optimized:" in output, output
        new_stacks = set()
        while time.monotonic() < deadline:  # Locust starts just after the phase line
            new_stacks = _stack_ids(client) - before
            if _locust_processes(tmp_path) and new_stacks:
                break
            time.sleep(0.5)
        assert len(new_stacks) == 1, f"expected the gate's one stack, found {new_stacks}"
        assert _locust_processes(tmp_path), "Locust never started"
        gate.send_signal(signal.SIGTERM)
        rest, _ = gate.communicate(timeout=120)
        output += rest
    finally:
        if gate.poll() is None:
            gate.kill()
            gate.communicate()
    assert gate.returncode == 143, output
    assert "interrupted by SIGTERM" in output
    assert "Traceback" not in output
    assert leftovers(new_stacks.pop(), client) == []
    time.sleep(1)  # a process that was told to stop may take a moment to be reaped
    assert _locust_processes(tmp_path) == []
    client.close()
