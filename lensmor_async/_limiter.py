"""The adaptive concurrency limiter: the thin anyio shell around ``_core.ratelimit``.

It bounds requests in flight and paces new ones from what the server said: a
429 pauses every request until ``Retry-After`` has passed, an exhausted
``X-RateLimit-Remaining`` pauses until ``X-RateLimit-Reset``, and a low one
(no more than could be in flight at once) spaces request starts over the rest of
the window. Paced requests take turns one at a time and compute their start from
the newest headers when their turn comes, so a new window (or another answer
saying plenty remains) lets them go at once instead of on a schedule booked
earlier. All waiting is ``anyio.sleep``.

The hot path (no pause, no spacing) is one semaphore acquire plus one boolean
check: the limiter is its own context manager, so ``slot()`` allocates nothing.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType

import anyio
import attrs

from lensmor_async._core.ratelimit import (
    NO_PACE,
    Pace,
    RateLimitInfo,
    WindowUse,
    adopt,
    pace,
    pause_until_after_429,
    sharers_after_429,
    sharers_after_window,
    tally,
    turn_delay,
)
from lensmor_async.errors import ConfigurationError

__all__ = ["AdaptiveLimiter", "Clocks"]

_NO_PAUSE = -math.inf


@attrs.frozen(slots=True)
class Clocks:
    """A limiter's time: ``clock`` (monotonic) measures waits, ``wall_clock`` (Unix
    seconds) reads the server's instants, ``sleep`` waits."""

    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]


class AdaptiveLimiter:
    """Bounds in-flight requests and applies rate-limit pacing.

    ``clock`` (monotonic) measures waits; ``wall_clock`` (Unix seconds) reads the
    server's instants (``X-RateLimit-Reset``, HTTP dates); ``sleep`` waits. Tests
    inject fakes for all three. No pause is longer than ``max_pause`` seconds, and
    a request waits for an exhausted window no longer than ``max_pause`` in all
    (counting the pauses it already waited), so a wrong clock or a hostile header
    cannot stall the client for long; a 429's ``Retry-After`` (itself capped at
    ``max_pause``) is always waited out.
    """

    __slots__ = (
        "_clock",
        "_dozing",
        "_free",
        "_gated",
        "_info",
        "_last_start",
        "_low_fraction",
        "_max_concurrency",
        "_max_pause",
        "_paused_until",
        "_sharers",
        "_sleep",
        "_spacing",
        "_started",
        "_turns",
        "_waiters",
        "_wall_clock",
        "_window",
    )

    def __init__(
        self,
        max_concurrency: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        max_pause: float = 60.0,
        low_fraction: float = 0.1,
    ) -> None:
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigurationError("max_concurrency must be an integer >= 1")
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if not (math.isfinite(max_pause) and max_pause >= 0):
            raise ConfigurationError(f"max_pause must be a finite number >= 0, got {max_pause}")
        if not 0 <= low_fraction <= 1:
            raise ConfigurationError(f"low_fraction must be within [0, 1], got {low_fraction}")
        self._max_concurrency = max_concurrency
        # A counter and a FIFO of waiters rather than anyio.Semaphore: taking a free
        # slot is then one comparison, with no cancellation checkpoint (the request
        # itself yields right after), and a freed slot is handed straight to a waiter.
        self._free = max_concurrency
        self._waiters: deque[anyio.Event] = deque()
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._max_pause = float(max_pause)
        self._low_fraction = low_fraction
        self._paused_until = _NO_PAUSE
        """Monotonic instant before which no request starts."""
        self._sharers = 1
        """Clients assumed to spend from the key: each 429 is evidence of one more."""
        self._window = WindowUse()
        """This window's answers, tallied while sharers > 1: one spent by us alone lowers them."""
        self._info: RateLimitInfo | None = None
        """The headers pacing follows (the newest, unless from an older window)."""
        self._spacing = 0.0
        """Minimum seconds between request starts at the last observation."""
        self._last_start = _NO_PAUSE
        """Monotonic instant of the last paced start."""
        self._started = 0
        """Paced starts since the headers in ``_info`` came (not in their count yet)."""
        self._turns: anyio.Lock | None = None
        """Paced requests start one at a time, in arrival order (made in the event loop)."""
        self._dozing: anyio.CancelScope | None = None
        """The sleep of the request whose turn is next, cut short when pacing relaxes."""
        self._gated = False
        """True while a pause or spacing may apply: the only check on the hot path."""

    @property
    def max_concurrency(self) -> int:
        """The most requests allowed in flight at once."""
        return self._max_concurrency

    @property
    def in_flight(self) -> int:
        """Slots currently held."""
        return self._max_concurrency - self._free

    @property
    def clocks(self) -> Clocks:
        """The clocks and the sleep this limiter waits with (fakes in tests)."""
        return Clocks(self._clock, self._wall_clock, self._sleep)

    @property
    def info(self) -> RateLimitInfo | None:
        """The headers pacing follows (None before any answer carried them)."""
        return self._info

    @property
    def max_pause(self) -> float:
        """The longest a pause or an exhausted window holds a request, in seconds."""
        return self._max_pause

    @property
    def low_fraction(self) -> float:
        """Pacing starts when no more than this share of the limit remains."""
        return self._low_fraction

    @property
    def paused(self) -> bool:
        """Whether a pause (429 or exhausted window) is in force right now."""
        return self._paused_until > self._clock()

    def slot(self) -> AdaptiveLimiter:
        """The context manager for one request: ``async with limiter.slot(): ...``.

        Returns the limiter itself (no per-request object); entering waits for a
        free slot, then for any pause or spacing; leaving frees the slot.
        """
        return self

    async def __aenter__(self) -> None:
        if not self.try_enter():
            await self.enter()

    def try_enter(self) -> bool:
        """Take a slot at once if one is free and no pacing applies (the hot path)."""
        if self._free > 0 and not self._waiters and not self._gated:
            self._free -= 1
            return True
        return False

    async def enter(self) -> None:
        """Take a slot, waiting for one and for any pause or spacing; ``release()`` after."""
        await self.take_slot()
        if not self._gated:
            return
        try:
            await self._wait_turn()
        except BaseException:
            # Cancelled (or failed) while pacing: give back the slot this task took.
            self._release()
            raise

    async def take_slot(self) -> None:
        """Take a slot, waiting for one but not for pacing; ``release()`` after."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()

    async def take_turn(self) -> None:
        """Wait for any pause or spacing, holding a slot (a shared limiter's fallback)."""
        if self._gated:
            await self._wait_turn()

    def release(self) -> None:
        """Give back a slot taken with ``try_enter()`` or ``enter()``."""
        self._release()

    async def _wait_for_slot(self) -> None:
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self._release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(event)
            raise

    def _release(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()  # hand the slot over; the free count is unchanged
        else:
            self._free += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def observe(self, info: RateLimitInfo | None, now: float | None = None) -> None:
        """Adopt the pacing implied by a response's ``X-RateLimit-*`` headers.

        ``now`` is wall-clock Unix seconds (what ``X-RateLimit-Reset`` is compared with).
        """
        if info is None:
            return
        wall_now = self._wall_clock() if now is None else now
        held = self._info
        self._info = adopt(held, info, self._started, now=wall_now, max_wait=self._max_pause)
        if self._info is not held:
            self._started = 0  # the adopted answer already counts those starts (or a new window)
        if self._sharers > 1:
            self._count_sharers(info)
        decision = self._pace(wall_now)
        # _spacing is also what a paced turn dozes on, so a relaxed answer wakes it below.
        if decision is NO_PACE and not self._spacing:
            self._gated = self._paused_until != _NO_PAUSE  # the usual answer, in few steps
            return
        if decision.wait > 0:
            self._extend_pause(self._clock() + decision.wait)
        if decision.spacing < self._spacing and self._dozing is not None:
            self._dozing.cancel()  # the next paced start may go sooner: let it re-check
        self._spacing = decision.spacing
        self._gated = decision is not NO_PACE or self._paused_until != _NO_PAUSE

    def _count_sharers(self, info: RateLimitInfo) -> None:
        use = tally(self._window, info)
        if self._window.reset is not None and use.reset != self._window.reset:
            # A new window began: the last one's tally says whether others spent in it.
            self._sharers = sharers_after_window(self._sharers, self._window, info.limit)
        self._window = use

    def _pace(self, wall_now: float) -> Pace:
        return pace(
            self._info,
            wall_now,
            low_fraction=self._low_fraction,
            max_wait=self._max_pause,
            # Slots held, waiting or sending: a bulk job holds them all, so pacing takes
            # over earlier for it than for a caller making one request at a time.
            in_flight=(self._max_concurrency - self._free) * self._sharers,
            burst=self._max_concurrency * self._sharers,
            started=self._started,
            sharers=self._sharers,
        )

    def pause_until(self, t: float) -> None:
        """No request starts before ``t`` (wall-clock Unix seconds), capped at ``max_pause``."""
        self.pause_for(t - self._wall_clock())

    def pause_for(self, seconds: float) -> None:
        """No request starts for ``seconds`` (capped at ``max_pause``; <= 0 does nothing)."""
        if seconds > 0:
            self._extend_pause(self._clock() + min(seconds, self._max_pause))

    def pause_after_429(self, retry_after: str | None) -> None:
        """Pause for a 429's raw ``Retry-After`` value (a default pause if it is unusable)."""
        until = pause_until_after_429(
            retry_after, now=self._clock(), wall_now=self._wall_clock(), cap=self._max_pause
        )
        self._extend_pause(until)
        limit = None if self._info is None else self._info.limit
        self._sharers = sharers_after_429(self._sharers, self._max_concurrency, limit)
        self._window = attrs.evolve(self._window, refused=True)

    def _extend_pause(self, until: float) -> None:
        # A pause only ever grows: a short Retry-After must not cut a longer one short.
        if until > self._paused_until:
            self._paused_until = until
            self._gated = True

    async def _wait_turn(self) -> None:
        # A pause already covers the wait for an exhausted window (observe() set it).
        paused = await self._wait_out_pause()
        if self._turns is None:
            self._turns = anyio.Lock()
        async with self._turns:
            while True:
                # A 429 may have come while this request queued for its turn.
                paused += await self._wait_out_pause()
                decision = self._pace(self._wall_clock())
                if decision.wait > 0:
                    # Pauses waited so far count, so one request waits max_pause in all:
                    # a wrong clock or header (or a window longer than that) stalls no longer.
                    wait = min(decision.wait, self._max_pause - paused)
                    if wait <= 0:
                        break
                    self._extend_pause(self._clock() + wait)
                    continue
                if decision is NO_PACE:
                    # The window turned over (or plenty remains): back to the hot path.
                    self._spacing = 0.0
                    self._gated = self._paused_until != _NO_PAUSE
                    return
                self._spacing = decision.spacing  # observe() wakes the doze when pacing relaxes
                delay = turn_delay(decision.spacing, self._clock() - self._last_start)
                if delay <= 0 or await self._doze(delay):
                    break
            # A 429 may have arrived while this request waited for its turn.
            await self._wait_out_pause()
            self._last_start = self._clock()
            self._started += 1

    async def _doze(self, seconds: float) -> bool:
        """Sleep; False if new headers cut it short (pacing relaxed), True if it ran out."""
        with anyio.CancelScope() as scope:
            self._dozing = scope
            try:
                await self._sleep(seconds)
            finally:
                self._dozing = None
        return not scope.cancel_called

    async def _wait_out_pause(self) -> float:
        """Sleep until no pause is in force; the seconds that took."""
        began = self._clock()
        while (delay := self._paused_until - self._clock()) > 0:
            await self._sleep(delay)
        if self._paused_until != _NO_PAUSE:
            self._paused_until = _NO_PAUSE
            self._gated = self._spacing > 0
        return self._clock() - began

    def __repr__(self) -> str:
        return (
            f"AdaptiveLimiter(max_concurrency={self._max_concurrency}, "
            f"paused={self._paused_until != _NO_PAUSE}, spacing={self._spacing:.3f})"
        )
