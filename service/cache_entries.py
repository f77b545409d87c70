"""The format of a stored cache entry: its expiry time and the replica that wrote it.

Every entry carries its own expiry time, so a TTL holds per entry even though a user's
hash is shared, and names the replica that wrote it (its host name): a hit is counted as
served from an entry this replica or another one computed, the proof that the cache is
shared.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import time

from service import metrics

__all__ = ["REPLICA_ID", "record_hit", "unwrap", "wrap"]

#: Every stored value starts with its expiry time and the writing replica's id.
_HEADER = struct.Struct("<d8s")
#: This replica (container), as it signs the entries it writes: its worker processes share it.
REPLICA_ID = hashlib.blake2b(socket.gethostname().encode(), digest_size=8).digest()


def wrap(value: bytes, ttl_s: float) -> bytes:
    return _HEADER.pack(time.time() + ttl_s, REPLICA_ID) + value


def unwrap(stored: bytes | None) -> bytes | None:
    """The value of a stored entry, ``None`` when it is missing or expired."""
    if stored is None or len(stored) < _HEADER.size:
        return None
    expires_at, _ = _HEADER.unpack_from(stored)
    return stored[_HEADER.size :] if expires_at > time.time() else None


def record_hit(cache: metrics.CacheName, stored: bytes | None) -> None:
    """Count a hit on ``stored`` (an unexpired entry), by the replica that wrote it."""
    metrics.record_cache(cache, "hit")
    if stored is not None and len(stored) >= _HEADER.size:
        _, writer = _HEADER.unpack_from(stored)
        metrics.record_cache_writer(cache, this_replica=writer == REPLICA_ID)
