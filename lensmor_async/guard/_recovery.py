"""``recover()``: finish what a crashed process left in the journal, without re-sending.

For each unfinished intent:

* planned / reserved — never sent: release the hold, record ``failed_no_charge``;
* sending — may have been sent: reconcile (precheck, access mode, contact state);
  charged → settle, not charged → release, unknown → booked as spent at its estimate
  (``in_doubt``, with the reason), its hold released;
* acknowledged / polling — a task id exists: resume polling and settle from its items;
* in doubt with a hold (an interrupted process's, or this guard's own that
  ``reconcile()`` could not settle) — booked as spent at its estimate;
* succeeded with a hold (the ledger missed the commit) — committed now.

Then expired holds are purged. After it, no credits stay merely held: every intent
ends terminal or says why not. ``Recovery`` works through the guard's collaborators
(account, history, tasks, doubts, journal), never the guard's private state.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from lensmor_async._call import Call
from lensmor_async._core import operations as ops
from lensmor_async._core.spend import QuoteDecision, Settled
from lensmor_async.guard._books import Books
from lensmor_async.guard._cleanup import Hurry, finish
from lensmor_async.guard._history import Entry
from lensmor_async.guard._in_doubt import Doubts
from lensmor_async.guard._journal_protocol import Journal, JournalEntry, JournalState
from lensmor_async.guard._journaling import hold_from_json, intent_from_record
from lensmor_async.guard._policies import PaidPolicy, Reconciliation
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._task_book import TaskBook
from lensmor_async.guard._tasks import EMAIL, PHONE, PendingTask, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async.guard._ledger_protocol import Hold

_BY_NAME = {op.name: op for op in ops.PAID_OPERATIONS}
_STEP_MARGIN = 1.0
"""Seconds each recovery step keeps free before the deadline to record its outcome."""


@attrs.frozen(slots=True)
class RecoveryAction:
    """What recovery did with one intent."""

    intent_key: str
    operation: str
    before: str
    after: str
    detail: str


@attrs.frozen(slots=True)
class RecoveryReport:
    """Everything ``recover()`` did."""

    actions: tuple[RecoveryAction, ...] = ()
    expired_holds_released: int = 0
    skipped_live: tuple[str, ...] = ()
    """Unfinished intents whose owner still holds its lease (left alone)."""
    unreached: tuple[str, ...] = ()
    """Intents the deadline left no time for; run ``recover()`` again."""

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for action in self.actions:
            counts[action.after] = counts.get(action.after, 0) + 1
        parts = ", ".join(f"{state}={n}" for state, n in sorted(counts.items())) or "nothing to do"
        return (
            f"recovered {len(self.actions)} intents ({parts}); "
            f"{self.expired_holds_released} expired holds released; "
            f"{len(self.skipped_live)} owned by live workers"
            + (f"; {len(self.unreached)} not reached before the deadline" if self.unreached else "")
        )


def owner_is_gone(owner: str, me: str) -> bool:
    """Whether a row's ``owner`` is provably not working on it any more (no lease needed).

    True for another process of this host (same ``host_id``) that no longer runs, and
    for this very process: its own unfinished rows were interrupted (e.g. cancelled
    tasks). Any other owner is judged by its lease alone.
    """
    host, _, pid_text = owner.rpartition(":")
    my_host, _, my_pid = me.rpartition(":")
    if host != my_host or not pid_text.isdigit():
        return False
    if pid_text == my_pid:
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Recovery:
    """Concludes what interrupted processes (and this guard) left unfinished."""

    def __init__(
        self,
        books: Books,
        doubts: Doubts,
        tasks: TaskBook,
        policies: Mapping[str, PaidPolicy],
    ) -> None:
        self._books = books
        self._journal = books.journal
        self._account = books.account
        self._history = books.history
        self._doubts = doubts
        self._tasks = tasks
        self._policies = policies

    async def run(self, *, deadline: float) -> RecoveryReport:
        """Work through the journal's unfinished intents (see the module docstring)."""
        await self._books.replay()
        journal = self._journal.journal
        if journal is None:
            await self._doubts.reconcile()
            await self.conclude_own_doubts()
            released = await self._account.ledger.release_expired()
            return RecoveryReport(expired_holds_released=released)
        # This process's own in-doubt intents are settled by reconcile(), which knows them.
        await self._doubts.reconcile()
        await self.conclude_own_doubts()
        actions: list[RecoveryAction] = []
        live: list[str] = []
        unreached: list[str] = []
        # Each step's own waits stop a margin before this end, so no step is cut off midway;
        # rows the deadline leaves no time for are reported, not silently skipped.
        end = anyio.current_time() + deadline
        for entry in await _to_recover(journal):
            if entry.intent_key in self._books.in_flight:
                live.append(entry.intent_key)  # this guard's own purchase, still running
                continue
            if anyio.current_time() >= end - _STEP_MARGIN:
                unreached.append(entry.intent_key)
                continue
            with anyio.CancelScope(shield=True):
                gone = owner_is_gone(entry.owner, journal.owner)
                action = await self.take_over(entry, end - _STEP_MARGIN, force=gone)
            if action is None:
                live.append(entry.intent_key)
            else:
                actions.append(action)
        released = await self._account.ledger.release_expired()
        return RecoveryReport(tuple(actions), released, tuple(live), tuple(unreached))

    async def conclude_own_doubts(self) -> None:
        """Book this guard's still-unsettled in-doubt intents as spent at their amounts."""
        for key in self._doubts.unsettled_keys():
            await finish(partial(self._book_own_doubt, key))

    async def _book_own_doubt(self, key: str, _: Hurry) -> None:
        doubt = self._doubts.forget(key)
        if doubt is None:
            return
        record = await self._doubts.settle_charge(
            doubt,
            _booked(doubt.amount),
            doubt.decision.credits,
            slot=doubt.slot or key,
            booked=True,
        )
        self._doubts.note(key, record)

    async def take_over(
        self, entry: JournalEntry, deadline: float, *, force: bool
    ) -> RecoveryAction | None:
        """Take the row over if its lease expired (or ``force``) and conclude it.

        None: its owner's lease is still held (a live worker). The lease is kept renewed
        while the row is concluded (a task may be polled until ``deadline``).
        """
        taken = await self._journal.take_over(entry, force=force)
        if taken is None:
            return None
        async with self._journal.leased(taken.intent_key):
            return await self.recover_entry(taken, deadline)

    async def recover_entry(self, entry: JournalEntry, deadline: float) -> RecoveryAction:
        """Conclude one row whose owner is gone (its lease taken over by this process)."""
        before = entry.state.value
        if entry.state in (JournalState.PLANNED, JournalState.RESERVED):
            await self._release_entry_hold(entry)
            await self._journal.advance(
                entry.intent_key, JournalState.FAILED_NO_CHARGE, reason="stopped before sending"
            )
            return _action(entry, before, "failed_no_charge", "never sent; hold released")
        if entry.state is JournalState.SUCCEEDED:
            return await self._commit_missed(entry, before)
        if entry.state is JournalState.IN_DOUBT:
            return await self._book_in_doubt(entry, before)
        if entry.task_id is not None:
            return await self._resume_task(entry, before, deadline)
        return await self._reconcile_sending(entry, before, deadline)

    async def _release_entry_hold(self, entry: JournalEntry) -> None:
        if entry.hold is not None:
            await self._account.ledger.release(hold_from_json(entry.hold))
        else:
            await self._account.ledger.release_intent(entry.intent_key)

    async def _commit_missed(self, entry: JournalEntry, before: str) -> RecoveryAction:
        """A settled row whose ledger commit was not confirmed: commit it (idempotent)."""
        hold = None if entry.hold is None else hold_from_json(entry.hold)
        actual = entry.actual if entry.actual is not None else (entry.estimate or 0)
        if await self._account.commit_recovered(hold, entry.intent_key, actual):
            await self._journal.advance(entry.intent_key, JournalState.SUCCEEDED, hold=None)
        return _action(entry, before, "succeeded", f"ledger commit of {actual} credits replayed")

    async def _book_in_doubt(self, entry: JournalEntry, before: str) -> RecoveryAction:
        """An in-doubt row with a hold: booked as spent at its estimate, hold dropped."""
        reason = entry.reason or "in doubt"
        verdict = Reconciliation(None, None, reason)
        after = await self._conclude(entry, verdict)
        return _action(entry, before, after, reason)

    async def _resume_task(
        self, entry: JournalEntry, before: str, deadline: float
    ) -> RecoveryAction:
        kind = PHONE if entry.operation == PHONE.operation.name else EMAIL
        task_id = entry.task_id
        assert task_id is not None
        call = _call_of(entry)
        if entry.hold is not None:
            self._tasks.track(
                task_id,
                PendingTask(
                    intent=intent_from_record(entry.request),
                    hold=hold_from_json(entry.hold),
                    decision=_decision_of(entry),
                    policy=self._policies[entry.operation],
                    call=call,
                    journal_key=entry.intent_key,
                    polling=True,
                    recovered=True,
                ),
            )
        handle = UnlockTaskHandle(
            guard=self._tasks,
            kind=kind,
            task_id=task_id,
            requested=_body_ids(entry.request),
            skipped=(),
        )
        report = await handle.wait(deadline=max(deadline - anyio.current_time(), 0.0))
        if report.complete:
            return _action(
                entry,
                before,
                "succeeded",
                f"task {task_id} resumed: {report.credits_spent} credits",
            )
        await self._conclude_unresolved(
            entry, f"task {task_id} still running at the recovery deadline"
        )
        return _action(entry, before, "unresolved", f"task {task_id} still running")

    async def _reconcile_sending(
        self, entry: JournalEntry, before: str, deadline: float
    ) -> RecoveryAction:
        wait = max(deadline - anyio.current_time() - 1.0, 0.0)
        # The row turned "sending" just before the send: a crash moments ago may have left
        # that request on its way, so "no effect yet" needs the same grace as in-process.
        verdict = await self._doubts.reconcile_after_send(
            self._policies[entry.operation],
            _call_of(entry),
            _decision_of(entry),
            entry.updated_at,
            clock=time.time,
            settle_wait=wait,
            max_wait=wait,
        )
        after = await self._conclude(entry, verdict)
        return _action(entry, before, after, verdict.reason)

    async def _conclude(self, entry: JournalEntry, verdict: Reconciliation) -> str:
        """Settle a recovered in-flight intent from its reconciliation verdict."""
        hold = None if entry.hold is None else hold_from_json(entry.hold)
        intent = intent_from_record(entry.request)
        if verdict.charged is False:
            if hold is not None:
                await self._account.ledger.release(hold)
            await self._history.record(
                Entry(
                    intent,
                    SpendOutcome.FAILED_NO_CHARGE,
                    entry.estimate,
                    0,
                    reason=verdict.reason,
                    journal_key=entry.intent_key,
                )
            )
            return "failed_no_charge"
        actual = verdict.actual if verdict.actual is not None else (entry.estimate or 0)
        recorded = await self._account.commit_recovered(hold, entry.intent_key, actual)
        outcome = SpendOutcome.SUCCEEDED if verdict.charged else SpendOutcome.IN_DOUBT
        reason = verdict.reason
        if outcome is SpendOutcome.IN_DOUBT:
            # Recovery is the last resort: count the estimate as spent (the budget stays
            # safe) and clear the hold so a later recover() does not process it again.
            reason = f"counted at the estimate after recovery: {verdict.reason}"
        record = await self._history.record(
            Entry(
                intent,
                outcome,
                entry.estimate,
                actual,
                reason=reason,
                journal_key=entry.intent_key,
                keep_hold=not recorded,
            )
        )
        if outcome is SpendOutcome.IN_DOUBT:
            self._doubts.note(entry.intent_key, record)
        return outcome.value

    async def _conclude_unresolved(self, entry: JournalEntry, reason: str) -> None:
        """A task still running at the recovery deadline: count it (safely) and say why."""
        pending = None if entry.task_id is None else self._tasks.drop(entry.task_id)
        hold: Hold | None = pending.hold if pending is not None else None
        actual = entry.estimate or 0
        await self._account.commit_recovered(hold, entry.intent_key, actual)
        await self._journal.advance(
            entry.intent_key, JournalState.UNRESOLVED, reason=reason, actual=actual
        )


def _booked(amount: int) -> Settled:
    return Settled(amount, "counted at the estimate by recover(): still in doubt")


async def _to_recover(journal: Journal) -> list[JournalEntry]:
    """Unfinished rows, plus settled or in-doubt rows whose hold was never dropped."""
    held = [
        e
        for e in await journal.entries()
        if e.hold and e.state in (JournalState.IN_DOUBT, JournalState.SUCCEEDED)
    ]
    return [*await journal.unfinished(), *held]


def _call_of(entry: JournalEntry) -> Call[Any]:
    operation = _BY_NAME[entry.operation]
    request = entry.request
    return Call(
        operation=operation,
        path=str(request.get("path", operation.route)),
        decode=lambda data: data,
        body=request.get("body"),
        intent=intent_from_record(request),
    )


def _decision_of(entry: JournalEntry) -> QuoteDecision:
    return QuoteDecision(credits=entry.estimate, chargeable_ids=_body_ids(entry.request))


def _body_ids(request: Mapping[str, Any]) -> tuple[str, ...] | None:
    body = request.get("body")
    if isinstance(body, Mapping) and isinstance(body.get("personnel_ids"), list):
        return tuple(str(i) for i in body["personnel_ids"])
    return None


def _action(entry: JournalEntry, before: str, after: str, detail: str) -> RecoveryAction:
    return RecoveryAction(entry.intent_key, entry.operation, before, after, detail)
