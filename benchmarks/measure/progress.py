"""Live progress of a long phase: one line, updated in place on a terminal; plain
periodic lines elsewhere (CI logs), so a run never sits silent for minutes.

    [optimized] 42/75 s  104.3 req/s  p95 12.8 ms  service-0 147 MiB
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TextIO

import numpy as np

from benchmarks.measure.samples import read_samples

__all__ = ["PhaseProgress"]

#: Seconds of recent requests that the rate and the p95 are computed over.
RECENT_S = 5.0
#: How often a plain (non-terminal) stream gets a line.
PLAIN_EVERY_S = 10.0
MIB = 1024**2


class PhaseProgress:
    """Called once a second by the load generator's wait loop with the elapsed time."""

    def __init__(
        self,
        label: str,
        total_s: float,
        samples_dir: Path,
        memory: Callable[[], Mapping[str, int]],
        *,
        stream: TextIO | None = None,
    ) -> None:
        self.label = label
        self.total_s = total_s
        self.samples_dir = samples_dir
        self.memory = memory
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty()
        self._last_plain = 0.0
        self._width = 0

    def line(self, elapsed_s: float) -> str:
        """What the line says now."""
        parts = [f"[{self.label}] {min(elapsed_s, self.total_s):.0f}/{self.total_s:.0f} s"]
        samples = read_samples(self.samples_dir) if self.samples_dir.exists() else None
        if samples is not None and len(samples):
            recent = samples.response_ms[samples.t >= time.time() - RECENT_S]
            parts.append(f"{len(recent) / RECENT_S:.1f} req/s")
            if len(recent):
                parts.append(f"p95 {float(np.percentile(recent, 95)):.1f} ms")
        services = {n: v for n, v in self.memory().items() if n.startswith("service")}
        parts += [f"{name} {value / MIB:.0f} MiB" for name, value in sorted(services.items())]
        return "  ".join(parts)

    def __call__(self, elapsed_s: float) -> None:
        if not self.live and elapsed_s - self._last_plain < PLAIN_EVERY_S:
            return
        text = self.line(elapsed_s)
        if self.live:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self._last_plain = elapsed_s
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the in-place line (a terminal's next output starts on a line of its own)."""
        if self.live and self._width:
            self.stream.write("\n")
            self.stream.flush()
