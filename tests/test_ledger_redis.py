"""RedisLedger specifics against a real redis-server: layout, Lua purge, fencing, clocks."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio
from ledger_backends import closed_port

from lensmor_async.errors import (
    BudgetExceededError,
    ConfigurationError,
    CreditError,
    InvalidRequestError,
)
from lensmor_async.guard._ledger_protocol import Hold, LedgerSnapshot, StaleHoldError
from lensmor_async.guard._ledger_redis import RedisLedger

pytest_plugins = ["ledger_backends"]
pytestmark = pytest.mark.anyio

LONG = 60.0
SHORT = 0.05
PAST_SHORT = 0.2


@pytest.fixture
async def raw(redis_url: str, anyio_backend: str) -> AsyncIterator[redis.asyncio.Redis]:
    """A plain client to look at what the ledger stored."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def ledger(redis_url: str, redis_key: str, anyio_backend: str) -> AsyncIterator[RedisLedger]:
    ledger = RedisLedger(redis_url, key=redis_key, budget=100)
    try:
        yield ledger
    finally:
        await ledger.aclose()


async def test_data_lives_under_one_hash_tagged_prefix(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    hold = await ledger.reserve("intent-a", 40, ttl=LONG)
    keys = sorted(await raw.keys(f"*{redis_key}*"))
    assert keys == [
        f"{{{redis_key}}}:expiry",
        f"{{{redis_key}}}:holds",
        f"{{{redis_key}}}:intent:intent-a",
        f"{{{redis_key}}}:meta",
    ]
    assert await raw.smembers(f"{{{redis_key}}}:intent:intent-a") == {hold.hold_id}
    meta = await raw.hgetall(f"{{{redis_key}}}:meta")
    assert meta == {"budget": "100", "reserved": "40", "fence": str(hold.fence)}
    entry = await raw.hget(f"{{{redis_key}}}:holds", hold.hold_id)
    assert entry == f"40:{hold.fence}:intent-a"
    score = await raw.zscore(f"{{{redis_key}}}:expiry", hold.hold_id)
    assert score == pytest.approx(hold.expires_at, abs=1e-3)


async def test_a_commit_leaves_one_small_expiring_marker_under_the_prefix(
    redis_url: str, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    ledger = RedisLedger(redis_url, key=redis_key, budget=100, commit_retention=3600)
    try:
        hold = await ledger.reserve("intent-a", 40, ttl=LONG)
        await ledger.commit(hold, 35)
    finally:
        await ledger.aclose()
    marker = f"{{{redis_key}}}:committed:{hold.hold_id}"
    assert await raw.get(marker) == f"{hold.fence}:35"
    assert 0 < await raw.pttl(marker) <= 3_600_000
    assert not await raw.exists(f"{{{redis_key}}}:holds")
    assert await raw.hget(f"{{{redis_key}}}:meta", "spent") == "35"


async def test_a_release_leaves_no_marker(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.release(hold)
    assert await raw.keys(f"{{{redis_key}}}:committed:*") == []


async def test_an_intent_set_outlives_its_longest_hold_by_about_a_second(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    await ledger.reserve("long-first", 1, ttl=LONG)
    await ledger.reserve("long-first", 1, ttl=1.0)
    await ledger.reserve("short-first", 1, ttl=1.0)
    await ledger.reserve("short-first", 1, ttl=LONG)
    for intent in ("long-first", "short-first"):
        left = await raw.pttl(f"{{{redis_key}}}:intent:{intent}")
        # A later, shorter hold never shortens the set's life.
        assert LONG * 1000 - 5000 < left <= LONG * 1000 + 1000


async def test_intent_sets_vanish_once_their_holds_are_settled(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    committed = await ledger.reserve("a", 10, ttl=LONG)
    released = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.reserve("b", 10, ttl=LONG)
    await ledger.reserve("c", 10, ttl=SHORT)
    await ledger.commit(committed, 10)
    await ledger.release(released)
    assert await ledger.release_intent("b") == 1
    await anyio.sleep(PAST_SHORT)
    assert await ledger.release_expired() == 1
    assert await raw.keys(f"{{{redis_key}}}:intent:*") == []
    assert await ledger.snapshot() == LedgerSnapshot(100, 10, 0, 0)


async def test_a_stray_id_in_an_intent_set_is_ignored_and_cleared(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    await ledger.reserve("a", 10, ttl=LONG)
    await ledger.reserve("b", 20, ttl=LONG)
    other = await ledger.reserve("c", 30, ttl=LONG)
    # An id the set should not hold (here another intent's live hold) is never dropped.
    await raw.sadd(f"{{{redis_key}}}:intent:a", "0" * 32, other.hold_id)
    assert await ledger.release_intent("a") == 1
    assert not await raw.exists(f"{{{redis_key}}}:intent:a")
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 50, 2)


async def test_release_intent_from_another_client_drops_the_crashed_clients_holds(
    redis_url: str, redis_key: str
) -> None:
    crashed = RedisLedger(redis_url, key=redis_key, budget=50)
    recovering = RedisLedger(redis_url, key=redis_key, budget=50)
    try:
        hold = await crashed.reserve("journal-key", 30, ttl=LONG)
        await crashed.aclose()
        assert await recovering.release_intent("journal-key") == 1
        assert await recovering.snapshot() == LedgerSnapshot(50, 0, 0, 0)
        with pytest.raises(StaleHoldError):
            await recovering.commit(hold, 30)
    finally:
        await recovering.aclose()


async def test_release_intent_refuses_a_bad_key_before_any_io(anyio_backend: str) -> None:
    ledger = RedisLedger(f"redis://127.0.0.1:{closed_port()}/0", key="unreachable", budget=10)
    try:
        with pytest.raises(InvalidRequestError) as info:
            await ledger.release_intent("")
        assert not isinstance(info.value, CreditError)
    finally:
        await ledger.aclose()


async def test_hold_expiry_is_stamped_with_the_server_clock(
    ledger: RedisLedger, raw: redis.asyncio.Redis
) -> None:
    seconds, micros = await raw.time()
    hold = await ledger.reserve("a", 1, ttl=LONG)
    assert hold.expires_at - (seconds + micros / 1e6) == pytest.approx(LONG, abs=5)


async def test_expired_holds_are_purged_inside_the_reserve_script(
    ledger: RedisLedger, raw: redis.asyncio.Redis, redis_key: str
) -> None:
    stale = await ledger.reserve("short", 90, ttl=SHORT)
    await anyio.sleep(PAST_SHORT)
    # Nothing has run since: the expired hold is still stored and still in the total.
    assert await raw.hexists(f"{{{redis_key}}}:holds", stale.hold_id)
    assert await raw.hget(f"{{{redis_key}}}:meta", "reserved") == "90"
    fresh = await ledger.reserve("fresh", 100, ttl=LONG)
    assert not await raw.hexists(f"{{{redis_key}}}:holds", stale.hold_id)
    assert await raw.zscore(f"{{{redis_key}}}:expiry", stale.hold_id) is None
    assert await raw.hget(f"{{{redis_key}}}:meta", "reserved") == str(fresh.amount)


async def test_fences_come_from_one_counter_shared_by_all_clients(
    redis_url: str, redis_key: str
) -> None:
    first = RedisLedger(redis_url, key=redis_key, budget=None)
    second = RedisLedger(redis_url, key=redis_key, budget=None)
    try:
        fences = []
        for ledger in (first, second, first, second):
            fences.append((await ledger.reserve("a", 1, ttl=LONG)).fence)
        assert fences == [1, 2, 3, 4]
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_hold_taken_by_one_host_is_committed_by_another(
    redis_url: str, redis_key: str
) -> None:
    first = RedisLedger(redis_url, key=redis_key, budget=50)
    second = RedisLedger(redis_url, key=redis_key, budget=50)
    try:
        hold = await first.reserve("a", 30, ttl=LONG)
        with pytest.raises(BudgetExceededError) as info:
            await second.reserve("b", 30, ttl=LONG)
        assert info.value.available == 20
        await second.commit(hold, 30)
        # The first host recovering and committing again is a no-op.
        await first.commit(hold, 30)
        assert await first.snapshot() == LedgerSnapshot(50, 30, 0, 0)
        assert await first.committed(hold.hold_id) == 30
    finally:
        await first.aclose()
        await second.aclose()


async def test_commit_of_an_expired_hold_is_fenced_out_even_before_a_purge(
    ledger: RedisLedger,
) -> None:
    hold = await ledger.reserve("a", 10, ttl=SHORT)
    await anyio.sleep(PAST_SHORT)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)


async def test_commit_of_an_unknown_hold_is_stale(ledger: RedisLedger) -> None:
    ghost = Hold("0" * 32, "ghost", 5, 1, 0.0)
    with pytest.raises(StaleHoldError):
        await ledger.commit(ghost, 5)
    assert (await ledger.snapshot()).spent == 0


async def test_concurrent_clients_on_one_key_grant_exactly_what_fits(
    redis_url: str, redis_key: str
) -> None:
    ledgers = [RedisLedger(redis_url, key=redis_key, budget=2000) for _ in range(4)]
    grants = 0

    async def one(ledger: RedisLedger, n: int) -> None:
        nonlocal grants
        try:
            await ledger.reserve(f"intent-{n}", 15, ttl=LONG)
        except BudgetExceededError:
            return
        grants += 1

    try:
        async with anyio.create_task_group() as tg:
            for n in range(500):
                tg.start_soon(one, ledgers[n % 4], n)
        assert grants == 133
        assert (await ledgers[0].snapshot()).reserved == 1995
    finally:
        for ledger in ledgers:
            await ledger.aclose()


@pytest.mark.parametrize(("created", "other"), [(100, 200), (100, None), (None, 1)])
async def test_a_different_budget_on_the_same_key_is_a_configuration_error(
    redis_url: str, redis_key: str, created: int | None, other: int | None
) -> None:
    first = RedisLedger(redis_url, key=redis_key, budget=created)
    second = RedisLedger(redis_url, key=redis_key, budget=other)
    try:
        await first.snapshot()
        with pytest.raises(ConfigurationError, match="must match"):
            await second.reserve("a", 1, ttl=LONG)
    finally:
        await first.aclose()
        await second.aclose()


async def test_unreachable_server_is_a_credit_error_without_secrets(anyio_backend: str) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    ledger = RedisLedger(url, key="unreachable", budget=10, socket_timeout=2)
    try:
        with pytest.raises(CreditError) as info:
            await ledger.reserve("a", 1, ttl=LONG)
        assert "hunter2" not in str(info.value)
        assert info.value.__cause__ is not None
    finally:
        await ledger.aclose()


def test_unusable_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as info:
        RedisLedger("http://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"key": ""},
        {"budget": -5},
        {"socket_timeout": 0},
        {"max_connections": 0},
        {"commit_retention": 0},
        {"commit_retention": float("nan")},
    ],
)
def test_bad_settings_are_configuration_errors(kwargs: dict[str, object]) -> None:
    # Nothing connects at construction, so no server is needed to refuse bad settings.
    with pytest.raises(ConfigurationError):
        RedisLedger("redis://127.0.0.1:6379/0", **kwargs)  # type: ignore[arg-type]


def test_missing_redis_package_names_the_install_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    # A None entry in sys.modules makes the import raise ImportError, as if not installed.
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ConfigurationError, match=r"lensmor-async\[redis\]"):
        RedisLedger("redis://127.0.0.1:6379/0")
