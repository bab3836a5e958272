"""Two-phase spending: ``guard.quote(...)`` now, ``quote.execute()`` later.

A quote shows cost, balance and budget without spending; executing runs the call
once, refuses after the TTL before any I/O, and asks again (``requote=True``) when
the cost or the balance moved. Judged against FakeLensmor's truth ledger.
"""

from __future__ import annotations

import contextlib
import time
import types

import pytest
from guard_helpers import Recorder, assert_books_match, connect

from lensmor_async.errors import (
    BudgetExceededError,
    ConfirmationRequiredError,
    LensmorError,
    QuoteExpiredError,
    SpendDeclinedError,
)
from lensmor_async.guard import CreditGuard, SpendOutcome
from lensmor_async.guard import _quote as quote_module
from lensmor_async.testing import FakeLensmor, UnlockOutcome

pytestmark = pytest.mark.anyio

LOCKED_EVENT = "101"
UNLOCKED_EVENT = "102"
CONTACT_EVENT = "103"
START_BALANCE = 30_050
SEARCH_ROUTE = "/external/exhibitors/search-events"
UNLOCK_ROUTE = "/external/events/{id}/unlock"


async def test_a_quote_shows_cost_balance_and_budget_without_spending(
    fake: FakeLensmor,
) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder, budget=5000)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
    assert quote.credits == 2000
    assert quote.request is not None
    assert quote.request.operation == "events.unlock"
    assert quote.request.targets == (LOCKED_EVENT,)
    assert quote.request.expected_credits == 2000
    assert quote.request.current_balance == START_BALANCE
    assert quote.request.budget_remaining == 5000
    assert (quote.current_balance, quote.budget_remaining) == (START_BALANCE, 5000)
    assert not quote.expired
    assert recorder.requests == []
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert len(fake.truth) == 0
    assert guard.reserved == 0
    assert guard.history == ()
    assert (await guard.ledger.snapshot()).holds == 0


async def test_a_fresh_quote_is_not_marked_as_a_requote(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
    assert quote.request is not None
    assert quote.request.requote is False


async def test_execute_runs_the_call_once_without_asking_again(fake: FakeLensmor) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        result = await quote.execute()
    assert result.credits_used == 2000
    assert quote.executed is True
    assert recorder.requests == []  # the quote itself was the approval
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert [e.intent for e in fake.truth.entries] == [("events.unlock", LOCKED_EVENT)]
    assert [r.outcome for r in guard.history] == [SpendOutcome.SUCCEEDED]
    assert_books_match(guard, fake)


async def test_executing_a_quote_twice_never_pays_twice(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
        await quote.execute()
        with contextlib.suppress(LensmorError):
            await quote.execute()
    assert len(fake.truth) == 1
    assert_books_match(guard, fake)


async def test_an_expired_quote_is_refused_before_any_io(
    fake: FakeLensmor, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        later = time.time() + quote_module.DEFAULT_QUOTE_TTL + 1
        monkeypatch.setattr(quote_module, "time", types.SimpleNamespace(time=lambda: later))
        fake.reset_requests()
        assert quote.expired
        with pytest.raises(QuoteExpiredError):
            await quote.execute()
    assert fake.requests == []
    assert len(fake.truth) == 0
    assert quote.executed is False
    assert_books_match(guard, fake)


async def test_a_quote_still_inside_its_ttl_executes(
    fake: FakeLensmor, monkeypatch: pytest.MonkeyPatch
) -> None:
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
        nearly = quote.expires_at - 1
        monkeypatch.setattr(quote_module, "time", types.SimpleNamespace(time=lambda: nearly))
        await quote.execute()
    assert fake.truth.net() == 50
    assert_books_match(guard, fake)


async def test_a_cost_that_moved_is_confirmed_again_as_a_requote(fake: FakeLensmor) -> None:
    ids = list(fake.state.rosters[CONTACT_EVENT])[:5]
    for pid in ids:
        fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED)
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.contacts.unlock, event_id=CONTACT_EVENT, personnel_ids=ids)
        assert quote.credits == 75
        fake.set_contact_status(ids[0], "unlocked", value="someone@example.com")
        handle = await quote.execute()
        report = await handle.wait()
    (request,) = recorder.requests
    assert request.requote is True
    assert request.expected_credits == 60
    (sent,) = fake.requests_for("/external/contacts/unlock")
    assert sorted(sent.json["personnel_ids"]) == sorted(ids[1:])
    assert report.skipped == (ids[0],)
    assert fake.truth.net() == 60
    assert_books_match(guard, fake)


async def test_a_balance_that_dropped_is_confirmed_again_as_a_requote(
    fake: FakeLensmor,
) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder, balance_ttl=0.0)  # every check sees the server's balance
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
        fake.set_balance(subscription=20_000, gift=0)
        await quote.execute()
    (request,) = recorder.requests
    assert request.requote is True
    assert request.current_balance == 20_000
    assert request.expected_credits == 50
    assert fake.truth.net() == 50
    assert_books_match(guard, fake)


async def test_spending_by_the_same_guard_since_the_quote_asks_again(fake: FakeLensmor) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
        await client.exhibitors.search_by_company_name("Acme Logistics")
        await quote.execute()
    assert [r.requote for r in recorder.requests] == [False, True]
    assert recorder.requests[1].current_balance == START_BALANCE - 50
    assert fake.truth.net() == 100
    assert_books_match(guard, fake)


async def test_declining_a_requote_sends_nothing(fake: FakeLensmor) -> None:
    recorder = Recorder(requote_answer=False)
    guard = CreditGuard(recorder, balance_ttl=0.0)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.exhibitors.search_events, "Acme Analytics")
        fake.set_balance(subscription=20_000, gift=0)
        with pytest.raises(SpendDeclinedError):
            await quote.execute()
    assert fake.request_count(SEARCH_ROUTE) == 0
    assert len(fake.truth) == 0
    assert guard.history[-1].outcome is SpendOutcome.DECLINED
    assert_books_match(guard, fake)


async def test_execute_rechecks_the_budget_before_sending(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder(), budget=2040)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        await client.exhibitors.search_events("Acme Analytics")  # 1990 left
        with pytest.raises(BudgetExceededError):
            await quote.execute()
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert fake.truth.net() == 50
    assert_books_match(guard, fake)


async def test_a_quote_for_an_unlocked_event_costs_zero_and_asks_nothing(
    fake: FakeLensmor,
) -> None:
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, UNLOCKED_EVENT)
        assert quote.credits == 0
        result = await quote.execute()
    assert result.already_unlocked is True
    assert recorder.requests == []
    assert len(fake.truth) == 0
    assert_books_match(guard, fake)


async def test_a_quote_for_contacts_already_unlocked_is_free(fake: FakeLensmor) -> None:
    ids = list(fake.state.rosters[CONTACT_EVENT])[:3]
    for pid in ids:
        fake.set_contact_status(pid, "unlocked", value=f"{pid}@example.com")
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.contacts.unlock, event_id=CONTACT_EVENT, personnel_ids=ids)
        assert quote.credits == 0
        report = await (await quote.execute()).wait()
    assert sorted(report.skipped) == sorted(ids)
    assert recorder.requests == []
    assert fake.request_count("/external/contacts/unlock") == 0
    assert_books_match(guard, fake)


async def test_quoting_without_a_confirm_callback_fails_closed(fake: FakeLensmor) -> None:
    guard = CreditGuard()
    async with connect(fake, guard) as client:
        with pytest.raises(ConfirmationRequiredError):
            await guard.quote(client.events.unlock, LOCKED_EVENT)
    assert fake.requests == []
