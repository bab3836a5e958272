"""Keeping a journal lease alive while its owner works on the intent.

The renewer is one small task that renews the lease every third of its length and
stops when the work ends. It runs as its own asyncio task, not in an anyio task group
around the purchase: a task group would wrap every exception of the purchase (a
``BudgetExceededError``, a cancellation) in an ``ExceptionGroup``, and callers rely on
the plain types. The task is always cancelled in ``finally``, so it never
outlives the work it guards.

A failed renewal is not an error of the purchase: if the lease is lost, the owner's
next journal write raises :class:`~lensmor_async.errors.LeaseLostError` (nothing
written, nothing sent); if the journal is briefly unreachable, the next renewal tries
again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

from lensmor_async.errors import LensmorError

logger = logging.getLogger("lensmor_async")
_RUNNING: set[asyncio.Task[None]] = set()
"""Renewers not yet finished (the loop keeps only weak references to tasks)."""


async def _renew_forever(renew: Callable[[], Awaitable[bool]], every: float) -> None:
    while True:
        await anyio.sleep(every)
        try:
            if not await renew():
                logger.warning("journal lease lost; the intent's new owner settles it")
                return
        except LensmorError as exc:  # the journal is unreachable: try again next time
            logger.warning("journal lease renewal failed: %s", type(exc).__name__)


@asynccontextmanager
async def lease_kept(renew: Callable[[], Awaitable[bool]], ttl: float) -> AsyncIterator[None]:
    """Renew a lease every ``ttl / 3`` seconds while the body runs."""
    task = asyncio.ensure_future(_renew_forever(renew, ttl / 3))
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    try:
        yield
    finally:
        # Cancelled, not awaited: a renewer only sleeps and renews, so it ends at its
        # next step, and awaiting it here could swap the body's exception for a cancel.
        task.cancel()
