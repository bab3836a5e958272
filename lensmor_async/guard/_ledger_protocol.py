"""The ledger protocol: where a guard holds and spends its budget.

A ledger is the shared source of truth for *this SDK's* spending cap (the
``budget``), possibly shared by many processes or hosts. The server's balance is a
separate limit checked by the guard; the ledger only guarantees that holds plus
spending never cross the budget, atomically, whatever the concurrency.

Amounts are whole credits. Every method is safe to call concurrently.

Settling a hold follows these rules in every backend, each one atomic:

* ``commit`` of a live hold spends ``actual``, drops the hold and remembers the
  hold id (with its fence and ``actual``) for the backend's commit retention
  (7 days by default).
* ``commit`` of a hold that is *already committed* (same ``hold_id``, same fence)
  is a no-op: it returns normally and ``spent`` does not change, whatever ``actual``
  it names. A process that crashed after committing but before journaling that fact
  can therefore safely commit again on recovery; the spend is counted once.
* ``commit`` of a hold that expired or was released without a commit (or whose
  commit is older than the retention, or whose fence does not match) raises
  :class:`StaleHoldError`.
* ``release`` of a live hold drops it; ``release`` of a missing, expired or already
  committed hold is a no-op (a committed spend is never undone).
* ``release_intent(intent_key)`` drops every live hold filed under that intent key
  that is not committed, in one atomic step, and counts them; committed spends are
  never touched. It serves crash recovery, which knows the intent key but may have
  lost the hold (the process died between ``reserve`` and journaling the hold).
* ``committed(hold_id)`` tells what a hold committed, within the retention.
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
    """A commit named a hold that expired or was released without being committed.

    Never raised for a hold that was already committed with the same fence (that
    commit is a no-op), so it always means "this spend has no hold": the caller
    must record it with ``record_unheld``.

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
        """Spend ``actual`` (≤ or > the hold), drop the hold and remember the commit.

        Idempotent per hold: committing an already committed hold (same ``hold_id``
        and fence, within the retention) returns normally and changes nothing.
        Raises :class:`StaleHoldError` if the hold expired, was released without a
        commit, or its fence does not match.
        """
        ...

    async def release(self, hold: Hold) -> None:
        """Drop the hold without spending.

        Idempotent: a missing, expired or already committed hold is left as it is
        (releasing a committed hold never un-spends it).
        """
        ...

    async def release_intent(self, intent_key: str) -> int:
        """Drop every live, uncommitted hold filed under ``intent_key``; return how many.

        One atomic step: a concurrent ``reserve`` for the same intent either lands
        before it (and is dropped) or after it (and survives). Committed holds are not
        affected (``spent`` never decreases), expired holds are not counted, an unknown
        key drops nothing and returns 0, so a repeated call is a harmless 0. A later
        ``commit`` of a dropped hold raises :class:`StaleHoldError`, as after
        ``release``. An invalid key (not a non-empty ``str``) raises
        ``InvalidRequestError`` before any I/O.
        """
        ...

    async def committed(self, hold_id: str) -> int | None:
        """The ``actual`` committed for ``hold_id``, or None if it was not committed.

        None also for a commit older than the ledger's commit retention.
        """
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
