"""HTTP round trips per paid action over 1000-action runs (the balance is not per call).

The target is at most 1.1 requests per action, plus one when a precheck is used
(event unlocks). Each test prints a summary line, e.g.
``round-trips actions=1000 requests=1001 per_action=1.001 balance_fetches=1``.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import pytest
from guard_helpers import exhibit

from lensmor_async import AsyncLensmor
from lensmor_async.guard import CreditGuard, always_confirm
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

ACTIONS = 1000
GUARD_SECONDS = 50  # deadlock guard only, never a timing assertion
BALANCE_ROUTE = "/external/credits/balance"
PRECHECK_ROUTE = "/external/actions/precheck"

Action = Callable[[], Coroutine[Any, Any, object]]


@contextlib.asynccontextmanager
async def session(
    subscription: int,
) -> AsyncIterator[tuple[FakeLensmor, AsyncLensmor, CreditGuard]]:
    async with FakeLensmor(
        seed=0, task_step_seconds=0.01, subscription_balance=subscription, gift_balance=0
    ) as fake:
        exhibit(fake, [f"company {n}" for n in range(ACTIONS)])  # every search is charged
        guard = CreditGuard(always_confirm, budget=subscription)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=guard, testing=True
        ) as client:
            yield fake, client, guard


async def run_concurrently(calls: list[Action]) -> None:
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for call in calls:
                tg.start_soon(call)


def summary(label: str, fake: FakeLensmor, actions: int) -> tuple[float, int]:
    requests = len(fake.requests)
    balance_fetches = fake.request_count(BALANCE_ROUTE)
    per_action = requests / actions
    routes = dict(Counter(r.route for r in fake.requests))
    print(
        f"round-trips {label} actions={actions} requests={requests} "
        f"per_action={per_action:.3f} balance_fetches={balance_fetches} routes={routes}"
    )
    return per_action, balance_fetches


async def test_1000_paid_searches_cost_about_one_request_each() -> None:
    async with session(ACTIONS * 50) as (fake, client, guard):
        calls: list[Action] = [
            functools.partial(client.exhibitors.search_events, f"company {n}")
            for n in range(ACTIONS)
        ]
        await run_concurrently(calls)
    per_action, balance_fetches = summary("searches", fake, ACTIONS)
    assert fake.request_count("/external/exhibitors/search-events") == ACTIONS
    assert len(fake.truth) == ACTIONS
    assert balance_fetches == 1
    assert guard.balance_refreshes == 1
    assert per_action <= 1.1
    assert guard.spent == fake.truth.net() == ACTIONS * 50


async def test_1000_sequential_searches_never_refetch_the_balance_per_call() -> None:
    async with session(ACTIONS * 50) as (fake, client, guard):
        for n in range(ACTIONS):
            await client.exhibitors.search_by_company_name(f"company {n}")
    per_action, balance_fetches = summary("sequential-searches", fake, ACTIONS)
    assert balance_fetches == 1
    assert per_action <= 1.1
    assert guard.spent == fake.truth.net() == ACTIONS * 50


async def test_1000_event_unlocks_cost_one_request_plus_the_precheck() -> None:
    async with session(ACTIONS * 2000) as (fake, client, guard):
        events = [fake.add_event(f"Expo {n}", personnel=1).id for n in range(ACTIONS)]
        calls: list[Action] = [functools.partial(client.events.unlock, event) for event in events]
        await run_concurrently(calls)
    per_action, balance_fetches = summary("event-unlocks", fake, ACTIONS)
    assert fake.request_count("/external/events/{id}/unlock") == ACTIONS
    assert fake.request_count(PRECHECK_ROUTE) == ACTIONS
    assert balance_fetches == 1
    assert per_action <= 1.1 + 1
    assert guard.spent == fake.truth.net() == ACTIONS * 2000


async def test_1000_email_unlocks_cost_one_request_plus_the_precheck_to_submit() -> None:
    async with session(ACTIONS * 45) as (fake, client, guard):
        ids = [str(n) for n in fake.add_personnel("101", 3 * ACTIONS)]
        batches = [ids[3 * n : 3 * n + 3] for n in range(ACTIONS)]
        handles: list[Any] = []

        async def submit(batch: list[str]) -> None:
            handles.append(await client.contacts.unlock(event_id="101", personnel_ids=batch))

        await run_concurrently([functools.partial(submit, batch) for batch in batches])
        per_action, balance_fetches = summary("email-unlock-submissions", fake, ACTIONS)
        assert fake.request_count("/external/contacts/unlock") == ACTIONS
        assert balance_fetches == 1
        assert per_action <= 1.1 + 1
        fake.complete_tasks()
        await run_concurrently([handle.wait for handle in handles])
    summary("email-unlocks-with-one-poll-each", fake, ACTIONS)
    assert guard.spent == fake.truth.net()
    assert guard.reserved == 0
