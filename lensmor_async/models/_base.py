"""``Model``: the one base of every response model (serialisation, the answer it came with).

It adds no attrs fields, so equality, hashing, ``repr`` and ``to_dict()`` see only the
data. Its single slot holds the HTTP answer of a top-level result (``result.response``),
set by the request pipeline after decoding; nested models and models built by hand have
none.

Serialisation goes through the one converter (``models/converter.py``), imported when
first used: the converter imports every model module, so models cannot import it first.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Self, cast

import attrs

from lensmor_async._answered import Answered, ResponseInfo
from lensmor_async.models._fields import EMPTY

__all__ = ["Model", "ResponseInfo"]


class Model(Answered):
    """Serialisable, frozen response data; see ``to_dict``, ``to_json`` and ``from_dict``.

    ``result.response`` (from :class:`Answered`) is the HTTP answer it came with.
    """

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle (and ``copy.deepcopy``) by rebuilding from the field values.

        attrs would pickle the slots as they are, but ``extra`` and free-form fields are
        read-only ``mappingproxy`` views, which pickle refuses; they travel as plain
        dicts and are made read-only again on the way in. ``response`` stays behind:
        it is the live answer of one call (its headers do not pickle either). Values go
        by field name, so a pickle kept in a cache loads after a release adds a field.
        """
        cls = type(self)
        values = {field.name: _thaw(getattr(self, field.name)) for field in _fields(cls)}
        return (_rebuild, (cls, values))

    def __copy__(self) -> Self:
        # Immutable: a shallow copy is the object itself, as for tuples and strings.
        return self

    def to_dict(self, *, wire: bool = False) -> dict[str, Any]:
        """Plain JSON-ready data: snake_case attribute names, or the API's own with ``wire``.

        Nested models become dicts, tuples become lists, and unknown wire fields (``extra``)
        come back as top-level keys; fields the server left out (``UNSET``) stay out.
        ``type(m).from_dict(m.to_dict(wire=w), wire=w) == m`` for either ``w``.
        """
        from lensmor_async.models.converter import unstructure

        return unstructure(self, wire=wire)

    def to_json(self, *, wire: bool = False) -> str:
        """``to_dict()`` as JSON text (orjson)."""
        from lensmor_async.models.converter import dumps

        return dumps(self.to_dict(wire=wire))

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, wire: bool = False, item: type[Any] | None = None
    ) -> Self:
        """Build a model from ``to_dict()`` output (or API JSON, with ``wire=True``).

        Validated like an API response: a mismatch raises ``ResponseValidationError``
        with the path of the offending value. ``item``: the item class of a ``Page``
        (``Page.from_dict(data, item=Person)``); typed page classes know theirs.
        """
        from lensmor_async.models.converter import from_dict

        return from_dict(cls, data, wire=wire, item=item)

    @classmethod
    def from_json(
        cls, text: str | bytes, *, wire: bool = False, item: type[Any] | None = None
    ) -> Self:
        """``from_dict`` of JSON text."""
        from lensmor_async.models.converter import loads

        return cls.from_dict(loads(text), wire=wire, item=item)


class _ReadOnly(dict[str, Any]):
    """A ``mappingproxy`` in transit: pickled as a dict, read-only again when rebuilt."""

    __slots__ = ()


def _thaw(value: Any) -> Any:
    if isinstance(value, MappingProxyType):
        return _ReadOnly(value)
    if isinstance(value, tuple) and any(isinstance(v, MappingProxyType) for v in value):
        return tuple(_thaw(v) for v in value)  # an array of free-form objects
    return value


def _freeze(value: Any) -> Any:
    if isinstance(value, _ReadOnly):
        return MappingProxyType(dict(value)) if value else EMPTY
    if isinstance(value, tuple) and any(isinstance(v, _ReadOnly) for v in value):
        return tuple(_freeze(v) for v in value)
    return value


def _fields(cls: type[Model]) -> tuple[attrs.Attribute[Any], ...]:
    # Every concrete model is an attrs class; ``Model`` itself declares no fields.
    return attrs.fields(cast(Any, cls))  # type: ignore[no-any-return]


def _rebuild(cls: type[Model], values: dict[str, Any]) -> Model:
    """Unpickle: the model's own ``__init__`` (validators and all) on the thawed values.

    ``__init__`` takes a field by its ``alias`` (``_note`` → ``note``, or one a subclass
    chose); an ``init=False`` field is not an argument, so it is set after, as attrs does.
    A field the pickle lacks (added since) takes its default.
    """
    arguments: dict[str, Any] = {}
    later: list[tuple[str, Any]] = []
    for field in _fields(cls):
        if field.name not in values:
            continue
        value = values[field.name]
        if field.init:
            arguments[field.alias or field.name] = _freeze(value)
        else:
            later.append((field.name, _freeze(value)))
    model = cls(**arguments)
    for name, value in later:
        object.__setattr__(model, name, value)  # frozen: the way attrs itself sets fields
    return model
