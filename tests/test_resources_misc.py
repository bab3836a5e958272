"""client.credits, client.actions.precheck and client.profile_matching — wire shape, decoding."""

from __future__ import annotations

import datetime as dt

import pytest

from lensmor_async import AsyncLensmor
from lensmor_async.models import (
    CreditBalance,
    PrecheckDetail,
    PrecheckResult,
    RecommendedEvent,
    RecommendedEventPage,
    RecommendedExhibitor,
    RecommendedExhibitorPage,
)
from lensmor_async.models.profile_matching import MATCH_TIERS
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

LOCKED = "101"
UNLOCKED = "102"
APPLY_ROUTE = "/external/profile-matching/actions/apply-recommended-events/paged"
LEGACY_ROUTE = "/external/profile-matching/recommendations/events/paged"
EXHIBITORS_ROUTE = "/external/profile-matching/recommendations/exhibitors"


# ----------------------------------------------------------------------------- credits


async def test_balance_is_a_bare_get(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.credits.balance()
    (request,) = fake_lensmor.requests
    assert (request.method, request.path, request.query, request.json) == (
        "GET",
        "/external/credits/balance",
        [],
        None,
    )


async def test_balance_decodes_every_bucket(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.set_balance(subscription=1234, gift=56)
    balance = await lensmor_client.credits.balance()
    wire = fake_lensmor.state.balance.to_wire()
    assert isinstance(balance, CreditBalance)
    assert (balance.subscription_balance, balance.gift_balance, balance.total_balance) == (
        1234,
        56,
        1290,
    )
    assert (balance.total_amount, balance.subscription_amount, balance.gift_amount) == (
        wire["totalAmount"],
        wire["subscriptionAmount"],
        wire["giftAmount"],
    )
    assert balance.reset_at == wire["resetAt"]
    assert isinstance(balance.reset_at, int)
    # A 0.22 server has no addon bucket: absent, not zero.
    assert (balance.addon_amount, balance.addon_balance, balance.addon_expire_at) == (
        None,
        None,
        None,
    )
    assert balance.extra == {}


# ----------------------------------------------------------------------------- precheck


async def test_precheck_posts_snake_case_fields_with_the_call_source(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.actions.precheck(
        "unlock_event_contacts",
        {"event_id": LOCKED},
        locale="en",
        trace_id="trace-1",
        conversation_id="conv-1",
        channel_message_id="msg-1",
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", "/external/actions/precheck")
    assert request.json == {
        "action_type": "unlock_event_contacts",
        "params": {"event_id": LOCKED},
        "call_source": "api",
        "locale": "en",
        "trace_id": "trace-1",
        "conversation_id": "conv-1",
        "channel_message_id": "msg-1",
    }
    assert request.status == 200


async def test_precheck_of_an_event_unlock_decodes_price_and_detail(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    result = await lensmor_client.actions.precheck("unlock_event_contacts", {"event_id": LOCKED})
    assert isinstance(result, PrecheckResult)
    assert (result.ok, result.action_type, result.allowed, result.should_charge) == (
        True,
        "unlock_event_contacts",
        True,
        True,
    )
    assert (result.credits, result.reason_code, result.biz_code) == (
        2000,
        "ok",
        "Event Unlock - API",
    )
    detail = result.detail
    assert isinstance(detail, PrecheckDetail)
    assert (detail.event_id, detail.access_mode, detail.preview_limit) == (LOCKED, "preview", 50)
    assert (detail.unlock_action_type, detail.unlock_credits) == ("unlock_event_contacts", 2000)
    assert detail.available_balance == fake_lensmor.state.balance.total_balance
    # The precheck is read-only: nothing was charged.
    assert fake_lensmor.truth.entries == []


async def test_precheck_call_source_follows_with_options(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    agent = lensmor_client.with_options(call_source="agent")
    result = await agent.actions.precheck("unlock_event_contacts", {"event_id": LOCKED})
    assert fake_lensmor.requests[0].json["call_source"] == "agent"
    assert result.biz_code == "Event Unlock - Agent"


async def test_precheck_keeps_absent_id_lists_apart_from_empty_ones(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    people = [pid for _, pid in zip(range(2), fake_lensmor.state.rosters[UNLOCKED], strict=False)]
    contacts = await lensmor_client.actions.precheck(
        "unlock_contact_emails", {"event_id": UNLOCKED, "personnel_ids": people}
    )
    assert contacts.detail.personnel_ids == tuple(people)
    assert contacts.detail.missing_personnel_ids == ()
    assert contacts.detail.invalid_personnel_ids == ()
    assert (contacts.detail.requested_count, contacts.detail.chargeable_count) == (2, 2)
    assert contacts.credits == 30
    event = await lensmor_client.actions.precheck("query_event_personnel", {"event_id": LOCKED})
    assert event.detail.personnel_ids is None
    assert event.detail.missing_personnel_ids is None
    assert event.should_charge is False


async def test_precheck_of_an_unknown_action_is_an_answer_not_an_error(
    lensmor_client: AsyncLensmor,
) -> None:
    result = await lensmor_client.actions.precheck("teleport_attendees", {})
    assert (result.allowed, result.reason_code, result.credits) == (
        False,
        "unsupported_action",
        0,
    )
    assert result.action_type == "teleport_attendees"


# ----------------------------------------------------------------------------- recommendations


async def test_recommended_events_posts_camel_case_filters(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.profile_matching.recommended_events(
        company_url="https://acmeanalytics.com",
        target_audience="retail buyers",
        page=1,
        page_size=5,
        timeout_ms=60_000,
        auto_recommend_top3=True,
        city="Las Vegas",
        region="Nevada",
        country="United States",
        category=["retail"],
        event_type_ids=[1, 2],
        date_start_from=dt.date(2026, 1, 1),
        date_start_to="2026-12-31",
        future=1,
        attendee_count_min=100,
        attendee_count_max=50_000,
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", APPLY_ROUTE)
    assert request.json == {
        "company_url": "https://acmeanalytics.com",
        "target_audience": "retail buyers",
        "page": 1,
        "pageSize": 5,
        "timeout_ms": 60_000,
        "autoRecommendTop3EventsEnabled": True,
        "city": "Las Vegas",
        "region": "Nevada",
        "country": "United States",
        "category": ["retail"],
        "eventTypeIds": [1, 2],
        "dateStartFrom": "2026-01-01",
        "dateStartTo": "2026-12-31",
        "future": 1,
        "attendeeCountMin": 100,
        "attendeeCountMax": 50_000,
    }
    assert request.status == 201


async def test_recommended_events_legacy_route_sends_the_same_body(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.profile_matching.recommended_events(
        target_audience="retail", legacy_route=True
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", LEGACY_ROUTE)
    assert request.json == {"target_audience": "retail", "page": 1}


async def test_recommended_events_decodes_ranked_events_and_page_state(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    page = await lensmor_client.profile_matching.recommended_events(
        target_audience="retail", page_size=100
    )
    assert isinstance(page, RecommendedEventPage)
    assert page.total == len(fake_lensmor.state.events)
    assert (page.status, page.profile_version, page.active_result_version, page.is_stale) == (
        "completed",
        1,
        1,
        False,
    )
    assert page.condition_tags is not None
    assert [item.rank for item in page.items] == list(range(1, len(page.items) + 1))
    scores = [item.match_score for item in page.items]
    assert all(isinstance(score, float) for score in scores)
    assert scores == sorted(scores, key=lambda score: score or 0.0, reverse=True)
    first = page.items[0]
    assert isinstance(first, RecommendedEvent)
    assert isinstance(first.id, str)
    assert first.matched_exhibitor_count == len(fake_lensmor.state.event_exhibitors[first.id])
    assert first.unlocked == fake_lensmor.state.is_unlocked(first.id)
    assert first.create_time == 1_767_225_600_000
    assert first.relevance_reason
    assert first.source_tags == ()


async def test_recommended_events_without_matches_keeps_the_explanation_in_extra(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.profile_matching.recommended_events(
        target_audience="retail", city="Atlantis"
    )
    assert isinstance(page, RecommendedEventPage)
    assert page.items == ()
    assert page.status == "completed_empty"
    assert page.extra["empty_reason"] == "no_events_matched"
    assert page.extra["failed_filters"] == ["city"]
    assert page.extra["candidate_count"] == 9
    assert page.extra["suggestions"]


# ------------------------------------------------------------------------ recommended exhibitors


async def test_recommended_exhibitors_sends_camel_case_query_pairs(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.profile_matching.recommended_exhibitors(
        LOCKED,
        page=1,
        page_size=10,
        location=["United States", "Germany"],
        search_query="analytics",
        exhibitor_name="Acme Analytics",
        category="analytics",
        industry=["Data & Analytics"],
        employees_min=1,
        employees_max=5000,
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", EXHIBITORS_ROUTE)
    assert request.query == [
        ("event_id", LOCKED),
        ("page", "1"),
        ("pageSize", "10"),
        ("location", "United States"),
        ("location", "Germany"),
        ("searchQuery", "analytics"),
        ("exhibitorName", "Acme Analytics"),
        ("category", "analytics"),
        ("industry", "Data & Analytics"),
        ("employeesMin", "1"),
        ("employeesMax", "5000"),
    ]


async def test_recommended_exhibitors_decodes_ranked_matches(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    page = await lensmor_client.profile_matching.recommended_exhibitors(LOCKED, page_size=100)
    lineup = {e.id for e in fake_lensmor.state.lineup(LOCKED)}
    assert isinstance(page, RecommendedExhibitorPage)
    assert page.recommendation_processing is False
    assert page.code is None
    assert page.is_fallback is False
    assert {item.id for item in page.items} == lineup
    assert [item.recommendation_rank for item in page.items] == list(range(1, len(lineup) + 1))
    for item in page.items:
        assert isinstance(item, RecommendedExhibitor)
        assert item.match_status == "ready"
        assert item.match_tier in MATCH_TIERS
        assert item.reason is not None
        assert item.company_name is not None
        assert item.company_name in item.reason
        assert item.company_size is not None
        # matched_event_ids is not modelled on this item: it stays readable in extra.
        assert item.extra["matched_event_ids"] == [LOCKED]
