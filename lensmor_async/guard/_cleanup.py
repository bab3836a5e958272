"""Cleanup that records money finishes, whatever cancels the caller.

anyio's ``CancelScope(shield=True)`` keeps anyio's own cancellation out, but a native
``Task.cancel()`` (``asyncio.wait_for``, ``asyncio.timeout``, a framework cancelling a
request) still lands in the shielded code. So the cleanup runs as its own task, which
no cancellation of the caller reaches; the caller waits for it and re-raises its
cancellation afterwards. To stay bounded in time, a cancelled caller asks the cleanup
to hurry: steps that only *wait* (reconciling a lost answer) are cut short and the
intent is recorded in doubt, keeping its hold.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import anyio

T = TypeVar("T")
_RUNNING: set[asyncio.Task[object]] = set()
"""Cleanups in flight (the loop keeps only weak references to tasks)."""


class Hurry:
    """Set when the caller was cancelled: the cleanup's waits end early."""

    def __init__(self) -> None:
        self._scopes: list[anyio.CancelScope] = []
        self.requested = False

    @contextmanager
    def waiting(self) -> Iterator[anyio.CancelScope]:
        """A scope for a step that may be cut short (check ``scope.cancelled_caught``)."""
        with anyio.CancelScope() as scope:
            if self.requested:
                scope.cancel()
            self._scopes.append(scope)
            try:
                yield scope
            finally:
                self._scopes.remove(scope)

    def now(self) -> None:
        self.requested = True
        for scope in self._scopes:
            scope.cancel()


async def finish(work: Callable[[Hurry], Awaitable[T]]) -> T:
    """Run ``work`` to completion in its own task; re-raise a caller's cancellation after."""
    hurry = Hurry()

    async def run() -> T:
        return await work(hurry)

    task: asyncio.Task[T] = asyncio.ensure_future(run())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    cancelled = False
    with anyio.CancelScope(shield=True):  # anyio's cancellation waits for us here
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                if task.cancelled():
                    raise  # the cleanup itself was cancelled (the loop is closing)
                cancelled = True  # a native cancel of the caller: finish first
                hurry.now()
            except BaseException:
                break  # the cleanup failed: reported below, after a pending cancellation
    if cancelled:
        # The caller's cancellation wins over the cleanup's own error (it is chained).
        raise asyncio.CancelledError(
            "cancelled while recording a paid call; it was recorded"
        ) from task.exception()
    return task.result()
