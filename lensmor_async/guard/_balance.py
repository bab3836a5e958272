"""The balance cache: refreshed single-flight, adjusted locally between refreshes."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import anyio


class BalanceCache:
    """The last known total balance.

    Many concurrent callers cause one refresh (single-flight through a lock and a
    freshness re-check). Between refreshes, settled spends are subtracted locally so
    the balance is not fetched per paid call.
    """

    def __init__(self, fetch: Callable[[], Awaitable[int]], *, ttl: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._lock = anyio.Lock()
        self._total: int | None = None
        self._fetched_at = float("-inf")
        self._generation = 0
        self.refreshes = 0

    @property
    def known(self) -> int | None:
        """The balance as known now, without I/O."""
        return self._total

    def _fresh(self, max_age: float) -> bool:
        return self._total is not None and time.monotonic() - self._fetched_at <= max_age

    async def current(self, *, max_age: float | None = None) -> int:
        """The balance, refreshing if older than ``max_age`` (default: the TTL)."""
        limit = self._ttl if max_age is None else max_age
        if self._fresh(limit):
            assert self._total is not None
            return self._total
        started = time.monotonic()
        async with self._lock:
            # Someone else may have refreshed while we waited: that answer is good enough.
            if (
                self._total is not None
                and self._fetched_at >= started - limit
                and self._fresh(limit)
            ):
                return self._total
            generation = self._generation
            total = await self._fetch()
            self.refreshes += 1
            # An invalidate()/observe() during the fetch is newer than this answer:
            # keep the newer knowledge instead of marking an older value fresh.
            if generation == self._generation:
                self._total, self._fetched_at = total, time.monotonic()
            elif self._total is None:
                self._total = total
            return total

    def spend(self, credits: int) -> None:
        """Subtract a settled spend from the cached balance."""
        if self._total is not None and credits:
            self._total -= credits

    def observe(self, total: int) -> None:
        """Adopt a balance reported by the server (e.g. ``balanceAfter.totalBalance``)."""
        self._generation += 1
        self._total, self._fetched_at = total, time.monotonic()

    def invalidate(self) -> None:
        """Force the next ``current()`` to refresh."""
        self._generation += 1
        self._fetched_at = float("-inf")
