"""One rate limit shared by several processes: the decisions a shared store makes, pure.

A shared store (``RedisRateLimitStore``: one Lua script per step) holds one
:class:`SharedWindow` per API key and applies these functions to it atomically, so
every process sharing the key draws its request starts from one count. They are the
single-process decisions of ``ratelimit.py`` applied to the whole key:

* :func:`share_answer` folds a process's newest headers into the window (``adopt``);
* :func:`share_start` grants a start (counted; now or booked a moment ahead) or says
  how long to wait before asking again;
* :func:`share_pause` records a 429's ``Retry-After`` for every sharer at once;
* :func:`give_back` returns a start granted to a request cancelled before it was sent.

The Redis script mirrors this arithmetic line by line; ``tests/test_shared_pacing.py``
runs both on the same steps. All times are wall-clock Unix seconds, passed in.
"""

from __future__ import annotations

import attrs

from lensmor_async._core.ratelimit import NO_PACE, RateLimitInfo, adopt, pace, turn_delay

__all__ = [
    "BOOK_AHEAD",
    "GO",
    "SharedWindow",
    "StartGrant",
    "give_back",
    "share_answer",
    "share_pause",
    "share_start",
]


@attrs.frozen(slots=True)
class SharedWindow:
    """What every sharer of one key knows about its rate limit."""

    info: RateLimitInfo | None = None
    """The headers pacing follows (adopted from every sharer's answers)."""
    started: int = 0
    """Starts granted since ``info`` was adopted (the server's count may lack them)."""
    last_start: float | None = None
    """When the last granted start goes (a booked one may lie slightly ahead)."""
    paused_until: float | None = None
    """No start before this instant (the latest 429's ``Retry-After``)."""


def share_answer(
    window: SharedWindow, answer: RateLimitInfo, *, now: float, max_wait: float
) -> SharedWindow:
    """``window`` after a sharer's answer: the lower count within a window, a new one afresh."""
    info = adopt(window.info, answer, window.started, now=now, max_wait=max_wait)
    if info is window.info:
        return window
    return attrs.evolve(window, info=info, started=0)


@attrs.frozen(slots=True)
class StartGrant:
    """A store's answer to one request asking to start."""

    granted: bool
    """True: the start is counted; the request goes once ``delay`` has passed."""
    delay: float = 0.0
    """Seconds to wait: before starting if granted, else before asking again."""


GO = StartGrant(granted=True)
"""Granted, start now (shared: the common answer allocates nothing)."""
BOOK_AHEAD = 0.1
"""A paced start at most this far off is booked at once (counted, slept for by its
request): the schedule then keeps its spacing however late the sleeps wake. A later
one is only a wait, so a 429 coming meanwhile still stops it."""


def share_start(
    window: SharedWindow,
    *,
    now: float,
    burst: int,
    sharers: int,
    low_fraction: float,
    max_wait: float,
    force: bool = False,
) -> tuple[SharedWindow, StartGrant]:
    """Grant a start (counted in the returned window) or say how long to wait first.

    ``burst``: the concurrency of all live sharers together; they may have that many
    requests on their way that no answer counts yet, so pacing takes over while fewer
    than two bursts remain (``pace`` with ``in_flight=burst``). ``sharers``: how
    many live sharers ask; each window leaves that many requests unspent, one for the
    start each of them may have booked when an answer resets the count (an answer
    does not count starts still booked or on their way). Paced starts are booked
    ``spacing`` after the last one when that is at most :data:`BOOK_AHEAD` away and
    before the window's reset (a start booked across it would land in the next
    window, counted in this one). ``force``: the request already waited ``max_wait``
    for an exhausted window, so it goes (a wrong clock or a hostile header stalls no
    longer); a 429's pause is always waited out.
    """
    if window.paused_until is not None and window.paused_until > now:
        # Every pause is capped at ``max_wait`` when written, so one ending later than
        # that comes from a sharer whose clock runs ahead: cut to the cap (stored, so
        # every sharer's wait ends) instead of stalling the key on a wrong clock.
        until = min(window.paused_until, now + max_wait)
        held = StartGrant(granted=False, delay=until - now)
        return attrs.evolve(window, paused_until=until), held
    decision = pace(
        window.info,
        now,
        low_fraction=low_fraction,
        max_wait=max_wait,
        in_flight=burst,
        burst=burst,
        started=window.started,
        sharers=sharers + 1,
    )
    if decision.wait > 0 and not force:
        return window, StartGrant(granted=False, delay=decision.wait)
    delay = 0.0
    if decision is not NO_PACE and decision.wait <= 0 and window.last_start is not None:
        delay = turn_delay(decision.spacing, now - window.last_start)
        reset = window.info.reset if window.info is not None else None
        if delay > BOOK_AHEAD or (reset is not None and delay > 0 and now + delay >= reset):
            return window, StartGrant(granted=False, delay=delay)
    booked = attrs.evolve(window, started=window.started + 1, last_start=now + delay)
    return booked, StartGrant(granted=True, delay=delay) if delay > 0 else GO


def share_pause(window: SharedWindow, until: float) -> SharedWindow:
    """No sharer starts before ``until``; a pause only grows."""
    if window.paused_until is not None and window.paused_until >= until:
        return window
    return attrs.evolve(window, paused_until=until)


def give_back(window: SharedWindow, granted_in: int | None) -> SharedWindow:
    """Return a start granted while ``info.reset`` was ``granted_in``; the request never went.

    Only within the same window: a later one never counted it. If an answer was adopted
    since (``started`` back at 0), the start is in its count as spent, so the count goes
    up by one instead, never past the limit.
    """
    info = window.info
    if (None if info is None else info.reset) != granted_in:
        return window
    if window.started > 0:
        return attrs.evolve(window, started=window.started - 1)
    if info is None or info.remaining is None:
        return window
    if info.limit is not None and info.remaining >= info.limit:
        return window
    return attrs.evolve(window, info=attrs.evolve(info, remaining=info.remaining + 1))
