"""Single-flight: concurrent identical intents share one in-flight call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import anyio

T = TypeVar("T")


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "result", "succeeded")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.succeeded = False
        self.result: T | None = None
        self.error: BaseException | None = None


class SingleFlight:
    """Runs one call per key at a time; followers receive the leader's result or error.

    If the leader is cancelled, followers are not cancelled with it: one of them
    becomes the new leader (the intent was not paid for by a cancelled-before-send
    leader, and the guard's in-doubt handling covers cancel-after-send).
    """

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[Any]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def run(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        while True:
            flight = self._flights.get(key)
            if flight is None:
                return await self._lead(key, fn)
            await flight.done.wait()
            if flight.succeeded:
                return flight.result  # type: ignore[return-value]
            if flight.error is not None:
                raise flight.error
            # The leader was cancelled: loop and let one follower lead.

    async def _lead(self, key: str, fn: Callable[[], Awaitable[T]]) -> T:
        flight: _Flight[T] = _Flight()
        self._flights[key] = flight
        try:
            result = await fn()
        except Exception as exc:
            flight.error = exc
            raise
        else:
            flight.result, flight.succeeded = result, True
            return result
        finally:
            # Runs on cancellation too (BaseException): followers must never hang.
            del self._flights[key]
            flight.done.set()
