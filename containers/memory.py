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
The readings themselves (cgroup files, the stats API) come from `containers.memory_readings`.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import docker.errors
import requests

from containers.memory_readings import SOURCE_STATS, CgroupReader, locate_cgroup, stats_reading

__all__ = [
    "DEFAULT_INTERVAL_S",
    "NEAR_CAP_FRACTION",
    "NEAR_CAP_INTERVAL_S",
    "MemorySampler",
]

DEFAULT_INTERVAL_S = 0.25
# Near its cap a container can be killed between two samples: read it faster there, so
# the last reading before a kill is close to the peak that caused it.
NEAR_CAP_FRACTION = 0.85
NEAR_CAP_INTERVAL_S = 0.05


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
                reading = stats_reading(track.container)
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
