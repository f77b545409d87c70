"""Container memory, sampled from outside the container at 4 Hz or more.

`MemorySampler` reads each container's memory cgroup straight from the host's
`/sys/fs/cgroup` where it can (cgroup v1 and v2) and falls back to the Docker stats
API where it cannot (an engine inside a VM, a remote engine). Per container it records:

- samples (every `interval_s`, faster near the cap) of usage, working set (usage minus
  inactive file cache, what `docker stats` shows) and RSS (anonymous memory), each at
  `t` seconds after the shared clock `t0`;
- the peak of the sampled usage and working set, and the cgroup's own exact peak
  counter (`memory.max_usage_in_bytes` in v1, `memory.peak` in v2);
- the OOM-kill signal: Docker's `State.OOMKilled`, the exit code (137 = SIGKILL) and
  the cgroup's `oom_kill` counter, plus Docker's `oom` events; `oom_kill_t` is when the
  first kill was seen. All of it is read in `stop()`, which must run **before** the
  containers are removed.

`result()` is JSON-ready and is what the run's result document stores per container.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import docker.errors
import requests

PROC = Path("/proc")
DEFAULT_INTERVAL_S = 0.25
# Near its cap a container can be killed between two samples: read it faster there, so
# the last reading before a kill is close to the peak that caused it.
NEAR_CAP_FRACTION = 0.85
NEAR_CAP_INTERVAL_S = 0.05
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


def _stats_reading(container: Any) -> MemoryReading:
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


def _epoch(timestamp: str) -> float | None:
    """Docker's RFC 3339 nano timestamps as epoch seconds (None for the zero time)."""
    if not timestamp or timestamp.startswith("0001-"):
        return None
    trimmed = re.sub(r"(\.\d{6})\d*", r"\1", timestamp).replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(trimmed).timestamp()
    except ValueError:
        return None


@dataclass
class _Track:
    """What the sampler knows about one container."""

    name: str
    container: Any
    cap_bytes: int | None
    cgroup: CgroupReader | None
    samples: list[dict[str, float | int | None]] = field(default_factory=list)
    cgroup_peak_bytes: int | None = None
    oom_kill_count: int | None = None
    oom_kill_t: float | None = None
    oom_killed: bool = False
    exit_code: int | None = None
    gone: bool = False

    @property
    def source(self) -> str:
        return self.cgroup.source if self.cgroup is not None else SOURCE_STATS


class MemorySampler:
    """Samples the memory of `containers` (docker-py containers keyed by name) in a thread.

    `t0` (epoch seconds, default: when `start()` runs) is the clock every sample's `t`
    counts from, so memory lines up with other probes of the same run. Call `stop()`
    before the containers are removed: it takes the last reading and the OOM state.
    `prefer_cgroup=False` forces the Docker stats API.
    """

    def __init__(
        self,
        containers: Mapping[str, Any],
        interval_s: float = DEFAULT_INTERVAL_S,
        *,
        t0: float | None = None,
        prefer_cgroup: bool = True,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, not {interval_s}")
        self.interval_s = interval_s
        self.t0 = t0
        self._containers = dict(containers)
        self._prefer_cgroup = prefer_cgroup
        self._tracks: dict[str, _Track] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events_thread: threading.Thread | None = None
        self._events: Any = None
        self._lock = threading.Lock()

    def __enter__(self) -> MemorySampler:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> MemorySampler:
        """Locate every container's cgroup and start sampling."""
        if self._thread is not None:
            raise RuntimeError("the sampler is already started")
        if self.t0 is None:
            self.t0 = time.time()
        for name, container in self._containers.items():
            container.reload()
            attrs = container.attrs
            cap = int(attrs["HostConfig"].get("Memory") or 0) or None
            cgroup = None
            if self._prefer_cgroup:
                cgroup = locate_cgroup(str(container.id), int(attrs["State"].get("Pid") or 0))
            self._tracks[name] = _Track(name, container, cap, cgroup)
        self._watch_oom_events()
        self._sample_all()
        self._thread = threading.Thread(target=self._run, name="memory-sampler", daemon=True)
        self._thread.start()
        return self

    def _watch_oom_events(self) -> None:
        """Docker's `oom` events give the kill time even when the cgroup vanishes with it."""
        if not self._tracks:
            return
        client = next(iter(self._tracks.values())).container.client
        by_id = {str(track.container.id): track for track in self._tracks.values()}
        try:
            self._events = client.events(
                since=int(self.t0 or time.time()) - 1,
                filters={"type": "container", "event": "oom"},
                decode=True,
            )
        except docker.errors.APIError:
            return  # the counters and State.OOMKilled still tell

        def watch() -> None:
            try:
                for event in self._events:
                    track = by_id.get(str(event.get("id", "")))
                    if track is None:
                        continue
                    seen = float(event.get("timeNano", 0)) / 1e9 or time.time()
                    with self._lock:
                        track.oom_killed = True
                        t = round(seen - (self.t0 or seen), 3)
                        if track.oom_kill_t is None or t < track.oom_kill_t:
                            track.oom_kill_t = t
            except Exception:  # the stream ends with an error when closed in stop()
                return

        self._events_thread = threading.Thread(target=watch, name="oom-events", daemon=True)
        self._events_thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            next_at += self._next_interval()
            self._sample_all()
            self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def _next_interval(self) -> float:
        for track in self._tracks.values():
            if track.gone or not track.samples or track.cap_bytes is None:
                continue
            usage = track.samples[-1]["usage_bytes"]
            if usage is not None and usage >= NEAR_CAP_FRACTION * track.cap_bytes:
                return min(self.interval_s, NEAR_CAP_INTERVAL_S)
        return self.interval_s

    def _sample_all(self) -> None:
        for track in self._tracks.values():
            if not track.gone:
                self._sample(track)

    def _sample(self, track: _Track) -> None:
        try:
            if track.cgroup is not None:
                reading = track.cgroup.read()
            else:
                reading = _stats_reading(track.container)
        except (OSError, ValueError, docker.errors.DockerException, requests.RequestException):
            # The cgroup went away with the container (or the engine no longer has it):
            # the container state, read in stop(), tells how it ended.
            track.gone = True
            self._read_state(track)
            return
        t = round(time.time() - (self.t0 or 0.0), 3)
        with self._lock:
            track.samples.append(
                {
                    "t": t,
                    "usage_bytes": reading.usage_bytes,
                    "working_set_bytes": reading.working_set_bytes,
                    "rss_bytes": reading.rss_bytes,
                }
            )
            if reading.peak_bytes is not None:
                track.cgroup_peak_bytes = max(track.cgroup_peak_bytes or 0, reading.peak_bytes)
            if reading.oom_kill_count is not None:
                rose = reading.oom_kill_count > (track.oom_kill_count or 0)
                if rose and track.oom_kill_t is None:
                    track.oom_kill_t = t
                track.oom_kill_count = max(track.oom_kill_count or 0, reading.oom_kill_count)
                track.oom_killed = track.oom_killed or reading.oom_kill_count > 0

    def _read_state(self, track: _Track) -> None:
        try:
            track.container.reload()
        except (docker.errors.DockerException, requests.RequestException):
            return  # removed before stop() (or the engine is gone): the samples are all there is
        state = track.container.attrs.get("State", {})
        running = bool(state.get("Running"))
        with self._lock:
            if state.get("OOMKilled"):
                track.oom_killed = True
                if track.oom_kill_t is None and not running:
                    finished = _epoch(str(state.get("FinishedAt", "")))
                    if finished is not None:
                        track.oom_kill_t = round(finished - (self.t0 or 0.0), 3)
            if not running:
                track.exit_code = int(state.get("ExitCode", 0))

    def stop(self) -> None:
        """Stop sampling: one last reading, then each container's exit and OOM state."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._sample_all()
        # Let an `oom` event that is still in flight arrive before closing the stream.
        time.sleep(0.1)
        if self._events is not None:
            self._events.close()
        if self._events_thread is not None:
            self._events_thread.join(timeout=5)
        for track in self._tracks.values():
            self._read_state(track)

    def latest_working_set(self) -> dict[str, int]:
        """The newest working set of each container sampled so far (for live progress)."""
        with self._lock:
            return {
                name: int(value)
                for name, track in self._tracks.items()
                if track.samples and (value := track.samples[-1].get("working_set_bytes"))
            }

    def result(self) -> dict[str, dict[str, Any]]:
        """Per container: samples, peaks, cap and OOM state (JSON-ready, bytes and seconds)."""
        with self._lock:
            return {name: _summary(track) for name, track in self._tracks.items()}


def _peak(samples: list[dict[str, float | int | None]], key: str) -> int | None:
    values = [int(value) for sample in samples if (value := sample[key]) is not None]
    return max(values) if values else None


def _summary(track: _Track) -> dict[str, Any]:
    return {
        "samples": [dict(sample) for sample in track.samples],
        "peak_working_set_bytes": _peak(track.samples, "working_set_bytes"),
        "peak_usage_bytes": _peak(track.samples, "usage_bytes"),
        "cgroup_peak_bytes": track.cgroup_peak_bytes,
        "cap_bytes": track.cap_bytes,
        "oom_killed": track.oom_killed,
        "oom_kill_t": track.oom_kill_t,
        "oom_kill_count": track.oom_kill_count,
        "exit_code": track.exit_code,
        "source": track.source,
    }
