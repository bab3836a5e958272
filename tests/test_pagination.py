"""pages()/iterate(): across pages, ``limit``, stop at ``hasMore: false``, the preview window.

Every assertion about "how many requests" reads the fake's request log, so a
paginator that over-fetches (or keeps going past the preview window) fails here.
"""

from __future__ import annotations

import pytest

from lensmor_async import AsyncLensmor, Page
from lensmor_async.models import Event, Person
from lensmor_async.resources import PageIterator
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

LOCKED_BIG = "101"  # 237 people, 24 exhibitors, locked
SMALL_LOCKED = "103"  # 30 people, locked
UNLOCKED = "102"  # 80 people, 14 exhibitors
CATALOGUE = ["102", "101", "105", "103", "104", "108", "106", "107", "109"]


def _pages_requested(fake: FakeLensmor, route: str) -> list[str]:
    return [dict(r.query).get("page", "1") for r in fake.requests_for(route)]


# ----------------------------------------------------------------------------- events


async def test_pages_walks_every_page_until_has_more_is_false(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    pages = [page async for page in lensmor_client.events.pages(page_size=4)]
    assert [page.page for page in pages] == [1, 2, 3]
    assert [len(page.items) for page in pages] == [4, 4, 1]
    assert [page.has_more for page in pages] == [True, True, False]
    assert all(isinstance(page, Page) for page in pages)
    assert _pages_requested(fake_lensmor, "/external/events/list") == ["1", "2", "3"]
    for request in fake_lensmor.requests:
        assert ("pageSize", "4") in request.query


async def test_iterate_yields_every_item_in_order(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.events.iterate(page_size=2)
    assert isinstance(iterator, PageIterator)
    events = [event async for event in iterator]
    assert [event.id for event in events] == CATALOGUE
    assert all(isinstance(event, Event) for event in events)
    assert len(fake_lensmor.requests) == 5
    assert iterator.last_page is not None
    assert (iterator.last_page.page, iterator.last_page.has_more) == (5, False)
    assert iterator.yielded == 9


async def test_iterate_passes_the_same_filters_to_every_page(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    events = [
        event
        async for event in lensmor_client.events.iterate(
            page_size=1, country="United States", event_type="trade_show"
        )
    ]
    assert [event.id for event in events] == ["102", "101"]
    assert len(fake_lensmor.requests) == 2
    for request in fake_lensmor.requests:
        assert ("country", "United States") in request.query
        assert ("event_type", "trade_show") in request.query


async def test_iterate_stops_at_the_limit_without_fetching_more_pages(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.events.iterate(page_size=3, limit=5)
    events = [event async for event in iterator]
    assert [event.id for event in events] == CATALOGUE[:5]
    assert _pages_requested(fake_lensmor, "/external/events/list") == ["1", "2"]
    assert iterator.yielded == 5


async def test_a_limit_of_a_whole_page_does_not_fetch_the_next_one(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    events = [event async for event in lensmor_client.events.iterate(page_size=3, limit=3)]
    assert len(events) == 3
    assert len(fake_lensmor.requests) == 1


async def test_a_limit_of_zero_makes_no_request(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.events.iterate(limit=0)
    assert [event async for event in iterator] == []
    assert iterator.last_page is None
    assert fake_lensmor.requests == []


async def test_an_empty_result_is_one_request_and_no_items(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.events.iterate(keyword="nothing-matches-this")
    assert [event async for event in iterator] == []
    assert len(fake_lensmor.requests) == 1
    assert iterator.last_page is not None
    assert iterator.last_page.total == 0


async def test_pages_are_fetched_lazily(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    pages = lensmor_client.events.pages(page_size=2)
    assert fake_lensmor.requests == []
    first = await pages.__anext__()
    assert first.page == 1
    assert len(fake_lensmor.requests) == 1
    await pages.aclose()  # type: ignore[attr-defined]
    assert len(fake_lensmor.requests) == 1


# ----------------------------------------------------------------------------- preview window


async def test_iterating_a_locked_event_stops_at_the_preview_window(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.personnel.iterate(LOCKED_BIG, page_size=20)
    people = [person async for person in iterator]
    assert len(people) == 50
    assert len({person.id for person in people}) == 50
    assert all(isinstance(person, Person) for person in people)
    # Pages 1-3 cover the 50 previewable rows; page 4 is never requested.
    assert _pages_requested(fake_lensmor, "/external/personnel/list") == ["1", "2", "3"]


async def test_last_page_of_a_preview_says_locked_remaining_and_cost(
    lensmor_client: AsyncLensmor,
) -> None:
    iterator = lensmor_client.personnel.iterate(LOCKED_BIG)
    count = len([person async for person in iterator])
    last = iterator.last_page
    assert count == 50
    assert last is not None
    # More rows exist behind the unlock, so the server still says hasMore.
    assert last.has_more is True
    assert last.preview_exhausted is True
    assert last.has_next is False
    semantics = last.semantics
    assert semantics is not None
    assert semantics.access_mode == "preview"
    assert semantics.preview_limit == 50
    assert semantics.counts is not None
    assert (semantics.counts.actual_total, semantics.counts.remaining_locked_count) == (237, 187)
    assert semantics.unlock is not None
    assert semantics.unlock.required_for_more_results is True
    assert (semantics.unlock.action_type, semantics.unlock.credits) == (
        "unlock_event_contacts",
        2000,
    )
    assert semantics.guidance is not None
    assert semantics.guidance.code == "preview_results_truncated"


async def test_personnel_pages_of_a_locked_event_stop_without_raising(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    pages = [page async for page in lensmor_client.personnel.pages(LOCKED_BIG, page_size=30)]
    assert [len(page.items) for page in pages] == [30, 20]
    assert pages[-1].preview_exhausted
    assert len(fake_lensmor.requests) == 2


async def test_a_small_locked_event_is_complete_within_the_preview(
    lensmor_client: AsyncLensmor,
) -> None:
    iterator = lensmor_client.personnel.iterate(SMALL_LOCKED, page_size=10)
    people = [person async for person in iterator]
    assert len(people) == 30
    assert iterator.last_page is not None
    assert iterator.last_page.has_more is False
    assert iterator.last_page.unlock_required is False


async def test_after_unlocking_iteration_returns_every_person(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.unlock_event(LOCKED_BIG)
    iterator = lensmor_client.personnel.iterate(LOCKED_BIG)
    people = [person async for person in iterator]
    assert len(people) == 237
    assert len({person.id for person in people}) == 237
    assert _pages_requested(fake_lensmor, "/external/personnel/list") == ["1", "2", "3", "4", "5"]
    assert iterator.last_page is not None
    assert iterator.last_page.access_mode == "full"
    assert iterator.last_page.has_more is False
    # Unlocking through the fake helper is free: nothing was charged.
    assert fake_lensmor.truth.entries == []


async def test_iterate_with_limit_inside_the_preview_window(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    people = [p async for p in lensmor_client.personnel.iterate(LOCKED_BIG, limit=7, page_size=5)]
    assert len(people) == 7
    assert _pages_requested(fake_lensmor, "/external/personnel/list") == ["1", "2"]


async def test_personnel_iterate_sends_filters_on_every_page(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.unlock_event(LOCKED_BIG)
    people = [
        person
        async for person in lensmor_client.personnel.iterate(
            LOCKED_BIG, page_size=5, department="sales"
        )
    ]
    assert people
    assert all(person.department == "sales" for person in people)
    for request in fake_lensmor.requests:
        assert ("department", "sales") in request.query
        assert ("event_id", LOCKED_BIG) in request.query


# ----------------------------------------------------------------------------- exhibitors


async def test_exhibitor_iteration_of_a_locked_event_is_complete_when_under_the_window(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    iterator = lensmor_client.exhibitors.iterate(LOCKED_BIG, page_size=10)
    exhibitors = [exhibitor async for exhibitor in iterator]
    assert [e.id for e in exhibitors] == [e.id for e in fake_lensmor.state.lineup(LOCKED_BIG)]
    assert _pages_requested(fake_lensmor, "/external/exhibitors/list") == ["1", "2", "3"]
    assert iterator.last_page is not None
    assert iterator.last_page.is_preview
    assert iterator.last_page.has_more is False


async def test_exhibitor_pages_of_an_unlocked_event(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    pages = [page async for page in lensmor_client.exhibitors.pages(UNLOCKED, page_size=5)]
    assert [len(page.items) for page in pages] == [5, 5, 4]
    assert all(page.access_mode == "full" for page in pages)
    assert len(fake_lensmor.requests) == 3


# ----------------------------------------------------------------------------- convenience


async def test_a_preview_page_answers_counts_and_price_without_optional_chains(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.personnel.list("101", page_size=20)
    assert (page.visible_total, page.actual_total, page.preview_remaining) == (50, 237, 187)
    assert page.unlock_credits == 2000
    outside = await lensmor_client.personnel.list("101", page=9, page_size=20)
    assert outside.guidance_code is not None
    assert not outside.page_accessible


def test_without_semantics_the_counts_fall_back_to_the_page_total() -> None:
    page: Page[int] = Page(
        items=(1, 2), total=2, page=1, page_size=2, total_pages=1, has_more=False
    )
    assert (page.visible_total, page.actual_total, page.preview_remaining) == (2, 2, 0)
    assert (page.unlock_credits, page.guidance_code) == (None, None)
