"""HTTP semantics a cache-minded API owes its clients, for every route at once.

- ``HEAD`` on any ``GET`` route: the handler runs as for ``GET``; the client gets the same
  status and headers (``Content-Length`` included) and no body.
- ``ETag`` on every 200 answer that carries ``Cache-Control`` (the cacheable ones), and
  ``304 Not Modified`` without a body when ``If-None-Match`` names it (weak comparison, as
  RFC 9110 prescribes for ``GET``/``HEAD``).
- ``Vary: Authorization`` on answers that depend on who asks: those marked ``private``, and
  those without ``Cache-Control`` to a request that carried ``Authorization``.
"""

from __future__ import annotations

import hashlib

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ConditionalGetMiddleware", "etag_matches", "etag_of"]

_NOT_MODIFIED = 304
#: Headers a 304 must not carry: it has no body to describe.
_BODY_HEADERS = ("content-length", "content-type")


def etag_of(body: bytes) -> str:
    """A strong entity tag of ``body`` (128 bits of BLAKE2b)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(if_none_match: str, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (``*`` names any)."""
    bare = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == bare:
            return True
    return False


def _add_vary(headers: MutableHeaders, field: str) -> None:
    present = [v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()]
    if field.lower() not in present and "*" not in present:
        headers.add_vary_header(field)


class ConditionalGetMiddleware:
    """``HEAD``, ``ETag`` / ``If-None-Match`` and ``Vary: Authorization`` (see the module)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        request_headers = Headers(scope=scope)
        if_none_match = request_headers.get("if-none-match")
        authorized = "authorization" in request_headers
        held: Message | None = None
        chunks: list[bytes] = []

        async def reply(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cache_control = headers.get("cache-control", "").lower()
                if "private" in cache_control or (authorized and not cache_control):
                    _add_vary(headers, "Authorization")
                if message["status"] == 200 and cache_control and "no-store" not in cache_control:
                    held = message  # its ETag needs the whole body
                    return
                await send(message)
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            if held is None:
                if not head:
                    await send(message)
                elif not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=held)
            etag = etag_of(body)
            headers["ETag"] = etag
            if if_none_match is not None and etag_matches(if_none_match, etag):
                held["status"] = _NOT_MODIFIED
                for name in _BODY_HEADERS:
                    del headers[name]
                body = b""
            await send(held)
            await send({"type": "http.response.body", "body": b"" if head else body})

        # The routes know GET only; HEAD runs them as GET and the body is dropped above.
        inner = dict(scope, method="GET") if head else scope
        try:
            await self.app(inner, receive, reply)
        finally:
            if "route" in inner:  # the metrics label it by its route template
                scope["route"] = inner["route"]
