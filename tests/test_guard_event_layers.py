"""The 0.24+/0.27 paid routes through the guard, judged against FakeLensmor's truth ledger.

Visitor unlock (3000), full-access unlock (the missing layers of 2000 + 3000) and person
events by name (50 when something is found, 0 when not): quoted, confirmed, settled,
free when already unlocked, 402, plan refusals typed; racing layer unlocks of one event
buy each layer once and never hold more than the missing layers.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import pytest
from guard_helpers import CountingLedger, Recorder, assert_books_match, connect

from lensmor_async import (
    ActionNotAllowedError,
    AsyncLensmor,
    ConflictError,
    FeatureNotAvailableError,
    InsufficientCreditsError,
)
from lensmor_async.guard import CreditGuard, Hold, SpendOutcome, always_confirm
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

LOCKED = "101"
VISITORS_ROUTE = "/external/events/{id}/visitors/unlock"
FULL_ROUTE = "/external/events/{id}/full-access/unlock"
BY_NAME_ROUTE = "/external/personnel/events/by-name"
PRECHECK_ROUTE = "/external/actions/precheck"


class PeakLedger(CountingLedger):
    """The default ledger, remembering the most credits it ever held at once."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        hold = await super().reserve(intent_key, amount, ttl=ttl)
        self.peak = max(self.peak, (await self.snapshot()).reserved)
        return hold


# --------------------------------------------------------------------------- Visitor unlock


async def test_visitor_unlock_is_quoted_confirmed_and_settled_from_credits_spent(
    fake: FakeLensmor,
) -> None:
    fake.unlock_event(LOCKED)
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        result = await client.events.unlock_visitors(LOCKED)
        again = await client.events.unlock_visitors(LOCKED)
    assert (result.already_unlocked, result.credits_spent) == (False, 3000)
    assert result.balance_after is not None
    (asked,) = recorder.requests  # the repeat is free: no confirmation
    assert (asked.operation, asked.expected_credits) == ("events.unlock_visitors", 3000)
    assert (again.already_unlocked, again.credits_spent) == (True, 0)
    assert guard.spent == fake.truth.net() == 3000
    assert fake.request_count(VISITORS_ROUTE) == 2
    assert_books_match(guard, fake)


async def test_visitor_unlock_before_base_access_is_refused_by_precheck_without_charge(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(ActionNotAllowedError) as caught:
            await client.events.unlock_visitors(LOCKED)
    assert caught.value.reason_code == "state_conflict"
    assert fake.request_count(VISITORS_ROUTE) == 0
    assert len(fake.truth) == 0


async def test_visitor_unlock_402_from_the_server_releases_the_hold(fake: FakeLensmor) -> None:
    fake.unlock_event(LOCKED)
    guard = CreditGuard(always_confirm, precheck="never")
    async with connect(fake, guard) as client:
        await client.credits.balance()
        await guard.quote(client.events.unlock_visitors, LOCKED)  # caches a large balance
        fake.set_balance(subscription=100, gift=0)
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.events.unlock_visitors(LOCKED)
    assert (caught.value.status, caught.value.preflight) == (402, False)
    assert guard.history[-1].outcome is SpendOutcome.REJECTED_402
    assert len(fake.truth) == 0
    assert_books_match(guard, fake)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.events.unlock_visitors(LOCKED), id="visitors"),
        pytest.param(lambda c: c.events.unlock_full_access(LOCKED), id="full-access"),
        pytest.param(lambda c: c.personnel.events_by_name("Jane Roe"), id="by-name"),
    ],
)
async def test_a_plan_without_the_feature_is_a_typed_refusal_never_retried_or_charged(
    fake: FakeLensmor, call: Callable[[AsyncLensmor], Awaitable[Any]]
) -> None:
    fake.unlock_event(LOCKED)
    fake.set_paid_features(False)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(FeatureNotAvailableError) as caught:
            await call(client)
    assert caught.value.error_key == "USER_HAS_NO_FEATURE"
    sent = [r for r in fake.requests if r.route in (VISITORS_ROUTE, FULL_ROUTE, BY_NAME_ROUTE)]
    assert [r.status for r in sent] == [200]  # one send, answered with the envelope
    assert guard.history[-1].outcome is SpendOutcome.FAILED_NO_CHARGE
    assert len(fake.truth) == 0
    assert_books_match(guard, fake)


# --------------------------------------------------------------------------- full access


async def test_full_access_is_quoted_as_the_missing_layers_and_marks_both(
    fake: FakeLensmor,
) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        result = await client.events.unlock_full_access(LOCKED)
        base = await client.events.unlock(LOCKED)
        visitors = await client.events.unlock_visitors(LOCKED)
    assert [r.expected_credits for r in recorder.requests] == [5000]  # the rest was free
    assert (result.total_credits_used, result.event_unlocked, result.visitor_unlocked) == (
        5000,
        True,
        True,
    )
    assert base.already_unlocked
    assert visitors.already_unlocked
    assert guard.spent == fake.truth.net() == 5000
    assert fake.request_count(FULL_ROUTE) == 1
    assert_books_match(guard, fake)


async def test_full_access_after_a_base_unlock_pays_only_for_visitors(fake: FakeLensmor) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder, precheck="never")  # the guard's own knowledge prices it
    async with connect(fake, guard) as client:
        await client.events.unlock(LOCKED)
        result = await client.events.unlock_full_access(LOCKED)
    assert [r.expected_credits for r in recorder.requests] == [2000, 3000]
    assert result.total_credits_used == 3000
    assert guard.spent == fake.truth.net() == 5000
    assert_books_match(guard, fake)


async def test_full_access_without_visitor_data_is_settled_at_what_the_server_charged(
    fake: FakeLensmor,
) -> None:
    fake.set_visitor_data(LOCKED, False)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        result = await client.events.unlock_full_access(LOCKED)
    assert (result.visitor_skipped, result.total_credits_used) == (True, 2000)
    assert guard.spent == fake.truth.net() == 2000
    assert_books_match(guard, fake)


async def test_racing_layer_unlocks_buy_each_layer_once_and_hold_only_what_is_missing(
    fake: FakeLensmor,
) -> None:
    ledger = PeakLedger()
    guard = CreditGuard(always_confirm, ledger=ledger)
    calls: list[Callable[[AsyncLensmor], Awaitable[Any]]] = [
        lambda c: c.events.unlock(LOCKED),
        lambda c: c.events.unlock_visitors(LOCKED),
        lambda c: c.events.unlock_full_access(LOCKED),
    ] * 6
    random.Random(3).shuffle(calls)
    refused: list[Exception] = []

    async def one(client: AsyncLensmor, call: Callable[[AsyncLensmor], Awaitable[Any]]) -> None:
        try:
            await call(client)
        except (ActionNotAllowedError, ConflictError) as exc:  # Visitors before base: free
            refused.append(exc)

    async with connect(fake, guard) as client, anyio.create_task_group() as group:
        for call in calls:
            group.start_soon(one, client, call)
    charges = [(e.intent, e.amount) for e in fake.truth.entries]
    assert sorted(charges) == [
        (("events.unlock", LOCKED), 2000),
        (("events.unlock_visitors", LOCKED), 3000),
    ]
    assert fake.truth.duplicate_intents() == {}
    assert ledger.peak <= 5000
    assert guard.spent == 5000
    assert_books_match(guard, fake)


# --------------------------------------------------------------------------- person events by name


async def test_person_events_by_name_costs_50_when_found_and_nothing_when_empty(
    fake: FakeLensmor,
) -> None:
    fake.add_person(LOCKED, full_name="Jane Roe")
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        found = await client.personnel.events_by_name("jane roe")
        empty = await client.personnel.events_by_name("Nobody Anywhere")
    assert found.total == 1
    assert empty.total == 0
    assert [r.expected_credits for r in recorder.requests] == [50, 50]
    assert guard.spent == fake.truth.net() == 50
    (sent, _) = fake.requests_for(BY_NAME_ROUTE, method="GET")
    assert ("date_start_from", "2026-01-01") in sent.query  # explicit, not the server's default
    assert_books_match(guard, fake)


async def test_person_events_by_name_uses_its_precheck_when_asked(fake: FakeLensmor) -> None:
    fake.add_person(LOCKED, full_name="Jane Roe")
    guard = CreditGuard(always_confirm, precheck="always")
    async with connect(fake, guard) as client:
        await client.personnel.events_by_name("Jane Roe", date_start_from="2020-01-01")
    (precheck,) = fake.requests_for(PRECHECK_ROUTE)
    assert precheck.json["action_type"] == "search_personnel_events_by_name"
    assert precheck.json["params"] == {"person_name": "jane roe"}
    assert guard.spent == fake.truth.net() == 50


async def test_fifty_concurrent_by_name_calls_never_exceed_ten_in_flight() -> None:
    async with FakeLensmor(limited_route_seconds=0.02) as fake:
        fake.add_person(LOCKED, full_name="Jane Roe")
        guard = CreditGuard(always_confirm)
        async with connect(fake, guard) as client, anyio.create_task_group() as group:
            for n in range(50):
                group.start_soon(
                    lambda n=n: client.personnel.events_by_name("Jane Roe", page=n + 1)
                )
    assert fake.max_in_flight[BY_NAME_ROUTE] == 10
    assert [r.status for r in fake.requests_for(BY_NAME_ROUTE)] == [200] * 50
    assert guard.spent == fake.truth.net() == 50 * 50  # distinct pages: distinct purchases
    assert_books_match(guard, fake)
