"""One reading of a container's memory, taken from outside the container: `MemoryReading`
(usage, working set, RSS, the cgroup's peak and OOM-kill counters), read from the
container's memory cgroup on the host (`CgroupReader`, cgroup v1 and v2, found by
`locate_cgroup`) or, where this host cannot read the cgroup, from the Docker stats API
(`stats_reading`). `SOURCE_*` name where a reading came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

__all__ = [
    "PROC",
    "SOURCE_STATS",
    "SOURCE_V1",
    "SOURCE_V2",
    "CgroupReader",
    "MemoryReading",
    "locate_cgroup",
    "stats_reading",
]

PROC = Path("/proc")
SOURCE_V1 = "cgroup-v1"
SOURCE_V2 = "cgroup-v2"
SOURCE_STATS = "docker-stats"


@dataclass(frozen=True)
class MemoryReading:
    """One look at a container's memory; None where the source does not tell."""

    usage_bytes: int
    working_set_bytes: int
    rss_bytes: int | None
    peak_bytes: int | None
    oom_kill_count: int | None


def _read_int(path: Path) -> int:
    return int(path.read_text().strip())


def _read_keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


@dataclass(frozen=True)
class CgroupReader:
    """Reads one container's memory cgroup directory (v1 or v2)."""

    directory: Path
    version: int

    @property
    def source(self) -> str:
        return SOURCE_V1 if self.version == 1 else SOURCE_V2

    def read(self) -> MemoryReading:
        """Raises OSError when the cgroup is gone (the container stopped)."""
        stat = _read_keyed(self.directory / "memory.stat")
        if self.version == 1:
            usage = _read_int(self.directory / "memory.usage_in_bytes")
            inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
            rss = stat.get("total_rss", stat.get("rss"))
            peak: int | None = _read_int(self.directory / "memory.max_usage_in_bytes")
            ooms = _read_keyed(self.directory / "memory.oom_control").get("oom_kill")
        else:
            usage = _read_int(self.directory / "memory.current")
            inactive = stat.get("inactive_file", 0)
            rss = stat.get("anon")
            peak_file = self.directory / "memory.peak"  # kernel 5.19 and later
            peak = _read_int(peak_file) if peak_file.exists() else None
            ooms = _read_keyed(self.directory / "memory.events").get("oom_kill")
        return MemoryReading(
            usage_bytes=usage,
            working_set_bytes=max(usage - inactive, 0),
            rss_bytes=rss,
            peak_bytes=peak,
            oom_kill_count=ooms,
        )


def _cgroup_mounts(proc: Path) -> tuple[Path | None, Path | None]:
    """(v1 memory hierarchy mount, v2 unified mount) of this host, as this process sees them."""
    v1: Path | None = None
    v2: Path | None = None
    try:
        mountinfo = (proc / "self" / "mountinfo").read_text()
    except OSError:
        return None, None
    for line in mountinfo.splitlines():
        pre, _, post = line.partition(" - ")
        fields, post_fields = pre.split(), post.split()
        if len(fields) < 5 or len(post_fields) < 3 or fields[3] != "/":
            continue  # a bind mount of a sub-tree: its paths do not match /proc/<pid>/cgroup
        fstype, options = post_fields[0], post_fields[2].split(",")
        if fstype == "cgroup" and "memory" in options:
            v1 = Path(fields[4])
        elif fstype == "cgroup2":
            v2 = Path(fields[4])
    return v1, v2


def locate_cgroup(container_id: str, pid: int, proc: Path = PROC) -> CgroupReader | None:
    """The memory cgroup of a running container, or None where this host cannot read it.

    Found through `/proc/<pid>/cgroup` of the container's init process. A directory is
    only accepted when its path names the container: with an engine in a VM or on another
    host the pid means something else here, and the stats API must be used instead.
    """
    v1_mount, v2_mount = _cgroup_mounts(proc)
    candidates: list[tuple[Path, int]] = []
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines() if pid > 0 else []
    except OSError:
        lines = []
    for line in lines:
        _, controllers, path = line.split(":", 2)
        relative = path.lstrip("/")
        if v1_mount is not None and "memory" in controllers.split(","):
            candidates.append((v1_mount / relative, 1))
        elif controllers == "" and v2_mount is not None:
            candidates.append((v2_mount / relative, 2))
    # Where /proc/<pid> is not readable: the engines' usual layouts.
    if v1_mount is not None:
        candidates += [(v1_mount / "docker" / container_id, 1)]
    if v2_mount is not None:
        candidates += [
            (v2_mount / "system.slice" / f"docker-{container_id}.scope", 2),
            (v2_mount / "docker" / container_id, 2),
        ]
    for directory, version in candidates:
        marker = "memory.usage_in_bytes" if version == 1 else "memory.current"
        if container_id in str(directory) and (directory / marker).exists():
            return CgroupReader(directory, version)
    return None


def stats_reading(container: Any) -> MemoryReading:
    """One reading from the Docker stats API (no cgroup access needed)."""
    try:
        stats = container.stats(stream=False, one_shot=True)
    except docker.errors.InvalidVersion:  # engines before API 1.41 have no one-shot stats
        stats = container.stats(stream=False)
    memory = stats.get("memory_stats") or {}
    if "usage" not in memory:
        raise OSError("no memory statistics (the container is not running)")
    detail = memory.get("stats") or {}
    usage = int(memory["usage"])
    inactive = int(detail.get("total_inactive_file", detail.get("inactive_file", 0)))
    rss = detail.get("total_rss", detail.get("rss", detail.get("anon")))
    peak = memory.get("max_usage")
    return MemoryReading(
        usage_bytes=usage,
        working_set_bytes=max(usage - inactive, 0),
        rss_bytes=int(rss) if rss is not None else None,
        peak_bytes=int(peak) if peak is not None else None,
        oom_kill_count=None,
    )
