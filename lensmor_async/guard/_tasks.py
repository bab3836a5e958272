"""Contact-unlock tasks: the handle users wait on and the report it produces."""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import attrs

from lensmor_async._core.operations import EMAIL, PHONE, TaskKind

__all__ = [
    "EMAIL",
    "PHONE",
    "ContactUnlockReport",
    "DeliveredContact",
    "FailedContact",
    "PendingTask",
    "TaskKind",
    "TaskSettler",
    "UnlockTaskHandle",
    "build_report",
]
from lensmor_async._answered import Answered, ResponseInfo, carry_answer
from lensmor_async._core.spend import QuoteDecision
from lensmor_async._intent import Intent
from lensmor_async.errors import NotFoundError, RateLimitError, ServerError, TransportError
from lensmor_async.guard._ledger_protocol import Hold

if TYPE_CHECKING:
    from lensmor_async._call import Call
    from lensmor_async.guard._policies import PaidPolicy
    from lensmor_async.models import UnlockTask, UnlockTaskItem

TERMINAL_TASK_STATES = frozenset({"completed", "failed"})
_MAX_POLL_FAILURES = 20


@attrs.define(slots=True)
class PendingTask:
    """A submitted task whose credits are still held until it ends."""

    intent: Intent
    hold: Hold
    decision: QuoteDecision
    policy: PaidPolicy
    call: Call[Any]
    """The batch as sent (what reconciling a task that ended unresolved checks)."""
    journal_key: str | None = None
    polling: bool = False
    recovered: bool = False
    """Taken over from a crashed process: its hold is not in this guard's local count."""


class TaskSettler(Protocol):
    """The guard's side of a task handle: polls, and settling a finished task's hold."""

    @property
    def poll_intervals(self) -> tuple[float, ...]: ...

    async def poll_task(self, kind: TaskKind, task_id: str) -> UnlockTask: ...

    async def settle_task(
        self, kind: TaskKind, task_id: str, report: ContactUnlockReport
    ) -> int | None: ...

    def lease_kept(self, task_id: str) -> AbstractAsyncContextManager[None]:
        """Keep this guard's journal lease on the task's intent while it is polled."""
        ...


@attrs.frozen(slots=True)
class FailedContact:
    """One contact whose unlock failed, with the API's ``errorCode`` when given."""

    personnel_id: str
    error_code: str | None


@attrs.frozen(slots=True)
class DeliveredContact:
    """One contact unlocked with a value (an email, or a phone number for phone tasks)."""

    personnel_id: str
    value: str


@attrs.frozen(slots=True)
class ContactUnlockReport(Answered):
    """Where every submitted id ended up — each appears in exactly one tuple.

    ``report.response`` is the HTTP answer of the task's final poll (status, headers,
    trace id); ``None`` when nothing was polled (every id skipped).
    """

    task_id: str | None
    task_status: str | None
    delivered: tuple[DeliveredContact, ...] = ()
    """Unlocked with an email (or phone)."""
    unlocked_without_email: tuple[str, ...] = ()
    """Unlocked, but no value was found (for phone tasks: no phone)."""
    failed: tuple[FailedContact, ...] = ()
    unresolved: tuple[str, ...] = ()
    """Still pending/processing when the deadline passed (or missing from the task)."""
    skipped: tuple[str, ...] = ()
    """Left out before pricing: already unlocked or unlocking (not charged)."""
    credits_spent: int | None = None
    """Credits this task cost, once it ended (None while unresolved items remain)."""

    @property
    def complete(self) -> bool:
        return not self.unresolved

    def all_ids(self) -> tuple[str, ...]:
        """Every id in the report, in category order."""
        return (
            tuple(d.personnel_id for d in self.delivered)
            + self.unlocked_without_email
            + tuple(f.personnel_id for f in self.failed)
            + self.unresolved
            + self.skipped
        )


def build_report(
    task: UnlockTask | None,
    *,
    requested: Sequence[str] | None,
    skipped: Sequence[str],
    value_field: str,
) -> ContactUnlockReport:
    """Sort task items into the report's categories (pure)."""
    items = {} if task is None else {item.personnel_id: item for item in task.items}
    order = list(dict.fromkeys(requested if requested is not None else items))
    skipped_set = set(skipped)
    delivered: list[DeliveredContact] = []
    without: list[str] = []
    failed: list[FailedContact] = []
    unresolved: list[str] = []
    for pid in order:
        if pid in skipped_set:
            continue
        _classify(items.get(pid), pid, value_field, delivered, without, failed, unresolved)
    report = ContactUnlockReport(
        task_id=None if task is None else task.task_id,
        task_status=None if task is None else task.task_status,
        delivered=tuple(delivered),
        unlocked_without_email=tuple(without),
        failed=tuple(failed),
        unresolved=tuple(unresolved),
        skipped=tuple(pid for pid in order if pid in skipped_set),
    )
    return carry_answer(task, report)  # the final poll's answer


def _classify(
    item: UnlockTaskItem | None,
    pid: str,
    value_field: str,
    delivered: list[DeliveredContact],
    without: list[str],
    failed: list[FailedContact],
    unresolved: list[str],
) -> None:
    if item is None or item.status not in ("unlocked", "failed"):
        unresolved.append(pid)
    elif item.status == "failed":
        failed.append(FailedContact(pid, item.error_code))
    else:
        value = getattr(item, value_field, None)
        if value:
            delivered.append(DeliveredContact(pid, value))
        else:
            without.append(pid)


class UnlockTaskHandle:
    """A submitted email/phone unlock: ``status()`` polls once, ``wait()`` until it ends.

    Rebuild one from a task id with ``client.contacts.unlock_task_handle(task_id)``.
    """

    def __init__(
        self,
        *,
        guard: TaskSettler,
        kind: TaskKind,
        task_id: str | None,
        requested: Sequence[str] | None,
        skipped: Sequence[str],
        poll_intervals: Sequence[float] | None = None,
        response: ResponseInfo | None = None,
    ) -> None:
        self._guard = guard
        self.response = response
        """The HTTP answer of the submission (None for a handle rebuilt from its id)."""
        self.kind = kind
        self.task_id = task_id
        self.requested = None if requested is None else tuple(requested)
        self.skipped = tuple(skipped)
        self._intervals = tuple(poll_intervals) if poll_intervals else guard.poll_intervals
        self.report: ContactUnlockReport | None = None

    def __repr__(self) -> str:
        return f"UnlockTaskHandle(kind={self.kind.name!r}, task_id={self.task_id!r})"

    async def status(self) -> UnlockTask | None:
        """Poll the task once (None when nothing was submitted)."""
        if self.task_id is None:
            return None
        return await self._guard.poll_task(self.kind, self.task_id)

    async def wait(self, deadline: float | None = None) -> ContactUnlockReport:
        """Poll with growing intervals until the task ends or ``deadline`` seconds pass."""
        if self.task_id is None:
            # Nothing was submitted (all skipped), so nothing was spent.
            self.report = attrs.evolve(self._finish(None), credits_spent=0)  # no answer
            return self.report
        async with self._guard.lease_kept(self.task_id):
            return await self._poll(deadline)

    async def _poll(self, deadline: float | None) -> ContactUnlockReport:
        assert self.task_id is not None
        give_up = None if deadline is None else time.monotonic() + deadline
        attempt = 0
        failures = 0
        task: UnlockTask | None = None
        while True:
            try:
                task = await self.status()
                failures = 0
            except (TransportError, ServerError, RateLimitError, NotFoundError):
                # A failed poll is not a failed task (a 404 can be a replica lagging
                # behind): keep polling until the deadline, within a bounded streak.
                failures += 1
                if failures > _MAX_POLL_FAILURES or (give_up is None and failures > 3):
                    raise
            if task is not None and task.task_status in TERMINAL_TASK_STATES:
                return await self._settle(task)
            delay = self._intervals[min(attempt, len(self._intervals) - 1)]
            attempt += 1
            if give_up is not None and time.monotonic() + delay > give_up:
                return self._finish(task)
            await anyio.sleep(delay)

    def _finish(self, task: UnlockTask | None) -> ContactUnlockReport:
        self.report = build_report(
            task, requested=self.requested, skipped=self.skipped, value_field=self.kind.value_field
        )
        return self.report

    async def _settle(self, task: UnlockTask) -> ContactUnlockReport:
        report = self._finish(task)
        spent = await self._guard.settle_task(self.kind, task.task_id, report)
        self.report = carry_answer(report, attrs.evolve(report, credits_spent=spent))
        return self.report
