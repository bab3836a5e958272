"""The one ledger contract, run over every backend (memory, sqlite, real redis)."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lensmor_async.errors import BudgetExceededError, InvalidRequestError
from lensmor_async.guard._ledger_protocol import Hold, Ledger, LedgerSnapshot, StaleHoldError

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


async def test_commit_twice_is_refused_as_stale(ledger_factory: LedgerFactory) -> None:
    ledger = ledger_factory(100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.commit(hold, 10)
    with pytest.raises(StaleHoldError):
        await ledger.commit(hold, 10)
    assert (await ledger.snapshot()).spent == 10


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
    spent = 0
    for op, value in ops:
        reserved = sum(hold.amount for hold in holds)
        if op == "reserve":
            # A hold is granted iff it fits in what is left (never negative).
            if value <= max(0, budget - spent - reserved):
                holds.append(await ledger.reserve("m", value, ttl=LONG))
            else:
                with pytest.raises(BudgetExceededError):
                    await ledger.reserve("m", value, ttl=LONG)
        elif op == "commit" and holds:
            await ledger.commit(holds.pop(0), value)
            spent += value
        elif op == "release" and holds:
            await ledger.release(holds.pop())
        elif op == "unheld":
            await ledger.record_unheld("m", value)
            spent += value
    expected = LedgerSnapshot(budget, spent, sum(hold.amount for hold in holds), len(holds))
    assert await ledger.snapshot() == expected
    await ledger.aclose()
