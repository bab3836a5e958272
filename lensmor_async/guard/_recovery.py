"""``recover()``: finish what a crashed process left in the journal, without re-sending.

For each unfinished intent:

* planned / reserved — never sent: release the hold, record ``failed_no_charge``;
* sending — may have been sent: reconcile (precheck, access mode, contact state);
  charged → settle, not charged → release, unknown → ``in_doubt`` with the reason;
* acknowledged / polling — a task id exists: resume polling and settle from its items.

Then expired holds are purged. Every intent ends terminal or says why not.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from lensmor_async._core import operations as ops
from lensmor_async._core.admission import QuoteDecision
from lensmor_async._pipeline import Call
from lensmor_async.guard._journal_protocol import Journal, JournalEntry, JournalState
from lensmor_async.guard._journaling import hold_from_json, intent_from_record
from lensmor_async.guard._tasks import EMAIL, PHONE, PendingTask, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async.guard._guard import CreditGuard

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
    """Unfinished intents owned by a process that is still alive (left alone)."""
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


def owner_is_alive(owner: str) -> bool:
    """Whether the ``host:pid`` owner still runs (other hosts count as alive)."""
    host, _, pid_text = owner.rpartition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # our own earlier intents were interrupted (e.g. cancelled tasks)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def recover(guard: CreditGuard, *, deadline: float = 30.0) -> RecoveryReport:
    """Work through the journal's unfinished intents (see the module docstring)."""
    journal = guard._journal.journal
    if journal is None:
        released = await guard.ledger.release_expired()
        return RecoveryReport(expired_holds_released=released)
    # This process's own in-doubt intents are settled by reconcile(), which knows them.
    await guard.reconcile()
    ours = guard._doubts.journal_keys()
    actions: list[RecoveryAction] = []
    live: list[str] = []
    unreached: list[str] = []
    # Each step's own waits stop a margin before this end, so no step is cut off midway;
    # rows the deadline leaves no time for are reported, not silently skipped.
    end = anyio.current_time() + deadline
    for entry in await _to_recover(journal):
        if entry.intent_key in ours or owner_is_alive(entry.owner):
            live.append(entry.intent_key)
        elif anyio.current_time() >= end - _STEP_MARGIN:
            unreached.append(entry.intent_key)
        else:
            with anyio.CancelScope(shield=True):
                actions.append(await _recover_entry(guard, entry, end - _STEP_MARGIN))
    released = await guard.ledger.release_expired()
    return RecoveryReport(tuple(actions), released, tuple(live), tuple(unreached))


async def _to_recover(journal: Journal) -> list[JournalEntry]:
    """Unfinished rows, plus in-doubt rows whose hold was never settled."""
    doubtful = [e for e in await journal.entries() if e.state is JournalState.IN_DOUBT and e.hold]
    return [*await journal.unfinished(), *doubtful]


async def _recover_entry(
    guard: CreditGuard, entry: JournalEntry, deadline: float
) -> RecoveryAction:
    before = entry.state.value
    if entry.state in (JournalState.PLANNED, JournalState.RESERVED):
        await _release_entry_hold(guard, entry)
        await guard._journal.advance(
            JournalState.FAILED_NO_CHARGE, key=entry.intent_key, reason="stopped before sending"
        )
        return _action(entry, before, "failed_no_charge", "never sent; hold released")
    if entry.task_id is not None:
        return await _resume_task(guard, entry, before, deadline)
    return await _reconcile_sending(guard, entry, before, deadline)


async def _release_entry_hold(guard: CreditGuard, entry: JournalEntry) -> None:
    if entry.hold is not None:
        await guard.ledger.release(hold_from_json(entry.hold))
    else:
        await guard.ledger.release_intent(entry.intent_key)


async def _resume_task(
    guard: CreditGuard, entry: JournalEntry, before: str, deadline: float
) -> RecoveryAction:
    kind = PHONE if entry.operation == PHONE.operation.name else EMAIL
    intent = intent_from_record(entry.request)
    task_id = entry.task_id
    assert task_id is not None
    if entry.hold is not None:
        guard._pending[task_id] = PendingTask(
            intent=intent,
            hold=hold_from_json(entry.hold),
            decision=QuoteDecision(credits=entry.estimate),
            journal_key=entry.intent_key,
            polling=True,
            recovered=True,
        )
    handle = UnlockTaskHandle(
        guard=guard, kind=kind, task_id=task_id, requested=_body_ids(entry.request), skipped=()
    )
    report = await handle.wait(deadline=max(deadline - anyio.current_time(), 0.0))
    if report.complete:
        return _action(
            entry, before, "succeeded", f"task {task_id} resumed: {report.credits_spent} credits"
        )
    await guard._conclude_unresolved(
        entry, f"task {task_id} still running at the recovery deadline"
    )
    return _action(entry, before, "unresolved", f"task {task_id} still running")


async def _reconcile_sending(
    guard: CreditGuard, entry: JournalEntry, before: str, deadline: float
) -> RecoveryAction:
    operation = _BY_NAME[entry.operation]
    request = entry.request
    call: Call[Any] = Call(
        operation=operation,
        path=str(request.get("path", operation.route)),
        decode=lambda data: data,
        body=request.get("body"),
        intent=intent_from_record(request),
    )
    decision = QuoteDecision(credits=entry.estimate, chargeable_ids=_body_ids(request))
    wait = max(deadline - anyio.current_time() - 1.0, 0.0)
    policy = guard._policies[operation.name]
    # The row turned "sending" just before the send: a crash moments ago may have left
    # that request on its way, so "no effect yet" needs the same grace as in-process.
    verdict = await guard._reconcile_after_send(
        policy, call, decision, entry.updated_at, clock=time.time, settle_wait=wait, max_wait=wait
    )
    after = await guard._conclude_recovered(entry, verdict)
    return _action(entry, before, after, verdict.reason)


def _body_ids(request: Mapping[str, Any]) -> tuple[str, ...] | None:
    body = request.get("body")
    if isinstance(body, Mapping) and isinstance(body.get("personnel_ids"), list):
        return tuple(str(i) for i in body["personnel_ids"])
    return None


def _action(entry: JournalEntry, before: str, after: str, detail: str) -> RecoveryAction:
    return RecoveryAction(entry.intent_key, entry.operation, before, after, detail)
