"""The guard's side of unlock tasks: handles, polls and settling a finished task's hold."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from lensmor_async.guard._intent import Intent
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._settlement import _Settlement
from lensmor_async.guard._tasks import TaskKind, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async.models import UnlockSubmission


class _TaskMethods(_Settlement):
    """Unlock task handles, and the settlement of each task's hold from its items."""

    def task_handle(
        self, kind: TaskKind, intent: Intent, submission: UnlockSubmission
    ) -> UnlockTaskHandle:
        """The handle for a submitted (or skipped) unlock batch."""
        return UnlockTaskHandle(
            guard=self,
            kind=kind,
            task_id=submission.task_id,
            requested=intent.targets,
            skipped=self._skipped_ids(submission.task_id, submission.skipped_personnel_ids),
        )

    def _skipped_ids(self, task_id: str | None, reported: tuple[str, ...] = ()) -> tuple[str, ...]:
        # Ids the guard left out before sending are not reported by a 0.22 server.
        pending = None if task_id is None else self._pending.get(task_id)
        trimmed = () if pending is None else pending.decision.skipped_ids
        return tuple(dict.fromkeys((*reported, *trimmed)))

    def task_handle_for_id(self, kind: TaskKind, task_id: str) -> UnlockTaskHandle:
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

    async def poll_task(self, kind: TaskKind, task_id: str) -> Any:
        """One poll of an unlock task (used by handles)."""
        pending = self._pending.get(task_id)
        if pending is not None and not pending.polling:
            pending.polling = True
            await self._journal.advance(JournalState.POLLING, key=pending.journal_key)
        self._checkpoint("during_polling")
        return await self._require_services().unlock_task(kind.phone, task_id)

    async def settle_task(
        self, kind: TaskKind, task_id: str, *, unlocked: tuple[str, ...], failed: tuple[str, ...]
    ) -> int | None:
        """Settle a finished task's hold from its item outcomes; returns credits spent."""
        self._state.mark_contacts(kind.name, unlocked, "unlocked")
        self._state.mark_contacts(kind.name, failed, "failed")
        pending = self._pending.pop(task_id, None)
        if pending is None:
            return None
        price = self.costs.price(kind.operation.name).credits or 0
        actual = price * (len(unlocked) + (len(failed) if self.charge_failed_contacts else 0))
        with anyio.CancelScope(shield=True):
            if pending.recovered:
                await self._commit_recovered(pending.hold, pending.hold.intent_key, actual)
            else:
                await self._commit(pending.hold, actual)
            self._checkpoint("after_settle")
            # Settled from the refreshed balance: the next check fetches it again.
            self._require_balance().invalidate()
            await self._record(
                pending.intent,
                SpendOutcome.SUCCEEDED,
                pending.decision.credits,
                actual,
                task_id=task_id,
                journal_key=pending.journal_key,
            )
        return actual
