"""The gate's names for reading and writing result documents.

The schema, its format history, the loader and the atomic writer live in the
:mod:`results` package; the gate judges budgets on the document's JSON itself
(dotted paths), so it reads documents as checked dictionaries.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from results import SCHEMA_VERSION, ResultError, dumps, load_json, parse_json, write

__all__ = [
    "SCHEMA_VERSION",
    "ResultError",
    "dumps_result",
    "load_result",
    "parse_result",
    "write_result",
]

_READER = "this gate"


def parse_result(text: str, *, source: str = "result document") -> dict[str, Any]:
    """Decode and check a result document; :class:`ResultError` names what is wrong."""
    return parse_json(text, source, reader=_READER)


def load_result(path: Path) -> dict[str, Any]:
    """Read ``path`` (a result document or a run folder holding a ``result.json``)."""
    return load_json(path, reader=_READER)


def dumps_result(document: dict[str, Any]) -> str:
    """JSON with sorted keys, so two runs' documents diff cleanly."""
    return dumps(document)


def write_result(document: dict[str, Any], path: Path) -> None:
    """Write atomically: a reader never sees half a document."""
    write(path, document)
