"""``guard.history``: one record per paid intent, mirrored into the journal.

A task's or an in-doubt intent's settled record replaces its pending one in place
(``slot``), so every intent ends in exactly one final state.
"""

from __future__ import annotations

from typing import Any

import attrs

from lensmor_async._hooks import Hooks, SpendEvent, SpendEventKind
from lensmor_async._intent import Intent
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._journaling import IntentJournal
from lensmor_async.guard._records import SpendOutcome, SpendRecord

_PENDING_OUTCOMES = frozenset({SpendOutcome.PENDING_TASK, SpendOutcome.IN_DOUBT})
_HOLD_SETTLED_STATES = frozenset(
    {JournalState.SUCCEEDED, JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402}
)
_JOURNAL_STATES = {
    SpendOutcome.SUCCEEDED: JournalState.SUCCEEDED,
    SpendOutcome.PENDING_TASK: JournalState.ACKNOWLEDGED,
    SpendOutcome.DECLINED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.REFUSED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.FAILED_NO_CHARGE: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.CANCELLED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.REJECTED_402: JournalState.REJECTED_402,
    SpendOutcome.IN_DOUBT: JournalState.IN_DOUBT,
}
# Which spend event each recorded outcome is (a running task has none until it ends).
_EVENT_KINDS = {
    SpendOutcome.DECLINED: SpendEventKind.DECLINED,
    SpendOutcome.IN_DOUBT: SpendEventKind.IN_DOUBT,
    SpendOutcome.SUCCEEDED: SpendEventKind.SETTLED,
    SpendOutcome.FREE: SpendEventKind.SETTLED,
    SpendOutcome.REFUSED: SpendEventKind.SETTLED,
    SpendOutcome.REJECTED_402: SpendEventKind.SETTLED,
    SpendOutcome.FAILED_NO_CHARGE: SpendEventKind.SETTLED,
    SpendOutcome.CANCELLED: SpendEventKind.SETTLED,
}


@attrs.frozen(slots=True)
class Entry:
    """What to record about one intent (``guard.history`` plus its journal row)."""

    intent: Intent
    outcome: SpendOutcome
    estimate: int | None
    actual: int | None
    reason: str | None = None
    trace_id: str | None = None
    task_id: str | None = None
    journal_key: str | None = None
    slot: str | None = None
    """Where a later settlement replaces this record (a task, an in-doubt intent)."""
    keep_hold: bool = False
    """The journal row keeps its hold: the ledger has not taken the spend yet."""


class History:
    """The records of this guard, in order, one per intent."""

    def __init__(self, journal: IntentJournal) -> None:
        self.journal = journal
        self._records: list[SpendRecord] = []
        self._slots: dict[str, int] = {}
        self.hook: Hooks | None = None
        """Where spend events go (the client's hooks, set by ``CreditGuard.bind``)."""

    def emit(
        self, kind: SpendEventKind, intent: Intent, credits: int | None, **details: Any
    ) -> None:
        """Tell the hooks about one step of ``intent`` (nothing at all without hooks)."""
        hook = self.hook
        if hook is not None:
            hook(SpendEvent(kind, intent.operation, intent.key, credits, **details))

    def records(self) -> tuple[SpendRecord, ...]:
        return tuple(self._records)

    async def record(self, entry: Entry) -> SpendRecord:
        """Journal the outcome (durable first), then add or replace the record."""
        record = SpendRecord(
            entry.intent,
            entry.outcome,
            entry.estimate,
            entry.actual,
            trace_id=entry.trace_id,
            task_id=entry.task_id,
            reason=entry.reason,
        )
        await self._journal_outcome(entry)
        slot = entry.slot or (None if entry.task_id is None else f"task:{entry.task_id}")
        index = None if slot is None else self._slots.pop(slot, None)
        if index is None:
            self._records.append(record)
            if slot is not None and entry.outcome in _PENDING_OUTCOMES:
                self._slots[slot] = len(self._records) - 1
        else:
            previous = self._records[index]
            self._records[index] = attrs.evolve(
                record, trace_id=record.trace_id or previous.trace_id
            )
            if entry.outcome in _PENDING_OUTCOMES:
                self._slots[slot] = index  # type: ignore[index]
        self._emit_outcome(entry)
        return record

    def _emit_outcome(self, entry: Entry) -> None:
        kind = _EVENT_KINDS.get(entry.outcome)
        if kind is None or self.hook is None:
            return
        # Settled: what it spent. In doubt: what stays held (booked, or the estimate).
        spent = kind is SpendEventKind.SETTLED or (
            kind is SpendEventKind.IN_DOUBT and entry.actual is not None
        )
        self.emit(
            kind,
            entry.intent,
            entry.actual if spent else entry.estimate,
            outcome=entry.outcome,
            reason=entry.reason,
            trace_id=entry.trace_id,
        )

    async def _journal_outcome(self, entry: Entry) -> None:
        state = _JOURNAL_STATES.get(entry.outcome)
        if state is None:
            return
        fields: dict[str, Any] = {"reason": entry.reason}
        # Settled (or an in-doubt intent booked at its estimate): recovery must not touch
        # this hold again.
        booked = state is JournalState.IN_DOUBT and entry.actual is not None
        if (state in _HOLD_SETTLED_STATES or booked) and not entry.keep_hold:
            fields["hold"] = None
        if entry.actual is not None:
            fields["actual"] = entry.actual
        if entry.task_id is not None:
            fields["task_id"] = entry.task_id
        await self.journal.advance(entry.journal_key, state, **fields)
