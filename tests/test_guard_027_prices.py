"""The guard's prices as the API charges today (0.27), judged against FakeLensmor's truth.

Empty paid searches cost 0, a lost answer stays in doubt at its estimate, phone unlocks
are trimmed by their precheck, contact batches go up to 2,000 ids without an event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from guard_helpers import Recorder, assert_books_match, connect, exhibit

from lensmor_async import AsyncLensmor, SpendInDoubtError
from lensmor_async.guard import CreditGuard, SpendOutcome, always_confirm
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio

Search = Callable[[AsyncLensmor, str], Awaitable[Any]]
SEARCHES: dict[str, tuple[str, Search]] = {
    "search_events": (
        "/external/exhibitors/search-events",
        lambda c, name: c.exhibitors.search_events(name),
    ),
    "search_by_company_name": (
        "/external/exhibitors/search-by-company-name",
        lambda c, name: c.exhibitors.search_by_company_name(name),
    ),
}
EACH_SEARCH = pytest.mark.parametrize("name", sorted(SEARCHES))
CONTACT_EVENT = "103"


@EACH_SEARCH
async def test_an_empty_search_costs_nothing_in_the_books_or_on_the_server(
    fake: FakeLensmor, name: str
) -> None:
    _, search = SEARCHES[name]
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        page = await search(client, "Zzyzx Nothing Matches")
    assert (page.items, page.total) == ((), 0)
    assert recorder.requests[0].expected_credits == 50  # unknown until it ran: held, asked
    assert (guard.spent, guard.reserved, len(fake.truth)) == (0, 0, 0)
    assert guard.history[-1].outcome is SpendOutcome.SUCCEEDED
    assert guard.history[-1].actual == 0
    assert_books_match(guard, fake)


@EACH_SEARCH
async def test_a_search_with_results_costs_its_price(fake: FakeLensmor, name: str) -> None:
    _, search = SEARCHES[name]
    exhibit(fake, ["Quillfeather Labs"])
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        page = await search(client, "Quillfeather Labs")
    assert page.total >= 1
    assert guard.spent == fake.truth.net() == 50
    assert_books_match(guard, fake)


async def test_a_lost_answer_of_an_empty_search_stays_in_doubt_at_its_estimate(
    fake: FakeLensmor,
) -> None:
    route, search = SEARCHES["search_events"]
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=route)
    guard = CreditGuard(always_confirm)
    async with AsyncLensmor(
        fake.api_key, base_url=fake.url, guard=guard, testing=True, timeout=0.3
    ) as client:
        with pytest.raises(SpendInDoubtError):
            await search(client, "Zzyzx Nothing Matches")
    # The server charged nothing, but the SDK cannot know that without the answer.
    assert len(fake.truth) == 0
    assert guard.spent == 50
    assert guard.history[-1].outcome is SpendOutcome.IN_DOUBT


async def test_phone_unlock_is_priced_by_its_precheck(fake: FakeLensmor) -> None:
    ids = list(fake.state.rosters[CONTACT_EVENT])[:3]
    fake.set_contact_status(ids[0], "unlocked", value="+1 555 0100", channel="phone")
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock_phone(event_id=CONTACT_EVENT, personnel_ids=ids)
        await handle.wait()
    (asked,) = recorder.requests
    assert asked.expected_credits == 300  # the unlocked one is left out, not refused by a 409
    assert tuple(asked.targets) == tuple(sorted(ids[1:]))
    assert fake.request_count("/external/actions/precheck") >= 1
    assert guard.spent == fake.truth.net()
    assert_books_match(guard, fake)


async def test_contact_unlock_without_an_event_goes_through_the_guard(fake: FakeLensmor) -> None:
    ids = [next(iter(fake.state.rosters["101"])), next(iter(fake.state.rosters[CONTACT_EVENT]))]
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        report = await (await client.contacts.unlock(personnel_ids=ids)).wait()
    (sent,) = fake.requests_for("/external/contacts/unlock")
    assert "event_id" not in sent.json
    assert report.task_status == "completed"
    assert len(report.delivered) + len(report.unlocked_without_email) + len(report.failed) == 2
    assert guard.spent == fake.truth.net() > 0
    assert_books_match(guard, fake)
