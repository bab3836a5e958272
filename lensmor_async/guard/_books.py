"""What every part of the guard writes to: the account, the history, the journal.

One frozen bundle, handed to each collaborator, instead of the same five arguments each.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from lensmor_async.guard._account import Account
from lensmor_async.guard._history import History
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._journaling import IntentJournal
from lensmor_async.guard._services import GuardServices


@attrs.frozen(slots=True)
class Books:
    """The guard's books and the free calls that keep them current."""

    account: Account
    """Ledger, balance, holds, spent."""
    history: History
    """``guard.history``, mirrored into the journal."""
    journal: IntentJournal
    """The durable intent journal (a no-op without one)."""
    services: Callable[[], GuardServices]
    """The client's free calls (precheck, balance, task polls)."""
    checkpoint: Callable[[str], None]
    """Durability checkpoints (crash tests hook here)."""
    in_flight: set[str] = attrs.field(factory=set)
    """Journal keys of this guard's purchases still running (``recover()`` leaves them)."""

    async def replay(self) -> None:
        """Give the ledger what it missed in an outage; raise while it is still down.

        Each spend recorded now lets its journal row drop the hold it kept.
        """
        for done in await self.account.replay():
            await self.journal.advance(done.journal_key, JournalState.SUCCEEDED, hold=None)
