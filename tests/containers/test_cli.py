"""`python -m containers`, settings validation, and the `docker` marker without an engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from containers.__main__ import main
from containers.cleanup import STACK_LABEL, leftovers
from containers.replicas import postgres_is_tuned
from containers.stack import Stack
from service.regressions import parse_regressions

ROOT = Path(__file__).resolve().parents[2]


def test_regressions_parse_from_a_comma_list() -> None:
    assert parse_regressions("r1, R6,,R3") == frozenset({"R1", "R3", "R6"})
    assert parse_regressions("") == frozenset()
    assert parse_regressions(["R2"]) == frozenset({"R2"})
    with pytest.raises(ValueError, match="unknown regression id"):
        parse_regressions("R1,R9")


def test_postgres_is_untuned_for_r6_and_the_baseline_profile() -> None:
    assert postgres_is_tuned("optimized", frozenset({"R1", "R3"}))
    assert not postgres_is_tuned("optimized", frozenset({"R6"}))
    assert not postgres_is_tuned("baseline", frozenset())


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "fastest"}, "unknown profile"),
        ({"replicas": -1}, "replicas must be 0 or more"),
        ({"mem_limit_bytes": 0}, "mem_limit_bytes must be positive"),
        ({"regressions": ["R0"]}, "unknown regression"),
    ],
)
def test_bad_stack_settings_are_refused_before_anything_starts(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Stack(**kwargs)  # type: ignore[arg-type]


def test_cli_names_a_bad_setting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stack", "--regressions", "R1,R42"]) == 1
    assert "unknown regression id(s) R42" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["images", "mysql"])
    assert exited.value.code == 2
    assert "invalid choice: 'mysql'" in capsys.readouterr().err


def test_docker_tests_fail_with_advice_when_no_engine_answers() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/containers/test_engine.py::test_running_engine_is_left_alone"],
        cwd=ROOT,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout
    assert "none answers" in result.stdout
    assert "run `make engine`" in result.stdout


def _start_stack_command(*args: str) -> tuple[subprocess.Popen[str], str]:
    """`python -m containers stack ...` as a child process, and the id of its stack."""
    process = subprocess.Popen(
        [sys.executable, "-m", "containers", "stack", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.match(r"starting TasteMatch stack ([0-9a-f]+)", first)
    if match is None:
        process.kill()
        rest, _ = process.communicate()
        pytest.fail(f"unexpected output: {first + rest!r}")
    return process, match.group(1)


def _interrupt(process: subprocess.Popen[str], when: Callable[[str], bool]) -> str:
    """Send Ctrl-C once `when(output so far)` holds; the whole output."""
    assert process.stdout is not None
    output = ""
    deadline = time.monotonic() + 120
    try:
        while not when(output) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output += line
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return output + rest


@pytest.mark.docker
def test_stack_command_tears_the_stack_down_on_ctrl_c() -> None:
    process, stack_id = _start_stack_command("--replicas", "0")
    output = _interrupt(process, lambda text: "Ctrl-C stops" in text)
    assert process.returncode == 0, output
    assert f"stack {stack_id} removed" in output
    assert leftovers(stack_id) == []


@pytest.mark.docker
def test_ctrl_c_during_start_up_leaves_nothing_behind(docker_client: Any) -> None:
    process, stack_id = _start_stack_command("--replicas", "1")
    label = {"label": f"{STACK_LABEL}={stack_id}"}
    deadline = time.monotonic() + 120
    # Interrupt as soon as the first container exists, while the rest is still starting.
    while not docker_client.api.containers(all=True, filters=label):
        assert process.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.05)
    output = _interrupt(process, lambda text: True)
    assert "Ctrl-C stops" not in output  # it really was interrupted during start-up
    assert f"stack {stack_id} removed" in output
    assert leftovers(stack_id) == []


def test_caps_of_unknown_containers_are_refused() -> None:
    with pytest.raises(ValueError, match="mem_limits for unknown container"):
        Stack(replicas=1, mem_limits={"service-1": 1024**3})


@pytest.mark.docker
def test_keep_stack_leaves_the_stack_running_and_says_how_to_reach_it(
    docker_client: Any,
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--keep-stack",
         "tests/containers/test_stack_caps.py::test_ports_are_published_on_loopback_only"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    match = re.search(r"TasteMatch stack ([0-9a-f]+)", result.stdout)
    assert match is not None, result.stdout
    stack_id = match.group(1)
    try:
        assert result.returncode == 0, result.stdout
        assert "--keep-stack: left running" in result.stdout
        assert re.search(r"service-0 http://127\.0\.0\.1:\d+", result.stdout)
        running = docker_client.api.containers(filters={"label": f"{STACK_LABEL}={stack_id}"})
        assert sorted(c["Labels"]["org.tastematch.role"] for c in running) == [
            "postgres",
            "redis",
            "service",
        ]
        assert f"python -m containers remove {stack_id}" in result.stdout
    finally:
        assert main(["remove", stack_id]) == 0
    assert leftovers(stack_id) == []
