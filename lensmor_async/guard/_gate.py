"""A shared/exclusive gate for paid calls, and lanes for calls that must not overlap.

Normal paid calls pass shared. A call whose price is unknown passes exclusive, so
the balance measured before and after it is not mixed with other spends of this guard.
Lanes serialise paid calls that buy overlapping things (the base, Visitor and
full-access unlocks of one event): each one quotes after the previous one settled.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


class PaidGate:
    """Readers-writer gate built on one ``anyio.Condition``."""

    def __init__(self) -> None:
        self._cond = anyio.Condition()
        self._shared = 0
        self._exclusive = False

    @asynccontextmanager
    async def enter(self, *, exclusive: bool) -> AsyncIterator[None]:
        if not exclusive and not self._exclusive:
            # Fast path: no exclusive holder, so no waiting and no lock round trip.
            self._shared += 1
        else:
            await self._acquire(exclusive)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await self._release(exclusive)

    async def _acquire(self, exclusive: bool) -> None:
        async with self._cond:
            while self._exclusive or (exclusive and self._shared):
                await self._cond.wait()
            if exclusive:
                self._exclusive = True
            else:
                self._shared += 1

    async def _release(self, exclusive: bool) -> None:
        async with self._cond:
            if exclusive:
                self._exclusive = False
            else:
                self._shared -= 1
            self._cond.notify_all()


class _Lane:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = anyio.Lock()
        self.users = 0


class Lanes:
    """One lock per lane key: the calls of one lane run one at a time, others pass freely."""

    def __init__(self) -> None:
        self._lanes: dict[str, _Lane] = {}

    @asynccontextmanager
    async def hold(self, key: str | None) -> AsyncIterator[None]:
        if key is None:
            yield
            return
        lane = self._lanes.get(key)
        if lane is None:
            lane = self._lanes[key] = _Lane()
        lane.users += 1
        try:
            try:
                # A free lane is entered without yielding, so a laned call competes for
                # credits in the order the calls were made, like any other paid call.
                lane.lock.acquire_nowait()
            except anyio.WouldBlock:
                await lane.lock.acquire()
            try:
                yield
            finally:
                lane.lock.release()
        finally:
            lane.users -= 1
            if lane.users == 0:
                del self._lanes[key]
