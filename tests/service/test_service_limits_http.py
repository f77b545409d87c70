"""Units of the service's HTTP limits: the request body cap, what uvicorn is told, and what
the OpenAPI document and the stack say of the limits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from limits import parse as parse_rate_limit
from starlette.types import Message, Receive, Scope, Send

import service.__main__ as service_main
from containers.replicas import LOAD_GENERATOR_RATE_LIMITS
from containers.stack import Stack
from scenarios.registry import SCENARIOS
from service.bodylimit import BodyLimitMiddleware, too_large_detail
from service.config import Settings, get_settings
from service.main import create_app
from service.schemas import OrderItem


# -- body cap ---------------------------------------------------------------------------------
def _scope(headers: list[tuple[bytes, bytes]], path: str = "/echo") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


class _Stream:
    """``receive`` of a body sent in ``chunk``-byte pieces, ``chunks`` of them (endless
    when ``None``); counts the pieces handed out."""

    def __init__(self, chunk: bytes, chunks: int | None) -> None:
        self.chunk = chunk
        self.chunks = chunks
        self.handed = 0

    async def __call__(self) -> Message:
        self.handed += 1
        last = self.chunks is not None and self.handed >= self.chunks
        return {"type": "http.request", "body": self.chunk, "more_body": not last}


def _call(app: Any, scope: Scope, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def _answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], Any]:
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], dict(start["headers"]), json.loads(body)


async def _reads_everything(scope: Scope, receive: Receive, send: Send) -> None:
    more = True
    size = 0
    while more:
        message = await receive()
        size += len(message.get("body", b""))
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": json.dumps(size).encode()})


def test_declared_length_over_the_cap_is_refused_before_the_app_runs() -> None:
    called: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        called.append(scope)

    stream = _Stream(b"x" * 100, 1)
    sent = _call(BodyLimitMiddleware(app, 1000), _scope([(b"content-length", b"1001")]), stream)
    status, headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(1000)})
    assert "1000 bytes" in body["detail"]
    assert headers[b"connection"] == b"close"
    assert called == []
    assert stream.handed == 0


def test_streamed_body_is_cut_off_once_past_the_cap() -> None:
    stream = _Stream(b"x" * 1000, None)  # chunked, never ends
    sent = _call(BodyLimitMiddleware(_reads_everything, 2500), _scope([]), stream)
    status, _headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(2500)})
    assert stream.handed == 3  # the piece that passed the cap, and no more


def test_bodies_up_to_the_cap_pass_whole() -> None:
    exact = _Stream(b"x" * 500, 4)
    sent = _call(
        BodyLimitMiddleware(_reads_everything, 2000), _scope([(b"content-length", b"2000")]), exact
    )
    assert _answer(sent)[::2] == (200, 2000)


def test_fastapi_route_answers_413_as_json_for_a_streamed_body() -> None:
    app = FastAPI()

    @app.post("/echo")
    async def echo(body: dict[str, Any]) -> dict[str, Any]:
        return body

    stream = _Stream(b" " * 4096, 100)
    sent = _call(BodyLimitMiddleware(app, 10_000), _scope([]), stream)
    status, headers, body = _answer(sent)
    assert (status, body) == (413, {"detail": too_large_detail(10_000)})
    assert headers[b"connection"] == b"close"
    assert stream.handed == 3


def test_the_cap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        BodyLimitMiddleware(_reads_everything, 0)


def test_extra_item_keys_are_dropped_not_stored() -> None:
    item = OrderItem.model_validate({"name": "ramen", "price": 12, "note": "x" * 10_000})
    assert item.model_dump() == {"name": "ramen", "quantity": 1, "price": 12.0}


# -- server and document ----------------------------------------------------------------------
def test_uvicorn_takes_the_client_address_from_the_socket_not_from_headers(
    monkeypatch: pytest.MonkeyPatch, jwt_secret: str
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setenv("TASTEMATCH_JWT_SECRET", jwt_secret)
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: started.append(kwargs))
    get_settings.cache_clear()
    try:
        assert service_main.main(["--port", "8123"]) == 0
    finally:
        get_settings.cache_clear()
    (options,) = started
    assert options["proxy_headers"] is False
    assert options["port"] == 8123
    # Idle connections outlast the load's longest pause (5 s): uvicorn's default is 5 s.
    assert options["timeout_keep_alive"] == 75
    assert service_main.server_options(Settings(jwt_secret=jwt_secret))["proxy_headers"] is False


def test_openapi_lists_413_on_bodies_and_429_on_the_auth_routes(jwt_secret: str) -> None:
    document = create_app(Settings(jwt_secret=jwt_secret, max_body_bytes=1234)).openapi()
    with_body = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            if "requestBody" in operation:
                with_body += 1
                assert "1234 bytes" in responses["413"]["description"], (method, path)
            else:
                assert "413" not in responses, (method, path)
            limited = path in ("/auth/login", "/auth/register")
            assert ("429" in responses) is limited, (method, path)
            if limited:
                assert "Retry-After" in responses["429"]["headers"]
                # A full password hashing queue, beside the database's own 503.
                busy = responses["503"]
                assert "password hashing queue is full" in busy["description"], path
                assert "database unreachable" in busy["description"], path
                assert "Retry-After" in busy["headers"], path
    assert with_body >= 4  # register, login, orders, onboarding


def test_the_stack_gives_its_services_valid_limits_sized_for_the_load_generator(
    jwt_secret: str,
) -> None:
    environment = Stack(replicas=1).service_environment()
    fields: dict[str, Any] = {
        name.removeprefix("TASTEMATCH_").lower(): environment[name]
        for name in LOAD_GENERATOR_RATE_LIMITS
    }
    settings = Settings(jwt_secret=jwt_secret, **fields)
    biggest_load = max(scenario.users for scenario in SCENARIOS.values())
    for value in (settings.login_limit_per_address, settings.register_limit_per_address):
        assert parse_rate_limit(value).amount >= 10 * biggest_load
    # Every diner of the biggest load may be logging in at once.
    assert settings.hash_queue >= biggest_load
    own = Stack(service_env={"TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS": "5/minute"})
    assert own.service_environment()["TASTEMATCH_LOGIN_LIMIT_PER_ADDRESS"] == "5/minute"
