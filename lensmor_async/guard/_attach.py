"""Another worker's purchase of the same intent: wait for it, share its result, take it over.

The journal makes one intent one row across processes. A caller that finds the row
owned by someone else attaches: it waits (bounded by its deadline) for the outcome and
gets the real result, not a second purchase. An owner that is gone is not waited out:
once its lease has expired (or, on this host, its process is provably gone) the waiting
caller takes the row over, concludes it as ``recover()`` would (without re-sending)
and the purchase goes on.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import anyio

from lensmor_async.errors import CreditError, SpendInDoubtError
from lensmor_async.guard._cleanup import Hurry, finish
from lensmor_async.guard._journal_protocol import JournalEntry, JournalState
from lensmor_async.guard._journaling import IntentJournal
from lensmor_async.guard._purchase import Purchase, shortest
from lensmor_async.guard._recovery import Recovery, RecoveryAction, owner_is_gone

_ATTACH_SECONDS = 60.0
_MAX_FOLLOW_UPS = 3
RETRYABLE_JOURNAL_STATES = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})


class Attacher:
    """Finds and waits for another worker's row of the same intent."""

    def __init__(self, journal: IntentJournal, recovery: Recovery) -> None:
        self._journal = journal
        self._recovery = recovery

    async def existing(self, purchase: Purchase) -> JournalEntry | None:
        """A journal row for this same intent (another worker's), unless it cost nothing."""
        if not self._journal.enabled:
            return None
        entry = await self._journal.get(purchase.key_in(self._journal))
        if entry is None or entry.state in RETRYABLE_JOURNAL_STATES:
            return None
        return entry

    async def attach(
        self, purchase: Purchase, entry: JournalEntry, buy: Callable[[Purchase], Awaitable[Any]]
    ) -> Any:
        """Another process owns this intent: wait for its outcome instead of paying again.

        ``buy`` runs the purchase again when that outcome leaves something to buy.
        """
        settled = await self._await_owner(purchase, entry)
        attached = purchase.policy.attached_result(purchase.call, settled)
        if attached is not None:
            return attached
        if settled.state in (JournalState.IN_DOUBT, JournalState.UNRESOLVED):
            raise SpendInDoubtError(
                f"{purchase.intent.describe()} was sent by another worker and is in doubt: "
                f"{settled.reason}",
                intent=purchase.intent,
                reason=settled.reason or "in doubt",
            )
        if settled.state in RETRYABLE_JOURNAL_STATES:
            # Nothing was charged (e.g. a dead owner's send that never ran): buy under
            # this same key; the claim takes the row over.
            return await buy(purchase.again())
        # Done by the other worker (now free): quote again. Should the new quote still
        # find something to buy (e.g. contacts refunded after a failure), that is a
        # follow-up purchase with its own journal key.
        if len(purchase.follow_ups) >= _MAX_FOLLOW_UPS:
            raise CreditError(
                f"{purchase.intent.describe()} was bought {len(purchase.follow_ups)} times by "
                "other workers and still has chargeable items; stopping instead of buying again"
            )
        return await buy(purchase.follow_up(settled.intent_key))

    async def _await_owner(self, purchase: Purchase, entry: JournalEntry) -> JournalEntry:
        limit = shortest(_ATTACH_SECONDS, purchase.time_left())
        give_up = time.monotonic() + limit
        delay = 0.02
        while not (entry.state.terminal or entry.task_id is not None):
            if await self._took_over(entry, limit):
                pass  # concluded as recover() would (no re-send); read its outcome below
            elif time.monotonic() + delay > give_up:
                raise SpendInDoubtError(
                    f"another worker ({entry.owner}) owns this intent and has not finished; "
                    "run recover() once its lease has expired if it crashed",
                    intent=entry.intent_key,
                    reason="owned by another worker",
                )
            else:
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.5)
            latest = await self._journal.get(entry.intent_key)
            entry = latest if latest is not None else entry
        return entry

    async def _took_over(self, entry: JournalEntry, limit: float) -> bool:
        """Take a gone owner's row over and conclude it; False while its lease is held."""
        journal = self._journal.journal
        assert journal is not None
        gone = entry.owner != journal.owner and owner_is_gone(entry.owner, journal.owner)
        # The local clock only decides when to *try*; the journal decides atomically.
        if not gone and entry.lease_expires_at > time.time():
            return False
        end = anyio.current_time() + limit
        action = await finish(partial(self._take_over, entry, end, gone))
        return action is not None

    async def _take_over(
        self, entry: JournalEntry, end: float, force: bool, _: Hurry
    ) -> RecoveryAction | None:
        return await self._recovery.take_over(entry, end, force=force)
