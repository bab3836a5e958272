"""Every paid route through the CreditGuard, judged against FakeLensmor's truth ledger.

For each route: a confirmed run, a declined run, a run without a confirm callback,
a 402 (and its latch), the already-unlocked case, and for the unlocks mixed task
outcomes. After every paid call the guard's accounting (``spent``, ``reserved``,
``history``) must equal what the server really charged (``fake.truth``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from guard_helpers import CountingLedger, Recorder, assert_books_match, connect

from lensmor_async import AsyncLensmor
from lensmor_async._core import spend as spend_checks
from lensmor_async.errors import (
    ConfirmationRequiredError,
    ConflictError,
    InsufficientCreditsError,
    SpendDeclinedError,
)
from lensmor_async.guard import (
    ContactUnlockReport,
    CostTable,
    CreditGuard,
    SpendOutcome,
    UnlockTaskHandle,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, Prices, UnlockOutcome

pytestmark = pytest.mark.anyio

LOCKED_EVENT = "101"  # 237 personnel, locked
UNLOCKED_EVENT = "102"  # unlocked from the start
CONTACT_EVENT = "103"  # 30 personnel
PRICED_ITEMS = CostTable.default().with_prices(
    personnel__unlock_linkedin_activity=10, personnel__generate_outreach_message=5
)
NO_CHARGE = frozenset(
    {
        SpendOutcome.FREE,
        SpendOutcome.DECLINED,
        SpendOutcome.REFUSED,
        SpendOutcome.REJECTED_402,
        SpendOutcome.FAILED_NO_CHARGE,
        SpendOutcome.CANCELLED,
    }
)


# --------------------------------------------------------------------------- helpers


def people(fake: FakeLensmor, count: int = 3, event_id: str = CONTACT_EVENT) -> list[str]:
    return list(fake.state.rosters[event_id])[:count]


async def finish(result: Any) -> Any:
    """Unlock handles are waited on (their task settles the spend); others pass through."""
    if isinstance(result, UnlockTaskHandle):
        return await result.wait()
    return result


async def assert_books_and_ledger_match(guard: CreditGuard, fake: FakeLensmor) -> None:
    """The books match the truth per record too, and the ledger agrees with the guard."""
    assert_books_match(guard, fake)
    truth = fake.truth
    for record in guard.history:
        if record.outcome in NO_CHARGE:
            assert not record.actual, record
        if record.task_id is not None:
            assert record.actual == sum(e.amount for e in truth.for_task(record.task_id))
        elif record.trace_id is not None:
            charged = sum(e.amount for e in truth.entries if e.trace_id == record.trace_id)
            assert record.actual == charged, record
    snapshot = await guard.ledger.snapshot()
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (guard.spent, 0, 0)


# --------------------------------------------------------------------------- the routes


@dataclass(frozen=True)
class PaidRoute:
    """One paid route: how to call it on a few people, what it should cost."""

    name: str
    route: str
    expected: int | None
    """The guard's quote (None: the price is unknown to the default cost table)."""
    charged: int
    """What the fake server charges for the call (all contacts delivered)."""
    call: Callable[[AsyncLensmor, list[str]], Awaitable[Any]]
    channel: str | None = None


ROUTES = [
    PaidRoute(
        "events.unlock",
        "/external/events/{id}/unlock",
        2000,
        2000,
        lambda c, ids: c.events.unlock(LOCKED_EVENT),
    ),
    PaidRoute(
        "contacts.unlock",
        "/external/contacts/unlock",
        45,
        45,
        lambda c, ids: c.contacts.unlock(event_id=CONTACT_EVENT, personnel_ids=ids),
        channel="email",
    ),
    PaidRoute(
        "contacts.unlock_phone",
        "/external/contacts/unlock-phone",
        450,
        450,
        lambda c, ids: c.contacts.unlock_phone(event_id=CONTACT_EVENT, personnel_ids=ids),
        channel="phone",
    ),
    PaidRoute(
        "exhibitors.search_by_company_name",
        "/external/exhibitors/search-by-company-name",
        50,
        50,
        lambda c, ids: c.exhibitors.search_by_company_name("Acme Analytics"),
    ),
    PaidRoute(
        "exhibitors.search_events",
        "/external/exhibitors/search-events",
        50,
        50,
        lambda c, ids: c.exhibitors.search_events("Acme Analytics"),
    ),
    PaidRoute(
        "personnel.unlock_linkedin_activity",
        "/external/personnel/unlock-linkedin-activity",
        None,
        30,
        lambda c, ids: c.personnel.unlock_linkedin_activity(ids),
    ),
]
# Outreach generation is free since 0.27 (its own tests below), so it is not in ROUTES.
PAID_ROUTE_TEMPLATES = tuple(route.route for route in ROUTES)
BY_NAME = {route.name: route for route in ROUTES}


EACH_ROUTE = pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])


def deliver_all(fake: FakeLensmor, route: PaidRoute, ids: list[str]) -> None:
    """Make every contact of an unlock end delivered (so the charge is deterministic)."""
    if route.channel is not None:
        for pid in ids:
            fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED, channel=route.channel)


def paid_requests(fake: FakeLensmor) -> int:
    return sum(fake.request_count(template) for template in PAID_ROUTE_TEMPLATES)


# --------------------------------------------------------------------------- every route


@EACH_ROUTE
async def test_confirmed_run_charges_once_and_the_books_match_the_truth(
    fake: FakeLensmor, route: PaidRoute
) -> None:
    ids = people(fake)
    deliver_all(fake, route, ids)
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        await finish(await route.call(client, ids))
    (request,) = recorder.requests
    assert request.operation == route.name
    assert request.expected_credits == route.expected
    assert request.current_balance == 30_050
    assert request.budget_remaining is None
    assert fake.request_count(route.route) == 1
    assert fake.truth.net() == route.charged
    assert {entry.operation for entry in fake.truth.entries} <= {
        route.name,
        "personnel.generate_outreach",  # the fake's name for outreach charges
    }
    (record,) = guard.history
    assert record.outcome is SpendOutcome.SUCCEEDED
    assert record.actual == route.charged
    await assert_books_and_ledger_match(guard, fake)


@EACH_ROUTE
async def test_confirm_sees_the_remaining_budget(fake: FakeLensmor, route: PaidRoute) -> None:
    ids = people(fake)
    deliver_all(fake, route, ids)
    recorder = Recorder()
    costs = PRICED_ITEMS  # a budget needs known prices
    guard = CreditGuard(recorder, budget=5000, costs=costs)
    async with connect(fake, guard) as client:
        await finish(await route.call(client, ids))
    assert recorder.requests[0].budget_remaining == 5000
    assert guard.spent == route.charged
    await assert_books_and_ledger_match(guard, fake)


@EACH_ROUTE
async def test_declined_run_sends_nothing_to_the_paid_route_and_holds_nothing(
    fake: FakeLensmor, route: PaidRoute
) -> None:
    ids = people(fake)
    recorder = Recorder(answer=False)
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        with pytest.raises(SpendDeclinedError):
            await finish(await route.call(client, ids))
    assert len(recorder.requests) == 1
    assert fake.request_count(route.route) == 0
    assert len(fake.truth) == 0
    assert [record.outcome for record in guard.history] == [SpendOutcome.DECLINED]
    await assert_books_and_ledger_match(guard, fake)


@EACH_ROUTE
async def test_run_without_confirm_callback_fails_closed_before_any_io(
    fake: FakeLensmor, route: PaidRoute
) -> None:
    ids = people(fake)
    guard = CreditGuard()
    async with connect(fake, guard) as client:
        with pytest.raises(ConfirmationRequiredError):
            await route.call(client, ids)
    assert fake.requests == []
    assert len(fake.truth) == 0
    await assert_books_and_ledger_match(guard, fake)


@EACH_ROUTE
async def test_client_without_a_guard_fails_closed_before_any_io(
    fake: FakeLensmor, route: PaidRoute
) -> None:
    async with connect(fake, None) as client:
        with pytest.raises(ConfirmationRequiredError):
            await route.call(client, people(fake))
    assert fake.requests == []
    assert len(fake.truth) == 0


@EACH_ROUTE
async def test_server_402_is_reported_and_latches_until_a_refresh_shows_enough(
    fake: FakeLensmor, route: PaidRoute, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = people(fake)
    deliver_all(fake, route, ids)
    # No precheck, and a balance cached before it drops: the server is the one to say 402.
    guard = CreditGuard(always_confirm, precheck="never")
    async with connect(fake, guard) as client:
        await client.exhibitors.search_by_company_name("Acme Analytics")  # a primer with matches
        fake.set_balance(subscription=10, gift=0)
        with pytest.raises(InsufficientCreditsError) as caught:
            await finish(await route.call(client, ids))
        error = caught.value
        assert error.status == 402
        assert error.preflight is False
        assert error.required == route.expected
        assert "Insufficient credits" in str(error)
        assert fake.truth.net() == 50  # only the primer
        assert guard.history[-1].outcome is SpendOutcome.REJECTED_402
        await assert_books_and_ledger_match(guard, fake)

        sent = paid_requests(fake)
        with pytest.raises(InsufficientCreditsError) as latched:
            await client.exhibitors.search_events("Other Co")
        assert latched.value.preflight is True
        assert paid_requests(fake) == sent  # refused before sending

        monkeypatch.setattr(spend_checks, "LATCH_RECHECK_SECONDS", 0.0)
        fake.set_balance(subscription=30_000)
        await client.exhibitors.search_events("Other Co")
        assert paid_requests(fake) == sent + 1
        await assert_books_and_ledger_match(guard, fake)


KNOWN_PRICE_ROUTES = [
    pytest.param(BY_NAME["events.unlock"], id="events.unlock"),
    pytest.param(BY_NAME["contacts.unlock"], id="contacts.unlock"),
    pytest.param(BY_NAME["contacts.unlock_phone"], id="contacts.unlock_phone"),
    pytest.param(
        BY_NAME["exhibitors.search_by_company_name"], id="exhibitors.search_by_company_name"
    ),
    pytest.param(BY_NAME["exhibitors.search_events"], id="exhibitors.search_events"),
]


@pytest.mark.parametrize("route", KNOWN_PRICE_ROUTES)
async def test_short_balance_is_refused_before_sending_with_required_and_available(
    fake: FakeLensmor, route: PaidRoute
) -> None:
    fake.set_balance(subscription=10, gift=0)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(InsufficientCreditsError) as caught:
            await finish(await route.call(client, people(fake)))
    assert paid_requests(fake) == 0
    assert len(fake.truth) == 0
    await assert_books_and_ledger_match(guard, fake)
    assert caught.value.preflight is True
    assert caught.value.required == route.expected
    assert caught.value.available == 10


async def test_server_402_never_claims_that_enough_credits_were_available(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await client.exhibitors.search_by_company_name("Acme Analytics")  # a primer with matches
        fake.set_balance(subscription=10, gift=0)
        with pytest.raises(InsufficientCreditsError) as caught:
            await client.exhibitors.search_events("Acme Analytics")
    assert caught.value.status == 402
    assert caught.value.available in (None, 10)


# --------------------------------------------------------------------------- already unlocked


async def test_unlocking_an_unlocked_event_is_free_without_confirm_or_hold(
    fake: FakeLensmor,
) -> None:
    recorder, ledger = Recorder(), CountingLedger()
    guard = CreditGuard(recorder, ledger=ledger)
    async with connect(fake, guard) as client:
        result = await client.events.unlock(UNLOCKED_EVENT)
    assert result.already_unlocked is True
    assert result.credits_used == 0
    assert recorder.requests == []
    assert ledger.reserves == 0
    assert [record.outcome for record in guard.history] == [SpendOutcome.FREE]
    assert len(fake.truth) == 0
    await assert_books_and_ledger_match(guard, fake)


async def test_an_event_this_guard_unlocked_is_free_the_second_time(fake: FakeLensmor) -> None:
    recorder, ledger = Recorder(), CountingLedger()
    guard = CreditGuard(recorder, ledger=ledger)
    async with connect(fake, guard) as client:
        await client.events.unlock(LOCKED_EVENT)
        await assert_books_and_ledger_match(guard, fake)
        fake.reset_requests()
        again = await client.events.unlock(LOCKED_EVENT)
    assert again.already_unlocked is True
    assert len(recorder.requests) == 1
    assert ledger.reserves == 1
    assert fake.request_count("/external/actions/precheck") == 0  # known: no precheck
    assert fake.truth.net() == 2000
    await assert_books_and_ledger_match(guard, fake)


async def test_email_unlock_of_unlocked_contacts_sends_nothing_and_asks_nothing(
    fake: FakeLensmor,
) -> None:
    ids = people(fake)
    for pid in ids:
        fake.set_contact_status(pid, "unlocked", value=f"{pid}@example.com")
    recorder, ledger = Recorder(), CountingLedger()
    guard = CreditGuard(recorder, ledger=ledger)
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=CONTACT_EVENT, personnel_ids=ids)
        report = await handle.wait()
    assert handle.task_id is None
    assert fake.request_count("/external/contacts/unlock") == 0
    assert recorder.requests == []
    assert ledger.reserves == 0
    assert sorted(report.skipped) == sorted(ids)
    assert sorted(report.all_ids()) == sorted(ids)
    await assert_books_and_ledger_match(guard, fake)


async def test_phone_unlock_of_contacts_this_guard_unlocked_is_free(fake: FakeLensmor) -> None:
    ids = people(fake)
    deliver_all(fake, BY_NAME["contacts.unlock_phone"], ids)
    recorder, ledger = Recorder(), CountingLedger()
    guard = CreditGuard(recorder, ledger=ledger)
    async with connect(fake, guard) as client:
        first = await (
            await client.contacts.unlock_phone(event_id=CONTACT_EVENT, personnel_ids=ids)
        ).wait()
        assert len(first.delivered) == 3
        await assert_books_and_ledger_match(guard, fake)
        again = await client.contacts.unlock_phone(event_id=CONTACT_EVENT, personnel_ids=ids)
        report = await again.wait()
    assert fake.request_count("/external/contacts/unlock-phone") == 1
    assert len(recorder.requests) == 1
    assert ledger.reserves == 1
    assert sorted(report.skipped) == sorted(ids)
    assert fake.truth.net() == 450
    await assert_books_and_ledger_match(guard, fake)


async def test_phone_unlock_of_contacts_unlocked_elsewhere_charges_nothing(
    fake: FakeLensmor,
) -> None:
    ids = people(fake)
    for pid in ids:
        fake.set_contact_status(pid, "unlocked", value="+1-555-0100", channel="phone")
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        # 0.22 has no phone precheck: the server answers 409, which must cost nothing.
        with contextlib.suppress(ConflictError):
            await finish(
                await client.contacts.unlock_phone(event_id=CONTACT_EVENT, personnel_ids=ids)
            )
    assert fake.state.tasks == {}
    assert len(fake.truth) == 0
    await assert_books_and_ledger_match(guard, fake)


async def test_a_repeated_search_is_a_new_purchase_each_time(fake: FakeLensmor) -> None:
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await client.exhibitors.search_events("Acme Analytics")
        await assert_books_and_ledger_match(guard, fake)
        await client.exhibitors.search_events("Acme Analytics")
    assert fake.truth.net() == 100
    assert fake.truth.duplicate_intents(include_repeatable=True) == {
        ("exhibitors.search_events", "acme analytics"): 2
    }
    await assert_books_and_ledger_match(guard, fake)


async def test_linkedin_activity_of_people_already_unlocked_costs_nothing(
    fake: FakeLensmor,
) -> None:
    ids = people(fake)
    guard = CreditGuard(always_confirm, costs=PRICED_ITEMS)
    async with connect(fake, guard) as client:
        await client.personnel.unlock_linkedin_activity(ids)
        await assert_books_and_ledger_match(guard, fake)
        again = await client.personnel.unlock_linkedin_activity(ids)
    assert all(item.already_unlocked for item in again.items)
    assert fake.truth.net() == 30
    assert guard.history[-1].actual == 0
    await assert_books_and_ledger_match(guard, fake)


async def test_linkedin_activity_this_guard_already_unlocked_asks_no_confirm(
    fake: FakeLensmor,
) -> None:
    ids = people(fake)
    recorder = Recorder()
    guard = CreditGuard(recorder, costs=PRICED_ITEMS)
    async with connect(fake, guard) as client:
        await client.personnel.unlock_linkedin_activity(ids)
        await client.personnel.unlock_linkedin_activity(ids)
    assert len(recorder.requests) == 1


async def test_outreach_generation_is_free_without_confirm_hold_or_exclusive_section(
    fake: FakeLensmor,
) -> None:
    recorder = Recorder()
    ledger = CountingLedger()
    guard = CreditGuard(recorder, ledger=ledger)
    async with connect(fake, guard) as client:
        result = await client.personnel.generate_outreach_message(people(fake), channels=["email"])
    assert all(item.success for item in result.items)
    assert (recorder.requests, ledger.reserves, len(fake.truth)) == ([], 0, 0)
    assert guard.history[-1].outcome is SpendOutcome.FREE
    assert guard.history[-1].reason == "free in the cost table"
    await assert_books_and_ledger_match(guard, fake)


async def test_outreach_for_unknown_people_charges_only_the_known_ones(
    fake: FakeLensmor,
) -> None:
    fake.state.prices = Prices(outreach_message=5)  # a plan that still charges
    ids = [*people(fake, 2), "999999"]
    recorder = Recorder()
    guard = CreditGuard(recorder, costs=PRICED_ITEMS)
    async with connect(fake, guard) as client:
        result = await client.personnel.generate_outreach_message(ids, channels=["email"])
    assert [item.success for item in result.items] == [True, True, False]
    assert recorder.requests[0].expected_credits == 15
    assert fake.truth.net() == 10
    assert guard.history[-1].actual == 10
    await assert_books_and_ledger_match(guard, fake)


async def test_consecutive_unknown_price_calls_match_the_truth(fake: FakeLensmor) -> None:
    fake.state.prices = Prices(outreach_message=5)
    unknown = CostTable.default().with_prices(personnel__generate_outreach_message=None)
    guard = CreditGuard(always_confirm, costs=unknown)
    async with connect(fake, guard) as client:
        await client.personnel.unlock_linkedin_activity(people(fake, 3))
        await assert_books_and_ledger_match(guard, fake)
        await client.personnel.generate_outreach_message(people(fake, 3), channels=["email"])
    assert fake.truth.net() == 45
    await assert_books_and_ledger_match(guard, fake)


# --------------------------------------------------------------------------- mixed task outcomes

MIXED = (
    UnlockOutcome.DELIVERED,
    UnlockOutcome.NO_VALUE,
    UnlockOutcome.FAILED,
    UnlockOutcome.DELIVERED,
    UnlockOutcome.FAILED,
)


@pytest.mark.parametrize(("channel", "price"), [("email", 15), ("phone", 150)])
async def test_mixed_task_outcomes_settle_to_exactly_what_the_server_kept(
    fake: FakeLensmor, channel: str, price: int
) -> None:
    ids = people(fake, 5)
    for pid, outcome in zip(ids, MIXED, strict=True):
        fake.set_unlock_outcome(pid, outcome, channel=channel)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        unlock = client.contacts.unlock if channel == "email" else client.contacts.unlock_phone
        handle = await unlock(event_id=CONTACT_EVENT, personnel_ids=ids)
        # Charged at submission; the guard holds the quote until the task ends.
        assert guard.reserved == 5 * price
        assert guard.spent + guard.reserved == fake.truth.net()
        report = await handle.wait()
    assert isinstance(report, ContactUnlockReport)
    assert {d.personnel_id for d in report.delivered} == {ids[0], ids[3]}
    assert all(d.value for d in report.delivered)
    assert report.unlocked_without_email == (ids[1],)
    assert sorted(f.personnel_id for f in report.failed) == sorted([ids[2], ids[4]])
    assert {f.error_code for f in report.failed} == {"TASK_FAILED"}
    assert report.unresolved == ()
    assert report.credits_spent == 3 * price
    assert fake.truth.net() == 3 * price  # failed items were refunded
    assert fake.truth.total_refunded() == 2 * price
    await assert_books_and_ledger_match(guard, fake)
