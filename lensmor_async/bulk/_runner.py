"""``run_bulk``: many research items through one guard, with a fixed pool of workers.

``concurrency`` workers pull item positions from one shared iterator, so a run of a
million items holds ``concurrency`` tasks, not a million. Every item gets exactly one
:class:`ItemResult`; an item whose ``work`` raises an ``Exception`` is ``failed``
and the run goes on. Cancellation (and any other ``BaseException``) is never caught:
it cancels the workers and propagates.

The stop rule: once an item fails with ``InsufficientCreditsError`` (a 402 from the
server, the guard's own balance check, or ``BudgetExceededError`` from the budget),
or the guard has spent its whole budget, no new item is started. Items in flight
finish; every later item is reported ``skipped_budget``. The item that raised the
credit error is ``skipped_budget`` too (nothing was bought for it) and carries the
error.

Errors that are not about an item — the checkpoint cannot be written, the progress
callback raised — stop the run: no new item starts, items in flight finish, then the
first such error is raised.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Generic, TypeVar

import anyio

from lensmor_async.bulk._checkpoint import BulkCheckpoint
from lensmor_async.bulk._results import BulkProgress, BulkReport, ItemResult, ItemStatus
from lensmor_async.errors import InsufficientCreditsError, InvalidRequestError, sanitize_message
from lensmor_async.guard import CreditGuard

__all__ = ["run_bulk"]

T = TypeVar("T")
R = TypeVar("R")

BUDGET_SPENT = "budget_spent"


def _check_concurrency(concurrency: object) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise InvalidRequestError(f"concurrency must be an int >= 1, got {concurrency!r}")
    return concurrency


def _keys_of(items: list[T], key: Callable[[T], str]) -> list[str]:
    """One distinct str key per item (a checkpoint and the results are keyed by it)."""
    keys: list[str] = []
    seen: set[str] = set()
    for position, item in enumerate(items):
        name = key(item)
        if not isinstance(name, str):
            raise InvalidRequestError(
                f"key() must return a str; item {position} gave {type(name).__name__}"
            )
        if name in seen:
            raise InvalidRequestError(
                f"two items share the key {sanitize_message(name, 80)!r}; keys must be unique"
            )
        seen.add(name)
        keys.append(name)
    return keys


class _Run(Generic[T, R]):
    """The state of one bulk run (single event loop: no locks needed between awaits)."""

    def __init__(
        self,
        items: list[T],
        keys: list[str],
        work: Callable[[T], Awaitable[R]],
        guard: CreditGuard | None,
        on_progress: Callable[[BulkProgress], None] | None,
        checkpoint: BulkCheckpoint | None,
    ) -> None:
        self.items, self.keys, self.work = items, keys, work
        self.guard, self.on_progress, self.checkpoint = guard, on_progress, checkpoint
        self.results: list[ItemResult[T, R] | None] = [None] * len(items)
        self.counts: dict[ItemStatus, int] = dict.fromkeys(
            ("ok", "failed", "skipped_budget", "skipped_done"), 0
        )
        self.done = 0
        self.stopped: str | None = None
        self.fatal: Exception | None = None
        self.spent_before = 0 if guard is None else guard.spent
        self.started = time.monotonic()
        self.resumed = 0

    @property
    def spent(self) -> int:
        return 0 if self.guard is None else self.guard.spent - self.spent_before

    async def execute(self, concurrency: int) -> BulkReport[T, R]:
        self.started = started = time.monotonic()
        finished = {} if self.checkpoint is None else await self.checkpoint.completed()
        pending: list[int] = []
        for position, key in enumerate(self.keys):
            if key in finished:
                # One progress report for all of them, after the loop.
                self.finish(position, "skipped_done", summary=finished[key], emit=False)
            else:
                pending.append(position)
        self.resumed = self.done
        self.emit()
        queue = iter(pending)
        async with anyio.create_task_group() as tg:
            for _ in range(min(concurrency, len(pending)) if self.fatal is None else 0):
                tg.start_soon(self.worker, queue)
        if self.fatal is not None:
            raise self.fatal
        return BulkReport(
            results=tuple(result for result in self.results if result is not None),
            spent=self.spent,
            elapsed=time.monotonic() - started,
            stopped=self.stopped,
        )

    async def worker(self, queue: Iterator[int]) -> None:
        # ``queue`` is shared by every worker; ``next`` on it never awaits, so each
        # position is taken by exactly one worker.
        for position in queue:
            if self.fatal is not None:
                return
            if self.stop_reason() is not None:
                self.finish(position, "skipped_budget")
                continue
            await self.attempt(position)

    def stop_reason(self) -> str | None:
        guard = self.guard
        budget = None if guard is None else guard.budget
        # ``spent`` never goes down, so a spent budget stays spent.
        if self.stopped is None and guard is not None and budget is not None:
            self.stopped = BUDGET_SPENT if guard.spent >= budget else None
        return self.stopped

    async def attempt(self, position: int) -> None:
        try:
            value = await self.work(self.items[position])
        except InsufficientCreditsError as exc:
            self.stopped = self.stopped or type(exc).__name__
            self.finish(position, "skipped_budget", error=exc)
            return
        except Exception as exc:
            self.finish(position, "failed", error=exc)
            return
        summary = await self.save(position, value)
        self.finish(position, "ok", value=value, summary=summary)

    async def save(self, position: int, value: R) -> object:
        """Write the checkpoint row before the item counts as done."""
        if self.checkpoint is None:
            return None
        try:
            summary = self.checkpoint.summary_of(value)
            await self.checkpoint.mark_done(self.keys[position], summary)
        except Exception as exc:
            self.fail(exc)
            return None
        return summary

    def finish(
        self,
        position: int,
        status: ItemStatus,
        *,
        value: R | None = None,
        error: Exception | None = None,
        summary: object = None,
        emit: bool = True,
    ) -> None:
        """Give the item its one result, then report progress (unless ``emit`` is off)."""
        assert self.results[position] is None, "each item gets exactly one result"
        self.results[position] = ItemResult(
            self.items[position], self.keys[position], status, value, error, summary
        )
        self.counts[status] += 1
        self.done += 1
        if emit:
            self.emit()

    def emit(self) -> None:
        if self.on_progress is None:
            return
        progress = BulkProgress(
            done=self.done,
            total=len(self.items),
            ok=self.counts["ok"],
            failed=self.counts["failed"],
            skipped=self.counts["skipped_budget"] + self.counts["skipped_done"],
            spent=self.spent,
            elapsed=time.monotonic() - self.started,
            resumed=self.resumed,
        )
        try:
            self.on_progress(progress)
        except Exception as exc:
            self.fail(exc)

    def fail(self, exc: Exception) -> None:
        if self.fatal is None:
            self.fatal = exc


async def run_bulk(
    items: Iterable[T],
    work: Callable[[T], Awaitable[R]],
    *,
    concurrency: int = 16,
    key: Callable[[T], str] = str,
    guard: CreditGuard | None = None,
    on_progress: Callable[[BulkProgress], None] | None = None,
    resume: BulkCheckpoint | None = None,
) -> BulkReport[T, R]:
    """Run ``work(item)`` for every item, at most ``concurrency`` at a time.

    ``guard`` is the CreditGuard of the client that ``work`` uses (one guard, one
    budget for the whole run); the runner reads it to stop when the budget is spent
    and to report credits. ``key(item)`` names each item (unique str). ``on_progress``
    is called after every item (and once at the start) with a :class:`BulkProgress`;
    the last call has ``done == total``. With ``resume``, items the checkpoint has as
    finished are ``skipped_done`` and every item that finishes ``ok`` is written to it.

    Returns a :class:`BulkReport` with one result per item, in input order.
    """
    limit = _check_concurrency(concurrency)
    listed = list(items)
    run = _Run(listed, _keys_of(listed, key), work, guard, on_progress, resume)
    return await run.execute(limit)
