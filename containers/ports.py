"""Host ports: `free_port` finds a port of 127.0.0.1 that nothing listens on, for a
container published on a port chosen once (`Stack(pinned_ports=True)`) and for the
benchmarks' own listeners.
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now (the engine then binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
