"""A tiny stand-in for the TasteMatch HTTP API on 127.0.0.1, for testing the Locust runner."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest

_RESTAURANTS = [{"id": i, "name": f"r{i}"} for i in range(1, 21)]
_BODIES: dict[str, Any] = {
    "/api/users/me": {"id": 1, "email": "user00000@tastematch.test"},
    "/api/recommendations": {"recommendations": [{"restaurant": r} for r in _RESTAURANTS[:12]]},
    "/api/recommendations/chef-choice": {"restaurant": _RESTAURANTS[0]},
    "/api/orders": {"orders": [], "total": 0, "count": 0},
    "/api/restaurants": {"restaurants": _RESTAURANTS, "total": 20, "page": 1, "limit": 20},
}


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: object) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/api/fail":
            self._send(500, {"detail": "boom"})
        elif path in _BODIES:
            self._send(200, _BODIES[path])
        else:
            self._send(404, {"detail": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if urlsplit(self.path).path in ("/auth/login", "/auth/register"):
            self._send(200, {"token": "token", "token_type": "bearer"})
        else:
            self._send(201, {"id": 1})

    def do_DELETE(self) -> None:
        if urlsplit(self.path).path == "/api/orders/simulation":
            self._send(200, {"deleted": 0, "message": "0 simulated order(s) deleted"})
        else:
            self._send(404, {"detail": "not found"})

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request logging."""


@pytest.fixture
def fake_service() -> Iterator[str]:
    """Base URL of a stand-in API that answers every route the scenarios use."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
