"""The ledger protocol: where a guard holds and spends its budget.

A ledger is the shared source of truth for *this SDK's* spending cap (the
``budget``), possibly shared by many processes or hosts. The server's balance is a
separate limit checked by the guard; the ledger only guarantees that holds plus
spending never cross the budget, atomically, whatever the concurrency.

Amounts are whole credits. Every method is safe to call concurrently.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import attrs


@attrs.frozen(slots=True)
class Hold:
    """Credits set aside for one intent until it is committed or released."""

    hold_id: str
    intent_key: str
    amount: int
    fence: int
    """Monotonic token; a commit with a stale fence (expired hold) is refused."""
    expires_at: float
    """Wall-clock (``time.time()``) expiry; expired holds stop counting against the budget."""


@attrs.frozen(slots=True)
class LedgerSnapshot:
    """A consistent view of the ledger's totals."""

    budget: int | None
    spent: int
    reserved: int
    holds: int

    @property
    def remaining(self) -> int | None:
        """Budget left for new holds, or None when there is no cap."""
        if self.budget is None:
            return None
        return max(0, self.budget - self.spent - self.reserved)


class StaleHoldError(Exception):
    """A commit or release named a hold that expired or was already settled.

    Internal to the guard (it records the spend with ``record_unheld``), so it is
    deliberately not part of the public ``LensmorError`` tree.
    """


@runtime_checkable
class Ledger(Protocol):
    """Atomic reserve → commit/release accounting against an optional budget."""

    @property
    def budget(self) -> int | None:
        """The spending cap, or None for no cap."""
        ...

    async def reserve(self, intent_key: str, amount: int, *, ttl: float) -> Hold:
        """Hold ``amount`` credits, or raise ``BudgetExceededError(required, available)``."""
        ...

    async def commit(self, hold: Hold, actual: int) -> None:
        """Spend ``actual`` (≤ or > the hold) and drop the hold; StaleHoldError if fenced out."""
        ...

    async def release(self, hold: Hold) -> None:
        """Drop the hold without spending (idempotent: a missing hold is fine)."""
        ...

    async def record_unheld(self, intent_key: str, actual: int) -> None:
        """Record a spend that has no live hold (it expired), so spent stays truthful."""
        ...

    async def release_expired(self) -> int:
        """Drop every expired hold; return how many were dropped."""
        ...

    async def snapshot(self) -> LedgerSnapshot:
        """Current totals."""
        ...

    async def aclose(self) -> None:
        """Release connections/files (idempotent)."""
        ...
