"""A ledger outage at the hold: nothing is sent, and the intent's journal row is closed.

Before the fix, a ``LedgerUnavailableError`` from ``reserve`` left the claimed journal row
open (``planned``), so the next call of the same intent attached to it as to another
worker's purchase and waited out the attach limit.
"""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from lensmor_async import AsyncLensmor
from lensmor_async.errors import LedgerUnavailableError
from lensmor_async.guard import (
    CreditGuard,
    Hold,
    InMemoryLedger,
    JournalState,
    SpendOutcome,
    SqliteJournal,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio
UNLOCK_ROUTE = "/external/events/{id}/unlock"


class FlakyReserveLedger(InMemoryLedger):
    """An in-memory ledger whose ``reserve`` fails while ``outage`` is set."""

    outage = False

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        if self.outage:
            raise LedgerUnavailableError("the ledger store is unreachable (test outage)")
        return await super().reserve(intent_key, amount, ttl=ttl)


async def test_a_ledger_outage_at_the_hold_sends_nothing_and_lets_the_intent_be_retried(
    tmp_path: Path,
) -> None:
    async with FakeLensmor() as fake:
        event = fake.add_event("Reserve Outage Expo", personnel=2).id
        ledger = FlakyReserveLedger(budget=10_000)
        journal = SqliteJournal(tmp_path / "journal.db")
        guard = CreditGuard(always_confirm, ledger=ledger, journal=journal)
        try:
            async with AsyncLensmor(
                fake.api_key, base_url=fake.url, guard=guard, testing=True
            ) as client:
                ledger.outage = True
                with pytest.raises(LedgerUnavailableError):
                    await client.events.unlock(event)
                assert fake.request_count(UNLOCK_ROUTE) == 0
                [row] = await journal.entries()
                assert row.state is JournalState.FAILED_NO_CHARGE, row
                ledger.outage = False
                with anyio.fail_after(5):  # the 60 s attach limit would trip this
                    result = await client.events.unlock(event)
        finally:
            await journal.aclose()
        assert result.credits_used == 2000
        assert fake.truth.net() == 2000
        assert [r.outcome for r in guard.history] == [SpendOutcome.REFUSED, SpendOutcome.SUCCEEDED]
