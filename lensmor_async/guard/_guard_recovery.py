"""The guard's side of ``recover()``: concluding a recovered intent in the ledger and journal."""

from __future__ import annotations

from lensmor_async.guard._journal_protocol import JournalEntry, JournalState
from lensmor_async.guard._journaling import hold_from_json, intent_from_record
from lensmor_async.guard._policies import Reconciliation
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._settlement import _Settlement


class _RecoveryConclusions(_Settlement):
    """Settles what ``recover()`` found: a reconciled in-flight intent, an unfinished task."""

    async def _conclude_recovered(self, entry: JournalEntry, verdict: Reconciliation) -> str:
        """Settle a recovered in-flight intent from its reconciliation verdict."""
        hold = None if entry.hold is None else hold_from_json(entry.hold)
        intent = intent_from_record(entry.request)
        if verdict.charged is False:
            if hold is not None:
                await self._ledger.release(hold)
            await self._record(
                intent,
                SpendOutcome.FAILED_NO_CHARGE,
                entry.estimate,
                0,
                reason=verdict.reason,
                journal_key=entry.intent_key,
            )
            return "failed_no_charge"
        actual = verdict.actual if verdict.actual is not None else (entry.estimate or 0)
        await self._commit_recovered(hold, entry.intent_key, actual)
        outcome = SpendOutcome.SUCCEEDED if verdict.charged else SpendOutcome.IN_DOUBT
        record = await self._record(
            intent,
            outcome,
            entry.estimate,
            actual,
            reason=verdict.reason,
            journal_key=entry.intent_key,
        )
        if outcome is SpendOutcome.IN_DOUBT:
            # Recovery is the last resort: count the estimate as spent (the budget stays
            # safe) and clear the hold so a later recover() does not process it again.
            await self._journal.advance(
                JournalState.IN_DOUBT,
                key=entry.intent_key,
                hold=None,
                actual=actual,
                reason=f"counted at the estimate after recovery: {verdict.reason}",
            )
            self._doubts.note(entry.intent_key, record)
        return outcome.value

    async def _conclude_unresolved(self, entry: JournalEntry, reason: str) -> None:
        """A task still running at the recovery deadline: count it (safely) and say why."""
        pending = None if entry.task_id is None else self._pending.pop(entry.task_id, None)
        hold = pending.hold if pending is not None else None
        actual = entry.estimate or 0
        await self._commit_recovered(hold, entry.intent_key, actual)
        await self._journal.advance(
            JournalState.UNRESOLVED, key=entry.intent_key, reason=reason, actual=actual
        )
