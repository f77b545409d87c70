"""A cap on request bodies: larger ones are answered 413 without being read.

A request announcing a larger ``Content-Length`` is refused before any of its body is
read. A body without one (``Transfer-Encoding: chunked``) is counted as the app reads it;
the read that passes the cap raises ``BodyTooLarge``, an ``HTTPException``: FastAPI turns
it into the 413 answer, and this middleware answers it itself if it comes up uncaught.
At most ``max_bytes`` (plus the one chunk that passes them) are ever held, and a route
that does not read its body never gets any of it.

The 413 asks the client to close the connection (``Connection: close``): the rest of its
body is never read.
"""

from __future__ import annotations

import json

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "too_large_detail"]

#: 413 Content Too Large (RFC 9110; Starlette renamed its constant, so the number).
_STATUS = 413


def too_large_detail(max_bytes: int) -> str:
    """The reason given with a 413."""
    return f"request body too large: at most {max_bytes} bytes are accepted"


class BodyTooLarge(HTTPException):
    """The body passed the cap while it was being read."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            _STATUS,
            detail=too_large_detail(max_bytes),
            headers={"Connection": "close"},
        )


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses a malformed one before the app
                return None
    return None


class BodyLimitMiddleware:
    """Refuses HTTP requests whose body is larger than ``max_bytes`` with 413."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return

        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes)
            return message

        async def noting_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, noting_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        body = json.dumps({"detail": too_large_detail(self.max_bytes)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": _STATUS,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
