"""`python -m containers`, settings validation, and the `docker` marker without an engine."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from containers.__main__ import main
from containers.stack import Stack, leftovers, parse_regressions, postgres_is_tuned

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


@pytest.mark.docker
def test_stack_command_tears_the_stack_down_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "containers", "stack", "--replicas", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = []
    deadline = time.monotonic() + 120
    try:
        for line in process.stdout:
            output.append(line)
            if "Ctrl-C stops" in line or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    text = "".join(output) + rest
    assert process.returncode == 0, text
    assert "stack removed" in text
    match = re.search(r"TasteMatch stack ([0-9a-f]+)", text)
    assert match is not None, text
    assert leftovers(match.group(1)) == []
