"""Plain JSON data from models, for exports and ``--json`` output (snake_case keys)."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import attrs


def to_jsonable(value: Any) -> Any:
    """Plain JSON data from a model: attrs classes become objects with their field names
    (snake_case, in declaration order), tuples become lists, mappings objects, enums
    their values (``UNSET`` — "absent from the response" — becomes ``null``)."""
    if attrs.has(type(value)):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return None if value.name == "UNSET" else to_jsonable(value.value)
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    return value
