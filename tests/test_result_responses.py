"""Every result a public method returns carries the HTTP answer it came with.

Models and pages get it from the pipeline; a contact-unlock report from its task's final
poll; an unlock handle from its submission. The walk below reads every public resource
method's return annotation (async and sync), so a new result type without ``response``
fails here.
"""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest

from lensmor_async import AsyncLensmor, guard, models
from lensmor_async._answered import Answered
from lensmor_async.guard import ContactUnlockReport, UnlockTaskHandle
from lensmor_async.models.converter import to_jsonable
from lensmor_async.sync import SyncUnlockTaskHandle
from lensmor_async.sync import _resources as sync_resources
from lensmor_async.testing import FakeLensmor

GROUPS = ["actions", "contacts", "credits", "events", "exhibitors", "personnel"]
GROUPS += ["profile_matching"]
TASK_ROUTE = "/external/contacts/unlock-tasks/{taskId}"
# Containers and iterators of results: their items are nested data, their pages answered.
WRAPPERS = {"list", "tuple", "None", "Self", "T", "AsyncIterator", "SyncIterator"}
WRAPPERS |= {"PageIterator", "SyncPageIterator", "str"}  # str: an event id beside an item
HANDLES = {"UnlockTaskHandle": UnlockTaskHandle, "SyncUnlockTaskHandle": SyncUnlockTaskHandle}
NAMESPACE: dict[str, Any] = {**vars(models), **vars(guard), **HANDLES}


def _returned_names(cls: type[Any]) -> set[str]:
    names: set[str] = set()
    for name, member in vars(cls).items():
        if callable(member) and not name.startswith("_") and name != "rerouted":
            annotation = member.__annotations__.get("return", "None")
            names |= set(re.findall(r"[A-Za-z_]\w*", str(annotation)))
    return names


def _resource_classes() -> list[type[Any]]:
    client = AsyncLensmor("k", base_url="http://127.0.0.1:9")
    found = [type(getattr(client, group)) for group in GROUPS]
    return found + [getattr(sync_resources, cls.__name__) for cls in found]


def test_every_result_type_a_public_method_returns_exposes_its_response() -> None:
    names = set().union(*(_returned_names(cls) for cls in _resource_classes()))
    names |= set().union(*(_returned_names(cls) for cls in HANDLES.values()))
    results = names - WRAPPERS - set(HANDLES)
    assert {"Page", "EventDetail", "UnlockTask", "ContactUnlockReport"} <= results
    for name in sorted(results):
        cls = NAMESPACE[name]
        assert issubclass(cls, Answered), f"{name} has no .response"
        assert "response" not in attrs.fields_dict(cls), f"{name}: response is not data"


@pytest.mark.anyio
async def test_a_contact_unlock_report_carries_its_final_polls_answer(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake, lensmor = fake_lensmor, lensmor_client
    handle = await lensmor.contacts.unlock(event_id="101", personnel_ids=["700005", "700011"])
    submitted = fake.requests_for("/external/contacts/unlock", method="POST")[-1]
    assert handle.response is not None
    assert (handle.response.status, handle.response.trace_id) == (
        submitted.status,
        submitted.trace_id,
    )

    report = await handle.wait()
    last_poll = fake.requests_for(TASK_ROUTE)[-1]
    assert report.response is not None
    assert (report.response.status, report.response.trace_id) == (200, last_poll.trace_id)
    assert report.response.headers["X-Request-ID"] == last_poll.trace_id
    # Metadata, not data: equality, repr and the exported form ignore it.
    bare = ContactUnlockReport(**attrs.asdict(report, recurse=False))
    assert bare.response is None
    assert bare == report
    assert repr(bare) == repr(report)
    assert to_jsonable(report) == to_jsonable(bare)
    assert "response" not in to_jsonable(report)


@pytest.mark.anyio
async def test_a_report_of_nothing_submitted_has_no_answer(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake, lensmor = fake_lensmor, lensmor_client
    fake.set_contact_status("700009", "unlocked", value="a@b.example")
    handle = await lensmor.contacts.unlock(event_id="101", personnel_ids=["700009"])
    report = await handle.wait()
    assert report.skipped == ("700009",)
    assert report.response is None  # nothing was polled


@pytest.mark.anyio
async def test_a_handle_rebuilt_from_its_id_reports_the_poll_answer(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake, lensmor = fake_lensmor, lensmor_client
    first = await lensmor.contacts.unlock(event_id="101", personnel_ids=["700010"])
    assert first.task_id is not None
    rebuilt = lensmor.contacts.unlock_task_handle(first.task_id)
    assert rebuilt.response is None  # no submission seen by this handle
    report = await rebuilt.wait()
    assert report.response is not None
    assert report.response.trace_id == fake.requests_for(TASK_ROUTE)[-1].trace_id
