"""client.personnel (free routes): list, profile, events, events_by_linkedin, outreach."""

from __future__ import annotations

import pytest

from lensmor_async import AsyncLensmor, Page
from lensmor_async.models import Event, LinkedinActivity, Outreach, Person, PersonEvents
from lensmor_async.testing import FakeLensmor
from lensmor_async.testing._state import LinkedinState, OutreachRecord, TimedStatus

pytestmark = pytest.mark.anyio

LOCKED = "101"  # 237 people, locked
UNLOCKED = "102"  # 80 people; the first six also attend 105 and 108
FIRST_PERSON = "700001"  # first person of event 101


def _shared_person(fake: FakeLensmor) -> str:
    return next(iter(fake.state.rosters[UNLOCKED]))


# ----------------------------------------------------------------------------- list


async def test_list_sends_event_id_and_page_as_query_pairs(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.personnel.list(LOCKED)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/personnel/list")
    assert request.query == [("event_id", LOCKED), ("page", "1")]
    assert request.json is None


async def test_list_maps_every_filter_to_its_wire_name(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.personnel.list(
        LOCKED,
        page=2,
        page_size=25,
        exhibitor_id="5001",
        department="sales",
        level="director",
        search_query="growth",
    )
    (request,) = fake_lensmor.requests
    assert request.query == [
        ("event_id", LOCKED),
        ("page", "2"),
        ("pageSize", "25"),
        ("exhibitor_id", "5001"),
        ("department", "sales"),
        ("level", "director"),
        ("search_query", "growth"),
    ]
    assert request.status == 200


async def test_list_decodes_people_with_snake_case_fields(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    page = await lensmor_client.personnel.list(LOCKED, page_size=5)
    assert isinstance(page, Page)
    assert (page.total, page.page, page.page_size) == (237, 1, 5)
    assert [p.id for p in page.items] == [str(700001 + n) for n in range(5)]
    person = page.items[0]
    record = fake_lensmor.state.person(FIRST_PERSON)
    assert record is not None
    assert isinstance(person, Person)
    assert (person.id, person.full_name, person.title) == (
        FIRST_PERSON,
        record.full_name,
        record.title,
    )
    assert (person.department, person.seniority_level) == (
        record.department,
        record.seniority_level,
    )
    assert (person.linkedin_url, person.company_name) == (record.linkedin_url, record.company_name)
    # A 0.22 string sourceType becomes a one-item tuple.
    assert person.source_type == (record.source_type,)
    assert person.contact_unlock_status == "locked"
    assert person.email is None
    assert person.linkedin_activity is None
    assert person.linkedin_activity_status is None


async def test_list_shows_email_only_for_contacts_this_caller_unlocked(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.set_contact_status(FIRST_PERSON, "unlocked", value="first@example.com")
    fake_lensmor.set_contact_status("700002", "unlocking")
    page = await lensmor_client.personnel.list(LOCKED, page_size=3)
    first, second, third = page.items
    assert (first.contact_unlock_status, first.email) == ("unlocked", "first@example.com")
    assert (second.contact_unlock_status, second.email) == ("unlocking", None)
    assert (third.contact_unlock_status, third.email) == ("locked", None)


async def test_list_decodes_linkedin_activity_with_an_integer_timestamp(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    activity = {"activityLevel": "ACTIVE", "isActive": True, "latestPostAt": "1767225600123"}
    fake_lensmor.state.linkedin[FIRST_PERSON] = LinkedinState(TimedStatus.READY, "9", activity)
    page = await lensmor_client.personnel.list(LOCKED, page_size=1)
    (person,) = page.items
    assert person.linkedin_activity_status == "ready"
    assert isinstance(person.linkedin_activity, LinkedinActivity)
    assert person.linkedin_activity.activity_level == "ACTIVE"
    assert person.linkedin_activity.is_active is True
    assert person.linkedin_activity.latest_post_at == 1767225600123


async def test_list_of_a_locked_event_carries_preview_semantics(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.personnel.list(LOCKED)
    assert page.page_size == 50
    assert len(page.items) == 50
    semantics = page.semantics
    assert semantics is not None
    assert (semantics.access_mode, semantics.preview_limit) == ("preview", 50)
    assert semantics.counts is not None
    assert semantics.counts.remaining_locked_count == 187
    assert semantics.page_state is not None
    assert (semantics.page_state.requested_page, semantics.page_state.accessible) == (1, True)
    assert semantics.page_state.max_accessible_page == 1
    assert semantics.unlock is not None
    assert (semantics.unlock.action_type, semantics.unlock.credits) == (
        "unlock_event_contacts",
        2000,
    )
    assert page.unlock_required
    assert page.preview_exhausted


async def test_list_page_outside_the_preview_window_is_empty_but_explained(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.personnel.list(LOCKED, page=2)
    assert page.items == ()
    assert page.total == 0
    assert page.page_accessible is False
    assert page.semantics is not None
    assert page.semantics.guidance is not None
    assert page.semantics.guidance.code == "preview_page_inaccessible"
    assert page.semantics.counts is not None
    assert page.semantics.counts.actual_total == 237


# ----------------------------------------------------------------------------- profile


async def test_profile_sends_personnel_id_as_a_query_pair(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.personnel.profile(FIRST_PERSON)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/personnel/profile")
    assert request.query == [("personnel_id", FIRST_PERSON)]


async def test_profile_decodes_one_person(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    person = await lensmor_client.personnel.profile(FIRST_PERSON)
    record = fake_lensmor.state.person(FIRST_PERSON)
    assert record is not None
    assert isinstance(person, Person)
    assert (person.id, person.full_name, person.company_name) == (
        FIRST_PERSON,
        record.full_name,
        record.company_name,
    )
    assert person.contact_unlock_status == "locked"
    # Profiles never carry LinkedIn activity, even when it exists.
    assert person.linkedin_activity is None


# ----------------------------------------------------------------------------- events


async def test_events_sends_personnel_id_paging_and_scope(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.personnel.events(
        FIRST_PERSON, page=1, page_size=10, attendance_scope="exhibitor_employee"
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/personnel/events")
    assert request.query == [
        ("personnel_id", FIRST_PERSON),
        ("page", "1"),
        ("pageSize", "10"),
        ("attendance_scope", "exhibitor_employee"),
    ]


async def test_events_decodes_every_event_of_the_person(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    shared = _shared_person(fake_lensmor)
    page = await lensmor_client.personnel.events(shared)
    assert sorted(e.id for e in page.items) == ["102", "105", "108"]
    assert page.total == 3
    assert all(isinstance(e, Event) for e in page.items)


# ----------------------------------------------------------------------------- by LinkedIn


async def test_events_by_linkedin_sends_the_url_as_a_query_pair(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    record = fake_lensmor.state.person(FIRST_PERSON)
    assert record is not None
    assert record.linkedin_url is not None
    await lensmor_client.personnel.events_by_linkedin(record.linkedin_url, page_size=5)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/personnel/events/by-linkedin")
    assert request.query == [
        ("linkedin_url", record.linkedin_url),
        ("page", "1"),
        ("pageSize", "5"),
    ]


async def test_events_by_linkedin_decodes_the_person_and_a_page_of_events(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    shared = _shared_person(fake_lensmor)
    record = fake_lensmor.state.person(shared)
    assert record is not None
    assert record.linkedin_url is not None
    result = await lensmor_client.personnel.events_by_linkedin(record.linkedin_url + "/?utm=x")
    assert isinstance(result, PersonEvents)
    assert result.personnel.id == shared
    assert result.personnel.full_name == record.full_name
    assert isinstance(result.events, Page)
    assert sorted(e.id for e in result.events.items) == ["102", "105", "108"]


# ----------------------------------------------------------------------------- outreach


async def test_outreach_sends_personnel_and_event_ids(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.personnel.outreach(FIRST_PERSON, LOCKED)
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/personnel/outreach")
    assert request.query == [("personnel_id", FIRST_PERSON), ("event_id", LOCKED)]


async def test_outreach_not_generated_yet_is_found_false(lensmor_client: AsyncLensmor) -> None:
    outreach = await lensmor_client.personnel.outreach(FIRST_PERSON, LOCKED)
    assert isinstance(outreach, Outreach)
    assert outreach.found is False
    assert outreach.channels == ()
    assert outreach.messages.email is None
    assert outreach.status is None
    assert outreach.create_time is None


async def test_outreach_decodes_generated_drafts(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    messages = {
        "email": "Hi Dana, shall we meet?",
        "linkedin_message": None,
        "linkedin": {
            "inmail": {"subject": "Meeting?", "body": "Hi Dana"},
            "connection_note": {"body": "Let's connect"},
            "connected_message": {"body": "Good to see you"},
        },
    }
    fake_lensmor.state.outreach[(FIRST_PERSON, LOCKED)] = OutreachRecord(
        FIRST_PERSON,
        LOCKED,
        ["email"],
        "book a meeting",
        "4242",
        TimedStatus.READY,
        1_767_225_600_000,
        1_767_225_600_500,
        messages,
    )
    outreach = await lensmor_client.personnel.outreach(FIRST_PERSON, LOCKED)
    assert outreach.found is True
    assert outreach.channels == ("email",)
    assert outreach.status == "ready"
    assert outreach.outreach_purpose == "book a meeting"
    assert outreach.tone == "professional"
    assert (outreach.create_time, outreach.update_time) == (1_767_225_600_000, 1_767_225_600_500)
    assert outreach.messages.email == "Hi Dana, shall we meet?"
    assert outreach.messages.linkedin_message is None
    linkedin = outreach.messages.linkedin
    assert linkedin is not None
    assert linkedin.inmail is not None
    assert (linkedin.inmail.subject, linkedin.inmail.body) == ("Meeting?", "Hi Dana")
    assert linkedin.connection_note is not None
    assert linkedin.connection_note.body == "Let's connect"


async def test_get_is_profile_and_name_is_full_name(lensmor_client: AsyncLensmor) -> None:
    person = await lensmor_client.personnel.get(FIRST_PERSON)
    assert person == await lensmor_client.personnel.profile(FIRST_PERSON)
    assert person.name == person.full_name
    assert person.name
