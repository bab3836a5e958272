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
from typing import Any, Self

from lensmor_async._answered import Answered, ResponseInfo

__all__ = ["Model", "ResponseInfo"]


class Model(Answered):
    """Serialisable, frozen response data; see ``to_dict``, ``to_json`` and ``from_dict``.

    ``result.response`` (from :class:`Answered`) is the HTTP answer it came with.
    """

    __slots__ = ()

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
