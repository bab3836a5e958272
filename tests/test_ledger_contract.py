"""The one ledger contract, run over every backend (memory, sqlite, real redis)."""

from __future__ import annotations

import random
import time
import uuid
from typing import TYPE_CHECKING

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lensmor_async.errors import BudgetExceededError, InvalidRequestError
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Hold, Ledger, LedgerSnapshot, StaleHoldError
from lensmor_async.guard._ledger_redis import RedisLedger
from lensmor_async.guard._ledger_sqlite import SqliteLedger

if TYPE_CHECKING:
    # Imported by pytest as a plugin (below); importing it first would defeat assert rewriting.
    from ledger_backends import LedgerFactory

pytest_plugins = ["ledger_backends"]
pytestmark = pytest.mark.anyio

LONG = 60.0
SHORT = 0.05
PAST_SHORT = 0.2


def test_every_backend_satisfies_the_ledger_protocol(ledger_factory: LedgerFactory) -> None:
    assert isinstance(ledger_factory(10), Ledger)


async def test_reserve_within_budget_returns_a_live_hold(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    before = time.time()
    hold = await ledger.reserve("intent-a", 40, ttl=LONG)
    assert hold.intent_key == "intent-a"
    assert hold.amount == 40
    assert len(hold.hold_id) == 32
    assert int(hold.hold_id, 16) >= 0
    assert hold.fence >= 1
    # Redis stamps expiry with the server's clock; the same host here, so roughly ours.
    assert before + LONG - 5 < hold.expires_at < before + LONG + 5
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 40, 1)


async def test_reserve_up_to_exactly_the_budget_is_granted(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(30)
    await ledger.reserve("a", 10, ttl=LONG)
    await ledger.reserve("b", 20, ttl=LONG)
    snap = await ledger.snapshot()
    assert (snap.reserved, snap.remaining) == (30, 0)


async def test_reserve_refuses_when_budget_would_be_crossed(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(50)
    await ledger.reserve("a", 30, ttl=LONG)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve("b", 25, ttl=LONG)
    assert info.value.required == 25
    assert info.value.available == 20
    assert info.value.preflight is True
    assert await ledger.snapshot() == LedgerSnapshot(50, 0, 30, 1)


async def test_refusal_reports_zero_available_when_spending_overshot(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(10)
    await ledger.commit(await ledger.reserve("a", 10, ttl=LONG), 14)
    with pytest.raises(BudgetExceededError) as info:
        await ledger.reserve("b", 1, ttl=LONG)
    assert (info.value.required, info.value.available) == (1, 0)


async def test_zero_credit_hold_is_granted_even_when_budget_is_used_up(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(5)
    await ledger.reserve("a", 5, ttl=LONG)
    hold = await ledger.reserve("free", 0, ttl=LONG)
    await ledger.commit(hold, 0)
    assert await ledger.snapshot() == LedgerSnapshot(5, 0, 5, 1)


async def test_commit_below_the_hold_releases_the_rest(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    await ledger.commit(hold, 25)
    snap = await ledger.snapshot()
    assert snap == LedgerSnapshot(100, 25, 0, 0)
    assert snap.remaining == 75


async def test_commit_above_the_hold_records_the_actual(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    await ledger.commit(hold, 55)
    assert await ledger.snapshot() == LedgerSnapshot(100, 55, 0, 0)


def _with_retention(factory: LedgerFactory, budget: int, retention: float) -> Ledger:
    """A fresh ledger of the factory's backend with a custom commit retention."""
    spec = factory.spec
    ledger: Ledger
    if spec.name == "memory":
        ledger = InMemoryLedger(budget, commit_retention=retention)
    elif spec.name == "sqlite":
        path = spec.tmp_path / f"retention-{uuid.uuid4().hex}.db"
        ledger = SqliteLedger(path, budget=budget, commit_retention=retention)
    else:
        assert spec.redis_url is not None
        key = f"lensmor-test:{uuid.uuid4().hex}"
        ledger = RedisLedger(spec.redis_url, key=key, budget=budget, commit_retention=retention)
    factory.made.append(ledger)  # closed by the fixture
    return ledger


async def test_commit_twice_counts_once(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.commit(hold, 10)
    await ledger.commit(hold, 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 10, 0, 0)


async def test_repeated_commit_with_another_actual_keeps_the_first(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.commit(hold, 8)
    await ledger.commit(hold, 50)
    assert (await ledger.snapshot()).spent == 8
    assert await ledger.committed(hold.hold_id) == 8


async def test_repeated_commit_after_the_hold_would_have_expired_is_still_a_no_op(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=SHORT)
    await ledger.commit(hold, 10)
    await anyio.sleep(PAST_SHORT)
    await ledger.commit(hold, 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 10, 0, 0)


async def test_repeated_commit_with_another_fence_is_refused_as_stale(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.commit(hold, 10)
    with pytest.raises(StaleHoldError):
        await ledger.commit(attrs.evolve(hold, fence=hold.fence + 1000), 10)
    assert (await ledger.snapshot()).spent == 10


async def test_commit_after_release_raises_stale(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.release(hold)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)
    assert await ledger.committed(hold.hold_id) is None


async def test_commit_after_expiry_raises_stale_and_records_no_commit(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=SHORT)
    await anyio.sleep(PAST_SHORT)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    assert await ledger.committed(hold.hold_id) is None
    assert (await ledger.snapshot()).spent == 0


async def test_committed_answers_the_actual_only_for_committed_holds(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    spent = await ledger.reserve("a", 10, ttl=LONG)
    free = await ledger.reserve("b", 10, ttl=LONG)
    live = await ledger.reserve("c", 10, ttl=LONG)
    assert await ledger.committed(spent.hold_id) is None
    await ledger.commit(spent, 7)
    await ledger.commit(free, 0)
    assert await ledger.committed(spent.hold_id) == 7
    assert await ledger.committed(free.hold_id) == 0
    assert await ledger.committed(live.hold_id) is None
    assert await ledger.committed("0" * 32) is None


@pytest.mark.parametrize("hold_id", ["", None, 5])
async def test_committed_refuses_a_bad_hold_id(
    ledger_factory: LedgerFactory, hold_id: object
) -> None:
    with pytest.raises(InvalidRequestError):
        await ledger_factory(100).committed(hold_id)  # type: ignore[arg-type]


async def test_commit_markers_are_forgotten_after_the_retention(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = _with_retention(ledger_factory, 100, SHORT)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.commit(hold, 10)
    assert await ledger.committed(hold.hold_id) == 10
    await anyio.sleep(PAST_SHORT)
    assert await ledger.committed(hold.hold_id) is None
    # Past the retention a repeat is indistinguishable from an expired hold.
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    assert (await ledger.snapshot()).spent == 10


async def test_concurrent_commits_of_one_hold_count_once(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(1000)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    other = await ledger.reserve("b", 5, ttl=LONG)
    finished = 0

    async def commit_again() -> None:
        nonlocal finished
        await ledger.commit(hold, 35)
        finished += 1

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(commit_again)
    assert finished == 50
    assert await ledger.snapshot() == LedgerSnapshot(1000, 35, 5, 1)
    assert await ledger.committed(hold.hold_id) == 35
    assert await ledger.committed(other.hold_id) is None


async def test_racing_commit_and_release_settle_the_hold_exactly_one_way(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(1000)
    holds = [await ledger.reserve(f"i{n}", 10, ttl=LONG) for n in range(20)]
    stale: list[str] = []

    async def commit(hold: Hold) -> None:
        try:
            await ledger.commit(hold, 10)
        except StaleHoldError:
            stale.append(hold.hold_id)

    async with anyio.create_task_group() as tg:
        for hold in holds:
            tg.start_soon(commit, hold)
            tg.start_soon(ledger.release, hold)
    answers = [await ledger.committed(hold.hold_id) for hold in holds]
    # A hold either committed (and release did nothing) or was released (and commit was stale).
    outcomes = zip(holds, answers, strict=True)
    assert all((answer is None) == (hold.hold_id in stale) for hold, answer in outcomes)
    committed = sum(answer is not None for answer in answers)
    assert await ledger.snapshot() == LedgerSnapshot(1000, 10 * committed, 0, 0)


async def test_commit_with_a_forged_fence_is_refused_and_keeps_the_hold(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    with pytest.raises(StaleHoldError):
        await ledger.commit(attrs.evolve(hold, fence=hold.fence + 1000), 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 10, 1)
    await ledger.commit(hold, 10)
    assert await ledger.snapshot() == LedgerSnapshot(100, 10, 0, 0)


async def test_release_drops_the_hold_and_is_idempotent(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    await ledger.release(hold)
    await ledger.release(hold)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 40)


async def test_release_after_commit_changes_nothing(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    await ledger.commit(hold, 30)
    await ledger.release(hold)
    assert await ledger.snapshot() == LedgerSnapshot(100, 30, 0, 0)
    # The commit is still remembered, so recovery's repeat is still a no-op.
    assert await ledger.committed(hold.hold_id) == 30
    await ledger.commit(hold, 30)
    assert (await ledger.snapshot()).spent == 30


async def test_fences_increase_with_every_reserve(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(None)
    fences = [(await ledger.reserve("a", 1, ttl=LONG)).fence for _ in range(5)]
    assert fences == sorted(fences)
    assert len(set(fences)) == 5


async def test_stale_commit_after_expiry_raises_and_record_unheld_keeps_spent_truthful(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 40, ttl=SHORT)
    await anyio.sleep(PAST_SHORT)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 35)
    await ledger.record_unheld("a", 35)
    assert await ledger.snapshot() == LedgerSnapshot(100, 35, 0, 0)


async def test_expired_holds_stop_counting_and_release_expired_reports_them(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    await ledger.reserve("short-1", 30, ttl=SHORT)
    await ledger.reserve("short-2", 30, ttl=SHORT)
    await ledger.reserve("long", 20, ttl=LONG)
    await anyio.sleep(PAST_SHORT)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 20, 1)
    # Expired holds no longer block new ones: 80 fits only because 60 expired.
    big = await ledger.reserve("big", 80, ttl=LONG)
    await ledger.release(big)
    await ledger.reserve("short-3", 5, ttl=SHORT)
    await ledger.reserve("short-4", 5, ttl=SHORT)
    await anyio.sleep(PAST_SHORT)
    # Backends may already have purged short-1/2 (reserve purges); short-3/4 are still there.
    assert await ledger.release_expired() >= 2
    assert await ledger.release_expired() == 0
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 20, 1)


async def test_snapshot_arithmetic(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(1000)
    first = await ledger.reserve("a", 100, ttl=LONG)
    await ledger.reserve("b", 200, ttl=LONG)
    third = await ledger.reserve("c", 50, ttl=LONG)
    await ledger.commit(first, 80)
    await ledger.release(third)
    await ledger.record_unheld("d", 7)
    snap = await ledger.snapshot()
    assert snap == LedgerSnapshot(1000, 87, 200, 1)
    assert snap.remaining == 1000 - 87 - 200


async def test_ledger_without_budget_grants_everything_and_still_tracks(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(None)
    assert ledger.budget is None
    holds = [await ledger.reserve(f"i{n}", 10**9, ttl=LONG) for n in range(3)]
    await ledger.commit(holds[0], 10**9)
    snap = await ledger.snapshot()
    assert snap == LedgerSnapshot(None, 10**9, 2 * 10**9, 2)
    assert snap.remaining is None


async def test_budget_property_reports_the_cap(ledger_factory: LedgerFactory) -> None:
    assert ledger_factory(2000).budget == 2000


@pytest.mark.parametrize("amount", [-1, 1.5, True, "10", None])
async def test_reserve_refuses_bad_amounts_before_io(
    ledger_factory: LedgerFactory, amount: object
) -> None:
    ledger = ledger_factory(100)
    with pytest.raises(InvalidRequestError):
        await ledger.reserve("a", amount, ttl=LONG)  # type: ignore[arg-type]
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)


@pytest.mark.parametrize("ttl", [0, -1.0, float("inf"), float("nan"), "5"])
async def test_reserve_refuses_bad_ttls(ledger_factory: LedgerFactory, ttl: object) -> None:
    ledger = ledger_factory(100)
    with pytest.raises(InvalidRequestError):
        await ledger.reserve("a", 1, ttl=ttl)  # type: ignore[arg-type]


async def test_reserve_refuses_an_empty_intent_key(ledger_factory: LedgerFactory) -> None:
    with pytest.raises(InvalidRequestError):
        await ledger_factory(100).reserve("", 1, ttl=LONG)


async def test_commit_and_record_refuse_negative_actuals(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    with pytest.raises(InvalidRequestError):
        await ledger.commit(hold, -1)
    with pytest.raises(InvalidRequestError):
        await ledger.record_unheld("a", -5)
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 10, 1)


async def test_commit_refuses_something_that_is_not_a_hold(ledger_factory: LedgerFactory) -> None:
    with pytest.raises(InvalidRequestError):
        await ledger_factory(100).commit("hold-id", 1)  # type: ignore[arg-type]


async def test_aclose_is_idempotent_and_closed_ledgers_refuse_work(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    await ledger.reserve("a", 1, ttl=LONG)
    await ledger.aclose()
    await ledger.aclose()
    with pytest.raises(InvalidRequestError):
        await ledger.reserve("b", 1, ttl=LONG)
    with pytest.raises(InvalidRequestError):
        await ledger.release_intent("a")


async def test_release_intent_drops_only_that_intents_holds_and_counts_them(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    crashed = [await ledger.reserve("crashed", amount, ttl=LONG) for amount in (30, 20, 0)]
    other = await ledger.reserve("other", 50, ttl=LONG)
    assert await ledger.release_intent("crashed") == 3
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 50, 1)
    # The freed credits can be held again; the other intent's hold still commits.
    await ledger.reserve("next", 50, ttl=LONG)
    await ledger.commit(other, 45)
    assert await ledger.snapshot() == LedgerSnapshot(100, 45, 50, 1)
    for hold in crashed:
        with pytest.raises(StaleHoldError):
            await ledger.commit(hold, hold.amount)
        assert await ledger.committed(hold.hold_id) is None


async def test_release_intent_leaves_committed_holds_and_spent_alone(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    done = await ledger.reserve("crashed", 10, ttl=LONG)
    await ledger.reserve("crashed", 15, ttl=LONG)
    await ledger.commit(done, 12)
    assert await ledger.release_intent("crashed") == 1
    assert await ledger.snapshot() == LedgerSnapshot(100, 12, 0, 0)
    # The commit is still remembered, so recovery's repeat is still a no-op.
    assert await ledger.committed(done.hold_id) == 12
    await ledger.commit(done, 12)
    assert (await ledger.snapshot()).spent == 12


async def test_release_intent_twice_returns_zero_the_second_time(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    await ledger.reserve("crashed", 10, ttl=LONG)
    await ledger.reserve("crashed", 10, ttl=LONG)
    assert await ledger.release_intent("crashed") == 2
    assert await ledger.release_intent("crashed") == 0
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)


async def test_release_intent_of_an_unknown_key_returns_zero_and_changes_nothing(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(100)
    await ledger.commit(await ledger.reserve("a", 10, ttl=LONG), 10)
    await ledger.reserve("b", 20, ttl=LONG)
    assert await ledger.release_intent("never-reserved") == 0
    assert await ledger.snapshot() == LedgerSnapshot(100, 10, 20, 1)


async def test_release_intent_does_not_count_expired_holds(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    await ledger.reserve("crashed", 30, ttl=SHORT)
    await ledger.reserve("crashed", 20, ttl=LONG)
    await anyio.sleep(PAST_SHORT)
    assert await ledger.release_intent("crashed") == 1
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 0, 0)


async def test_release_intent_matches_the_whole_key_not_a_prefix(
    ledger_factory: LedgerFactory,
) -> None:
    ledger = ledger_factory(None)
    keys = ["a", "a:", "a:b", "a:{b}", "ab", "A"]
    for n, key in enumerate(keys, start=1):
        await ledger.reserve(key, n, ttl=LONG)
    assert await ledger.release_intent("a") == 1
    assert await ledger.release_intent("a:{b}") == 1
    snap = await ledger.snapshot()
    assert (snap.reserved, snap.holds) == (2 + 3 + 5 + 6, 4)


@pytest.mark.parametrize("intent_key", ["", None, 5])
async def test_release_intent_refuses_a_bad_key(
    ledger_factory: LedgerFactory, intent_key: object
) -> None:
    ledger = ledger_factory(100)
    await ledger.reserve("a", 10, ttl=LONG)
    with pytest.raises(InvalidRequestError):
        await ledger.release_intent(intent_key)  # type: ignore[arg-type]
    assert await ledger.snapshot() == LedgerSnapshot(100, 0, 10, 1)


async def test_concurrent_reserve_and_release_intent_keep_the_budget_arithmetic_right(
    ledger_factory: LedgerFactory,
) -> None:
    budget = 600
    ledger = ledger_factory(budget)
    crashed: list[Hold] = []
    kept: list[Hold] = []
    released: list[int] = []
    spent = 0
    seen: list[LedgerSnapshot] = []

    async def reserve_crashed() -> None:
        try:
            crashed.append(await ledger.reserve("crashed", 7, ttl=LONG))
        except BudgetExceededError:
            return
        seen.append(await ledger.snapshot())

    async def reserve_kept(n: int) -> None:
        nonlocal spent
        try:
            hold = await ledger.reserve(f"kept-{n % 5}", 3, ttl=LONG)
        except BudgetExceededError:
            return
        if n % 2:
            await ledger.commit(hold, 3)
            spent += 3
        else:
            kept.append(hold)
        seen.append(await ledger.snapshot())

    async def release_crashed() -> None:
        released.append(await ledger.release_intent("crashed"))
        seen.append(await ledger.snapshot())

    async with anyio.create_task_group() as tg:
        for n in range(100):
            tg.start_soon(reserve_crashed)
            tg.start_soon(reserve_kept, n)
            if n % 5 == 0:
                tg.start_soon(release_crashed)
    released.append(await ledger.release_intent("crashed"))
    # Every crashed hold was dropped by exactly one release_intent; nothing else was.
    assert sum(released) == len(crashed)
    assert all(snap.spent + snap.reserved <= budget for snap in seen)
    assert await ledger.snapshot() == LedgerSnapshot(budget, spent, 3 * len(kept), len(kept))
    for hold in kept:
        await ledger.commit(hold, 3)
    assert (await ledger.snapshot()).spent == spent + 3 * len(kept)


async def test_concurrent_reserves_grant_exactly_what_fits(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(2000)
    granted: list[Hold] = []
    refused: list[BudgetExceededError] = []

    async def one(n: int) -> None:
        try:
            granted.append(await ledger.reserve(f"intent-{n}", 15, ttl=LONG))
        except BudgetExceededError as exc:
            refused.append(exc)

    async with anyio.create_task_group() as tg:
        for n in range(500):
            tg.start_soon(one, n)
    assert len(granted) == 133
    assert len(refused) == 500 - 133
    assert all(exc.required == 15 and exc.available == 5 for exc in refused)
    assert len({hold.hold_id for hold in granted}) == 133
    assert len({hold.fence for hold in granted}) == 133
    snap = await ledger.snapshot()
    assert (snap.reserved, snap.holds, snap.spent) == (1995, 133, 0)


@pytest.mark.parametrize("seed", range(4))
async def test_concurrent_reserve_and_commit_never_exceed_the_budget(
    ledger_factory: LedgerFactory, seed: int
) -> None:
    rng = random.Random(seed)
    budget = 500
    ledger = ledger_factory(budget)
    plans = [(rng.randint(0, 60), rng.random(), rng.random()) for _ in range(120)]
    seen: list[LedgerSnapshot] = []

    async def intent(n: int, amount: int, settle: float, actual_share: float) -> None:
        try:
            hold = await ledger.reserve(f"intent-{n}", amount, ttl=LONG)
        except BudgetExceededError:
            return
        seen.append(await ledger.snapshot())
        if settle < 0.75:
            await ledger.commit(hold, int(amount * actual_share))
        else:
            await ledger.release(hold)
        seen.append(await ledger.snapshot())

    async with anyio.create_task_group() as tg:
        for n, (amount, settle, share) in enumerate(plans):
            tg.start_soon(intent, n, amount, settle, share)
    final = await ledger.snapshot()
    seen.append(final)
    assert all(snap.spent + snap.reserved <= budget for snap in seen)
    assert (final.reserved, final.holds) == (0, 0)
    assert final.spent <= budget


_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("reserve"), st.integers(0, 40)),
        st.tuples(st.just("commit"), st.integers(0, 60)),
        st.tuples(st.just("release"), st.just(0)),
        st.tuples(st.just("unheld"), st.integers(0, 10)),
        st.tuples(st.just("recommit"), st.integers(0, 60)),
        st.tuples(st.just("commit-released"), st.integers(0, 60)),
        st.tuples(st.just("release-intent"), st.integers(0, 2)),
    ),
    max_size=25,
)


@settings(
    max_examples=15,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
async def test_ledger_matches_a_reference_model(
    ledger_factory: LedgerFactory, ops: list[tuple[str, int]]
) -> None:
    # The factory makes a fresh store per example, so sharing the fixture is safe.
    budget = 100
    ledger = ledger_factory(budget)
    holds: list[Hold] = []
    committed: dict[str, tuple[Hold, int]] = {}
    released: list[Hold] = []
    spent = 0
    for op, value in ops:
        reserved = sum(hold.amount for hold in holds)
        if op == "reserve":
            # A hold is granted iff it fits in what is left (never negative).
            # Three intents, picked by the amount, so release-intent has something to sort.
            intent = f"m{value % 3}"
            if value <= max(0, budget - spent - reserved):
                holds.append(await ledger.reserve(intent, value, ttl=LONG))
            else:
                with pytest.raises(BudgetExceededError):
                    await ledger.reserve(intent, value, ttl=LONG)
        elif op == "commit" and holds:
            hold = holds.pop(0)
            await ledger.commit(hold, value)
            committed[hold.hold_id] = (hold, value)
            spent += value
        elif op == "release" and holds:
            hold = holds.pop()
            await ledger.release(hold)
            released.append(hold)
        elif op == "unheld":
            await ledger.record_unheld("m", value)
            spent += value
        elif op == "recommit" and committed:
            # Recovery re-commits the oldest committed hold: nothing changes.
            hold, actual = next(iter(committed.values()))
            await ledger.commit(hold, value)
            assert await ledger.committed(hold.hold_id) == actual
        elif op == "commit-released" and released:
            with pytest.raises(StaleHoldError):
                await ledger.commit(released[-1], value)
        elif op == "release-intent":
            dropped = [hold for hold in holds if hold.intent_key == f"m{value}"]
            assert await ledger.release_intent(f"m{value}") == len(dropped)
            holds = [hold for hold in holds if hold.intent_key != f"m{value}"]
            released.extend(dropped)
    expected = LedgerSnapshot(budget, spent, sum(hold.amount for hold in holds), len(holds))
    assert await ledger.snapshot() == expected
    await ledger.aclose()
