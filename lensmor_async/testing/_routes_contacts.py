"""Contacts routes: company-scoped search and the paid asynchronous email/phone unlocks.

Unlock submission (email or phone) checks, in order: more than 2,000 ids (422
``LEAD_SELECTION_LIMIT_EXCEEDED``), body shape (400), unknown event (404; ``event_id``
is optional since 0.24), unknown people (404), people of another event (400), contacts already
unlocked or unlocking (409 ``STATE_CONFLICT``), balance (402). Only then is every
de-duplicated contact charged and a task created (201 ``{status, task_id, job_id}``).
See :mod:`lensmor_async.testing._state` for the task lifecycle and refund policy.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lensmor_async.testing._routes_common import (
    Body,
    Query,
    context,
    json_response,
    page_envelope,
    paginate,
    state,
)
from lensmor_async.testing._routes_exhibitors import company_matches
from lensmor_async.testing._routes_shapes import contact_item
from lensmor_async.testing._state import (
    MAX_UNLOCK_BATCH,
    UnlockTask,
    lead_selection_limit,
    not_found,
)

__all__ = ["routes"]

routes = web.RouteTableDef()


@routes.get("/external/contacts/search")
async def search_contacts(request: web.Request) -> web.Response:
    """``GET /external/contacts/search``: people by company, optional role and name."""
    fake, query = state(request), Query(request.query)
    company = query.required("company_name", max_len=200)
    role = query.text("role", max_len=200)
    name = query.text("person_name", max_len=200)
    page, size = query.page()
    short = len("".join(ch for ch in company.lower() if ch.isalnum())) < 3
    rows = []
    for person in fake.iter_persons():
        person_company = person.company_name or ""
        if short:
            if company.lower() not in person_company.lower():
                continue
        elif not company_matches(company, person_company):
            continue
        if role and role.lower() not in (person.title or "").lower():
            continue
        if name and name.lower() not in person.full_name.lower():
            continue
        rows.append(person)
    items = [contact_item(p, fake) for p in paginate(rows, page, size)]
    return json_response(page_envelope(items, len(rows), page, size))


async def _submit(request: web.Request, channel: str) -> web.Response:
    fake, body, ctx = state(request), await Body.read(request), context(request)
    raw = body.data.get("personnel_ids")
    if isinstance(raw, list) and len(raw) > MAX_UNLOCK_BATCH:
        raise lead_selection_limit(len(raw))
    ids = body.id_list("personnel_ids", max_items=MAX_UNLOCK_BATCH)
    event_ref = body.text("event_id", max_len=100)
    assessment = fake.assess_contact_unlock(channel, event_ref, ids)
    if assessment.refusal is not None:
        raise assessment.refusal
    task = fake.start_unlock_task(channel, assessment.event, assessment.chargeable, ctx)
    return json_response(
        {"status": "accepted", "task_id": task.task_id, "job_id": task.task_id}, 201
    )


@routes.post("/external/contacts/unlock")
async def unlock_emails(request: web.Request) -> web.Response:
    """``POST /external/contacts/unlock`` (201): 15 credits per contact, charged at submission."""
    return await _submit(request, "email")


@routes.post("/external/contacts/unlock-phone")
async def unlock_phones(request: web.Request) -> web.Response:
    """``POST /external/contacts/unlock-phone`` (201): ``Prices.contact_phone`` per contact."""
    return await _submit(request, "phone")


def _task_body(task: UnlockTask) -> dict[str, Any]:
    field = task.channel
    items = []
    for item in task.items:
        entry: dict[str, Any] = {"personnelId": item.personnel_id, "status": item.status}
        if item.status == "unlocked":
            entry[field] = item.value
        elif item.status == "failed":
            entry["errorCode"] = item.error_code or "TASK_FAILED"
        items.append(entry)
    return {"taskId": task.task_id, "taskStatus": task.status, "items": items}


def _task_or_404(request: web.Request, channel: str) -> UnlockTask:
    task = state(request).tasks.get(request.match_info["taskId"])
    if task is None or task.channel != channel:
        raise not_found("Task not found")
    return task


@routes.get("/external/contacts/unlock-tasks/{taskId}")
async def email_task(request: web.Request) -> web.Response:
    """``GET /external/contacts/unlock-tasks/{taskId}``: email task progress."""
    return json_response(_task_body(_task_or_404(request, "email")))


@routes.get("/external/contacts/unlock-phone-tasks/{taskId}")
async def phone_task(request: web.Request) -> web.Response:
    """``GET /external/contacts/unlock-phone-tasks/{taskId}``: phone task progress."""
    return json_response(_task_body(_task_or_404(request, "phone")))
