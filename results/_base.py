"""The building blocks of the result models: an immutable base, and fields that may be absent.

The documents themselves and their format history are in :mod:`results._schema`.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict

__all__ = [
    "FalseIfNull",
    "Flag",
    "Items",
    "Members",
    "Model",
    "Number",
    "Scalar",
    "Text",
    "unknown_keys",
]

Scalar = str | int | float | bool | None

_T = TypeVar("_T")


def _empty_dict(value: object) -> object:
    return {} if value is None else value


def _empty_list(value: object) -> object:
    return [] if value is None else value


def _empty_text(value: object) -> object:
    return "" if value is None else value


#: An object or a list that may be absent or ``null`` in a document: it then reads as empty.
Members = Annotated[dict[str, _T], BeforeValidator(_empty_dict)]
Items = Annotated[list[_T], BeforeValidator(_empty_list)]
#: A number that is one in JSON (not a numeric string, not ``true``); an integer is fine.
Number = Annotated[float, Strict()]
#: ``true`` or ``false``, nothing that merely converts to one.
Flag = Annotated[bool, Strict()]
#: ``true`` or ``false``; absent or ``null`` reads as ``false``.
FalseIfNull = Annotated[
    bool, BeforeValidator(lambda value: False if value is None else value), Strict()
]
#: Text that may be absent or ``null``: it then reads as empty.
Text = Annotated[str, BeforeValidator(_empty_text)]


class Model(BaseModel):
    """Base of every document model: immutable, no NaN; unknown keys kept, not rejected."""

    model_config = ConfigDict(frozen=True, extra="allow", allow_inf_nan=False)


def unknown_keys(model: Model, where: str = "") -> list[str]:
    """Every key of a checked document that its model does not declare, as a dotted path.

    Readers keep unknown keys (a newer writer may add some); a test of what the writer
    produces asserts there are none, so writer and schema cannot drift apart.
    """
    found = [_join(where, key) for key in model.model_extra or {}]
    for name in type(model).model_fields:
        found += _unknown_in(getattr(model, name), _join(where, name))
    return found


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _unknown_in(value: object, where: str) -> list[str]:
    if isinstance(value, Model):
        return unknown_keys(value, where)
    if isinstance(value, dict):
        return [k for key, item in value.items() for k in _unknown_in(item, _join(where, key))]
    if isinstance(value, list | tuple):
        return [k for i, item in enumerate(value) for k in _unknown_in(item, f"{where}[{i}]")]
    return []
