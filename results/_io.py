"""Reading and writing result documents: one loader that checks, one atomic writer.

:func:`load` reads any result document (``result.json``, ``selftest.json``,
``capacity.json``, or a run folder holding a ``result.json``), checks it against
its model and returns it typed; anything wrong raises :class:`ResultError` with a
message naming the file and the first field that does not fit — never a
traceback. :func:`write` writes JSON with sorted keys (two runs' documents diff
cleanly) through a temporary file, so a reader never sees half a document.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from results._commands import CapacityDocument, SelftestDocument
from results._schema import SUPPORTED_SCHEMA_VERSIONS, RunDocument

__all__ = [
    "AnyDocument",
    "ResultError",
    "document_kind",
    "dumps",
    "load",
    "load_json",
    "load_run",
    "parse",
    "parse_json",
    "result_path",
    "validate",
    "write",
]

AnyDocument = RunDocument | SelftestDocument | CapacityDocument
#: Where a document came from, for messages: its path, or a description.
Source = Path | str


class ResultError(ValueError):
    """A result document that cannot be read; the message names the file and the field."""


def result_path(path: Path) -> Path:
    """``path`` itself, or the ``result.json`` inside it when it is a run folder."""
    return path / "result.json" if path.is_dir() else path


def _where(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_UNION_TAGS = frozenset(("str", "int", "float", "bool", "none"))
_EXPECTED = {
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a number",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "string_type": "a string",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "list_type": "a list",
    "tuple_type": "a list",
}


def _location(error: Any) -> tuple[int | str, ...]:
    # A union reports each alternative under its own tag: keep the document's path only.
    return tuple(
        part
        for part in error["loc"]
        if isinstance(part, int) or (part not in _UNION_TAGS and "[" not in part)
    )


def _expected(error: Any) -> str:
    return _EXPECTED.get(error["type"]) or str(error["msg"]).replace("Input should be ", "")


def _problem(error: ValidationError, source: Source) -> ResultError:
    """The first problem pydantic found, worded for people: the file, the field, what fits."""
    errors = error.errors(include_url=False)
    first, location = errors[0], _location(errors[0])
    where = _where(location)
    if first["type"] == "missing":
        problem, alternatives = "is missing", [first]
    else:
        alternatives = [e for e in errors if _location(e) == location]
        expected = " or ".join(dict.fromkeys(_expected(e) for e in alternatives))
        shown = json.dumps(first.get("input"), default=str)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        problem = f"must be {expected}, got {shown}"
    more = len(errors) - len(alternatives)
    also = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ResultError(f"{source}: field '{where}' {problem}{also}")


def document_kind(data: Mapping[str, Any]) -> str:
    """``gate``, ``oom``, ``faults``, ``selftest`` or ``capacity`` (inferred for version 1)."""
    kind = data.get("kind")
    if isinstance(kind, str):
        return kind
    return "oom" if "oom" in data else "gate"


_MODELS: dict[str, type[AnyDocument]] = {
    "gate": RunDocument,
    "oom": RunDocument,
    "faults": RunDocument,
    "selftest": SelftestDocument,
    "capacity": CapacityDocument,
}


def _check_version(data: Mapping[str, Any], source: Source, reader: str) -> None:
    if "schema_version" not in data:
        if document_kind(data) == "capacity":  # version 1 of capacity.json had none
            return
        raise ResultError(f"{source}: field 'schema_version' is missing")
    version = data["schema_version"]
    if isinstance(version, bool) or version not in SUPPORTED_SCHEMA_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise ResultError(
            f"{source}: field 'schema_version' is {json.dumps(version)}: {reader} reads "
            f"schema_version {supported} only (schema_version {json.dumps(version)} "
            "is not supported)"
        )


def validate(data: object, source: Source, *, reader: str = "this reader") -> AnyDocument:
    """Check decoded JSON against the model of its kind; :class:`ResultError` names the field.

    ``reader`` names who reads, for the message about an unsupported ``schema_version``.
    """
    if not isinstance(data, dict):
        raise ResultError(f"{source}: expected a JSON object at the top, got {type(data).__name__}")
    kind = document_kind(data)
    model = _MODELS.get(kind)
    if model is None:
        known = ", ".join(_MODELS)
        raise ResultError(f"{source}: field 'kind' is {json.dumps(kind)}: not one of {known}")
    _check_version(data, source, reader)
    required = [
        name
        for name, field in model.model_fields.items()
        if field.is_required() and name not in data
    ]
    if required:
        raise ResultError(
            f"{source}: field '{required[0]}' is missing (missing keys {', '.join(required)})"
        )
    try:
        # A version-1 document has no ``kind``: it is what was inferred.
        return model.model_validate(data if "kind" in data else {**data, "kind": kind})
    except ValidationError as error:
        raise _problem(error, source) from None


def _decode(text: str, source: Source) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultError(f"{source}: not JSON ({error})") from None


def parse(text: str, source: Source, *, reader: str = "this reader") -> AnyDocument:
    """Decode and check a document's text."""
    return validate(_decode(text, source), source, reader=reader)


def parse_json(
    text: str, source: Source = "result document", *, reader: str = "this reader"
) -> dict[str, Any]:
    """Decode and check a document's text; return the JSON itself (budgets judge its paths)."""
    data = _decode(text, source)
    validate(data, source, reader=reader)
    result: dict[str, Any] = data
    return result


def _read(path: Path) -> tuple[Path, str]:
    file = result_path(path)
    try:
        return file, file.read_text(encoding="utf-8")
    except FileNotFoundError:
        hint = "" if path.exists() else "; `make bench` writes one under reports/out/"
        raise ResultError(
            f"{file}: cannot read (no such file: expected a run folder or a result.json{hint})"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ResultError(f"{file}: cannot read ({error})") from None


def load(path: Path, *, reader: str = "this reader") -> AnyDocument:
    """Read and check ``path`` (a document, or a run folder holding a ``result.json``)."""
    file, text = _read(path)
    return parse(text, file, reader=reader)


def load_run(path: Path, *, reader: str = "this reader") -> RunDocument:
    """Read a gate (or OOM, or faults) run's ``result.json``: another kind is a
    :class:`ResultError`."""
    file, text = _read(path)
    document = parse(text, file, reader=reader)
    if not isinstance(document, RunDocument):
        raise ResultError(f"{file}: a {document.kind} document, not a gate run's result.json")
    return document


def load_json(path: Path, *, reader: str = "this reader") -> dict[str, Any]:
    """Read and check ``path``; return the JSON itself (what budgets are judged on)."""
    file, text = _read(path)
    return parse_json(text, file, reader=reader)


def dumps(document: Mapping[str, Any] | BaseModel) -> str:
    """JSON with sorted keys, so two runs' documents diff cleanly."""
    data = document.model_dump(mode="json") if isinstance(document, BaseModel) else document
    return json.dumps(data, sort_keys=True, indent=1, allow_nan=False) + "\n"


def write(path: Path, document: Mapping[str, Any] | BaseModel) -> None:
    """Write ``document`` to ``path`` atomically: a reader never sees half a document."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(dumps(document), encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
