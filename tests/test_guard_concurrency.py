"""Hundreds of concurrent paid calls through one CreditGuard, judged by the truth ledger.

Demand always exceeds the budget and/or the balance. The server's own ledger must
show no overspend and no intent paid twice; when every call costs the same, exactly
``floor(limit / cost)`` calls are granted. Identical intents share one call, and the
balance is fetched single-flight.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import anyio
import pytest
from guard_helpers import assert_books_match, connect, exhibit

from lensmor_async import AsyncLensmor
from lensmor_async.errors import BudgetExceededError, InsufficientCreditsError, LensmorError
from lensmor_async.guard import CostTable, CreditGuard, UnlockTaskHandle, always_confirm
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

GUARD_SECONDS = 45  # deadlock guard only, never a timing assertion
SEARCH_ROUTE = "/external/exhibitors/search-events"
BALANCE_ROUTE = "/external/credits/balance"
UNLOCK_ROUTE = "/external/events/{id}/unlock"
PRICED = CostTable.default().with_prices(
    personnel__unlock_linkedin_activity=10, personnel__generate_outreach_message=5
)

Job = Callable[[AsyncLensmor], Awaitable[Any]]


@contextlib.asynccontextmanager
async def serving(subscription: int) -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(
        seed=0, task_step_seconds=0.01, subscription_balance=subscription, gift_balance=0
    ) as fake:
        # Every search below finds something, so each one is charged (0.24+).
        yield exhibit(fake, [f"company {n}" for n in range(500)])


async def run_all(client: AsyncLensmor, jobs: list[Job]) -> tuple[list[Any], list[BaseException]]:
    """Run every job concurrently; return successes and errors (unlock handles waited)."""
    results: list[Any] = []
    errors: list[BaseException] = []

    async def one(job: Job) -> None:
        try:
            result = await job(client)
            if isinstance(result, UnlockTaskHandle):
                await result.wait()
            results.append(result)
        except LensmorError as exc:
            errors.append(exc)

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(one, job)
    return results, errors


def search(name: str) -> Job:
    return lambda client: client.exhibitors.search_events(name)


def assert_truth_is_safe(fake: FakeLensmor, guard: CreditGuard, *, limit: int) -> None:
    """No overspend, nothing paid twice, and the guard agrees with the server."""
    assert fake.truth.net() <= limit
    assert fake.state.balance.subscription_balance >= 0
    assert fake.state.balance.gift_balance >= 0
    assert_books_match(guard, fake)


async def test_500_same_cost_calls_under_a_budget_grant_exactly_budget_over_cost() -> None:
    async with serving(30_000) as fake:
        guard = CreditGuard(always_confirm, budget=2000)
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, [search(f"company {n}") for n in range(500)])
    assert len(fake.truth) == 2000 // 50
    assert len(results) == 40
    assert len(errors) == 460
    assert all(isinstance(e, BudgetExceededError) for e in errors)
    assert fake.request_count(SEARCH_ROUTE) == 40  # refused before sending, not by the server
    assert_truth_is_safe(fake, guard, limit=2000)


async def test_500_same_cost_calls_against_a_short_balance_grant_exactly_balance_over_cost() -> (
    None
):
    async with serving(1000) as fake:
        guard = CreditGuard(always_confirm, budget=5000)
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, [search(f"company {n}") for n in range(500)])
    assert len(fake.truth) == 1000 // 50
    assert len(results) == 20
    assert all(isinstance(e, InsufficientCreditsError) for e in errors)
    assert fake.state.balance.total_balance == 0
    assert_truth_is_safe(fake, guard, limit=1000)


async def test_500_event_unlocks_on_20_events_grant_exactly_budget_over_cost() -> None:
    async with serving(100_000) as fake:
        events = [fake.add_event(f"Expo {n}", personnel=1).id for n in range(20)]
        guard = CreditGuard(always_confirm, budget=10_000)
        jobs: list[Job] = [
            (lambda event: lambda client: client.events.unlock(event))(events[n % 20])
            for n in range(500)
        ]
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, jobs)
    assert len(fake.truth) == 10_000 // 2000
    assert {entry.amount for entry in fake.truth.entries} == {2000}
    assert all(isinstance(e, BudgetExceededError) for e in errors)
    # Every caller of a bought event gets it (shared flight, or free once unlocked); every
    # caller of an event the budget could not cover is refused.
    assert len(results) == 5 * (500 // 20)
    bought = {entry.intent[1] for entry in fake.truth.entries}
    assert {result.event.id for result in results} == bought
    assert_truth_is_safe(fake, guard, limit=10_000)


def mixed_jobs(fake: FakeLensmor) -> list[Job]:
    """500 paid calls: searches, repeated event unlocks, contact batches, LinkedIn unlocks."""
    jobs: list[Job] = []
    for n in range(100):
        jobs.append(search(f"company {n}"))  # matches "Company {n}": charged
        jobs.append(
            (lambda name: lambda c: c.exhibitors.search_by_company_name(name))(f"company {n + 100}")
        )
    jobs += [lambda c: c.events.unlock("101")] * 100
    jobs += [lambda c: c.events.unlock("106")] * 50
    jobs += [
        (lambda e: lambda c: c.events.unlock(e))(("103", "107", "109")[n % 3]) for n in range(50)
    ]
    people = list(fake.state.rosters["105"])
    for n in range(60):
        batch = people[3 * (n % 20) : 3 * (n % 20) + 3]
        jobs.append(
            (lambda ids: lambda c: c.contacts.unlock(event_id="105", personnel_ids=ids))(batch)
        )
    others = list(fake.state.rosters["107"])
    for n in range(40):
        pair = others[2 * (n % 20) : 2 * (n % 20) + 2]
        jobs.append((lambda ids: lambda c: c.personnel.unlock_linkedin_activity(ids))(pair))
    assert len(jobs) == 500
    # Interleave the kinds (seeded) so that they really compete for the same credits.
    random.Random(7).shuffle(jobs)
    return jobs


@pytest.mark.parametrize("precheck", ["auto", "never"])
@pytest.mark.parametrize(
    ("balance", "budget"),
    [
        pytest.param(12_000, 9000, id="budget-binds"),
        pytest.param(7000, 12_000, id="balance-binds"),
    ],
)
async def test_500_mixed_paid_calls_never_overspend_or_pay_twice(
    balance: int, budget: int, precheck: Any
) -> None:
    async with serving(balance) as fake:
        guard = CreditGuard(always_confirm, budget=budget, costs=PRICED, precheck=precheck)
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, mixed_jobs(fake))
    assert len(results) + len(errors) == 500
    assert all(isinstance(e, InsufficientCreditsError) for e in errors), Counter(
        type(e).__name__ for e in errors
    )
    assert errors, "demand exceeds the limits, so some calls must be refused"
    granted = {entry.operation for entry in fake.truth.entries}
    assert {"exhibitors.search_events", "personnel.unlock_linkedin_activity"} <= granted
    if precheck == "never":
        # Without a precheck round trip every kind competes for the same credits.
        assert {"events.unlock", "contacts.unlock"} <= granted
    # Searches are all distinct, so even repeatable purchases appear once each.
    assert fake.truth.duplicate_intents(include_repeatable=True) == {}
    event_charges = Counter(e.intent for e in fake.truth.for_operation("events.unlock"))
    assert all(count == 1 for count in event_charges.values())
    assert_truth_is_safe(fake, guard, limit=min(balance, budget))


async def test_100_identical_event_unlocks_charge_once_and_everyone_gets_the_result() -> None:
    async with serving(30_000) as fake:
        guard = CreditGuard(always_confirm)
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, [lambda c: c.events.unlock("106")] * 100)
    assert errors == []
    assert len(results) == 100
    assert all(result.credits_used == 2000 for result in results)
    assert all(result is results[0] for result in results)
    assert [entry.intent for entry in fake.truth.entries] == [("events.unlock", "106")]
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert fake.request_count("/external/actions/precheck") == 1
    assert_truth_is_safe(fake, guard, limit=2000)


async def test_100_concurrent_callers_fetch_the_balance_once() -> None:
    async with serving(30_000) as fake:
        guard = CreditGuard(always_confirm)
        async with connect(fake, guard) as client:
            results, errors = await run_all(client, [search(f"co {n}") for n in range(100)])
    assert errors == []
    assert len(results) == 100
    assert fake.request_count(BALANCE_ROUTE) == 1
    assert guard.balance_refreshes == 1
    assert_truth_is_safe(fake, guard, limit=5000)
