"""``/health``, ``/health/live`` and ``/metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import text

from service import metrics
from service.deps import CtxDep

router = APIRouter(tags=["operations"])


@router.get("/health")
def health(ctx: CtxDep) -> JSONResponse:
    """200 when Postgres answers, else 503 with the reason; Redis is reported, not required."""
    body: dict[str, Any] = {
        "status": "healthy",
        "database": "connected",
        "cache": ctx.settings.cache_mode,
        "profile": ctx.settings.profile,
        "regressions": sorted(r.value for r in ctx.settings.active),
        "restaurants_indexed": None,
    }
    try:
        with ctx.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:
        body.update(status="unhealthy", database="unreachable", reason=_first_line(error))
        return JSONResponse(body, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)
    if ctx.redis is not None:
        # Through the cache's circuit breaker: while Redis is known to be down, /health
        # answers at once instead of waiting on it.
        body["redis"] = ctx.cache.status()
    body["restaurants_indexed"] = ctx.index.size_if_loaded
    return JSONResponse(body)


@router.get("/health/live")
async def live() -> dict[str, str]:
    """200 while the process serves requests: no database, no Redis, no work at all.

    The ceiling of this endpoint is the service's own overhead (HTTP parsing, routing,
    JSON), the yardstick ``make capacity`` measures cached recommendations against."""
    return {"status": "live"}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


@router.get("/metrics", response_class=Response)
def prometheus_metrics() -> Response:
    """Prometheus exposition of the service's metrics."""
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE_LATEST)
