"""The memory sampler against real capped containers (and its parsing on fake cgroups)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import docker
import pytest

from containers.images import ensure_images
from containers.memory import MemorySampler
from containers.memory_readings import (
    SOURCE_STATS,
    SOURCE_V1,
    SOURCE_V2,
    CgroupReader,
    MemoryReading,
    locate_cgroup,
)

MIB = 1024**2

# Allocates (and writes) `step` MiB every `pause` seconds up to `total` MiB, holds it.
ALLOCATE = """
import sys, time
total, step = int(sys.argv[1]), int(sys.argv[2])
pause, hold = float(sys.argv[3]), float(sys.argv[4])
kept = []
while len(kept) * step < total:
    kept.append(b"x" * (step << 20))
    time.sleep(pause)
time.sleep(hold)
"""


@pytest.fixture(scope="module")
def python_image() -> str:
    """An image of ours with python3 in it (the service image)."""
    return ensure_images(("service",)).service


def _run(client: docker.DockerClient, image: str, command: list[str], cap_bytes: int) -> Any:
    return client.containers.run(
        image,
        command,
        detach=True,
        mem_limit=cap_bytes,
        memswap_limit=cap_bytes,
        labels={"org.tastematch.role": "test"},
    )


def _allocate(total_mib: int, step_mib: int, pause_s: float, hold_s: float) -> list[str]:
    return ["python", "-c", ALLOCATE, str(total_mib), str(step_mib), str(pause_s), str(hold_s)]


def _sample_until_exit(container: Any, timeout_s: float, **kwargs: Any) -> dict[str, Any]:
    sampler = MemorySampler({"workload": container}, **kwargs).start()
    try:
        container.wait(timeout=timeout_s)
    finally:
        sampler.stop()  # before the container is removed
    result: dict[str, Any] = sampler.result()["workload"]
    return result


@pytest.mark.docker
def test_main_process_driven_past_a_64_mib_cap_is_reported_oom_killed(
    docker_client: docker.DockerClient, python_image: str
) -> None:
    cap = 64 * MIB
    t0 = time.time()
    container = _run(docker_client, python_image, _allocate(256, 1, 0.05, 0), cap)
    try:
        result = _sample_until_exit(container, 60, t0=t0)
    finally:
        container.remove(force=True)
    assert result["oom_killed"] is True
    assert result["exit_code"] == 137
    assert result["cap_bytes"] == cap
    assert result["oom_kill_t"] is not None
    assert 0 < result["oom_kill_t"] < time.time() - t0
    # Near the cap the sampler reads at 20 Hz: its last reading before the kill is
    # within a few allocation steps of the cap.
    assert 0.95 * cap <= result["cgroup_peak_bytes"] <= cap
    assert 0.9 * cap <= result["peak_usage_bytes"] <= cap


@pytest.mark.docker
def test_a_killed_child_is_counted_and_the_peak_is_the_cap(
    docker_client: docker.DockerClient, python_image: str
) -> None:
    cap = 64 * MIB
    # The shell outlives the killed python, so the cgroup's own counters stay readable.
    script = f"python -c '{ALLOCATE}' 256 1 0.02 0; sleep 2"
    container = _run(docker_client, python_image, ["sh", "-c", script], cap)
    try:
        result = _sample_until_exit(container, 60)
    finally:
        container.remove(force=True)
    assert result["source"] in (SOURCE_V1, SOURCE_V2)
    assert result["oom_killed"] is True
    assert result["oom_kill_count"] == 1
    assert result["exit_code"] == 0  # the container itself survived
    assert cap - 2 * MIB <= result["cgroup_peak_bytes"] <= cap


@pytest.mark.docker
@pytest.mark.parametrize("prefer_cgroup", [True, False], ids=["cgroup", "stats-api"])
def test_sampled_peak_agrees_with_the_cgroup_peak_under_known_load(
    docker_client: docker.DockerClient, python_image: str, prefer_cgroup: bool
) -> None:
    # 200 MiB held for 2 s: long enough for any sampling rate to see the plateau.
    container = _run(docker_client, python_image, _allocate(200, 10, 0.05, 2.0), 512 * MIB)
    try:
        started = time.monotonic()
        result = _sample_until_exit(container, 60, prefer_cgroup=prefer_cgroup)
        duration = time.monotonic() - started
    finally:
        container.remove(force=True)
    assert result["oom_killed"] is False
    assert result["exit_code"] == 0
    assert result["cgroup_peak_bytes"] is not None
    assert result["peak_usage_bytes"] >= 200 * MIB
    assert abs(result["peak_usage_bytes"] - result["cgroup_peak_bytes"]) <= (
        0.05 * result["cgroup_peak_bytes"]
    )
    assert result["peak_working_set_bytes"] <= result["peak_usage_bytes"]
    if prefer_cgroup:
        assert result["source"] in (SOURCE_V1, SOURCE_V2)
        assert len(result["samples"]) / duration >= 3.5  # ~4 Hz
    else:
        assert result["source"] == SOURCE_STATS
    times = [sample["t"] for sample in result["samples"]]
    assert times == sorted(times)


@pytest.mark.docker
def test_stack_containers_are_sampled(stack: Any) -> None:
    sampler = MemorySampler(stack.docker_containers(), interval_s=0.1).start()
    time.sleep(0.5)
    sampler.stop()
    result = sampler.result()
    assert set(result) == set(stack.docker_containers())
    for name, summary in result.items():
        assert summary["cap_bytes"] == stack.caps_bytes()[name]
        assert summary["oom_killed"] is False
        assert summary["exit_code"] is None  # still running
        assert len(summary["samples"]) >= 3
        assert 0 < summary["peak_working_set_bytes"] < summary["cap_bytes"]


CGROUP_V1_FILES = {
    "memory.usage_in_bytes": "1000000\n",
    "memory.max_usage_in_bytes": "1500000\n",
    # Hierarchical totals (total_*) win over the cgroup's own counters.
    "memory.stat": "cache 300000\nrss 600000\ninactive_file 100000\n"
    "total_cache 300000\ntotal_rss 650000\ntotal_inactive_file 200000\n",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n",
}
CGROUP_V2_FILES = {
    "memory.current": "1000000\n",
    "memory.peak": "1200000\n",
    "memory.stat": "anon 700000\nfile 250000\ninactive_file 250000\n",
    "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
}


@pytest.mark.parametrize(
    ("version", "files", "expected"),
    [
        (1, CGROUP_V1_FILES, MemoryReading(1000000, 800000, 650000, 1500000, 2)),
        (2, CGROUP_V2_FILES, MemoryReading(1000000, 750000, 700000, 1200000, 1)),
    ],
    ids=["v1", "v2"],
)
def test_cgroup_reading(
    tmp_path: Path, version: int, files: dict[str, str], expected: MemoryReading
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert CgroupReader(tmp_path, version).read() == expected


def test_a_vanished_cgroup_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        CgroupReader(tmp_path / "gone", 2).read()


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval_s"):
        MemorySampler({}, interval_s=0)


CONTAINER_ID = "c0ffee" * 10 + "abcd"


def _fake_host(tmp_path: Path, mount_line: str, proc_cgroup: str) -> Path:
    proc = tmp_path / "proc"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "mountinfo").write_text(
        "23 1 0:21 / /proc rw - proc proc rw\n" + mount_line.format(root=tmp_path) + "\n"
    )
    (proc / "4242").mkdir()
    (proc / "4242" / "cgroup").write_text(proc_cgroup)
    return proc


@pytest.mark.parametrize(
    ("mount_line", "proc_cgroup", "directory", "marker", "version"),
    [
        (
            "35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory",
            f"4:memory:/docker/{CONTAINER_ID}\n1:cpu:/docker/{CONTAINER_ID}\n",
            f"memory/docker/{CONTAINER_ID}",
            "memory.usage_in_bytes",
            1,
        ),
        (
            "30 23 0:26 / {root}/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
            f"0::/system.slice/docker-{CONTAINER_ID}.scope\n",
            f"unified/system.slice/docker-{CONTAINER_ID}.scope",
            "memory.current",
            2,
        ),
    ],
    ids=["v1-cgroupfs", "v2-systemd"],
)
def test_cgroup_is_located_through_the_container_process(
    tmp_path: Path, mount_line: str, proc_cgroup: str, directory: str, marker: str, version: int
) -> None:
    proc = _fake_host(tmp_path, mount_line, proc_cgroup)
    (tmp_path / directory).mkdir(parents=True)
    (tmp_path / directory / marker).write_text("0\n")
    assert locate_cgroup(CONTAINER_ID, 4242, proc) == CgroupReader(tmp_path / directory, version)


def test_a_cgroup_that_does_not_name_the_container_is_not_used(tmp_path: Path) -> None:
    # An engine in a VM: the pid is some other process of this host.
    proc = _fake_host(
        tmp_path,
        "30 23 0:26 / {root}/unified rw - cgroup2 cgroup2 rw",
        "0::/user.slice/session-1.scope\n",
    )
    (tmp_path / "unified/user.slice/session-1.scope").mkdir(parents=True)
    (tmp_path / "unified/user.slice/session-1.scope/memory.current").write_text("0\n")
    assert locate_cgroup(CONTAINER_ID, 4242, proc) is None
