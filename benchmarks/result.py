"""The result document (``result.json``): the one place every measurement of a gate run lives.

Budgets are evaluated from it alone and reports render from it alone, so a
saved document can be re-evaluated and re-rendered without booting anything.

Format history (``schema_version``):

1. First version: ``environment``, ``phases`` (per load run: stages, exact
   per-endpoint figures for the measured window, timelines, containers, cache,
   SQL per request, database, HTTP contract, load generator, failures),
   ``memray``, ``microbenchmarks``, ``comparison``, ``verdicts``, ``passed``.
   Each phase also carries ``gated`` (its figures are held to the per-phase
   budgets) and ``error`` (why it produced no figures, or ``null``); endpoints
   carry ``p95_ms_windows``/``p99_ms_windows`` (the percentile in each third
   of the measured window, for the stability warning); ``sql_probe`` holds
   statement counts of single requests sent with no other traffic;
   ``microbenchmarks_status`` says whether every micro-benchmark ran.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "REQUIRED_KEYS",
    "SCHEMA_VERSION",
    "ResultError",
    "dumps_result",
    "load_result",
    "parse_result",
    "write_result",
]

SCHEMA_VERSION = 1

#: Top-level keys every version-1 document has (values may be ``null``).
REQUIRED_KEYS = ("schema_version", "run_id", "created_at", "environment", "phases", "verdicts")


class ResultError(ValueError):
    """A result document that cannot be read, with the reason."""


def parse_result(text: str, *, source: str = "result document") -> dict[str, Any]:
    """Decode and check a result document; :class:`ResultError` names what is wrong."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultError(f"{source}: not JSON ({error})") from None
    if not isinstance(document, dict):
        raise ResultError(f"{source}: expected a JSON object, got {type(document).__name__}")
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultError(
            f"{source}: schema_version {version!r} is not supported "
            f"(this gate reads {SCHEMA_VERSION})"
        )
    missing = [key for key in REQUIRED_KEYS if key not in document]
    if missing:
        raise ResultError(f"{source}: missing keys {', '.join(missing)}")
    if not isinstance(document["phases"], list):
        raise ResultError(f"{source}: 'phases' must be a list")
    for index, phase in enumerate(document["phases"]):
        if not isinstance(phase, dict) or not isinstance(phase.get("name"), str):
            raise ResultError(f"{source}: phases[{index}] must be an object with a 'name'")
    return document


def load_result(path: Path) -> dict[str, Any]:
    """Read ``path`` (a ``result.json`` or a run folder holding one)."""
    file = path / "result.json" if path.is_dir() else path
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ResultError(f"{file}: cannot read ({error.strerror or error})") from None
    return parse_result(text, source=str(file))


def dumps_result(document: dict[str, Any]) -> str:
    """JSON with sorted keys, so two runs' documents diff cleanly."""
    return json.dumps(document, sort_keys=True, indent=1, allow_nan=False) + "\n"


def write_result(document: dict[str, Any], path: Path) -> None:
    """Write atomically: a reader never sees half a document."""
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(dumps_result(document), encoding="utf-8")
    os.replace(temporary, path)
