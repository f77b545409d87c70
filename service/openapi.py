"""The OpenAPI document, completed with what FastAPI cannot see in the route signatures.

Generated clients and fuzzers trust this document, so it states every status a route can
really return and every bound the server enforces:

- ``401`` on every operation that takes a bearer token;
- ``503`` (with ``Retry-After``) on every operation that may need a database connection,
  and on ``/auth/login`` and ``/auth/register`` when the password hashing queue is full
  (``TASTEMATCH_HASH_QUEUE``);
- ``304`` on the cacheable reads (``If-None-Match`` against their ``ETag``);
- ``400`` on every operation that takes a body: one that cannot be parsed (not UTF-8, not
  JSON) is answered 400 before validation, whatever else the route's 400 means;
- ``413`` on every operation that takes a body (``TASTEMATCH_MAX_BODY_BYTES``, named in the
  description; the cap holds on every route, but only these have a body to send);
- ``429`` (with ``Retry-After``) on ``/auth/login`` and ``/auth/register``, the
  rate-limited routes;
- the ``maximum`` of ``limit``, which the server checks against its settings (50, 100 for
  the order history, or 10,000 under R5) rather than in the signature.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.config import Settings

__all__ = ["complete_openapi"]

#: Paths answered without the database.
_NO_DATABASE = frozenset({"/metrics", "/health/live"})
#: Paths whose GET answers carry Cache-Control, hence an ETag.
_CACHEABLE_PREFIXES = ("/api/restaurants", "/api/recommendations")
#: Paths under rate limits (``service.ratelimit``).
_RATE_LIMITED = frozenset({"/auth/login", "/auth/register"})
#: Paths that hash or check a password (``service.passwords``, a bounded queue).
_PASSWORD_HASHING = frozenset({"/auth/login", "/auth/register"})
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}

_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"detail": {"type": "string"}},
                "required": ["detail"],
            }
        }
    }
}


def _add(responses: dict[str, Any], code: int, description: str, **extra: Any) -> None:
    responses.setdefault(str(code), {"description": description, **_ERROR, **extra})


def _complete(document: dict[str, Any], settings: Settings) -> dict[str, Any]:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if operation.get("security"):
                _add(
                    responses,
                    401,
                    "missing, invalid or expired bearer token, or its user no longer exists",
                    headers={"WWW-Authenticate": {"schema": {"type": "string"}}},
                )
            if path not in _NO_DATABASE:
                busy = "database unreachable or every connection busy"
                if path in _PASSWORD_HASHING:
                    busy += ", or too many logins in progress (the password hashing queue is full)"
                _add(responses, 503, f"{busy}: retry after the delay", headers=_RETRY_AFTER)
            if "requestBody" in operation:
                _add(responses, 400, "the body cannot be parsed: not UTF-8 text, or not JSON")
                _add(
                    responses,
                    413,
                    f"request body larger than {settings.max_body_bytes} bytes",
                    headers={"Connection": {"schema": {"type": "string", "enum": ["close"]}}},
                )
            if path in _RATE_LIMITED and method == "post":
                _add(
                    responses,
                    429,
                    "rate limit reached (per client address, and per account for logins): "
                    "retry after the delay",
                    headers=_RETRY_AFTER,
                )
            if method == "get" and path.startswith(_CACHEABLE_PREFIXES):
                responses.setdefault(
                    "304", {"description": "not modified: the If-None-Match ETag is current"}
                )
            for parameter in operation.get("parameters", []):
                if parameter.get("name") == "limit" and parameter.get("in") == "query":
                    parameter.setdefault("schema", {})["maximum"] = settings.limit_max(path)
    return document


def complete_openapi(app: FastAPI, settings: Settings) -> None:
    """Make ``app.openapi()`` return the completed document (built once, then reused)."""

    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = _complete(document, settings)
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
