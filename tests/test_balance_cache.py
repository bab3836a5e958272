"""The balance cache: single-flight refreshes, TTL, local adjustments."""

from __future__ import annotations

import anyio
import pytest

from lensmor_async.guard import _balance
from lensmor_async.guard._balance import BalanceCache

pytestmark = pytest.mark.anyio

GUARD_SECONDS = 10  # deadlock guard only


class FakeClock:
    """Stands in for the module's ``time`` so TTL tests move time by hand, not by sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(_balance, "time", fake)
    return fake


class Server:
    """A balance endpoint that counts fetches and can be held mid-flight."""

    def __init__(self, balance: int = 500) -> None:
        self.balance = balance
        self.fetches = 0
        self.gate: anyio.Event | None = None
        self.fail_next: Exception | None = None

    async def fetch(self) -> int:
        self.fetches += 1
        value = self.balance
        if self.gate is not None:
            await self.gate.wait()
        else:
            await anyio.lowlevel.checkpoint()
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        return value


async def primed(balance: int = 100, *, ttl: float = 30) -> tuple[Server, BalanceCache]:
    """A server and a cache that has fetched the balance once."""
    server = Server(balance)
    cache = BalanceCache(server.fetch, ttl=ttl)
    await cache.current()
    return server, cache


def held_mid_fetch(balance: int = 100) -> tuple[Server, BalanceCache, anyio.Event]:
    """A server whose fetches wait until the returned gate is set, and a cache on it."""
    server = Server(balance)
    server.gate = gate = anyio.Event()
    return server, BalanceCache(server.fetch, ttl=30), gate


async def test_hundred_concurrent_callers_cause_exactly_one_fetch(clock: FakeClock) -> None:
    server, cache, gate = held_mid_fetch(750)
    seen: list[int] = []

    async def caller() -> None:
        seen.append(await cache.current())

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            gate.set()

    assert server.fetches == 1
    assert cache.refreshes == 1
    assert seen == [750] * 100


async def test_unknown_until_first_fetch(clock: FakeClock) -> None:
    cache = BalanceCache(Server(42).fetch, ttl=30)
    assert cache.known is None
    assert await cache.current() == 42
    assert cache.known == 42


async def test_a_fresh_balance_is_served_from_cache(clock: FakeClock) -> None:
    server, cache = await primed()
    server.balance = 90
    clock.now += 30
    assert await cache.current() == 100
    assert server.fetches == 1


async def test_a_stale_balance_is_refreshed_after_the_ttl(clock: FakeClock) -> None:
    server, cache = await primed()
    server.balance = 90
    clock.now += 30.5
    assert await cache.current() == 90
    assert server.fetches == 2
    assert cache.refreshes == 2


async def test_max_age_overrides_the_ttl(clock: FakeClock) -> None:
    server, cache = await primed(ttl=300)
    server.balance = 80
    clock.now += 5
    assert await cache.current() == 100
    assert await cache.current(max_age=1) == 80
    assert server.fetches == 2


async def test_spend_subtracts_from_the_cached_balance(clock: FakeClock) -> None:
    server, cache = await primed()
    cache.spend(15)
    cache.spend(0)
    assert cache.known == 85
    assert await cache.current() == 85
    assert server.fetches == 1


async def test_spend_before_any_fetch_is_ignored(clock: FakeClock) -> None:
    cache = BalanceCache(Server(100).fetch, ttl=30)
    cache.spend(15)
    assert cache.known is None
    assert await cache.current() == 100


async def test_observe_adopts_a_server_reported_balance_as_fresh(clock: FakeClock) -> None:
    server = Server(100)
    cache = BalanceCache(server.fetch, ttl=30)
    cache.observe(64)
    assert cache.known == 64
    assert await cache.current() == 64
    assert server.fetches == 0


async def test_observe_restarts_the_ttl(clock: FakeClock) -> None:
    server, cache = await primed()
    clock.now += 25
    cache.observe(70)
    clock.now += 25
    assert await cache.current() == 70
    assert server.fetches == 1


async def test_invalidate_forces_the_next_call_to_refresh(clock: FakeClock) -> None:
    server, cache = await primed()
    server.balance = 55
    cache.invalidate()
    assert cache.known == 100  # still readable without I/O
    assert await cache.current() == 55
    assert server.fetches == 2


async def test_a_failed_fetch_propagates_and_the_next_call_retries(clock: FakeClock) -> None:
    server = Server(100)
    server.fail_next = ConnectionError("down")
    cache = BalanceCache(server.fetch, ttl=30)
    with pytest.raises(ConnectionError):
        await cache.current()
    assert cache.known is None
    assert cache.refreshes == 0
    assert await cache.current() == 100
    assert cache.refreshes == 1


async def test_invalidate_during_a_refresh_still_forces_another_refresh(clock: FakeClock) -> None:
    server, cache, gate = held_mid_fetch()
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cache.current)
            await anyio.wait_all_tasks_blocked()
            cache.invalidate()  # e.g. a spend went in doubt while the fetch was in flight
            server.balance = 40
            gate.set()
        assert await cache.current() == 40
    assert server.fetches == 2


async def test_a_balance_observed_during_a_refresh_is_not_overwritten(clock: FakeClock) -> None:
    _, cache, gate = held_mid_fetch()
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(cache.current)
            await anyio.wait_all_tasks_blocked()
            cache.observe(60)  # balanceAfter from a paid call that finished meanwhile
            gate.set()
    assert cache.known == 60
