"""The shared pacing decisions (pure) and the Redis scripts that mirror them, step for step."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
import redis.asyncio

from lensmor_async import RedisRateLimitStore, StartGrant, StartRequest
from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.shared_pacing import (
    SharedWindow,
    give_back,
    share_answer,
    share_pause,
    share_start,
)

T0 = 1_714_521_600.0
WINDOW = RateLimitInfo(limit=100, remaining=100, reset=int(T0) + 10)
KNOBS: dict[str, Any] = {"low_fraction": 0.1, "max_wait": 60.0}


def _start(window: SharedWindow, now: float, burst: int = 4) -> tuple[SharedWindow, StartGrant]:
    return share_start(window, now=now, burst=burst, sharers=1, **KNOBS)


def test_plenty_left_grants_at_once_and_counts_every_start() -> None:
    window = share_answer(SharedWindow(), WINDOW, now=T0, max_wait=60.0)
    for _ in range(5):
        window, grant = _start(window, T0)
        assert grant == StartGrant(granted=True, delay=0.0)
    assert window.started == 5


def test_starts_are_spaced_over_the_time_left_when_few_remain() -> None:
    info = attrs.evolve(WINDOW, remaining=10)
    window = share_answer(SharedWindow(), info, now=T0, max_wait=60.0)
    window, first = _start(window, T0)
    unchanged, second = _start(window, T0)
    assert first == StartGrant(granted=True)
    assert not second.granted  # further off than a booking: ask again after the wait
    # 10 - 1 started - 1 kept back for the one sharer's booked start: 8 over the 10 s left
    assert second.delay == pytest.approx(10 / 8)
    assert unchanged is window


def test_a_paced_start_close_enough_is_booked_and_the_next_spaced_after_it() -> None:
    info = attrs.evolve(WINDOW, remaining=6, reset=int(T0) + 1)
    window = share_answer(SharedWindow(), info, now=T0, max_wait=60.0)
    window, _ = _start(window, T0)
    window, booked = _start(window, T0)  # 4 left over 1 s: 0.25 s apart, too far to book
    assert not booked.granted
    window, booked = _start(window, T0 + 0.15)  # now 0.85 s / 4 apart: 0.0625 s off
    assert booked.granted
    assert booked.delay == pytest.approx(0.85 / 4 - 0.15, abs=1e-6)
    assert window.last_start == pytest.approx(T0 + 0.85 / 4, abs=1e-6)  # the next counts from it


def test_an_exhausted_window_waits_for_its_reset_unless_forced() -> None:
    info = attrs.evolve(WINDOW, remaining=0)
    window = share_answer(SharedWindow(), info, now=T0, max_wait=60.0)
    assert _start(window, T0)[1] == StartGrant(granted=False, delay=pytest.approx(10.0))
    forced, grant = share_start(window, now=T0, burst=4, sharers=1, force=True, **KNOBS)
    assert (grant.granted, forced.started) == (True, 1)


def test_a_pause_holds_every_start_even_a_forced_one() -> None:
    window = share_pause(SharedWindow(), T0 + 3)
    _, grant = share_start(window, now=T0, burst=4, sharers=1, force=True, **KNOBS)
    assert grant == StartGrant(granted=False, delay=pytest.approx(3.0))
    assert share_pause(window, T0 + 1) is window  # a shorter pause never cuts it short


def test_an_answer_lower_than_the_shared_count_is_adopted_and_a_higher_one_is_not() -> None:
    window = share_answer(SharedWindow(), WINDOW, now=T0, max_wait=60.0)
    for _ in range(30):
        window, _ = _start(window, T0)
    higher = share_answer(window, attrs.evolve(WINDOW, remaining=90), now=T0, max_wait=60.0)
    assert higher.info is not None
    assert (higher.info.remaining, higher.started) == (70, 0)
    lower = share_answer(window, attrs.evolve(WINDOW, remaining=50), now=T0, max_wait=60.0)
    assert lower.info is not None
    assert (lower.info.remaining, lower.started) == (50, 0)


def test_a_paced_start_is_never_booked_across_the_reset() -> None:
    info = attrs.evolve(WINDOW, remaining=3, reset=int(T0) + 1)
    window = share_answer(SharedWindow(), info, now=T0, max_wait=60.0)
    window, _ = _start(window, T0 + 0.9)
    _, last = _start(window, T0 + 0.9)  # 1 left (one kept back): due at the reset itself
    assert not last.granted
    assert last.delay == pytest.approx(0.1, abs=1e-6)


def test_a_start_given_back_is_uncounted_only_in_the_window_it_was_granted_in() -> None:
    window = share_answer(SharedWindow(), WINDOW, now=T0, max_wait=60.0)
    window, _ = _start(window, T0)
    assert give_back(window, WINDOW.reset).started == 0
    assert give_back(window, WINDOW.reset + 1) is window
    # After an answer was adopted the start is in its count: the count goes back up.
    adopted = share_answer(window, attrs.evolve(WINDOW, remaining=95), now=T0, max_wait=60.0)
    returned = give_back(adopted, WINDOW.reset)
    assert returned.info is not None
    assert returned.info.remaining == 96


# --- the Redis scripts mirror the pure functions --------------------------------------


class Mirror:
    """The same steps on a pure SharedWindow and on the Redis store."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        self.store = store
        self.window = SharedWindow()
        self.account = uuid.uuid4().hex[:16]
        self.asks = 0
        self.last = StartGrant(granted=False)

    def request(self, now: float, answer: RateLimitInfo | None, force: bool) -> StartRequest:
        self.asks += 1
        return StartRequest(
            account=self.account,
            sharer="one",
            ticket=str(self.asks),
            now=now,
            burst=4,
            answer=answer,
            force=force,
            **KNOBS,
        )

    async def start(
        self, now: float, answer: RateLimitInfo | None = None, force: bool = False
    ) -> StartRequest:
        request = self.request(now, answer, force)
        if answer is not None:
            self.window = share_answer(self.window, answer, now=now, max_wait=60.0)
        self.window, expected = share_start(
            self.window, now=now, burst=4, sharers=1, force=force, **KNOBS
        )
        grant = await self.store.start(request)
        self.last = expected
        assert grant.granted == expected.granted
        assert grant.delay == pytest.approx(expected.delay, abs=1e-9)
        return request

    async def give_back(self, request: StartRequest, granted_in: int | None) -> None:
        self.window = give_back(self.window, granted_in)
        await self.store.give_back(request)

    async def pause(self, until: float) -> None:
        self.window = share_pause(self.window, until)
        await self.store.pause_until(self.account, until)


@pytest.mark.anyio
async def test_the_redis_scripts_make_the_pure_decisions(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    store = rate_limit_store
    mirror = Mirror(store)
    await mirror.start(T0)  # nothing known yet: granted
    await mirror.start(T0, attrs.evolve(WINDOW, remaining=12))
    for step in range(8):
        await mirror.start(T0 + step * 0.4)
    await mirror.start(T0 + 4, attrs.evolve(WINDOW, remaining=11))  # higher: ours stays
    await mirror.start(T0 + 4.5, attrs.evolve(WINDOW, remaining=1))  # lower: adopted
    granted = await mirror.start(T0 + 9.0)
    await mirror.give_back(granted, WINDOW.reset)
    await mirror.start(T0 + 9.5, attrs.evolve(WINDOW, remaining=0))  # exhausted: wait
    await mirror.start(T0 + 9.6, force=True)
    await mirror.pause(T0 + 12)
    await mirror.start(T0 + 11, force=True)  # a pause holds even a forced start
    later = RateLimitInfo(limit=100, remaining=99, reset=int(T0) + 20)
    await mirror.start(T0 + 12, later)  # a new window
    await mirror.start(T0 + 12, WINDOW)  # a late answer from the old one: ignored
    assert mirror.window.info == later
    assert mirror.window.started == 2


@pytest.mark.anyio
async def test_the_redis_scripts_book_paced_starts_as_the_pure_decision_does(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    mirror = Mirror(rate_limit_store)
    await mirror.start(T0, attrs.evolve(WINDOW, remaining=6, reset=int(T0) + 1))
    await mirror.start(T0)  # 0.25 s off: a wait
    assert not mirror.last.granted
    booked = await mirror.start(T0 + 0.15)  # 0.0625 s off: booked
    assert mirror.last.granted
    assert mirror.last.delay > 0
    await mirror.give_back(booked, int(T0) + 1)
    await mirror.start(T0 + 0.15)  # its time stays taken (a gap, never a burst): a wait
    assert not mirror.last.granted
    assert mirror.window.started == 1
    next_window = attrs.evolve(WINDOW, remaining=3, reset=int(T0) + 2)
    await mirror.start(T0 + 1.95, next_window)
    await mirror.start(T0 + 1.95)  # 1 left, due 0.05 s later, at the reset: not booked
    assert not mirror.last.granted
    assert mirror.last.delay == pytest.approx(0.05, abs=1e-6)


@pytest.mark.anyio
async def test_a_ticket_given_back_before_its_start_arrived_grants_nothing(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    store = rate_limit_store
    mirror = Mirror(store)
    request = mirror.request(T0, WINDOW, force=False)
    await store.give_back(request)
    assert not (await store.start(request)).granted
    # Nothing was counted: the next start is the first one.
    fresh = mirror.request(T0, None, force=False)
    assert await store.start(fresh) == StartGrant(granted=True)


@pytest.mark.anyio
@pytest.mark.parametrize("huge", [2**63, 10**20 - 1])
async def test_an_absurd_reset_keeps_an_exhausted_window_waiting_in_the_redis_script(
    rate_limit_store: RedisRateLimitStore, huge: int
) -> None:
    # Header values reach 20 digits: past what Lua's %d can print (2**63 wraps negative).
    mirror = Mirror(rate_limit_store)
    await mirror.start(T0, RateLimitInfo(limit=100, remaining=0, reset=huge))
    await mirror.start(T0 + 1)  # the stored window, read back: still exhausted, a wait
    assert not mirror.last.granted


@pytest.mark.anyio
async def test_a_start_given_back_twice_is_returned_once(
    rate_limit_store: RedisRateLimitStore, redis_url: str
) -> None:
    mirror = Mirror(rate_limit_store)
    await mirror.start(T0, WINDOW)
    granted = await mirror.start(T0)
    await mirror.give_back(granted, WINDOW.reset)
    await rate_limit_store.give_back(granted)  # a retried give-back: nothing more returned
    raw = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    state = f"{{{rate_limit_store.key}:{mirror.account}}}:state"
    assert await raw.hget(state, "started") == "1"
    await raw.aclose()


@pytest.mark.anyio
async def test_a_pause_from_a_clock_running_ahead_holds_no_sharer_past_the_cap(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    # A 429's pause is capped at max_wait (60 s) when written; one ending an hour later
    # was written by a host whose clock runs an hour ahead.
    mirror = Mirror(rate_limit_store)
    await mirror.start(T0, WINDOW)
    await mirror.pause(T0 + 3600)
    await mirror.start(T0)
    assert mirror.last == StartGrant(granted=False, delay=pytest.approx(60.0))
    await mirror.start(T0 + 60)  # the cut pause was stored: it ends for everyone
    assert mirror.last.granted
