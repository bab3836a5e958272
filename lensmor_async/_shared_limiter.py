"""The limiter of a client whose rate limit is shared through a ``RateLimitStore``.

It composes the in-process :class:`AdaptiveLimiter` (slots, headers, and pacing of
its own when the store is down) with the store, which grants every request start
for all processes sharing the key. Requests of one process ask the store one at a
time, in arrival order, so a process has at most one ask on its way; each ask
carries the newest headers this process saw, so the store paces every sharer from
every answer.

When the store fails (``RateLimitStoreError``, or any other exception from a
third-party store), the client logs one warning, paces from its own headers alone
(the single-process behaviour) and asks the store again ``retry_store_after``
seconds later. A read call never fails because the store did: "never send more
than the server allows" cannot be guaranteed without the store, so the safe
reading is to keep serving at the pace one process would choose.

Cancellation (anyio or ``Task.cancel()``) while an ask is on its way gives the start
back (shielded, and asked again if a further ``Task.cancel()`` interrupts it), so a
cancelled request never keeps a start or a slot.
"""

from __future__ import annotations

import itertools
import logging
import math
import uuid

import anyio

from lensmor_async._core.ratelimit import RateLimitInfo, pause_until_after_429
from lensmor_async._core.shared_pacing import StartGrant
from lensmor_async._limiter import AdaptiveLimiter
from lensmor_async._rate_limit_store import RateLimitStore, StartRequest

__all__ = ["SharedLimiter"]

logger = logging.getLogger("lensmor_async")
_GIVE_BACK_TRIES = 3
"""Give-backs tried while further ``Task.cancel()`` calls interrupt them."""


class SharedLimiter:
    """Slots from an :class:`AdaptiveLimiter`, request starts from a shared store."""

    __slots__ = (
        "_account",
        "_asks",
        "_clocks",
        "_down_until",
        "_local",
        "_refused_until",
        "_retry_store_after",
        "_sent",
        "_sharer",
        "_store",
        "_turns",
        "_warned",
    )

    def __init__(
        self,
        local: AdaptiveLimiter,
        store: RateLimitStore,
        account: str,
        *,
        retry_store_after: float = 5.0,
    ) -> None:
        self._local = local
        self._clocks = local.clocks
        self._store = store
        self._account = account
        """Which key's limit: a digest of the API key, never the key itself."""
        self._sharer = uuid.uuid4().hex
        self._asks = itertools.count()
        self._retry_store_after = retry_store_after
        self._down_until = -math.inf
        """Monotonic instant before which the store is not asked (it failed)."""
        self._warned = False
        self._refused_until = -math.inf
        """Monotonic instant of this client's latest 429's end (the store learns it later)."""
        self._sent: RateLimitInfo | None = None
        """The headers passed with the last ask (an unchanged answer is not sent again)."""
        self._turns: anyio.Lock | None = None

    @property
    def local(self) -> AdaptiveLimiter:
        """The in-process limiter: slots, the last headers, and the fallback pacing."""
        return self._local

    @property
    def max_concurrency(self) -> int:
        return self._local.max_concurrency

    @property
    def in_flight(self) -> int:
        return self._local.in_flight

    @property
    def sharing(self) -> bool:
        """False while the store is down and this client paces on its own."""
        return self._local_clock() >= self._down_until

    def try_enter(self) -> bool:
        """Never the hot path: every start is granted by the store."""
        return False

    async def enter(self) -> None:
        """Take a slot, then a start granted by the store; ``release()`` after."""
        await self._local.take_slot()
        try:
            await self._take_turn()
        except BaseException:
            self._local.release()  # cancelled while waiting for the store: free the slot
            raise

    def release(self) -> None:
        self._local.release()

    def observe(self, info: RateLimitInfo | None, now: float | None = None) -> None:
        """Adopt an answer's headers here; the next ask shares them."""
        self._local.observe(info, now)

    def pause_after_429(self, retry_after: str | None) -> None:
        """Pause this client until ``Retry-After`` (:meth:`share_429` tells the others)."""
        self._local.pause_after_429(retry_after)
        until = pause_until_after_429(
            retry_after, now=self._local_clock(), wall_now=self._wall(), cap=self._local.max_pause
        )
        self._refused_until = max(self._refused_until, until)

    async def share_429(self, retry_after: str | None) -> None:
        """Pause every sharer of the key, through the store, until ``Retry-After``."""
        if not self.sharing:
            return
        until = pause_until_after_429(retry_after, now=self._wall(), cap=self._local.max_pause)
        try:
            await self._store.pause_until(self._account, until)
        except Exception as exc:  # any store failure: pace alone (this client is paused)
            self._store_failed(exc)

    async def _take_turn(self) -> None:
        if self._turns is None:
            self._turns = anyio.Lock()
        async with self._turns:
            waited = 0.0
            while self.sharing:
                # This client's own 429 pauses it before the store hears of it (and a 429
                # may arrive while an ask is on its way): no start goes before it passed.
                await self._wait_out_refusal()
                request = self._request(force=waited >= self._local.max_pause)
                grant = await self._ask(request)
                if grant is None:
                    break  # the store failed: pace alone below
                if grant.granted:
                    await self._booked(request, grant.delay)
                    return
                delay = min(grant.delay, self._local.max_pause)
                await self._local_sleep(delay)
                waited += delay
            await self._local.take_turn()

    async def _booked(self, request: StartRequest, delay: float) -> None:
        """Sleep until a granted start (booked ``delay`` ahead) and past any local pause.

        Cancelled meanwhile, the start is given back.
        """
        try:
            if delay > 0:
                await self._local_sleep(delay)
            await self._wait_out_refusal()
        except BaseException:
            await self._give_back(request)
            raise

    async def _wait_out_refusal(self) -> None:
        """Sleep until this client's own latest 429 pause has passed."""
        while (delay := self._refused_until - self._local_clock()) > 0:
            await self._local_sleep(delay)

    def _request(self, *, force: bool) -> StartRequest:
        info = self._local.info
        answer = None if info is self._sent else info
        return StartRequest(
            account=self._account,
            sharer=self._sharer,
            ticket=f"{self._sharer}-{next(self._asks)}",
            now=self._wall(),
            burst=self._local.max_concurrency,
            answer=answer,
            low_fraction=self._local.low_fraction,
            max_wait=self._local.max_pause,
            force=force,
        )

    async def _ask(self, request: StartRequest) -> StartGrant | None:
        """The store's answer to ``request``; None if the store failed."""
        try:
            grant = await self._store.start(request)
        except Exception as exc:
            self._store_failed(exc)
            return None
        except BaseException:
            await self._give_back(request)  # cancelled: the start may have been granted
            raise
        if request.answer is not None:
            self._sent = request.answer
        if self._down_until != -math.inf:
            self._down_until = -math.inf
            logger.info("the shared rate-limit store answers again; pacing with the other sharers")
        return grant

    async def _give_back(self, request: StartRequest) -> None:
        # The shield stops anyio's cancellation, not a further asyncio ``Task.cancel()``:
        # one interrupting the give-back asks again (it is idempotent, per ticket), a few
        # times at most so a task cancelled over and over still ends.
        cancelled = anyio.get_cancelled_exc_class()
        with anyio.CancelScope(shield=True):
            for _ in range(_GIVE_BACK_TRIES):
                try:
                    await self._store.give_back(request)
                except cancelled:
                    continue
                except Exception as exc:
                    self._store_failed(exc)
                return

    def _store_failed(self, exc: Exception) -> None:
        self._down_until = self._local_clock() + self._retry_store_after
        if self._warned:
            logger.info("the shared rate-limit store is still unavailable (%s)", type(exc).__name__)
            return
        self._warned = True
        logger.warning(
            "the shared rate-limit store failed (%s); pacing from this process's own "
            "rate-limit headers until it answers again (other processes on the key may "
            "then draw 429s)",
            type(exc).__name__,
        )

    def _local_clock(self) -> float:
        return self._clocks.clock()

    def _wall(self) -> float:
        return self._clocks.wall_clock()

    async def _local_sleep(self, seconds: float) -> None:
        await self._clocks.sleep(seconds)

    def __repr__(self) -> str:
        return f"SharedLimiter({self._local!r}, sharing={self.sharing})"
