"""Field helpers shared by the model modules (wire names, kinds, the ``extra`` field).

Wire names default to the camelCase form of the attribute name (``full_name`` →
``fullName``); a class whose wire names are snake_case sets ``__wire_snake__ = True``
and single fields override the name with ``metadata=wire("matched_event_ids")``.
The converter reads this metadata; models never import the converter.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

EMPTY: Mapping[str, Any] = MappingProxyType({})
"""The shared, immutable, empty mapping every model uses for an empty ``extra``."""

# Metadata keys read by models/converter.py.
WIRE = "lensmor_wire"
KIND = "lensmor_kind"
ALIASES = "lensmor_aliases"

# Kinds that the attribute's type alone cannot tell (everything else is inferred).
KIND_MS = "ms"
KIND_SOURCE_TYPE = "source_type"
KIND_BALANCE_AFTER = "balance_after"


def wire(
    name: str | None = None, *, kind: str | None = None, aliases: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Field metadata: the wire name (when not the default), a special kind, fallback names."""
    meta: dict[str, Any] = {}
    if name is not None:
        meta[WIRE] = name
    if kind is not None:
        meta[KIND] = kind
    if aliases:
        meta[ALIASES] = aliases
    return meta


def ms(name: str | None = None) -> dict[str, Any]:
    """Metadata for a millisecond timestamp (int, or a string of digits on the wire)."""
    return wire(name, kind=KIND_MS)


def _repr_extra(value: Mapping[str, Any]) -> str:
    return repr(dict(value))


def extra_field() -> Any:
    """The ``extra`` attribute: unknown wire keys, kept readable; empty by default.

    Left out of ``hash`` because its values may be lists or objects.
    """
    return attrs.field(default=EMPTY, hash=False, repr=_repr_extra)


def mapping_field(name: str | None = None) -> Any:
    """An optional free-form object field (``None`` when absent or null); not hashed."""
    return attrs.field(default=None, hash=False, metadata=wire(name))
