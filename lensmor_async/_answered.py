"""``result.response``: the HTTP answer a result came with, kept outside its data.

Every result a client method returns (a model, a page, a contact-unlock report) derives
from :class:`Answered`. Its single slot is set after decoding (by the request pipeline,
or by a task handle from its final poll); attrs fields never see it, so equality,
hashing, ``repr`` and ``to_dict()`` stay about the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs

__all__ = ["Answered", "ResponseInfo", "carry_answer"]

T = TypeVar("T")


@attrs.frozen(slots=True)
class ResponseInfo:
    """The HTTP answer a result came with (``result.response``)."""

    status: int
    """The HTTP status, e.g. 200."""
    headers: Mapping[str, str] = attrs.field(repr=False)
    """The response headers as received (case-insensitive lookup)."""
    trace_id: str | None
    """The server's ``X-Request-ID``: quote it to support."""


class Answered:
    """A result that remembers the HTTP answer it came with (``result.response``)."""

    __slots__ = ("_response",)

    @property
    def response(self) -> ResponseInfo | None:
        """The HTTP answer this result came with: status, headers, trace id.

        Set on what a client method returns (a model, a page, a task report); ``None``
        on nested models and on results built by hand. It takes no part in equality
        or ``to_dict()``.
        """
        try:
            status, headers, trace_id = self._response  # type: ignore[attr-defined]
        except AttributeError:  # the slot was never set: not a client method's result
            return None
        return ResponseInfo(status, headers, trace_id)


def carry_answer(source: object, target: T) -> T:
    """Give ``target`` the HTTP answer ``source`` came with, if it has one; return it."""
    answer = getattr(source, "_response", None)
    if answer is not None:
        object.__setattr__(target, "_response", answer)
    return target
