"""`containers/engine.sh` is idempotent: with an engine running it never starts another."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.scripts import run_script

ENGINE_SH = Path(__file__).resolve().parents[2] / "containers" / "engine.sh"


def _dockerd_pids() -> set[int]:
    pids = set()
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "dockerd":
                pids.add(int(proc.name))
        except OSError:
            continue  # the process ended while we looked
    return pids


def _engine_sh(env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_script(ENGINE_SH, {**os.environ, **(env or {})})


def test_engine_script_is_valid_bash() -> None:
    assert subprocess.run(["bash", "-n", str(ENGINE_SH)], check=False).returncode == 0


@pytest.mark.docker
def test_running_engine_is_left_alone() -> None:
    before = _dockerd_pids()
    for _ in range(2):
        result = _engine_sh()
        assert result.returncode == 0, result.stdout + result.stderr
        assert "nothing to do" in result.stdout
    assert _dockerd_pids() == before


@pytest.mark.docker
def test_a_running_daemon_that_does_not_answer_is_not_doubled() -> None:
    if not Path("/var/run/docker.pid").exists():
        pytest.fail("the engine's pidfile /var/run/docker.pid is missing; run `make engine`")
    before = _dockerd_pids()
    # The client is pointed at a socket nobody serves: the daemon "does not answer".
    result = _engine_sh(
        {"DOCKER_HOST": "unix:///nonexistent/docker.sock", "DOCKER_START_TIMEOUT": "2"}
    )
    assert result.returncode == 1
    assert "already running" in result.stdout
    assert "`docker info` fails: Cannot connect" in result.stderr
    assert _dockerd_pids() == before


def test_without_an_engine_and_without_root_it_says_how_to_get_one(tmp_path: Path) -> None:
    before = _dockerd_pids()
    env = {
        **os.environ,
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "DOCKER_PIDFILE": str(tmp_path / "docker.pid"),
    }
    # As root, drop to an unprivileged user: this branch is about not being root.
    result = run_script(ENGINE_SH, env, as_nobody=True, timeout_s=60)
    assert result.returncode == 1
    assert "cannot start one here" in result.stderr
    assert "make engine" in result.stderr
    assert _dockerd_pids() == before


@pytest.mark.parametrize("value", ["a[$(touch {marker})]", "0", "-5", "1e3", "99999999"])
def test_a_timeout_that_is_not_a_plain_number_is_refused_before_use(
    tmp_path: Path, value: str
) -> None:
    marker = tmp_path / "evaluated"
    result = _engine_sh({"DOCKER_START_TIMEOUT": value.format(marker=marker)})
    assert result.returncode == 1
    assert "DOCKER_START_TIMEOUT must be a whole number of seconds" in result.stderr
    assert not marker.exists(), "the value was evaluated as code"
