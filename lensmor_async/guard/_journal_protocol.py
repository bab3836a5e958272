"""The durable spend journal protocol: every paid intent is written down before it is sent.

States move forward only::

    planned → reserved → sending → acknowledged → polling → (terminal)
                    ╰──────────────→ (terminal)
    terminal: succeeded | failed_no_charge | rejected_402 | in_doubt | unresolved

``in_doubt`` and ``unresolved`` always carry a ``reason``. An intent key is unique:
the same intent from many processes results in one row and therefore one send.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import attrs


class JournalState(enum.Enum):
    """Where a paid intent stands."""

    PLANNED = "planned"
    RESERVED = "reserved"
    SENDING = "sending"
    ACKNOWLEDGED = "acknowledged"
    POLLING = "polling"
    SUCCEEDED = "succeeded"
    FAILED_NO_CHARGE = "failed_no_charge"
    REJECTED_402 = "rejected_402"
    IN_DOUBT = "in_doubt"
    UNRESOLVED = "unresolved"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset(
    {
        JournalState.SUCCEEDED,
        JournalState.FAILED_NO_CHARGE,
        JournalState.REJECTED_402,
        JournalState.IN_DOUBT,
        JournalState.UNRESOLVED,
    }
)


@attrs.frozen(slots=True)
class JournalEntry:
    """One paid intent as recorded."""

    intent_key: str
    operation: str
    state: JournalState
    request: Mapping[str, Any]
    """What is needed to reconcile without re-sending: path, body, intent fields."""
    owner: str
    """``host:pid`` of the process that claimed the intent."""
    estimate: int | None = None
    actual: int | None = None
    hold: Mapping[str, Any] | None = None
    """The ledger hold (hold_id, intent_key, amount, fence, expires_at) while one exists."""
    task_id: str | None = None
    reason: str | None = None
    updated_at: float = 0.0


@attrs.frozen(slots=True)
class Claim:
    """The answer to ``claim``: either this process now owns the intent, or someone else does."""

    entry: JournalEntry
    owned: bool
    """True when this call created (or took over) the row; False: attach to ``entry``."""


@runtime_checkable
class Journal(Protocol):
    """Durable, multi-process record of paid intents."""

    async def claim(
        self, intent_key: str, operation: str, request: Mapping[str, Any], *, estimate: int | None
    ) -> Claim:
        """Create the row in ``planned`` (owned), or return the existing non-failed row.

        A row in a terminal *no-charge* state (failed_no_charge, rejected_402) is taken
        over (a retry of an intent that never cost anything is a new attempt).
        """
        ...

    async def advance(self, intent_key: str, state: JournalState, **fields: Any) -> JournalEntry:
        """Move a row forward and update fields (``hold``, ``task_id``, ``actual``, ``reason``)."""
        ...

    async def get(self, intent_key: str) -> JournalEntry | None: ...

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not in a terminal state (what ``recover()`` works through)."""
        ...

    async def entries(self) -> list[JournalEntry]:
        """Every row, oldest first."""
        ...

    async def aclose(self) -> None: ...
