"""Unlock tasks the guard still holds credits for: handles, polls and settling each one.

A finished task settles from its items (``_core.spend.settle_task``); a task that
ended with items it never resolved keeps their credits held, in doubt, until
``guard.reconcile()`` checks those contacts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

from lensmor_async._core.costs import CostTable
from lensmor_async._core.spend import InDoubt, settle_task
from lensmor_async._intent import Intent
from lensmor_async.guard._books import Books
from lensmor_async.guard._cleanup import finish
from lensmor_async.guard._history import Entry
from lensmor_async.guard._in_doubt import Doubt, Doubts
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._state import UnlockState
from lensmor_async.guard._tasks import (
    ContactUnlockReport,
    PendingTask,
    TaskKind,
    UnlockTaskHandle,
)

if TYPE_CHECKING:
    from lensmor_async.models import UnlockSubmission, UnlockTask


class TaskBook:
    """Running unlock tasks and their holds (a :class:`~._tasks.TaskSettler`)."""

    def __init__(
        self,
        books: Books,
        doubts: Doubts,
        *,
        costs: CostTable,
        state: UnlockState,
        charge_failed_contacts: bool,
    ) -> None:
        self._account = books.account
        self._history = books.history
        self._journal = books.journal
        self._services = books.services
        self._checkpoint = books.checkpoint
        self._doubts = doubts
        self._costs = costs
        self._state = state
        self.charge_failed_contacts = charge_failed_contacts
        self.poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0)
        self._pending: dict[str, PendingTask] = {}

    def __iter__(self) -> Iterator[PendingTask]:
        return iter(tuple(self._pending.values()))

    def track(self, task_id: str, pending: PendingTask) -> None:
        self._pending[task_id] = pending

    def drop(self, task_id: str) -> PendingTask | None:
        return self._pending.pop(task_id, None)

    # -- handles ---------------------------------------------------------------------------

    def handle(
        self, kind: TaskKind, intent: Intent, submission: UnlockSubmission
    ) -> UnlockTaskHandle:
        """The handle for a submitted (or skipped) unlock batch."""
        return UnlockTaskHandle(
            guard=self,
            kind=kind,
            task_id=submission.task_id,
            requested=intent.targets,
            skipped=self._skipped_ids(submission.task_id, submission.skipped_personnel_ids),
            response=submission.response,
        )

    def handle_for_id(self, kind: TaskKind, task_id: str) -> UnlockTaskHandle:
        """A handle rebuilt from a task id (its requested ids come from the task itself)."""
        pending = self._pending.get(task_id)
        requested = pending.intent.targets if pending is not None else None
        return UnlockTaskHandle(
            guard=self,
            kind=kind,
            task_id=task_id,
            requested=requested,
            skipped=self._skipped_ids(task_id),
        )

    def _skipped_ids(self, task_id: str | None, reported: tuple[str, ...] = ()) -> tuple[str, ...]:
        # Ids the guard left out before sending are not reported by a 0.22 server.
        pending = None if task_id is None else self._pending.get(task_id)
        trimmed = () if pending is None else pending.decision.skipped_ids
        return tuple(dict.fromkeys((*reported, *trimmed)))

    # -- polls and settlement --------------------------------------------------------------

    async def poll_task(self, kind: TaskKind, task_id: str) -> UnlockTask:
        """One poll of an unlock task (used by handles)."""
        pending = self._pending.get(task_id)
        if pending is not None and not pending.polling:
            pending.polling = True
            await self._journal.advance(pending.journal_key, JournalState.POLLING)
        self._checkpoint("during_polling")
        return await self._services().unlock_task(kind.phone, task_id)

    def lease_kept(self, task_id: str) -> AbstractAsyncContextManager[None]:
        """Renew this guard's lease on the task's journal row while a handle polls it.

        Without it a long task would outlive the lease and another host's recover()
        would take the row over from a live owner (harmless, but needless).
        """
        pending = self._pending.get(task_id)
        return self._journal.leased(None if pending is None else pending.journal_key)

    async def settle_task(
        self, kind: TaskKind, task_id: str, report: ContactUnlockReport
    ) -> int | None:
        """Settle a finished task's hold from its items; returns credits spent (None: in doubt)."""
        unlocked = tuple(d.personnel_id for d in report.delivered) + report.unlocked_without_email
        failed = tuple(f.personnel_id for f in report.failed)
        self._state.mark_contacts(kind.name, unlocked, "unlocked")
        self._state.mark_contacts(kind.name, failed, "failed")
        pending = self._pending.pop(task_id, None)
        if pending is None:
            return None
        price = self._costs.price(kind.operation.name).credits or 0
        settlement = settle_task(
            price_per_item=price,
            unlocked=len(unlocked),
            failed=len(failed),
            unresolved=len(report.unresolved),
            charge_failed_items=self.charge_failed_contacts,
        )

        async def record(_: object) -> int | None:
            if isinstance(settlement, InDoubt):
                await self._keep_in_doubt(pending, task_id, settlement)
                return None
            return await self._settle(pending, task_id, settlement.actual)

        return await finish(record)

    async def _settle(self, pending: PendingTask, task_id: str, actual: int) -> int:
        if pending.recovered:
            recorded = await self._account.commit_recovered(
                pending.hold, pending.hold.intent_key, actual
            )
        else:
            recorded = await self._account.commit(
                pending.hold, actual, journal_key=pending.journal_key
            )
        self._checkpoint("after_settle")
        # Settled from the refreshed balance: the next check fetches it again.
        self._account.balance.invalidate()
        await self._history.record(
            Entry(
                pending.intent,
                SpendOutcome.SUCCEEDED,
                pending.decision.credits,
                actual,
                reason=None if recorded else "ledger recording pending",
                task_id=task_id,
                journal_key=pending.journal_key,
                keep_hold=not recorded,
            )
        )
        return actual

    async def _keep_in_doubt(self, pending: PendingTask, task_id: str, settlement: InDoubt) -> None:
        if pending.recovered:
            # Not in this guard's local count yet: take the hold over before doubting it.
            self._account.adopt(pending.hold)
        doubt = Doubt(
            pending.policy,
            pending.call,
            pending.decision,
            pending.hold,
            pending.hold.amount,
            pending.journal_key,
            sent_at=float("-inf"),  # the task ended: its state is final, no grace needed
            slot=f"task:{task_id}",
        )
        await self._doubts.hold_in_doubt(doubt, settlement.reason, trace_id=None)
