"""OpenTelemetry tracing of the service: off unless asked for, by the standard variables.

Tracing is on when either is set:

- ``OTEL_TRACES_EXPORTER``: a comma list of span exporters, the standard variable. The
  image has ``otlp`` (OTLP over HTTP/protobuf to ``OTEL_EXPORTER_OTLP_ENDPOINT`` or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: point it at your own collector), ``console``
  (spans on standard output) and ``otlp_json_file`` (OTLP JSON lines on standard output);
  ``none`` means no exporter. Any exporter registered under the entry-point group
  ``opentelemetry_traces_exporter`` can be named.
- ``TASTEMATCH_TRACES_DIR``: the suite's own: OTLP JSON lines (the OpenTelemetry file
  exporter's format, one export request a line) in ``traces-<host>-<pid>.jsonl`` in that
  folder, one file per process, so no collector is needed.

``OTEL_SDK_DISABLED=true`` turns tracing off whatever else is set. The SDK reads the rest
of the standard variables itself: ``OTEL_SERVICE_NAME`` (default here ``tastematch``),
``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``/``_ARG``, ``OTEL_BSP_*``.

What is traced: one server span per request (FastAPI, without the ASGI send/receive
spans), one span per SQL statement (SQLAlchemy, on the app's engine) and one per Redis
command or pipeline (redis-py). Nothing of OpenTelemetry is imported while tracing is off,
so the untraced service pays nothing for it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy import Engine

__all__ = [
    "DEFAULT_SERVICE_NAME",
    "Tracing",
    "TracingConfigError",
    "check_tracing",
    "exporter_names",
    "start_tracing",
    "traces_file",
]

log = logging.getLogger(__name__)

DEFAULT_SERVICE_NAME = "tastematch"
_EXPORTER_GROUP = "opentelemetry_traces_exporter"
#: Names the SDK's own configuration accepts for the OTLP exporters, by protocol.
_OTLP_BY_PROTOCOL = {"http/protobuf": "otlp_proto_http", "grpc": "otlp_proto_grpc"}


class TracingConfigError(ValueError):
    """The ``OTEL_*``/``TASTEMATCH_TRACES_DIR`` settings ask for something unavailable."""


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def exporter_names(environ: Mapping[str, str]) -> list[str]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names, ``otlp`` resolved by its protocol."""
    names: list[str] = []
    for raw in environ.get("OTEL_TRACES_EXPORTER", "").split(","):
        name = raw.strip().lower()
        if not name or name == "none":
            continue
        if name == "otlp":
            protocol = (
                environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            ).strip()
            if protocol not in _OTLP_BY_PROTOCOL:
                known = ", ".join(_OTLP_BY_PROTOCOL)
                raise TracingConfigError(
                    f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not an OTLP protocol ({known})"
                )
            name = _OTLP_BY_PROTOCOL[protocol]
        if name not in names:
            names.append(name)
    return names


def _exporter_class(name: str) -> Any:
    found = entry_points(group=_EXPORTER_GROUP, name=name)
    if not found:
        known = ", ".join(sorted({point.name for point in entry_points(group=_EXPORTER_GROUP)}))
        hint = " (OTLP over gRPC is not installed: use http/protobuf)" if "grpc" in name else ""
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed{hint}; "
            f"installed: otlp, {known}"
        )
    return next(iter(found)).load()


def check_tracing(traces_dir: Path | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is on; raise ``TracingConfigError`` if what it asks for is unavailable.

    Checks every named exporter is installed and ``traces_dir`` can be created and written,
    so ``python -m service`` can refuse to start with one line instead of a traceback.
    """
    env = os.environ if environ is None else environ
    if _truthy(env.get("OTEL_SDK_DISABLED")):
        return False
    names = exporter_names(env)
    for name in names:
        _exporter_class(name)
    if traces_dir is not None:
        try:
            traces_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise TracingConfigError(
                f"TASTEMATCH_TRACES_DIR: cannot create {traces_dir}: {error.strerror or error}"
            ) from None
        if not os.access(traces_dir, os.W_OK | os.X_OK):
            raise TracingConfigError(f"TASTEMATCH_TRACES_DIR: cannot write in {traces_dir}")
    return bool(names) or traces_dir is not None


def traces_file(folder: Path) -> Path:
    """This process's spans file in ``folder``."""
    return folder / f"traces-{socket.gethostname()}-{os.getpid()}.jsonl"


@dataclass
class Tracing:
    """A tracer provider and what it instrumented; ``shutdown()`` flushes and undoes it."""

    provider: TracerProvider
    file: Path | None = None
    _instrumented: list[Any] = field(default_factory=list)

    def instrument_engine(self, engine: Engine) -> None:
        """Trace every statement ``engine`` runs, and every Redis command of the process."""
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        sql = SQLAlchemyInstrumentor()
        if not sql.is_instrumented_by_opentelemetry:  # tests may start several apps
            # Its declared range stops below SQLAlchemy 2.1, which it traces fine.
            sql.instrument(
                tracer_provider=self.provider,
                engine=engine,
                enable_commenter=False,
                skip_dep_check=True,
            )
            self._instrumented.append(sql)
        redis = RedisInstrumentor()
        if not redis.is_instrumented_by_opentelemetry:
            redis.instrument(tracer_provider=self.provider)
            self._instrumented.append(redis)

    def shutdown(self) -> None:
        """Export what is buffered and stop tracing the engine and Redis."""
        for instrumentor in self._instrumented:
            instrumentor.uninstrument()
        self._instrumented.clear()
        self.provider.shutdown()


def start_tracing(
    app: FastAPI, traces_dir: Path | None, environ: Mapping[str, str] | None = None
) -> Tracing | None:
    """Trace ``app``'s requests if the environment or ``traces_dir`` asks for it.

    Returns None when tracing is off; raises ``TracingConfigError`` naming the variable
    when it asks for an exporter that is not installed or a folder that cannot be written.
    """
    env = os.environ if environ is None else environ
    if not check_tracing(traces_dir, env):
        return None

    from opentelemetry.exporter.otlp.json.file.trace_exporter import FileSpanExporter
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    names = exporter_names(env)
    exporters: list[SpanExporter] = [_exporter_class(name)() for name in names]
    path: Path | None = None
    if traces_dir is not None:
        path = traces_file(traces_dir)
        exporters.append(FileSpanExporter(path))
    attributes = {} if env.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: DEFAULT_SERVICE_NAME}
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, exclude_spans=["receive", "send"]
    )
    log.info(
        "tracing on: exporters %s%s",
        ", ".join(names) or "none",
        f", spans to {path}" if path else "",
    )
    return Tracing(provider=provider, file=path)
