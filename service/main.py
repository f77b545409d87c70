"""The FastAPI application: ``create_app()`` builds it, its lifespan connects it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import metrics
from service.api import auth, health, onboarding, orders, recommendations, restaurants, users
from service.bodylimit import BodyLimitMiddleware
from service.conditional import ConditionalGetMiddleware
from service.config import Settings, get_settings
from service.context import AppContext
from service.near_cache import InvalidationListener
from service.openapi import complete_openapi
from service.tracing import start_tracing

__all__ = ["create_app"]

log = logging.getLogger(__name__)

#: Seconds a client is asked to wait when every database connection is busy.
RETRY_AFTER_S = 2


class RequestMetricsMiddleware:
    """Times each request and records its SQL statement count under its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        stats = metrics.begin_request()
        started = time.perf_counter()
        status_code = 500

        async def send_and_note_status(message: Message) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.observe_request(
                route, scope["method"], status_code, time.perf_counter() - started, stats
            )


class _Throttled:
    """Logs a warning at most once per ``interval_s``, with how many were left out."""

    def __init__(self, message: str, interval_s: float = 10.0) -> None:
        self.message = message
        self.interval_s = interval_s
        self._last = -interval_s
        self._suppressed = 0
        self._lock = threading.Lock()

    def __call__(self, detail: object) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval_s:
                self._suppressed += 1
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        log.warning("%s: %s (%d more since the last report)", self.message, detail, suppressed)


def _answer_503(warning: str, detail: str) -> Callable[[Request, Exception], JSONResponse]:
    """An exception handler: 503 with ``detail`` and Retry-After, and a throttled warning."""
    warn = _Throttled(warning)

    def handle(_request: Request, error: Exception) -> JSONResponse:
        warn(str(error).splitlines()[0] if str(error) else type(error).__name__)
        return JSONResponse(
            {"detail": detail},
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    return handle


def create_app(settings: Settings | None = None) -> FastAPI:
    """A TasteMatch app for ``settings`` (default: from the environment).

    Nothing connects until the lifespan starts, so tests can build the app freely.
    """
    chosen = settings if settings is not None else get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = chosen.worker_threads
        dropped = metrics.forget_dead_workers()
        if dropped:
            log.warning("metrics of dead worker processes dropped: %s", dropped)
        ctx = AppContext.start(chosen)
        if tracing is not None:
            tracing.instrument_engine(ctx.engine)
        app.state.ctx = ctx
        listening: asyncio.Task[None] | None = None
        if ctx.cache.near is not None:
            listener = InvalidationListener(
                chosen.redis_url, ctx.cache.near, connect_timeout_s=chosen.redis_timeout_s
            )
            listening = asyncio.create_task(listener.run(), name="near-cache-invalidations")
        log.info(
            "TasteMatch started: profile=%s regressions=%s cache=%s",
            chosen.profile,
            ",".join(sorted(chosen.active)) or "none",
            chosen.cache_mode,
        )
        try:
            yield
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            if ctx.redis is not None:
                await ctx.redis.close_async()
            ctx.close()
            if tracing is not None:
                tracing.shutdown()

    app = FastAPI(
        title="TasteMatch",
        description="Restaurant recommendations from your order history.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = chosen
    # Added first, so it runs inside the metrics middleware: HEAD is measured as HEAD.
    app.add_middleware(ConditionalGetMiddleware)
    # Inside the metrics middleware too: a 413 is counted like any other answer.
    app.add_middleware(BodyLimitMiddleware, max_bytes=chosen.max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware)
    app.add_exception_handler(
        PoolTimeoutError,
        _answer_503(
            "no database connection available",
            "database busy: no connection available, retry shortly",
        ),
    )
    app.add_exception_handler(
        OperationalError,
        _answer_503("database unreachable", "database unavailable, retry shortly"),
    )
    for module in (auth, users, restaurants, orders, recommendations, onboarding, health):
        app.include_router(module.router)
    complete_openapi(app, chosen)
    # Last: its middleware goes outermost, so the server span covers the whole request.
    tracing = start_tracing(app, chosen.traces_dir)
    app.state.tracing = tracing
    return app
