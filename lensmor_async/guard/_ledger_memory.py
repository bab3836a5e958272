"""The in-process ledger (the default); its argument checks are ``_ledger_common``'s.

:class:`InMemoryLedger` is the default ledger: one process, no I/O. Atomicity comes
from never awaiting between the budget check and the update, so concurrent
coroutines cannot interleave inside a reserve; a ``threading.Lock`` additionally
covers callers that share one ledger between threads (each with its own loop).

Committed hold ids are remembered for ``commit_retention`` seconds so that a repeated
commit (crash recovery) is a no-op instead of a second spend; they are forgotten in
commit order, so memory stays bounded by the commits of one retention window.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import deque

import anyio.lowlevel

from lensmor_async.guard._ledger_common import (
    DEFAULT_COMMIT_RETENTION,
    DEFAULT_HOLD_TTL,
    budget_exceeded,
    check_amount,
    check_budget,
    check_hold,
    check_hold_id,
    check_intent_key,
    check_open,
    check_reserve,
    check_retention,
    check_settle,
    check_ttl,
    new_hold_id,
)
from lensmor_async.guard._ledger_protocol import Hold, LedgerSnapshot, StaleHoldError

__all__ = ["InMemoryLedger"]


class InMemoryLedger:
    """A ledger that lives in this process only (the default).

    Holds expire by wall-clock time (``time.time()``); expired holds are purged on
    every reserve, commit and snapshot, so they stop counting against the budget.
    """

    def __init__(
        self,
        budget: int | None = None,
        *,
        hold_ttl: float = DEFAULT_HOLD_TTL,
        commit_retention: float = DEFAULT_COMMIT_RETENTION,
    ) -> None:
        self._budget = check_budget(budget)
        self._hold_ttl = check_ttl(hold_ttl, DEFAULT_HOLD_TTL)
        self._retention = check_retention(commit_retention)
        self._spent = 0
        self._reserved = 0
        self._fence = 0
        self._holds: dict[str, Hold] = {}
        # Min-heap of (expires_at, hold_id); entries for settled holds are skipped lazily.
        self._expiry: list[tuple[float, str]] = []
        # hold_id -> (fence, actual); the deque keeps (committed_at, hold_id) in commit order.
        self._committed: dict[str, tuple[int, int]] = {}
        self._commit_order: deque[tuple[float, str]] = deque()
        self._lock = threading.Lock()
        self._closed = False

    @property
    def budget(self) -> int | None:
        """The spending cap, or None for no cap."""
        return self._budget

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        """Hold ``amount`` credits, or raise ``BudgetExceededError(required, available)``."""
        intent_key, amount, seconds = check_reserve(intent_key, amount, ttl, self._hold_ttl)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            now = time.time()
            self._purge(now)
            if self._budget is not None:
                available = max(0, self._budget - self._spent - self._reserved)
                if amount > available:
                    raise budget_exceeded(amount, self._budget, available)
            self._fence += 1
            hold = Hold(new_hold_id(), intent_key, amount, self._fence, now + seconds)
            self._holds[hold.hold_id] = hold
            self._reserved += amount
            heapq.heappush(self._expiry, (hold.expires_at, hold.hold_id))
            return hold

    async def commit(self, hold: Hold, actual: int) -> None:
        """Spend ``actual`` and drop the hold; a repeated commit of it is a no-op.

        StaleHoldError if the hold expired or was released without a commit.
        """
        hold, actual = check_settle(hold, actual)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            now = time.time()
            self._purge(now)
            self._forget_commits(now)
            if self._drop(hold):
                self._spent += actual
                self._committed[hold.hold_id] = (hold.fence, actual)
                self._commit_order.append((now, hold.hold_id))
                return
            marker = self._committed.get(hold.hold_id)
            if marker is None or marker[0] != hold.fence:
                raise StaleHoldError(f"hold {hold.hold_id} expired or was released")

    async def committed(self, hold_id: str) -> int | None:
        """The actual committed for ``hold_id`` within the retention, or None."""
        hold_id = check_hold_id(hold_id)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            self._forget_commits(time.time())
            marker = self._committed.get(hold_id)
            return None if marker is None else marker[1]

    async def release(self, hold: Hold) -> None:
        """Drop the hold without spending; a missing or committed hold is left alone."""
        hold = check_hold(hold)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            self._drop(hold)

    async def release_intent(self, intent_key: str) -> int:
        """Drop every live hold filed under ``intent_key``; return how many were dropped.

        Committed holds are no longer in ``_holds``, so they cannot be touched. A scan
        of the live holds is enough: it runs only on crash recovery, not per call.
        """
        intent_key = check_intent_key(intent_key)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            # Purge first so expired holds of this intent are not counted as released.
            self._purge(time.time())
            matching = [hold for hold in self._holds.values() if hold.intent_key == intent_key]
            for hold in matching:
                self._drop(hold)
            return len(matching)

    async def record_unheld(self, intent_key: str, actual: int) -> None:
        """Record a spend whose hold expired, so ``spent`` stays truthful."""
        check_intent_key(intent_key)
        actual = check_amount("actual", actual)
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            self._spent += actual

    async def release_expired(self) -> int:
        """Drop every expired hold; return how many were dropped."""
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            now = time.time()
            self._forget_commits(now)
            return self._purge(now)

    async def snapshot(self) -> LedgerSnapshot:
        """Current totals, counting live holds only."""
        await anyio.lowlevel.checkpoint()
        with self._lock:
            check_open(self._closed)
            self._purge(time.time())
            return LedgerSnapshot(self._budget, self._spent, self._reserved, len(self._holds))

    async def aclose(self) -> None:
        """Mark the ledger closed (idempotent); there is nothing else to release."""
        with self._lock:
            self._closed = True

    def _drop(self, hold: Hold) -> bool:
        # The fence check makes a forged or stale Hold with a reused id a no-op.
        live = self._holds.get(hold.hold_id)
        if live is None or live.fence != hold.fence:
            return False
        del self._holds[hold.hold_id]
        self._reserved -= live.amount
        return True

    def _forget_commits(self, now: float) -> None:
        # Commit order is time order (up to wall-clock steps back, which only delay this).
        cutoff = now - self._retention
        while self._commit_order and self._commit_order[0][0] <= cutoff:
            _, hold_id = self._commit_order.popleft()
            self._committed.pop(hold_id, None)

    def _purge(self, now: float) -> int:
        purged = 0
        while self._expiry and self._expiry[0][0] <= now:
            _, hold_id = heapq.heappop(self._expiry)
            live = self._holds.get(hold_id)
            if live is not None and live.expires_at <= now:
                del self._holds[hold_id]
                self._reserved -= live.amount
                purged += 1
        return purged
