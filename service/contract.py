"""The HTTP contract the fix plan made part of the API: caching headers and page sizes.

The routes serve these values and the gate's probes (:mod:`benchmarks.measure.probes`)
check the running service against them, so the two cannot drift apart. A route that
sends something else is a regression the gate reports under ``http_contract``.
"""

from __future__ import annotations

__all__ = [
    "ORDER_LIMIT_MAX",
    "PAGE_LIMIT_DEFAULT",
    "PAGE_LIMIT_MAX",
    "RECOMMENDATIONS_CACHE_CONTROL",
    "RECOMMENDATION_LIMIT_DEFAULT",
    "RESTAURANTS_CACHE_CONTROL",
    "UNCAPPED_LIMIT_MAX",
]

#: The catalogue is the same for every client: shared caches may keep it for 5 minutes.
RESTAURANTS_CACHE_CONTROL = "public, max-age=300"
#: Recommendations are personal: only the client's own cache, for 10 minutes.
RECOMMENDATIONS_CACHE_CONTROL = "private, max-age=600"

#: ``limit`` of list endpoints when the client sends none.
PAGE_LIMIT_DEFAULT = 20
#: ``limit`` of ``/api/recommendations`` when the client sends none.
RECOMMENDATION_LIMIT_DEFAULT = 10
#: Largest ``limit`` accepted by list endpoints (pagination is mandatory).
PAGE_LIMIT_MAX = 50
#: Largest ``limit`` of a user's order history: the original dashboard asks for 100.
ORDER_LIMIT_MAX = 100
#: Largest ``limit`` under regression R5 (no effective page cap).
UNCAPPED_LIMIT_MAX = 10_000
