"""The guard's shared state and how a spend settles: commit or release, then record.

``_Settlement`` declares (for the type checker) the attributes ``CreditGuard.__init__``
sets, and holds what every step needs: ledger commits, spend records, journal states.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from lensmor_async._core.costs import CostTable
from lensmor_async.errors import ConfigurationError
from lensmor_async.guard._balance import BalanceCache
from lensmor_async.guard._confirm import ConfirmCallback
from lensmor_async.guard._gate import PaidGate
from lensmor_async.guard._intent import Intent
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._journaling import IntentJournal
from lensmor_async.guard._ledger_protocol import Hold, Ledger, StaleHoldError
from lensmor_async.guard._policies import PaidPolicy
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._singleflight import SingleFlight
from lensmor_async.guard._state import UnlockState
from lensmor_async.guard._tasks import PendingTask

if TYPE_CHECKING:
    from lensmor_async._pipeline import Call
    from lensmor_async.guard._in_doubt import InDoubtBook

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


class _Settlement:
    """The state every part of the guard shares, and settling and recording a spend."""

    # Set by CreditGuard.__init__; declared here so each part of the guard type-checks.
    _ledger: Ledger
    _confirm: ConfirmCallback | None
    costs: CostTable
    charge_failed_contacts: bool
    _confirm_free: bool
    _hold_ttl: float
    _balance_ttl: float
    _state: UnlockState
    _policies: dict[str, PaidPolicy]
    _flights: SingleFlight
    _gate: PaidGate
    _history: list[SpendRecord]
    _record_slots: dict[str, int]
    _pending: dict[str, PendingTask]
    _doubts: InDoubtBook
    _held: int
    _spent: int
    _latched_402: bool
    _latch_checked: float
    _services: GuardServices | None
    _balance: BalanceCache | None
    _journal: IntentJournal
    _owns_journal: bool
    _checkpoint_hook: Callable[[str], None] | None
    poll_intervals: tuple[float, ...]
    _doubt_grace: float

    def _require_services(self) -> GuardServices:
        if self._services is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._services

    def _require_balance(self) -> BalanceCache:
        if self._balance is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._balance

    def _checkpoint(self, name: str) -> None:
        """A durability checkpoint; crash tests hook here (``CreditGuard(checkpoint=...)``)."""
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(name)

    async def _release(self, hold: Hold) -> None:
        self._held -= hold.amount
        await self._ledger.release(hold)

    async def _commit(
        self,
        hold: Hold,
        actual: int,
        *,
        balance_after: int | None = None,
        adjust_balance: bool = True,
    ) -> None:
        """Spend ``actual`` against ``hold``.

        The cached balance drops in the same synchronous step as the local hold, so no
        concurrent admission can see the hold gone but the balance not yet lowered.
        """
        balance = self._require_balance()
        if balance_after is not None:
            balance.observe(balance_after)
        elif adjust_balance:
            balance.spend(actual)
        self._held -= hold.amount
        self._spent += actual
        await self._ledger_commit(hold, hold.intent_key, actual)

    async def _commit_recovered(self, hold: Hold | None, intent_key: str, actual: int) -> None:
        # The hold belongs to a dead process, so it was never in this guard's local count.
        if hold is not None and await self._ledger.committed(hold.hold_id) is not None:
            return  # It settled before the crash; only the journal missed it.
        self._spent += actual
        await self._ledger_commit(hold, intent_key, actual)

    async def _ledger_commit(self, hold: Hold | None, intent_key: str, actual: int) -> None:
        """Spend ``actual`` in the ledger; without a live hold it is recorded as unheld."""
        if hold is None:
            await self._ledger.record_unheld(intent_key, actual)
            return
        try:
            await self._ledger.commit(hold, actual)
        except StaleHoldError:
            # The hold expired meanwhile, but the spend happened: keep ``spent`` truthful.
            await self._ledger.record_unheld(intent_key, actual)

    async def _record(
        self,
        intent: Intent,
        outcome: SpendOutcome,
        estimate: int | None,
        actual: int | None,
        *,
        reason: str | None = None,
        trace_id: str | None = None,
        task_id: str | None = None,
        journal_key: str | None = None,
        slot: str | None = None,
    ) -> SpendRecord:
        record = SpendRecord(
            intent, outcome, estimate, actual, trace_id=trace_id, task_id=task_id, reason=reason
        )
        await self._journal_outcome(
            outcome, actual=actual, reason=reason, task_id=task_id, key=journal_key
        )
        # One record per intent: a task's or an in-doubt intent's settled record replaces
        # its pending one in place, so every intent ends in exactly one final state.
        slot = slot or (None if task_id is None else f"task:{task_id}")
        index = None if slot is None else self._record_slots.pop(slot, None)
        if index is None:
            self._history.append(record)
            if slot is not None and outcome in _PENDING_OUTCOMES:
                self._record_slots[slot] = len(self._history) - 1
        else:
            previous = self._history[index]
            self._history[index] = attrs.evolve(
                record, trace_id=record.trace_id or previous.trace_id
            )
        return record

    async def _journal_outcome(
        self,
        outcome: SpendOutcome,
        *,
        actual: int | None,
        reason: str | None,
        task_id: str | None,
        key: str | None,
    ) -> None:
        state = _JOURNAL_STATES.get(outcome)
        if state is None:
            return
        fields: dict[str, Any] = {"reason": reason}
        if state in _HOLD_SETTLED_STATES:
            fields["hold"] = None  # settled: recovery must not touch this hold again
        if actual is not None:
            fields["actual"] = actual
        if task_id is not None:
            fields["task_id"] = task_id
        await self._journal.advance(state, key=key, **fields)


def _intent_of(call: Call[Any]) -> Intent:
    if call.intent is None:
        raise ConfigurationError(f"{call.operation.name} is paid but the call carries no intent")
    return call.intent
