"""client.exhibitors (free routes): list, search, profile, events — wire shape and decoding."""

from __future__ import annotations

import pytest

from lensmor_async import AsyncLensmor, InvalidRequestError, Page
from lensmor_async.models import AccessSemantics, BuyingSignal, Event, Exhibitor, ExhibitorProfile
from lensmor_async.models.exhibitors import BUYING_SIGNAL_STATUSES
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

LOCKED = "101"  # 24 exhibitors, locked
UNLOCKED = "102"  # 14 exhibitors
ACME = "5001"  # "Acme Analytics" exhibits at 101, 102 and 105 for every seed


# ----------------------------------------------------------------------------- list


async def test_list_sends_event_id_and_page_as_query_pairs(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.list(LOCKED)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/exhibitors/list")
    assert request.query == [("event_id", LOCKED), ("page", "1")]
    assert request.json is None


async def test_list_maps_every_filter_to_its_wire_name(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.list(
        LOCKED,
        page=2,
        page_size=10,
        keyword="analytics",
        country="Germany",
        category=["analytics", "checkout"],
        industry="Data & Analytics",
        job_title=["VP Sales"],
        management_level="director",
        department=["sales", "marketing"],
        personnel_limit=3,
    )
    (request,) = fake_lensmor.requests
    assert request.query == [
        ("event_id", LOCKED),
        ("page", "2"),
        ("pageSize", "10"),
        ("keyword", "analytics"),
        ("country", "Germany"),
        ("category", "analytics"),
        ("category", "checkout"),
        ("industry", "Data & Analytics"),
        ("jobTitle", "VP Sales"),
        ("managementLevel", "director"),
        ("department", "sales"),
        ("department", "marketing"),
        ("personnelLimit", "3"),
    ]
    assert request.status == 200


async def test_list_decodes_exhibitors_with_snake_case_fields(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    page = await lensmor_client.exhibitors.list(UNLOCKED, page_size=20)
    lineup = fake_lensmor.state.lineup(UNLOCKED)
    assert isinstance(page, Page)
    assert (page.total, page.page_size, page.has_more) == (len(lineup), 20, False)
    assert [e.id for e in page.items] == [e.id for e in lineup]
    acme = page.items[0]
    assert isinstance(acme, Exhibitor)
    record = lineup[0]
    assert (acme.id, acme.company_name, acme.domain) == (ACME, "Acme Analytics", record.domain)
    assert (acme.industry, acme.employee_count, acme.country) == (
        record.industry,
        record.employee_count,
        record.country,
    )
    assert acme.linkedin_url == record.linkedin_url
    assert acme.matched_event_ids == (UNLOCKED,)
    assert acme.categories == record.categories
    assert acme.tech_stacks == record.tech_stacks
    assert acme.is_recommended is False
    assert acme.match_score is None


async def test_list_decodes_buying_signals_with_integer_timestamps(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.exhibitors.list(LOCKED, page_size=50)
    with_signals = [e for e in page.items if e.buying_signals]
    assert with_signals, "the seeded lineup always has some buying signals"
    for exhibitor in with_signals:
        assert exhibitor.buying_signal_status in BUYING_SIGNAL_STATUSES
        assert set(exhibitor.buying_signal_tags) == {s.signal_tag for s in exhibitor.buying_signals}
        for signal in exhibitor.buying_signals:
            assert isinstance(signal, BuyingSignal)
            # A digit string on the wire, epoch milliseconds here.
            assert isinstance(signal.analyzed_at, int)
            assert signal.analyzed_at > 1_700_000_000_000
            assert 0 <= signal.signal_score <= 100
    assert all(e.buying_signal_status is None for e in page.items if not e.buying_signals)


async def test_list_of_a_locked_event_carries_preview_semantics(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.exhibitors.list(LOCKED, page_size=10)
    semantics = page.semantics
    assert isinstance(semantics, AccessSemantics)
    assert (semantics.access_mode, semantics.preview_limit) == ("preview", 50)
    assert page.is_preview
    assert semantics.counts is not None
    assert (
        semantics.counts.actual_total,
        semantics.counts.visible_total,
        semantics.counts.remaining_locked_count,
    ) == (24, 24, 0)
    assert semantics.unlock is not None
    assert (semantics.unlock.action_type, semantics.unlock.credits) == (
        "unlock_event_exhibitors",
        2000,
    )
    assert semantics.unlock.required_for_more_results is False
    assert semantics.guidance is not None
    assert semantics.guidance.code == "preview_complete_for_query"


async def test_list_of_an_unlocked_event_is_full_access(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.exhibitors.list(UNLOCKED)
    assert page.access_mode == "full"
    assert page.semantics is not None
    assert page.semantics.preview_limit is None
    assert page.semantics.guidance is not None
    assert page.semantics.guidance.code == "full_access"


async def test_list_keeps_unknown_page_and_item_keys_in_extra(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.exhibitors.list(UNLOCKED, page_size=5, personnel_limit=2)
    assert page.extra["recommendationProcessing"] is False
    assert page.extra["recommendationProcessingFeature"] == "none"
    sampled = [e for e in page.items if e.extra.get("personnel")]
    assert sampled, "some exhibitors of the event have explicit people"
    for exhibitor in sampled:
        people = exhibitor.extra["personnel"]
        assert 1 <= len(people) <= 2
        assert all(isinstance(person["id"], str) for person in people)


# ----------------------------------------------------------------------------- search


async def test_search_posts_snake_case_inputs_and_camel_case_paging(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.search(
        company_url="https://www.acmeanalytics.com", target_audience="retail buyers", page_size=5
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("POST", "/external/exhibitors/search")
    assert request.query == []
    assert request.json == {
        "company_url": "https://www.acmeanalytics.com",
        "target_audience": "retail buyers",
        "page": 1,
        "pageSize": 5,
    }
    assert request.headers["content-type"] == "application/json"
    assert request.status == 201


async def test_search_leaves_out_inputs_that_were_not_given(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.search(target_audience="analytics")
    assert fake_lensmor.requests[0].json == {"target_audience": "analytics", "page": 1}


async def test_search_decodes_a_page_of_exhibitors(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.exhibitors.search(company_url="https://acmeanalytics.com")
    assert [e.company_name for e in page.items] == ["Acme Analytics"]
    (acme,) = page.items
    assert acme.id == ACME
    # Search routes never report a buying-signal status.
    assert acme.buying_signal_status is None
    assert acme.matched_event_ids == ()


# ----------------------------------------------------------------------------- profile


async def test_profile_sends_exhibitor_id_as_a_query_pair(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.profile(ACME)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/exhibitors/profile")
    assert request.query == [("exhibitor_id", ACME)]


async def test_profile_decodes_the_exhibitor_and_its_event_refs(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    profile = await lensmor_client.exhibitors.profile(ACME)
    assert isinstance(profile, ExhibitorProfile)
    assert (profile.id, profile.company_name) == (ACME, "Acme Analytics")
    expected = fake_lensmor.state.exhibitor_event_ids(ACME)
    assert [ref.id for ref in profile.events] == expected
    assert {"101", "102", "105"} <= {ref.id for ref in profile.events}
    for ref in profile.events:
        assert ref.event_id == fake_lensmor.state.events[ref.id].event_id
        assert ref.name == fake_lensmor.state.events[ref.id].name


# ----------------------------------------------------------------------------- events


async def test_events_sends_exhibitor_id_and_paging(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.exhibitors.events(ACME, page=1, page_size=2)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/exhibitors/events")
    assert request.query == [("exhibitor_id", ACME), ("page", "1"), ("pageSize", "2")]


async def test_events_decodes_a_page_of_events(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    expected = fake_lensmor.state.exhibitor_event_ids(ACME)
    page = await lensmor_client.exhibitors.events(ACME, page_size=100)
    assert [e.id for e in page.items] == expected
    assert page.total == len(expected)
    assert page.has_more is False
    assert all(isinstance(e, Event) for e in page.items)


# ----------------------------------------------------------------------------- across events


async def test_iterate_across_events_yields_every_exhibitor_of_each_event_in_turn(
    lensmor_client: AsyncLensmor,
) -> None:
    exhibitors = lensmor_client.exhibitors
    seen = [pair async for pair in exhibitors.iterate_across_events([UNLOCKED, "105"])]
    expected = [(UNLOCKED, e) async for e in exhibitors.iterate(UNLOCKED)]
    expected += [("105", e) async for e in exhibitors.iterate("105")]
    assert seen == expected
    assert [event for event, _ in seen].count(UNLOCKED) == 14


async def test_iterate_across_events_checks_every_id_before_any_request(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    with pytest.raises(InvalidRequestError):
        async for _ in lensmor_client.exhibitors.iterate_across_events([UNLOCKED, ""]):
            pass
    with pytest.raises(InvalidRequestError, match="not one string"):
        async for _ in lensmor_client.exhibitors.iterate_across_events(UNLOCKED):
            pass
    assert fake_lensmor.requests == []


async def test_get_is_profile(lensmor_client: AsyncLensmor) -> None:
    assert await lensmor_client.exhibitors.get(ACME) == await lensmor_client.exhibitors.profile(
        ACME
    )
