"""Several limiters sharing one key's rate limit through a real redis-server.

Time is fake (the limiters' clocks move only when they sleep), so nothing here is
timed: the store decides from the instants the limiters pass it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
import redis.asyncio
from ledger_backends import closed_port

from lensmor_async import AsyncLensmor, RedisRateLimitStore, StartGrant, StartRequest
from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._intent import account_fingerprint
from lensmor_async._limiter import AdaptiveLimiter
from lensmor_async._shared_limiter import SharedLimiter
from lensmor_async.errors import ConfigurationError, RateLimitStoreError
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio
WALL_START = 1_714_521_600.0
ACCOUNT = "0123456789abcdef"


class FakeTime:
    """One wall clock for every limiter; it moves only when one of them sleeps."""

    def __init__(self) -> None:
        self.now = WALL_START

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    def local(self) -> AdaptiveLimiter:
        return AdaptiveLimiter(2, clock=self.clock, wall_clock=self.wall, sleep=self.sleep)

    def limiter(self, store: RedisRateLimitStore) -> SharedLimiter:
        return SharedLimiter(self.local(), store, ACCOUNT)


@pytest.fixture
async def raw(redis_url: str, anyio_backend: str) -> AsyncIterator[redis.asyncio.Redis]:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def _state(raw: redis.asyncio.Redis, store: RedisRateLimitStore) -> dict[str, str]:
    state: dict[str, str] = await raw.hgetall(f"{{{store.key}:{ACCOUNT}}}:state")
    return state


async def _starts(time: FakeTime, limiters: list[Any], reset: int, calls: int) -> list[float]:
    """When each of ``calls`` concurrent requests, spread over ``limiters``, started."""
    for limiter in limiters:
        limiter.observe(RateLimitInfo(limit=100, remaining=20, reset=reset), WALL_START)
    starts: list[float] = []

    async def request(limiter: Any) -> None:
        await limiter.enter()
        starts.append(time.now)
        limiter.release()

    async with anyio.create_task_group() as tg:
        for n in range(calls):
            tg.start_soon(request, limiters[n % len(limiters)])
    return starts


class Wrapped:
    """The real store, passed through (subclasses watch or hold its ``start``)."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        self.store = store

    async def start(self, request: StartRequest, /) -> StartGrant:
        return await self.store.start(request)

    async def give_back(self, request: StartRequest, /) -> None:
        await self.store.give_back(request)

    async def pause_until(self, account: str, until: float, /) -> None:
        await self.store.pause_until(account, until)

    async def aclose(self) -> None:
        await self.store.aclose()


class RecordsGrants(Wrapped):
    """Notes the instant the store was told for every start it granted."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        super().__init__(store)
        self.granted_at: list[float] = []

    async def start(self, request: StartRequest, /) -> StartGrant:
        grant = await self.store.start(request)
        if grant.granted:
            self.granted_at.append(request.now + grant.delay)
        return grant


async def test_limiters_sharing_a_key_never_start_more_than_the_server_said_remains(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    time = FakeTime()
    reset = int(WALL_START) + 30
    recorder = RecordsGrants(rate_limit_store)
    limiters = [SharedLimiter(time.local(), recorder, ACCOUNT) for _ in range(3)]
    starts = await _starts(time, limiters, reset, 45)
    # The store decides from the instants it is told (each limiter's clock when it asked).
    assert len([t for t in recorder.granted_at if t < reset]) <= 20
    assert len(starts) == len(recorder.granted_at) == 45  # the rest in the next window


async def test_limiters_pacing_alone_would_overdraw_the_same_window() -> None:
    # The contrast for the test above: without the store each spends the 20 on its own.
    time = FakeTime()
    reset = int(WALL_START) + 30
    starts = await _starts(time, [time.local() for _ in range(3)], reset, 45)
    assert len([t for t in starts if t < reset]) > 20


async def test_a_429_in_one_limiter_pauses_the_others(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    store = rate_limit_store
    time = FakeTime()
    refused, other = time.limiter(store), time.limiter(store)
    await refused.share_429("30")
    await other.enter()
    other.release()
    assert time.now >= WALL_START + 30
    assert not other.local.paused  # it learned of the pause only through the store


async def test_a_limiter_whose_store_is_down_paces_alone_and_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dead = RedisRateLimitStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5)
    time = FakeTime()
    limiter = time.limiter(dead)
    with caplog.at_level(logging.INFO, logger="lensmor_async"):
        for _ in range(3):
            await limiter.enter()
            limiter.release()
        limiter.pause_after_429("1")  # as the pipeline does on a 429
        await limiter.share_429("1")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "pacing from this process's own" in warnings[0].getMessage()
    assert not limiter.sharing
    assert limiter.local.paused  # the 429 still paused this client
    await dead.aclose()


class FailsOnce(Wrapped):
    """The real store, failing its first ask as an unreachable one would."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        super().__init__(store)
        self.failed = False

    async def start(self, request: StartRequest, /) -> StartGrant:
        if not self.failed:
            self.failed = True
            raise RateLimitStoreError("the Redis rate-limit store failed: ConnectionError")
        return await self.store.start(request)


async def test_a_limiter_shares_again_once_its_store_answers_again(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    time = FakeTime()
    limiter = SharedLimiter(time.local(), FailsOnce(rate_limit_store), ACCOUNT)
    await limiter.enter()  # the store fails: this start is paced locally
    limiter.release()
    assert not limiter.sharing
    time.now += 5.0  # the store is asked again after retry_store_after
    await limiter.enter()
    limiter.release()
    assert limiter.sharing
    assert (await _state(raw, rate_limit_store))["started"] == "1"


async def test_a_client_whose_store_is_down_still_answers_read_calls() -> None:
    dead = RedisRateLimitStore(f"redis://127.0.0.1:{closed_port()}/0", socket_timeout=0.5)
    async with (
        FakeLensmor() as fake,
        AsyncLensmor(fake.api_key, base_url=fake.url, testing=True, rate_limit_store=dead) as c,
    ):
        balance = await c.credits.balance()
        again = await c.credits.balance()
    assert balance.total_balance == again.total_balance  # both answered, none raised
    await dead.aclose()


class HoldsAfterGrant(Wrapped):
    """Holds each ask once Redis granted it (the moment a cancel hurts)."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        super().__init__(store)
        self.granted = anyio.Event()

    async def start(self, request: StartRequest, /) -> StartGrant:
        grant = await self.store.start(request)
        self.granted.set()
        await anyio.sleep_forever()
        return grant


def _holding(store: RedisRateLimitStore) -> tuple[SharedLimiter, HoldsAfterGrant]:
    holder = HoldsAfterGrant(store)
    return SharedLimiter(AdaptiveLimiter(2), holder, ACCOUNT), holder


async def test_an_anyio_cancel_after_the_grant_returns_the_start_and_the_slot(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    store = rate_limit_store
    limiter, holder = _holding(store)
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.enter)
        await holder.granted.wait()
        assert (await _state(raw, store))["started"] == "1"
        tg.cancel_scope.cancel()
    assert (await _state(raw, store))["started"] == "0"
    assert limiter.in_flight == 0


async def test_a_task_cancel_after_the_grant_returns_the_start_and_the_slot(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    store = rate_limit_store
    limiter, holder = _holding(store)
    task = asyncio.get_running_loop().create_task(limiter.enter())
    await holder.granted.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await _state(raw, store))["started"] == "0"
    assert limiter.in_flight == 0


async def test_a_request_cancelled_while_paused_takes_no_start_and_frees_its_slot(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    store = rate_limit_store
    limiter = SharedLimiter(AdaptiveLimiter(2), store, ACCOUNT)
    await limiter.share_429("30")
    with anyio.move_on_after(0.05):
        await limiter.enter()
    assert (await _state(raw, store)).get("started", "0") == "0"
    assert limiter.in_flight == 0


async def test_the_shared_keys_name_a_digest_of_the_api_key_never_the_key(
    redis_url: str, redis_key: str, raw: redis.asyncio.Redis
) -> None:
    store = RedisRateLimitStore(redis_url, key=redis_key)
    async with (
        FakeLensmor() as fake,
        AsyncLensmor(fake.api_key, base_url=fake.url, testing=True, rate_limit_store=store) as c,
    ):
        await c.credits.balance()
    await store.aclose()
    keys = [key async for key in raw.scan_iter(match=f"{{{redis_key}:*")]
    assert keys
    assert all(account_fingerprint(fake.api_key) in key for key in keys)
    assert not any(fake.api_key in key for key in keys)


async def test_a_cancel_during_a_booked_start_returns_it_and_the_slot(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    store = rate_limit_store
    time = FakeTime()
    sleeping = anyio.Event()

    async def sleep_until_cancelled(seconds: float) -> None:
        sleeping.set()
        await anyio.sleep_forever()

    local = AdaptiveLimiter(2, clock=time.clock, wall_clock=time.wall, sleep=sleep_until_cancelled)
    limiter = SharedLimiter(local, store, ACCOUNT)
    limiter.observe(RateLimitInfo(limit=100, remaining=6, reset=int(WALL_START) + 1), WALL_START)
    await limiter.enter()  # the first start goes at once
    limiter.release()
    time.now = WALL_START + 0.15  # the next is due 0.0625 s later: booked, then slept for
    async with anyio.create_task_group() as tg:
        tg.start_soon(limiter.enter)
        await sleeping.wait()
        assert (await _state(raw, store))["started"] == "2"
        tg.cancel_scope.cancel()
    assert (await _state(raw, store))["started"] == "1"
    assert limiter.in_flight == 0


async def test_a_client_closes_its_store_and_a_with_options_copy_does_not(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    async with FakeLensmor() as fake:
        client = AsyncLensmor(
            fake.api_key, base_url=fake.url, testing=True, rate_limit_store=rate_limit_store
        )
        await client.with_options(timeout=5.0).aclose()
        await client.credits.balance()  # the store still answers
        await client.aclose()
    with pytest.raises(RateLimitStoreError, match="closed"):
        await rate_limit_store.pause_until(ACCOUNT, WALL_START)


def test_a_client_refuses_a_rate_limit_store_that_is_not_one() -> None:
    with pytest.raises(ConfigurationError, match="rate_limit_store must be a RateLimitStore"):
        AsyncLensmor("key", rate_limit_store=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "options", "message"),
    [
        ("", {}, "needs a redis:// or rediss:// URL"),
        ("redis://127.0.0.1:1/0", {"key": ""}, "key must be a non-empty str"),
        ("redis://127.0.0.1:1/0", {"sharer_ttl": 0}, "sharer_ttl must be seconds > 0"),
        ("redis://127.0.0.1:1/0", {"socket_timeout": -1}, "socket_timeout must be seconds"),
    ],
)
def test_a_redis_store_refuses_bad_settings_before_connecting(
    url: str, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisRateLimitStore(url, **options)


class HoldsPause(Wrapped):
    """Holds a 429's pause on its way to the store until told to let it through."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        super().__init__(store)
        self.pausing = anyio.Event()
        self.let_through = anyio.Event()

    async def pause_until(self, account: str, until: float, /) -> None:
        self.pausing.set()
        await self.let_through.wait()
        await self.store.pause_until(account, until)


async def test_no_request_starts_before_its_own_clients_429_reached_the_store(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    time = FakeTime()
    holder = HoldsPause(rate_limit_store)
    limiter = SharedLimiter(time.local(), holder, ACCOUNT)
    started_at: list[float] = []
    done = anyio.Event()

    async def refused() -> None:  # as the pipeline does on a 429
        limiter.pause_after_429("30")
        await limiter.share_429("30")

    async def other() -> None:
        await limiter.enter()
        started_at.append(time.now)
        limiter.release()
        done.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(refused)
        await holder.pausing.wait()
        tg.start_soon(other)
        await done.wait()
        holder.let_through.set()
    assert started_at == [WALL_START + 30]


class SlowGiveBack(HoldsAfterGrant):
    """Also holds each give-back until told to let it through."""

    def __init__(self, store: RedisRateLimitStore) -> None:
        super().__init__(store)
        self.giving_back = anyio.Event()
        self.let_through = anyio.Event()

    async def give_back(self, request: StartRequest, /) -> None:
        self.giving_back.set()
        await self.let_through.wait()
        await self.store.give_back(request)


async def test_a_second_task_cancel_during_the_give_back_still_returns_the_start(
    rate_limit_store: RedisRateLimitStore, raw: redis.asyncio.Redis
) -> None:
    store = rate_limit_store
    holder = SlowGiveBack(store)
    limiter = SharedLimiter(AdaptiveLimiter(2), holder, ACCOUNT)
    task = asyncio.get_running_loop().create_task(limiter.enter())
    await holder.granted.wait()
    task.cancel()
    await holder.giving_back.wait()
    task.cancel()  # e.g. asyncio.timeout() firing while a TaskGroup cancels too
    await asyncio.sleep(0)
    holder.let_through.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await _state(raw, store))["started"] == "0"
    assert limiter.in_flight == 0


async def test_an_exhausted_window_holds_a_shared_request_no_longer_than_max_pause(
    rate_limit_store: RedisRateLimitStore,
) -> None:
    # The local limiter pauses too when its own headers say the window is spent; the
    # store already waits for that, so the request must not wait both in turn.
    time = FakeTime()
    limiter = time.limiter(rate_limit_store)
    far = RateLimitInfo(limit=100, remaining=0, reset=int(WALL_START) + 10_000)
    limiter.observe(far, WALL_START)
    await limiter.enter()
    limiter.release()
    assert time.now - WALL_START == pytest.approx(limiter.local.max_pause)
