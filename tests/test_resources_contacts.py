"""client.contacts (free routes): search, get_unlock_task, get_phone_unlock_task.

Tasks to poll are created by posting straight to the fake (the paid submission itself
belongs to the CreditGuard tests); only the polls go through the SDK.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from lensmor_async import AsyncLensmor, NotFoundError, Page
from lensmor_async.models import Person, UnlockTask, UnlockTaskItem
from lensmor_async.testing import FakeLensmor, UnlockOutcome

pytestmark = pytest.mark.anyio

EVENT = "102"


@pytest.fixture
async def slow_fake() -> AsyncIterator[FakeLensmor]:
    """Tasks stay ``pending`` until the test completes them explicitly."""
    async with FakeLensmor(task_step_seconds=3600) as fake:
        yield fake


@pytest.fixture
async def slow_client(slow_fake: FakeLensmor) -> AsyncIterator[AsyncLensmor]:
    async with AsyncLensmor(slow_fake.api_key, base_url=slow_fake.url, testing=True) as client:
        yield client


async def _submit(fake: FakeLensmor, ids: list[str], *, phone: bool = False) -> str:
    """Create an unlock task on the fake directly; return its task id."""
    route = "/external/contacts/unlock-phone" if phone else "/external/contacts/unlock"
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession(headers=headers) as session:
        body = {"event_id": EVENT, "personnel_ids": ids}
        async with session.post(fake.url + route, json=body) as response:
            assert response.status == 201
            task_id = (await response.json())["task_id"]
    fake.reset_requests()
    assert isinstance(task_id, str)
    return task_id


def _people(fake: FakeLensmor, count: int) -> list[str]:
    roster = iter(fake.state.rosters[EVENT])
    return [next(roster) for _ in range(count)]


# ----------------------------------------------------------------------------- search


async def test_search_sends_company_role_name_and_paging(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.contacts.search(
        "Acme Analytics", role="manager", person_name="Clark", page=2, page_size=10
    )
    (request,) = fake_lensmor.requests
    assert (request.method, request.path) == ("GET", "/external/contacts/search")
    assert request.query == [
        ("company_name", "Acme Analytics"),
        ("role", "manager"),
        ("person_name", "Clark"),
        ("page", "2"),
        ("pageSize", "10"),
    ]
    assert request.json is None


async def test_search_without_options_sends_only_company_and_page(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.contacts.search("Acme Analytics")
    assert fake_lensmor.requests[0].query == [("company_name", "Acme Analytics"), ("page", "1")]


async def test_search_decodes_people_of_that_company(lensmor_client: AsyncLensmor) -> None:
    page = await lensmor_client.contacts.search("Acme Analytics", page_size=100)
    assert isinstance(page, Page)
    assert page.items
    assert page.total >= len(page.items)
    for person in page.items:
        assert isinstance(person, Person)
        assert isinstance(person.id, str)
        assert person.company_name == "Acme Analytics"
        assert person.contact_unlock_status == "locked"
        assert person.email is None


async def test_search_role_filter_narrows_the_results(lensmor_client: AsyncLensmor) -> None:
    everyone = await lensmor_client.contacts.search("Acme Analytics", page_size=100)
    role = next(p.title for p in everyone.items if p.title)
    narrowed = await lensmor_client.contacts.search("Acme Analytics", role=role, page_size=100)
    assert narrowed.items
    assert all(role.lower() in (p.title or "").lower() for p in narrowed.items)
    assert narrowed.total <= everyone.total


async def test_search_for_an_unknown_company_is_an_empty_page(
    lensmor_client: AsyncLensmor,
) -> None:
    page = await lensmor_client.contacts.search("Nonexistent Widgets Incorporated")
    assert page.items == ()
    assert (page.total, page.has_more) == (0, False)


# ----------------------------------------------------------------------------- email tasks


async def test_get_unlock_task_puts_the_task_id_in_the_path(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    task_id = await _submit(slow_fake, _people(slow_fake, 2))
    await slow_client.contacts.get_unlock_task(task_id)
    (request,) = slow_fake.requests
    assert (request.method, request.path, request.route) == (
        "GET",
        f"/external/contacts/unlock-tasks/{task_id}",
        "/external/contacts/unlock-tasks/{taskId}",
    )
    assert request.query == []
    assert request.json is None
    assert "x-call-source" not in request.headers


async def test_get_unlock_task_decodes_a_pending_task(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    ids = _people(slow_fake, 3)
    task_id = await _submit(slow_fake, ids)
    task = await slow_client.contacts.get_unlock_task(task_id)
    assert isinstance(task, UnlockTask)
    assert (task.task_id, task.task_status) == (task_id, "pending")
    assert task.is_terminal is False
    assert [item.personnel_id for item in task.items] == ids
    assert all(isinstance(item, UnlockTaskItem) for item in task.items)
    assert all(item.status == "pending" and item.email is None for item in task.items)
    assert task.delivered == ()


async def test_get_unlock_task_decodes_mixed_final_outcomes(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    delivered, empty, failed = _people(slow_fake, 3)
    slow_fake.set_unlock_outcome(delivered, UnlockOutcome.DELIVERED)
    slow_fake.set_unlock_outcome(empty, UnlockOutcome.NO_VALUE)
    slow_fake.set_unlock_outcome(failed, UnlockOutcome.FAILED)
    task_id = await _submit(slow_fake, [delivered, empty, failed])
    slow_fake.complete_tasks()
    task = await slow_client.contacts.get_unlock_task(task_id)
    assert task.task_status == "completed"
    assert task.is_terminal
    by_id = {item.personnel_id: item for item in task.items}
    record = slow_fake.state.person(delivered)
    assert record is not None
    assert (by_id[delivered].status, by_id[delivered].email) == ("unlocked", record.email)
    assert by_id[delivered].delivered is True
    assert (by_id[empty].status, by_id[empty].email) == ("unlocked", None)
    assert by_id[empty].delivered is False
    assert (by_id[failed].status, by_id[failed].error_code) == ("failed", "TASK_FAILED")
    assert [item.personnel_id for item in task.delivered] == [delivered]


async def test_get_unlock_task_of_an_unknown_task_is_not_found(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    with pytest.raises(NotFoundError) as info:
        await lensmor_client.contacts.get_unlock_task("987654321")
    assert info.value.status == 404
    assert len(fake_lensmor.requests) == 1


async def test_get_unlock_task_accepts_an_integer_task_id(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    task_id = await _submit(slow_fake, _people(slow_fake, 1))
    task = await slow_client.contacts.get_unlock_task(int(task_id))  # type: ignore[arg-type]
    assert task.task_id == task_id


# ----------------------------------------------------------------------------- phone tasks


async def test_get_phone_unlock_task_uses_the_phone_route_and_decodes_phones(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    (person,) = _people(slow_fake, 1)
    slow_fake.set_unlock_outcome(person, UnlockOutcome.DELIVERED, channel="phone")
    task_id = await _submit(slow_fake, [person], phone=True)
    slow_fake.complete_tasks()
    task = await slow_client.contacts.get_phone_unlock_task(task_id)
    (request,) = slow_fake.requests
    assert (request.method, request.path) == (
        "GET",
        f"/external/contacts/unlock-phone-tasks/{task_id}",
    )
    record = slow_fake.state.person(person)
    assert record is not None
    (item,) = task.items
    assert (task.task_id, task.task_status) == (task_id, "completed")
    assert (item.personnel_id, item.status, item.phone, item.email) == (
        person,
        "unlocked",
        record.phone,
        None,
    )
    assert item.delivered is True


async def test_an_email_task_is_not_visible_on_the_phone_route(
    slow_fake: FakeLensmor, slow_client: AsyncLensmor
) -> None:
    task_id = await _submit(slow_fake, _people(slow_fake, 1))
    with pytest.raises(NotFoundError):
        await slow_client.contacts.get_phone_unlock_task(task_id)
