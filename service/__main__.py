"""``python -m service``: serve the API with uvicorn on 0.0.0.0:$TASTEMATCH_PORT."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import tempfile
from typing import Any

from pydantic import ValidationError

from service.config import Settings, get_settings
from service.tracing import TracingConfigError, check_tracing

__all__ = ["main", "server_options"]


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's options other than where to listen and how many workers.

    ``proxy_headers=False``: uvicorn would otherwise take the client address from
    ``X-Forwarded-For`` when the peer is 127.0.0.1 (its default ``forwarded_allow_ips``),
    and anyone able to reach the port from there could pose as any address and escape the
    per-address rate limits: the address is always the TCP peer's.
    ``timeout_keep_alive``: ``TASTEMATCH_KEEP_ALIVE_S`` (see :class:`Settings`).
    """
    return {
        "proxy_headers": False,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "timeout_keep_alive": settings.keep_alive_s,
    }


def main(argv: list[str] | None = None) -> int:
    """Start the server (1 worker, or 2 under R2); return its exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m service",
        description="Serve the TasteMatch API. Configuration comes from TASTEMATCH_* variables.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, help="port (default $TASTEMATCH_PORT or 8000)")
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        print(f"invalid TASTEMATCH_* setting: {error}", file=sys.stderr)
        return 2
    try:
        check_tracing(settings.traces_dir)
    except TracingConfigError as error:
        print(f"invalid tracing setting: {error}", file=sys.stderr)
        return 2
    workers = settings.workers
    metrics_dir: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers are separate processes: their metrics meet in files in this directory.
        # It must be set before any worker imports prometheus_client.
        metrics_dir = tempfile.mkdtemp(prefix="tastematch-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s %(message)s"
    )

    import uvicorn

    try:
        uvicorn.run(
            "service.main:create_app",
            factory=True,
            host=args.host,
            port=args.port or settings.port,
            workers=workers,
            **server_options(settings),
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
