"""The guard's use of the durable journal (a no-op when no journal is configured)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensmor_async._intent import Intent
from lensmor_async.guard._journal_protocol import Claim, Journal, JournalEntry, JournalState
from lensmor_async.guard._lease import lease_kept
from lensmor_async.guard._ledger_protocol import Hold

if TYPE_CHECKING:
    from lensmor_async._call import Call

# Paid operations that are legitimately bought again (a search returns fresh results):
# identical ones share a journal key only within the guard's dedupe window.
REPEATABLE_OPERATIONS = frozenset({"exhibitors.search_by_company_name", "exhibitors.search_events"})
DEFAULT_DEDUPE_WINDOW = 300.0
"""Seconds in which identical paid searches are bought once (0: every search is bought)."""


def hold_to_json(hold: Hold) -> dict[str, Any]:
    return {
        "hold_id": hold.hold_id,
        "intent_key": hold.intent_key,
        "amount": hold.amount,
        "fence": hold.fence,
        "expires_at": hold.expires_at,
    }


def hold_from_json(data: Mapping[str, Any]) -> Hold:
    return Hold(
        hold_id=str(data["hold_id"]),
        intent_key=str(data["intent_key"]),
        amount=int(data["amount"]),
        fence=int(data["fence"]),
        expires_at=float(data["expires_at"]),
    )


def request_record(call: Call[Any]) -> dict[str, Any]:
    """What recovery needs to reconcile without re-sending (no headers, no key)."""
    intent = call.intent
    assert intent is not None
    return {
        "operation": call.operation.name,
        "path": call.path,
        "body": call.body,
        "intent": {
            "operation": intent.operation,
            "targets": list(intent.targets),
            "event_id": intent.event_id,
            "params": [list(pair) for pair in intent.params],
        },
    }


def intent_from_record(record: Mapping[str, Any]) -> Intent:
    data = record["intent"]
    return Intent(
        operation=str(data["operation"]),
        targets=tuple(str(t) for t in data["targets"]),
        event_id=data.get("event_id"),
        params=tuple((str(a), str(b)) for a, b in data.get("params", ())),
    )


class IntentJournal:
    """Writes the guard's state changes to a journal, if one is configured.

    It remembers the fence of every row this guard owns (claimed or took over) and
    writes with it, so a write after the lease was lost fails with ``LeaseLostError``.
    """

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self.fingerprint = "unbound"
        self.dedupe_window = DEFAULT_DEDUPE_WINDOW
        self._fences: dict[str, int] = {}

    @property
    def enabled(self) -> bool:
        return self.journal is not None

    def key_for(self, intent: Intent, follow_ups: tuple[str, ...] = (), *, at: float) -> str:
        """Deterministic per account and intent; repeatable searches per dedupe window.

        ``follow_ups``: journal rows this purchase follows up (a finished purchase of the
        same intent that left something chargeable, e.g. refunded contacts). The
        follow-up gets its own key, derived from those rows, so every process agrees on
        it and it is still bought only once.

        A repeatable search (``REPEATABLE_OPERATIONS``) started at ``at`` (wall clock)
        is keyed by the dedupe window it falls in: windows are aligned to multiples of
        ``dedupe_window`` seconds, so every host puts identical searches of one window on
        one row (a search just after a boundary is bought again). Window 0: a fresh key
        per call, every search is bought.
        """
        base = f"{self.fingerprint}:{intent.key}"
        for previous in follow_ups:
            base += f":after:{previous}"
        if intent.operation in REPEATABLE_OPERATIONS:
            if self.dedupe_window > 0:
                base += f":window:{int(at // self.dedupe_window)}"
            else:
                base += f":{uuid.uuid4().hex}"
        return hashlib.sha256(base.encode()).hexdigest()[:40]

    async def claim(self, key: str, call: Call[Any], estimate: int | None) -> Claim | None:
        if self.journal is None:
            return None
        claim = await self.journal.claim(
            key, call.operation.name, request_record(call), estimate=estimate
        )
        if claim.owned:
            self._fences[key] = claim.entry.fence
        return claim

    async def take_over(self, entry: JournalEntry, *, force: bool) -> JournalEntry | None:
        """Own ``entry``'s row if its lease expired (or ``force``); None while it is held."""
        if self.journal is None:
            return None
        taken = await self.journal.take_over(entry.intent_key, force=force)
        if taken is not None:
            self._fences[taken.intent_key] = taken.fence
        return taken

    @asynccontextmanager
    async def leased(self, key: str | None) -> AsyncIterator[None]:
        """Keep this guard's lease on ``key`` renewed while the body runs."""
        journal, fence = self.journal, None if key is None else self._fences.get(key)
        if journal is None or key is None or fence is None:
            yield
            return
        async with lease_kept(lambda: journal.renew(key, fence), journal.lease_ttl):
            yield

    async def advance(self, key: str | None, state: JournalState, **fields: Any) -> None:
        """Advance an intent's row (no-op without a journal or a key), fenced if ours."""
        if self.journal is None or key is None:
            return
        await self.journal.advance(key, state, fence=self._fences.get(key), **fields)

    async def get(self, key: str) -> JournalEntry | None:
        return None if self.journal is None else await self.journal.get(key)


def open_journal(journal: Journal | str | os.PathLike[str] | None) -> Journal | None:
    """Accept a Journal, or a path (an SQLite journal is then on by default), or None."""
    if journal is None or isinstance(journal, Journal):
        return journal
    from lensmor_async.guard._journal_sqlite import SqliteJournal

    return SqliteJournal(Path(journal))
