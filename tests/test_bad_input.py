"""Invalid arguments are refused with InvalidRequestError (a ValueError) before any I/O.

Each test runs a whole family of bad values against one method and then checks the
fake's request log: it must be EMPTY. A value that slips through would reach the
server (and come back as a 400 ``BadRequestError``, or worse, change the URL path).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import pytest

from lensmor_async import AsyncLensmor, InvalidRequestError, LensmorError
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

Call = Callable[[AsyncLensmor, Any], Any]

# Ids that could change the URL path, smuggle a query or header, or are not ids at all.
BAD_IDS: list[Any] = [
    "../admin",
    "..%2fadmin",
    "%2e%2e",
    "%2E%2E%2F",
    ".",
    "..",
    "a/b",
    "/",
    "a\\b",
    "a\r\nb",
    "a\nX-Injected: 1",
    "a\x00b",
    "",
    " ",
    "101 ",
    "a b",
    "101?admin=1",
    "101#frag",
    "101;x",
    "١٢٣",  # Arabic-Indic digits
    "x" * 101,
    None,
    1.5,
    b"101",
    ["101"],
    True,
]
BAD_PAGES: list[Any] = [0, -1, True, False, "1", 1.5, None]
BAD_DATES: list[Any] = [
    "2026-13-01",
    "2026-02-30",
    "01/02/2026",
    "2026-1-1",
    "2026-01-01T00:00:00",
    "２０２６-01-01",
    "",
    "tomorrow",
    20260101,
]
BAD_TASK_IDS: list[Any] = ["abc", "1.5", "../1", "", "1/2", "-1", " 1", "1\n", "%31", None]


async def _invoke(call: Call, client: AsyncLensmor, value: Any) -> None:
    """Run the call: await a coroutine, or pull one item from an async iterator."""
    result = call(client, value)
    if inspect.isawaitable(result):
        await result
    elif hasattr(result, "__anext__"):
        await result.__anext__()


async def _slipped_through(call: Call, client: AsyncLensmor, values: list[Any]) -> list[Any]:
    """The values that were NOT refused with InvalidRequestError."""
    slipped = []
    for value in values:
        try:
            await _invoke(call, client, value)
        except InvalidRequestError:
            continue
        except LensmorError:
            pass
        slipped.append(value)
    return slipped


async def _assert_refused_without_io(
    fake: FakeLensmor, client: AsyncLensmor, call: Call, values: list[Any]
) -> None:
    assert await _slipped_through(call, client, values) == []
    assert fake.requests == []
    assert fake.truth.entries == []


# ----------------------------------------------------------------------------- ids

ID_CALLS: dict[str, Call] = {
    "events.get": lambda c, v: c.events.get(v),
    "events.brief": lambda c, v: c.events.brief(v),
    "events.fit_score": lambda c, v: c.events.fit_score(v),
    "events.rank": lambda c, v: c.events.rank(["101", v]),
    "events.unlock": lambda c, v: c.events.unlock(v),
    "exhibitors.list": lambda c, v: c.exhibitors.list(v),
    "exhibitors.pages": lambda c, v: c.exhibitors.pages(v),
    "exhibitors.iterate": lambda c, v: c.exhibitors.iterate(v),
    "exhibitors.profile": lambda c, v: c.exhibitors.profile(v),
    "exhibitors.events": lambda c, v: c.exhibitors.events(v),
    "personnel.list": lambda c, v: c.personnel.list(v),
    "personnel.list.exhibitor_id": lambda c, v: c.personnel.list("101", exhibitor_id=v),
    "personnel.pages": lambda c, v: c.personnel.pages(v),
    "personnel.iterate": lambda c, v: c.personnel.iterate(v),
    "personnel.profile": lambda c, v: c.personnel.profile(v),
    "personnel.events": lambda c, v: c.personnel.events(v),
    "personnel.outreach.personnel_id": lambda c, v: c.personnel.outreach(v, "101"),
    "personnel.outreach.event_id": lambda c, v: c.personnel.outreach("700001", v),
    "profile_matching.recommended_exhibitors": lambda c, v: (
        c.profile_matching.recommended_exhibitors(v)
    ),
    "contacts.unlock.event_id": lambda c, v: c.contacts.unlock(
        event_id=v, personnel_ids=["700001"]
    ),
    "contacts.unlock.personnel_ids": lambda c, v: c.contacts.unlock(
        event_id="101", personnel_ids=["700001", v]
    ),
    "contacts.unlock_phone.personnel_ids": lambda c, v: c.contacts.unlock_phone(
        event_id="101", personnel_ids=[v]
    ),
}


# Optional ids: None means "not given" there, so it is not a bad value.
OPTIONAL_IDS = {"personnel.list.exhibitor_id", "contacts.unlock.event_id"}


@pytest.mark.parametrize("name", sorted(ID_CALLS))
async def test_unsafe_or_malformed_ids_are_refused_before_any_request(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    values = [v for v in BAD_IDS if v is not None] if name in OPTIONAL_IDS else BAD_IDS
    await _assert_refused_without_io(fake_lensmor, lensmor_client, ID_CALLS[name], values)


async def test_personnel_ids_longer_than_twenty_characters_are_refused(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    too_long = "1" * 21
    calls: list[Call] = [
        lambda c, v: c.personnel.profile(v),
        lambda c, v: c.personnel.events(v),
        lambda c, v: c.personnel.outreach(v, "101"),
    ]
    for call in calls:
        await _assert_refused_without_io(fake_lensmor, lensmor_client, call, [too_long])


TASK_CALLS: dict[str, Call] = {
    "contacts.get_unlock_task": lambda c, v: c.contacts.get_unlock_task(v),
    "contacts.get_phone_unlock_task": lambda c, v: c.contacts.get_phone_unlock_task(v),
    "contacts.unlock_task_handle": lambda c, v: c.contacts.unlock_task_handle(v),
}


@pytest.mark.parametrize("name", sorted(TASK_CALLS))
async def test_task_ids_must_be_digit_strings(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    await _assert_refused_without_io(fake_lensmor, lensmor_client, TASK_CALLS[name], BAD_TASK_IDS)


# ----------------------------------------------------------------------------- paging

PAGED_CALLS: dict[str, tuple[Call, Call, int]] = {
    # name: (call with page=v, call with page_size=v, the route's maximum page_size)
    "events.list": (
        lambda c, v: c.events.list(page=v),
        lambda c, v: c.events.list(page_size=v),
        100,
    ),
    "events.pages": (
        lambda c, v: c.events.list(page=v),
        lambda c, v: c.events.pages(page_size=v),
        100,
    ),
    "events.iterate": (
        lambda c, v: c.events.list(page=v),
        lambda c, v: c.events.iterate(page_size=v),
        100,
    ),
    "exhibitors.list": (
        lambda c, v: c.exhibitors.list("101", page=v),
        lambda c, v: c.exhibitors.list("101", page_size=v),
        100,
    ),
    "exhibitors.iterate": (
        lambda c, v: c.exhibitors.list("101", page=v),
        lambda c, v: c.exhibitors.iterate("101", page_size=v),
        100,
    ),
    "exhibitors.search": (
        lambda c, v: c.exhibitors.search(target_audience="retail", page=v),
        lambda c, v: c.exhibitors.search(target_audience="retail", page_size=v),
        100,
    ),
    "exhibitors.events": (
        lambda c, v: c.exhibitors.events("5001", page=v),
        lambda c, v: c.exhibitors.events("5001", page_size=v),
        100,
    ),
    "exhibitors.search_by_company_name": (
        lambda c, v: c.exhibitors.search_by_company_name("Acme", page=v),
        lambda c, v: c.exhibitors.search_by_company_name("Acme", page_size=v),
        100,
    ),
    "exhibitors.search_events": (
        lambda c, v: c.exhibitors.search_events("Acme", page=v),
        lambda c, v: c.exhibitors.search_events("Acme", page_size=v),
        100,
    ),
    "personnel.list": (
        lambda c, v: c.personnel.list("101", page=v),
        lambda c, v: c.personnel.list("101", page_size=v),
        50,
    ),
    "personnel.pages": (
        lambda c, v: c.personnel.list("101", page=v),
        lambda c, v: c.personnel.pages("101", page_size=v),
        50,
    ),
    "personnel.iterate": (
        lambda c, v: c.personnel.list("101", page=v),
        lambda c, v: c.personnel.iterate("101", page_size=v),
        50,
    ),
    "personnel.events": (
        lambda c, v: c.personnel.events("700001", page=v),
        lambda c, v: c.personnel.events("700001", page_size=v),
        100,
    ),
    "personnel.events_by_linkedin": (
        lambda c, v: c.personnel.events_by_linkedin("https://linkedin.com/in/x-1", page=v),
        lambda c, v: c.personnel.events_by_linkedin("https://linkedin.com/in/x-1", page_size=v),
        100,
    ),
    "contacts.search": (
        lambda c, v: c.contacts.search("Acme", page=v),
        lambda c, v: c.contacts.search("Acme", page_size=v),
        100,
    ),
    "profile_matching.recommended_events": (
        lambda c, v: c.profile_matching.recommended_events(target_audience="x", page=v),
        lambda c, v: c.profile_matching.recommended_events(target_audience="x", page_size=v),
        100,
    ),
    "profile_matching.recommended_exhibitors": (
        lambda c, v: c.profile_matching.recommended_exhibitors("101", page=v),
        lambda c, v: c.profile_matching.recommended_exhibitors("101", page_size=v),
        100,
    ),
}


@pytest.mark.parametrize("name", sorted(PAGED_CALLS))
async def test_page_below_one_or_not_an_integer_is_refused(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    page_call, _, _ = PAGED_CALLS[name]
    await _assert_refused_without_io(fake_lensmor, lensmor_client, page_call, BAD_PAGES)


@pytest.mark.parametrize("name", sorted(PAGED_CALLS))
async def test_page_size_outside_the_routes_range_is_refused(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    _, size_call, maximum = PAGED_CALLS[name]
    bad_sizes: list[Any] = [0, -1, maximum + 1, 10_000, True, "10", 2.0]
    await _assert_refused_without_io(fake_lensmor, lensmor_client, size_call, bad_sizes)


@pytest.mark.parametrize(
    ("name", "maximum"),
    [("events.list", 100), ("exhibitors.list", 100), ("personnel.list", 50)],
)
async def test_the_routes_maximum_page_size_is_accepted(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str, maximum: int
) -> None:
    _, size_call, _ = PAGED_CALLS[name]
    page = await size_call(lensmor_client, maximum)
    assert page.page_size == maximum
    (request,) = fake_lensmor.requests
    assert ("pageSize", str(maximum)) in request.query


# ----------------------------------------------------------------------------- dates

DATE_CALLS: dict[str, Call] = {
    "events.list.date_start_from": lambda c, v: c.events.list(date_start_from=v),
    "events.list.date_start_to": lambda c, v: c.events.list(date_start_to=v),
    "events.iterate.date_start_from": lambda c, v: c.events.iterate(date_start_from=v),
    "profile_matching.date_start_from": lambda c, v: c.profile_matching.recommended_events(
        target_audience="x", date_start_from=v
    ),
    "profile_matching.date_start_to": lambda c, v: c.profile_matching.recommended_events(
        target_audience="x", date_start_to=v
    ),
}


@pytest.mark.parametrize("name", sorted(DATE_CALLS))
async def test_dates_must_be_real_yyyy_mm_dd_dates(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    await _assert_refused_without_io(fake_lensmor, lensmor_client, DATE_CALLS[name], BAD_DATES)


# ----------------------------------------------------------------------------- batches


def _ids(count: int) -> list[str]:
    return [str(700001 + n) for n in range(count)]


BATCH_CALLS: dict[str, tuple[Call, int]] = {
    "events.rank": (lambda c, v: c.events.rank(v), 100),
    "contacts.unlock": (lambda c, v: c.contacts.unlock(event_id="101", personnel_ids=v), 2000),
    "contacts.unlock_phone": (
        lambda c, v: c.contacts.unlock_phone(event_id="101", personnel_ids=v),
        2000,
    ),
    "personnel.unlock_linkedin_activity": (
        lambda c, v: c.personnel.unlock_linkedin_activity(v),
        2000,
    ),
    "personnel.generate_outreach_message": (
        lambda c, v: c.personnel.generate_outreach_message(v, channels=["email"]),
        2000,
    ),
}


@pytest.mark.parametrize("name", sorted(BATCH_CALLS))
async def test_empty_oversized_or_non_list_batches_are_refused(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    call, maximum = BATCH_CALLS[name]
    bad_batches: list[Any] = [[], (), _ids(maximum + 1), _ids(2500), "700001", b"700001"]
    await _assert_refused_without_io(fake_lensmor, lensmor_client, call, bad_batches)


@pytest.mark.parametrize("name", sorted(BATCH_CALLS))
async def test_a_batch_that_is_not_iterable_is_an_invalid_request(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    call, _ = BATCH_CALLS[name]
    for value in (None, 700001):
        with pytest.raises(InvalidRequestError):
            await _invoke(call, lensmor_client, value)
    assert fake_lensmor.requests == []


async def test_duplicates_do_not_count_towards_the_batch_limit(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    ranking = await lensmor_client.events.rank(["101"] * 150 + ["102"])
    assert len(ranking.items) == 2
    (request,) = fake_lensmor.requests
    assert request.json == {"event_ids": ["101", "102"]}


# ----------------------------------------------------------------------------- other arguments

OTHER_CALLS: dict[str, tuple[Call, list[Any]]] = {
    "events.list.keyword": (
        lambda c, v: c.events.list(keyword=v),
        ["a\r\nb", "a\x00", "x" * 201, 123, b"retail"],
    ),
    "events.list.country": (lambda c, v: c.events.list(country=v), ["x" * 101, "a\nb"]),
    "events.list.event_type": (
        lambda c, v: c.events.list(event_type=v),
        [[1], [""], ["  "], ["a\nb"], [None]],
    ),
    "exhibitors.list.personnel_limit": (
        lambda c, v: c.exhibitors.list("101", personnel_limit=v),
        [-1, True, "2", 1.5],
    ),
    "exhibitors.search.company_url": (
        lambda c, v: c.exhibitors.search(company_url=v),
        ["ftp://acme.com", "acme.com", "javascript:alert(1)", "https://" + "x" * 500],
    ),
    "personnel.events.attendance_scope": (
        lambda c, v: c.personnel.events("700001", attendance_scope=v),
        ["bogus", "ALL", "", "exhibitor"],
    ),
    "personnel.events_by_linkedin.url": (
        lambda c, v: c.personnel.events_by_linkedin(v),
        ["https://example.com/in/someone", "", "   ", None, "https://linkedin.com/in/" + "x" * 500],
    ),
    "personnel.generate_outreach_message.channels": (
        lambda c, v: c.personnel.generate_outreach_message(["700001"], channels=v),
        [[], ["fax"], ["email", "sms"]],
    ),
    "contacts.search.company_name": (
        lambda c, v: c.contacts.search(v),
        ["", "   ", None, 42, "a\r\nb", "x" * 201],
    ),
    "contacts.search.role": (
        lambda c, v: c.contacts.search("Acme", role=v),
        ["a\nb", "x" * 201, 7],
    ),
    "actions.precheck.action_type": (
        lambda c, v: c.actions.precheck(v, {}),
        ["", "   ", None, "x" * 101, "a\nb"],
    ),
    "actions.precheck.params": (
        lambda c, v: c.actions.precheck("others", v),
        [None, [("event_id", "101")], "event_id=101", 101],
    ),
    "profile_matching.recommended_events.timeout_ms": (
        lambda c, v: c.profile_matching.recommended_events(target_audience="x", timeout_ms=v),
        [59_999, 3_600_001, 0, -1],
    ),
    "profile_matching.recommended_events.counts": (
        lambda c, v: c.profile_matching.recommended_events(target_audience="x", future=v),
        [-1, True, "1", 1.5],
    ),
    "profile_matching.recommended_exhibitors.employees_min": (
        lambda c, v: c.profile_matching.recommended_exhibitors("101", employees_min=v),
        [-1, True, "10"],
    ),
}


@pytest.mark.parametrize("name", sorted(OTHER_CALLS))
async def test_bad_filters_and_inputs_are_refused(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, name: str
) -> None:
    call, values = OTHER_CALLS[name]
    await _assert_refused_without_io(fake_lensmor, lensmor_client, call, values)


async def test_searches_need_a_company_url_or_an_audience(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    with pytest.raises(InvalidRequestError):
        await lensmor_client.exhibitors.search()
    with pytest.raises(InvalidRequestError):
        await lensmor_client.profile_matching.recommended_events()
    assert fake_lensmor.requests == []


async def test_refusals_name_the_argument_and_never_echo_control_characters(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    with pytest.raises(InvalidRequestError) as info:
        await lensmor_client.events.get("a\r\nX-Injected: 1")
    assert "event_id" in str(info.value)
    assert "\r" not in str(info.value)
    assert "\n" not in str(info.value)
    assert fake_lensmor.requests == []
