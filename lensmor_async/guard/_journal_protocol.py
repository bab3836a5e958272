"""The durable spend journal protocol: every paid intent is written down before it is sent.

States move forward only::

    planned → reserved → sending → acknowledged → polling → (terminal)
                    ╰──────────────→ (terminal)
    terminal: succeeded | failed_no_charge | rejected_402 | in_doubt | unresolved

``in_doubt`` and ``unresolved`` always carry a ``reason``. An intent key is unique:
the same intent from many processes results in one row and therefore one send.

Leases, not process ids, say who may work on a row. A claim (or a take-over) gives
the owner a *fencing token* (``fence``, one higher than any earlier owner's) and a
lease until ``lease_expires_at`` (the journal's clock). The owner renews the lease
while it works; every write names its fence, and a write with a stale fence raises
:class:`~lensmor_async.errors.LeaseLostError` and changes nothing. Once a lease has
expired, any process (``recover()`` on any host, or a caller waiting on the row) may
``take_over`` the row, reconcile it with the server without re-sending, and settle it.
On one host, a row whose owner process is provably gone may be taken over at once.
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
    """``host_id:pid`` of the process that claimed (or took over) the intent."""
    estimate: int | None = None
    actual: int | None = None
    hold: Mapping[str, Any] | None = None
    """The ledger hold (hold_id, intent_key, amount, fence, expires_at) while one exists."""
    task_id: str | None = None
    reason: str | None = None
    updated_at: float = 0.0
    fence: int = 0
    """The fencing token of the current owner (raised by every claim and take-over)."""
    lease_expires_at: float = 0.0
    """When the owner's lease ends unless renewed (the journal's clock, seconds)."""
    result: Any = None
    """A paid search's answer (JSON), kept so identical searches in the window share it."""


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

    @property
    def owner(self) -> str:
        """``host_id:pid`` of this process, as written into the rows it claims."""
        ...

    @property
    def lease_ttl(self) -> float:
        """Seconds a lease lasts unless renewed (owners renew every third of it)."""
        ...

    async def advance(
        self, intent_key: str, state: JournalState, *, fence: int | None = None, **fields: Any
    ) -> JournalEntry:
        """Move a row forward; update ``hold``, ``task_id``, ``actual``, ``reason``, ``result``.

        With ``fence``: only if the row's current fence is that one (else ``LeaseLostError``,
        nothing written); the write also renews the lease. ``None``: an unfenced write.
        """
        ...

    async def renew(self, intent_key: str, fence: int) -> bool:
        """Extend the lease of the holder of ``fence``; False if that fence is no longer current."""
        ...

    async def take_over(self, intent_key: str, *, force: bool = False) -> JournalEntry | None:
        """Become the row's owner if its lease expired (or ``force``: its owner is known gone).

        Returns the row with this process as owner and a new, higher fence; None if the
        lease is still held or there is no such row.
        """
        ...

    async def get(self, intent_key: str) -> JournalEntry | None: ...

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not in a terminal state (what ``recover()`` works through)."""
        ...

    async def entries(self) -> list[JournalEntry]:
        """Every row, oldest first."""
        ...

    async def aclose(self) -> None: ...
