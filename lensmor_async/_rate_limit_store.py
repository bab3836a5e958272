"""The shared rate-limit extension point: a ``Protocol`` plus a frozen details object.

Several processes using one API key share one server-side limit. A
:class:`RateLimitStore` lets their limiters share what the key is allowed: every
request start is granted by the store (so together they never start more than the
server said remains), each start carries the asking process's newest
``X-RateLimit-*`` values (so every sharer paces from every answer), and a 429's
``Retry-After`` pauses every sharer at once. ``RedisRateLimitStore`` is the
implementation; the decisions it applies are the pure functions of
``_core/shared_pacing.py``.

Without a store (the default) a client paces alone, with no cost on its hot path.
"""

from __future__ import annotations

from typing import Protocol

import attrs

from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.shared_pacing import StartGrant

__all__ = ["RateLimitStore", "StartGrant", "StartRequest"]


@attrs.frozen(slots=True)
class StartRequest:
    """One request asking the store whether it may start now."""

    account: str
    """Which key's limit: a digest of the API key, never the key itself."""
    sharer: str
    """The asking limiter (one per client), so the store knows who shares the key."""
    ticket: str
    """Unique per ask, so :meth:`RateLimitStore.give_back` can name this start."""
    now: float
    """The asker's wall clock, Unix seconds (what ``X-RateLimit-Reset`` is read against)."""
    burst: int
    """The asker's concurrency: requests it may have on their way uncounted."""
    answer: RateLimitInfo | None
    """The asker's newest rate-limit headers since its last ask (None: nothing new)."""
    low_fraction: float
    """Pacing starts when no more than this share of the limit remains."""
    max_wait: float
    """No wait the store hands out is longer than this (seconds)."""
    force: bool = False
    """The request already waited ``max_wait`` for an exhausted window: let it go."""


class RateLimitStore(Protocol):
    """Shares one key's rate limit between processes (see the performance guide).

    Every method raises ``RateLimitStoreError`` when the store cannot answer; the
    client then paces on its own until the store answers again.
    """

    async def start(self, request: StartRequest, /) -> StartGrant:
        """Grant a start (counted for every sharer; it goes after ``delay``) or a wait."""
        ...

    async def give_back(self, request: StartRequest, /) -> None:
        """The request asking with ``request.ticket`` was cancelled before it was sent.

        A start already granted to it is returned; a :meth:`start` for it still on its
        way grants nothing. Called again for the same ticket (an interrupted give-back
        is retried), it returns nothing more.
        """
        ...

    async def pause_until(self, account: str, until: float, /) -> None:
        """No sharer of ``account`` starts before ``until`` (wall clock, Unix seconds)."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections (idempotent)."""
        ...
