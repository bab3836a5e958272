"""The event loop a sync client runs on: one daemon thread with an anyio blocking portal.

Every sync call is the async implementation run through ``BlockingPortal.call`` from the
caller's thread: no logic is forked. The loop lives in its own thread, so a sync client
works from any number of threads and from code that already runs an event loop (a
Jupyter cell), where ``asyncio.run`` would refuse.

An interrupt of the waiting caller (Ctrl-C's ``KeyboardInterrupt``) cancels the call on
the loop and waits for its cleanup before it propagates, exactly as cancelling the
async call would: a paid call or a bulk run stops with every credit accounted for,
instead of running on unseen in the loop thread.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future
from typing import Any, Generic, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

from lensmor_async.errors import ConfigurationError

T = TypeVar("T")


class LoopThread:
    """A daemon thread running one event loop and the portal into it."""

    def __init__(self) -> None:
        ready = threading.Event()
        box: list[BlockingPortal] = []

        async def serve() -> None:
            async with BlockingPortal() as portal:
                box.append(portal)
                ready.set()
                await portal.sleep_until_stopped()

        # A daemon: a client the program forgot to close must not keep it from exiting.
        self._thread = threading.Thread(
            target=anyio.run, args=(serve,), name="lensmor-sync", daemon=True
        )
        self._thread.start()
        ready.wait()
        self._portal = box[0]
        self.closed = False

    def call(self, func: Callable[..., Awaitable[T]], /, *args: Any) -> T:
        """Run ``func(*args)`` on the loop and wait for its result (any thread but the loop's)."""
        if self.closed:
            raise ConfigurationError("this client is closed; create a new Lensmor")
        if threading.current_thread() is self._thread:
            # It would wait for its own loop forever (anyio refuses with a RuntimeError).
            raise ConfigurationError(
                "a sync client cannot be called from its own confirm callback or hook; "
                "they run on its loop thread"
            )
        finished = threading.Event()
        future: Future[T] = self._portal.start_task_soon(_signalling, finished, func, *args)
        try:
            return future.result()
        except BaseException:
            # The caller was interrupted (the call's own errors leave the future done, and
            # cancel() then returns False): cancel the call and let its cleanup finish.
            if future.cancel():
                finished.wait()
            raise

    def stop(self) -> None:
        """Stop the loop and join its thread (idempotent)."""
        if self.closed:
            return
        self.closed = True
        self._portal.call(self._portal.stop)
        self._thread.join()


async def _signalling(
    finished: threading.Event, func: Callable[..., Awaitable[T]], *args: Any
) -> T:
    """``await func(*args)``, then tell the waiting thread that its cleanup has run."""
    try:
        return await func(*args)
    finally:
        finished.set()


class SyncIterator(Generic[T]):
    """A plain iterator over an async iterator, each step run on the loop."""

    def __init__(self, loop: LoopThread, source: AsyncIterator[T]) -> None:
        self._loop = loop
        self._source = source

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        done, item = self._loop.call(_step, self._source)
        if done:
            raise StopIteration
        return item  # type: ignore[return-value]


async def _step(source: AsyncIterator[T]) -> tuple[bool, T | None]:
    try:
        return False, await source.__anext__()
    except StopAsyncIteration:
        return True, None
