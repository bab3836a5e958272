"""The ``UNSET`` sentinel: "the field was absent from the response".

Most optional wire fields decode to ``None`` whether they were ``null`` or missing,
because the API gives both the same meaning. A few fields carry a meaning in
``null`` itself, and only those use ``UNSET`` for "missing":

* ``EventUnlockResult.balance_after``, ``VisitorUnlockResult.balance_after`` and
  ``FullAccessUnlockResult.balance_after``: ``None`` means the server said nothing
  was charged (``balanceAfter: null``); ``UNSET`` means the server did not say.
"""

from __future__ import annotations

import enum
from typing import Final, Literal

__all__ = ["UNSET", "UnsetType"]


class UnsetType(enum.Enum):
    """The type of :data:`UNSET`; an enum so that ``x is UNSET`` narrows for type checkers."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> Literal[False]:
        # Falsy, so that ``if result.balance_after:`` treats "absent" like "null".
        return False


UNSET: Final = UnsetType.UNSET
"""The single "absent from the response" marker (see the module docstring for its users)."""
