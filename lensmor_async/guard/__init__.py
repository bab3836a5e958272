"""The CreditGuard: confirm callbacks, ledgers, quotes, spend records and unlock tasks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async._core.costs import CostTable, Price
from lensmor_async._intent import Intent
from lensmor_async._lazy import lazy_attributes
from lensmor_async.guard._confirm import (
    ConfirmCallback,
    SpendRequest,
    always_confirm,
    confirm_up_to,
)
from lensmor_async.guard._guard import CreditGuard
from lensmor_async.guard._journal_protocol import Claim, Journal, JournalEntry, JournalState
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Hold, Ledger, LedgerSnapshot
from lensmor_async.guard._quote import Quote
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._recovery import RecoveryAction, RecoveryReport
from lensmor_async.guard._seal import SealedQuote
from lensmor_async.guard._tasks import (
    ContactUnlockReport,
    DeliveredContact,
    FailedContact,
    UnlockTaskHandle,
)

if TYPE_CHECKING:
    from lensmor_async.guard._journal_redis import RedisJournal
    from lensmor_async.guard._journal_sqlite import SqliteJournal
    from lensmor_async.guard._ledger_redis import RedisLedger
    from lensmor_async.guard._ledger_sqlite import SqliteLedger

# The shared backends load on first use (they pull in sqlite3 and, for Redis, redis).
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "RedisJournal": "lensmor_async.guard._journal_redis",
        "SqliteJournal": "lensmor_async.guard._journal_sqlite",
        "RedisLedger": "lensmor_async.guard._ledger_redis",
        "SqliteLedger": "lensmor_async.guard._ledger_sqlite",
    },
)

__all__ = [
    "Claim",
    "ConfirmCallback",
    "ContactUnlockReport",
    "CostTable",
    "CreditGuard",
    "DeliveredContact",
    "FailedContact",
    "Hold",
    "InMemoryLedger",
    "Intent",
    "Journal",
    "JournalEntry",
    "JournalState",
    "Ledger",
    "LedgerSnapshot",
    "Price",
    "Quote",
    "RecoveryAction",
    "RecoveryReport",
    "RedisJournal",
    "RedisLedger",
    "SealedQuote",
    "SpendOutcome",
    "SpendRecord",
    "SpendRequest",
    "SqliteJournal",
    "SqliteLedger",
    "UnlockTaskHandle",
    "always_confirm",
    "confirm_up_to",
]
