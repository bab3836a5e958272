"""The 0.24+/0.27 filters, each sent as documented and honoured by FakeLensmor.

Events list ``has_visitors``/``sponsor_match_starred``, personnel list ``sourceType``,
``attendance_scope`` on exhibitor events and by-LinkedIn, and the seven profile-context
fields of recommended events. Bad values are refused before any request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from lensmor_async import AsyncLensmor, InvalidRequestError
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

CONTACT_EVENT = "103"


async def test_events_list_filters_by_visitor_data(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.set_visitor_data("101", False)
    without = await lensmor_client.events.list(has_visitors=False, page_size=100)
    with_data = await lensmor_client.events.list(has_visitors=True, page_size=100)
    assert [e.id for e in without.items] == ["101"]
    assert without.items[0].has_visitors is False
    assert "101" not in {e.id for e in with_data.items}
    assert all(e.has_visitors for e in with_data.items)
    assert ("has_visitors", "0") in fake_lensmor.requests[0].query


async def test_events_list_sends_sponsor_match_starred_as_one_or_zero(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    starred = await lensmor_client.events.list(sponsor_match_starred=True)
    assert starred.items == ()  # no seeded event is starred
    assert ("sponsor_match_starred", "1") in fake_lensmor.requests[0].query


async def test_personnel_list_filters_by_source_type(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.unlock_event(CONTACT_EVENT)
    page = await lensmor_client.personnel.list(CONTACT_EVENT, source_type=["exhibitor"])
    assert page.items
    assert all(person.source_type == ("exhibitor",) for person in page.items)
    assert ("sourceType", "exhibitor") in fake_lensmor.requests[0].query


async def test_attendance_scope_is_sent_on_exhibitor_events_and_by_linkedin(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    exhibitor = next(iter(fake_lensmor.state.exhibitors))
    visitors_only = await lensmor_client.exhibitors.events(exhibitor, attendance_scope="visitor")
    record = fake_lensmor.state.person(next(iter(fake_lensmor.state.rosters[CONTACT_EVENT])))
    assert record is not None
    assert record.linkedin_url is not None
    found = await lensmor_client.personnel.events_by_linkedin(
        record.linkedin_url, attendance_scope="visitor"
    )
    assert visitors_only.total == 0
    assert found.events.total == 0  # seeded people attend as exhibitor employees
    scopes = [dict(r.query).get("attendance_scope") for r in fake_lensmor.requests]
    assert scopes == ["visitor", "visitor"]


async def test_recommended_events_send_the_027_profile_context(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.profile_matching.recommended_events(
        target_audience="retail buyers",
        linkedin_url="https://www.linkedin.com/in/jane-doe",
        company_description="We connect retailers with vendors.",
        industry="Retail Technology",
        target_industry=["Artificial Intelligence"],
        planned_events="NRF",
        target_management_level=["C-Level", "VP"],
        target_job_titles="marketing",
    )
    body = fake_lensmor.requests[0].json
    assert {k: body[k] for k in body if k not in ("target_audience", "page")} == {
        "linkedin_url": "https://www.linkedin.com/in/jane-doe",
        "company_description": "We connect retailers with vendors.",
        "industry": "Retail Technology",
        "target_industry": ["Artificial Intelligence"],
        "planned_events": "NRF",
        "target_management_level": ["C-Level", "VP"],
        "target_job_titles": ["marketing"],
    }


BAD_FILTERS: dict[str, Callable[[AsyncLensmor], Awaitable[Any]]] = {
    "has_visitors": lambda c: c.events.list(has_visitors="yes"),
    "sponsor_match_starred": lambda c: c.events.list(sponsor_match_starred=1),
    "source_type": lambda c: c.personnel.list(CONTACT_EVENT, source_type=["vendors"]),
    "exhibitor attendance_scope": lambda c: c.exhibitors.events("6001", attendance_scope="x"),
    "by-linkedin attendance_scope": lambda c: c.personnel.events_by_linkedin(
        "https://linkedin.com/in/jane", attendance_scope="exhibitor"
    ),
    "industry too long": lambda c: c.profile_matching.recommended_events(
        target_audience="x", industry="i" * 256
    ),
}


@pytest.mark.parametrize("name", sorted(BAD_FILTERS))
async def test_bad_filter_values_are_refused_before_any_request(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    with pytest.raises(InvalidRequestError):
        await BAD_FILTERS[name](lensmor_client)
    assert fake_lensmor.requests == []
