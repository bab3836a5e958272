"""client.events (free routes): list, get, brief, fit_score, rank — wire shape and decoding."""

from __future__ import annotations

import datetime as dt

import pytest

from lensmor_async import AsyncLensmor, Page
from lensmor_async.models import (
    Event,
    EventBrief,
    EventCategory,
    EventDetail,
    EventRanking,
    EventTypeInfo,
    FitScore,
)
from lensmor_async.models.events import FIT_RECOMMENDATIONS
from lensmor_async.testing import FakeLensmor
from lensmor_async.testing._routes_events import fit_score as fake_fit_score

pytestmark = pytest.mark.anyio

# Seeded catalogue order (soonest first), identical for every seed.
CATALOGUE = ["102", "101", "105", "103", "104", "108", "106", "107", "109"]


# ----------------------------------------------------------------------------- list


async def test_list_sends_page_and_optional_filters_only(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.list()
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/events/list")
    assert request.query == [("page", "1")]
    assert request.json is None
    assert "content-type" not in request.headers


async def test_list_maps_every_filter_to_its_wire_name(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.list(
        page=2,
        page_size=5,
        keyword="retail",
        country="United States",
        city="New York",
        date_start_from=dt.date(2026, 1, 1),
        date_start_to="2026-12-31",
        event_type=["trade_show", "conference_led"],
        quality="Global",
    )
    (request,) = fake_lensmor.requests
    assert request.query == [
        ("page", "2"),
        ("pageSize", "5"),
        ("keyword", "retail"),
        ("country", "United States"),
        ("city", "New York"),
        ("date_start_from", "2026-01-01"),
        ("date_start_to", "2026-12-31"),
        ("event_type", "trade_show"),
        ("event_type", "conference_led"),
        ("quality", "Global"),
    ]


async def test_list_decodes_a_page_of_typed_events(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.events.list(page_size=4)
    assert isinstance(page, Page)
    assert (page.total, page.page, page.page_size, page.total_pages, page.has_more) == (
        9,
        1,
        4,
        3,
        True,
    )
    assert [event.id for event in page.items] == CATALOGUE[:4]
    assert page.semantics is None
    first = page.items[0]
    assert isinstance(first, Event)
    assert (first.id, first.event_id, first.name) == ("102", "140210", "RetailNext Expo 2026")
    assert (first.date_start, first.date_end) == ("2026-01-11", "2026-01-13")
    assert (first.city, first.country) == ("New York", "United States")
    assert first.exhibitor_count == 14
    assert all(isinstance(e.id, str) and isinstance(e.event_id, str) for e in page.items)
    assert first.extra == {}


async def test_list_filters_are_applied_by_the_server(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.events.list(country="Germany")
    assert [e.name for e in page.items] == ["Marketing AI Week"]
    assert (page.total, page.has_more) == (1, False)


async def test_list_without_matches_is_an_empty_page(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.events.list(keyword="no-such-event-anywhere")
    assert page.items == ()
    assert (page.total, page.total_pages, page.has_more) == (0, 0, False)


# ----------------------------------------------------------------------------- get


async def test_get_puts_the_id_in_the_path(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.get("101")
    (request,) = fake_lensmor.requests
    assert (request.method, request.path, request.route) == (
        "GET",
        "/external/events/101",
        "/external/events/{id}",
    )
    assert request.query == []
    assert request.json is None


async def test_get_decodes_the_full_event_detail(lensmor_client: AsyncLensmor) -> None:
    detail = await lensmor_client.events.get("101")
    assert isinstance(detail, EventDetail)
    assert (detail.id, detail.event_id, detail.name) == ("101", "139574", "Shoptalk Spring 2026")
    assert (detail.latitude, detail.longitude) == ("36.0909", "-115.1761")
    assert (detail.attendee_count, detail.personnel_count) == (10000, 237)
    assert (detail.price_lower, detail.price_upper) == ("1495", "3995")
    assert detail.event_type == "trade_show"
    assert detail.topics == ("retail", "ecommerce", "payments")
    assert detail.topics_count == 3
    assert (detail.verified, detail.future, detail.historic) == (1, 1, 0)
    (category,) = detail.categories
    assert isinstance(category, EventCategory)
    # Integer ids on the wire are strings in the model.
    assert (category.id, category.code, category.name) == ("11", "retail", "Retail")
    assert detail.event_types
    assert all(isinstance(t, EventTypeInfo) and isinstance(t.id, str) for t in detail.event_types)
    assert detail.extra == {}


async def test_get_accepts_the_public_event_id(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    detail = await lensmor_client.events.get("139574")
    assert (detail.id, detail.event_id) == ("101", "139574")
    assert fake_lensmor.requests[0].path == "/external/events/139574"


async def test_get_of_an_event_without_personnel_keeps_null_counts(
    lensmor_client: AsyncLensmor,
) -> None:
    detail = await lensmor_client.events.get("104")
    assert detail.personnel_count is None
    assert detail.attendee_count is None
    assert (detail.price_lower, detail.price_upper) == (None, None)


# ----------------------------------------------------------------------------- brief


async def test_brief_sends_event_id_as_a_query_pair(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.brief("101")
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/events/brief")
    assert request.query == [("event_id", "101")]


async def test_brief_decodes_the_event_and_its_summary(lensmor_client: AsyncLensmor) -> None:
    brief = await lensmor_client.events.brief("101")
    assert isinstance(brief, EventBrief)
    assert isinstance(brief.event, Event)
    assert brief.event.id == "101"
    summary = brief.summary
    assert (summary.attendee_count, summary.exhibitor_count, summary.personnel_count) == (
        10000,
        24,
        237,
    )
    assert summary.top_categories == ()
    assert summary.data_freshness == "database_snapshot"


# ----------------------------------------------------------------------------- fit score


async def test_fit_score_posts_a_json_body_with_event_id(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.fit_score("101")
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", "/external/events/fit-score")
    assert request.query == []
    assert request.json == {"event_id": "101"}
    assert request.headers["content-type"] == "application/json"
    assert request.status == 201


async def test_fit_score_decodes_score_recommendation_and_breakdown(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    result = await lensmor_client.events.fit_score("101")
    expected_score, expected_breakdown = fake_fit_score(fake_lensmor.seed, "101")
    assert isinstance(result, FitScore)
    assert result.event.id == "101"
    assert result.score == expected_score
    assert result.recommendation in FIT_RECOMMENDATIONS
    breakdown = result.breakdown
    assert (
        breakdown.profile_match,
        breakdown.matched_exhibitor_density,
        breakdown.event_scale,
    ) == (
        expected_breakdown["profile_match"],
        expected_breakdown["matched_exhibitor_density"],
        expected_breakdown["event_scale"],
    )


# ----------------------------------------------------------------------------- rank


async def test_rank_posts_the_deduplicated_shortlist(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.rank(["101", "102", "101", "103"])
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", "/external/events/rank")
    assert request.json == {"event_ids": ["101", "102", "103"]}


async def test_rank_decodes_items_ordered_by_rank(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    ranking = await lensmor_client.events.rank(["101", "102", "103"])
    assert isinstance(ranking, EventRanking)
    assert [item.rank for item in ranking.items] == [1, 2, 3]
    assert sorted(item.event_id for item in ranking.items) == ["101", "102", "103"]
    scores = [item.match_score for item in ranking.items]
    assert scores == sorted(scores, reverse=True)
    by_id = {item.event_id: item for item in ranking.items}
    assert by_id["101"].name == "Shoptalk Spring 2026"
    assert by_id["101"].match_score == fake_fit_score(fake_lensmor.seed, "101")[0]
    assert all(item.reasons == () for item in ranking.items)
