"""Sync faces of the bulk runner, its checkpoint and the guard's ledger.

The async ``run_bulk`` does the work on the client's loop; each item's sync ``work`` runs
in a worker thread of its own (``anyio.to_thread``), where it may call the sync client,
whose calls come back to the same loop. So there is still one runner: the same stop
rule, checkpointing, progress and cancellation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import anyio
import anyio.to_thread

from lensmor_async.bulk import BulkCheckpoint, BulkProgress, BulkReport, run_bulk
from lensmor_async.sync._portal import LoopThread

if TYPE_CHECKING:
    from lensmor_async.guard import CreditGuard, Ledger, LedgerSnapshot

T = TypeVar("T")
R = TypeVar("R")


class SyncBulkCheckpoint:
    """A :class:`~lensmor_async.bulk.BulkCheckpoint` run on a sync client's loop
    (``client.bulk_checkpoint(path)``); use it in a ``with`` block or call ``close()``."""

    def __init__(self, loop: LoopThread, checkpoint: BulkCheckpoint) -> None:
        self._loop = loop
        self._async = checkpoint

    @property
    def path(self) -> str:
        """The checkpoint file."""
        return self._async.path

    def summary_of(self, value: Any) -> Any:
        """What would be kept for ``value`` (None without a summarizer)."""
        return self._async.summary_of(value)

    def completed(self) -> dict[str, Any]:
        """Every finished item key with its summary (None when none was kept), by key."""
        return self._loop.call(self._async.completed)

    def mark_done(self, key: str, summary: Any = None) -> None:
        """Record that item ``key`` finished (again: the newer summary wins)."""
        self._loop.call(self._async.mark_done, key, summary)

    def forget(self, *keys: str) -> int:
        """Forget the given keys (all of them when none are given); returns how many went."""
        return self._loop.call(self._async.forget, *keys)

    def close(self) -> None:
        """Close the file (idempotent); before the client closes, or with it in one
        ``with`` statement, which closes the checkpoint first."""
        self._loop.call(self._async.aclose)

    def __enter__(self) -> SyncBulkCheckpoint:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class SyncLedger:
    """The guard's ledger seen from sync code (``client.ledger``): totals and closing."""

    def __init__(self, loop: LoopThread, ledger: Ledger) -> None:
        self._loop = loop
        self._async = ledger

    @property
    def budget(self) -> int | None:
        """The spending cap, or None for no cap."""
        return self._async.budget

    def snapshot(self) -> LedgerSnapshot:
        """Current totals (budget, spent, reserved, holds)."""
        return self._loop.call(self._async.snapshot)

    def close(self) -> None:
        """Release the ledger's connections/files (idempotent); a ledger given with
        ``own_ledger=True`` or opened by ``CreditGuard.for_redis`` closes with the client."""
        self._loop.call(self._async.aclose)


class _InWorkerThreads(Generic[T, R]):
    """``work(item)`` in a worker thread, at most ``concurrency`` threads at a time.

    Its own limiter, not anyio's default one: items blocked in the client would otherwise
    starve the threads the client itself needs (SQLite journals and ledgers use them).
    Cancelled, it waits for the item's thread: an item in flight finishes and is accounted.
    """

    def __init__(self, work: Callable[[T], R], concurrency: int) -> None:
        self._work = work
        self._concurrency = concurrency
        self._limiter: anyio.CapacityLimiter | None = None

    async def __call__(self, item: T) -> R:
        if self._limiter is None:  # made on the loop, once run_bulk has checked the number
            self._limiter = anyio.CapacityLimiter(self._concurrency)
        return await anyio.to_thread.run_sync(self._work, item, limiter=self._limiter)


def run_bulk_on(
    loop: LoopThread,
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    concurrency: int,
    key: Callable[[T], str],
    guard: CreditGuard | None,
    on_progress: Callable[[BulkProgress], None] | None,
    resume: SyncBulkCheckpoint | None,
) -> BulkReport[T, R]:
    """The async ``run_bulk`` on ``loop``, with ``work`` in worker threads."""

    async def run() -> BulkReport[T, R]:
        return await run_bulk(
            items,
            _InWorkerThreads(work, concurrency),
            concurrency=concurrency,
            key=key,
            guard=guard,
            on_progress=on_progress,
            resume=None if resume is None else resume._async,
        )

    return loop.call(run)
