"""Personnel routes: gated event roster, profile, events, LinkedIn, outreach.

Fake choices where the price is undocumented: LinkedIn-activity unlock costs
``Prices.linkedin_activity`` (10) per *newly* unlocked person and outreach generation
``Prices.outreach_message`` (5) per person (0.22 "paid per record"). Both are
all-or-nothing (402 charges nothing) and both finish after two task steps.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from lensmor_async.testing._data import EventRecord, PersonRecord, derive
from lensmor_async.testing._routes_common import (
    Body,
    Query,
    context,
    json_response,
    page_envelope,
    paginate,
    state,
)
from lensmor_async.testing._routes_shapes import contact_item, event_item, gate
from lensmor_async.testing._state import (
    FakeState,
    LinkedinState,
    OutreachRecord,
    TimedStatus,
    event_not_found,
    feature_not_available,
    invalid,
    not_found,
)

__all__ = ["routes"]

routes = web.RouteTableDef()

_SLUG_ID = re.compile(r"-([0-9]+)$")


def _person_filter(query: Query) -> Any:
    """A predicate for the personnel/list filters, or ``None`` when there are none."""
    exhibitor_id = query.optional_numeric_id("exhibitor_id")
    department = query.text("department", max_len=100)
    level = query.text("level", max_len=50)
    search = query.text("search_query", max_len=200)
    sources = {s.lower() for s in query.strings("sourceType")}
    if not any((exhibitor_id, department, level, search, sources)):
        return None

    def keep(person: PersonRecord) -> bool:
        text = f"{person.title or ''} {person.full_name}".lower()
        return (
            (exhibitor_id is None or person.exhibitor_id == exhibitor_id)
            and (department is None or (person.department or "").lower() == department.lower())
            and (level is None or (person.seniority_level or "").lower() == level.lower())
            and (search is None or search.lower() in text)
            and (not sources or (person.source_type or "") in sources)
        )

    return keep


def _roster_rows(fake: FakeState, event: EventRecord, keep: Any) -> tuple[int, Any]:
    """``(total, fetch(start, stop))`` of the matching people; unfiltered lists stay lazy."""
    roster = fake.rosters[event.id]
    if keep is None:
        return len(roster), roster.slice
    matching = [pid for pid in roster if keep(_person(fake, pid))]
    return len(matching), lambda start, stop: matching[start:stop]


def _person(fake: FakeState, personnel_id: str) -> PersonRecord:
    person = fake.person(personnel_id)
    assert person is not None, f"roster lists unknown person {personnel_id}"
    return person


@routes.get("/external/personnel/list")
async def list_personnel(request: web.Request) -> web.Response:
    """``GET /external/personnel/list``: people of an event with §6 semantics (pageSize ≤ 50)."""
    fake, query = state(request), Query(request.query)
    ref = query.required("event_id", max_len=100)
    page, size = query.page(default_size=50, max_size=50)
    keep = _person_filter(query)
    event = fake.resolve_event(ref)
    if event is None:
        raise event_not_found()
    total, fetch = _roster_rows(fake, event, keep)
    g = gate(
        total,
        page,
        size,
        full=fake.is_unlocked(event.id),
        action_type="unlock_event_contacts",
        credits=fake.prices.event_unlock,
    )
    ids: list[str] = fetch(g.start, g.stop) if g.stop > g.start else []
    items = [contact_item(_person(fake, pid), fake, list_view=True) for pid in ids]
    answer = page_envelope(items, g.total, page, size)
    answer.update(totalPages=g.total_pages, hasMore=g.has_more, semantics=g.semantics)
    return json_response(answer)


def _person_or_404(fake: FakeState, personnel_id: str) -> PersonRecord:
    person = fake.person(personnel_id)
    if person is None:
        raise not_found("Personnel not found")
    return person


@routes.get("/external/personnel/profile")
async def personnel_profile(request: web.Request) -> web.Response:
    """``GET /external/personnel/profile``: one ContactItem."""
    fake = state(request)
    pid = Query(request.query).numeric_id("personnel_id")
    return json_response(contact_item(_person_or_404(fake, pid), fake))


def _events_page(fake: FakeState, event_ids: list[str], page: int, size: int) -> dict[str, Any]:
    rows = sorted(
        (fake.events[i] for i in event_ids), key=lambda e: (e.date_start or "", e.id), reverse=True
    )
    return page_envelope(
        [event_item(e, fake) for e in paginate(rows, page, size)], len(rows), page, size
    )


_PERSON_SCOPES = {"all", "exhibitor_employee", "visitor"}


@routes.get("/external/personnel/events")
async def personnel_events(request: web.Request) -> web.Response:
    """``GET /external/personnel/events``: EventPage (empty when no associations)."""
    fake, query = state(request), Query(request.query)
    pid = query.numeric_id("personnel_id")
    page, size = query.page()
    scope = query.text("attendance_scope")
    if scope is not None and scope not in _PERSON_SCOPES:
        raise invalid("attendance_scope must be one of all, exhibitor_employee, visitor")
    _person_or_404(fake, pid)
    event_ids = [] if scope == "visitor" else fake.events_of_person(pid)
    return json_response(_events_page(fake, event_ids, page, size))


_BY_NAME_DEFAULT_START = dt.date(2026, 1, 1)
_BY_NAME_MAX_PEOPLE = 50


@routes.get("/external/personnel/events/by-name")
async def events_by_name(request: web.Request) -> web.Response:
    """``GET /external/personnel/events/by-name`` (200, 0.27): paid, 50 when not empty.

    Exact full name (trimmed, case-insensitive; at most 50 people), events starting in
    ``[date_start_from (default 2026-01-01), date_start_to]``; free plans get the HTTP-200
    ``USER_HAS_NO_FEATURE`` envelope. An empty result is not charged.
    """
    fake, query = state(request), Query(request.query)
    if not fake.paid_features:
        raise feature_not_available()
    name = query.required("person_name", max_len=200).strip().casefold()
    scope = query.text("attendance_scope")
    if scope is not None and scope not in _PERSON_SCOPES:
        raise invalid("attendance_scope must be one of all, exhibitor_employee, visitor")
    start = query.date("date_start_from") or _BY_NAME_DEFAULT_START
    end = query.date("date_start_to")
    page, size = query.page()
    people = [p for p in fake.iter_persons() if p.full_name.strip().casefold() == name]
    event_ids: list[str] = []
    for person in people[:_BY_NAME_MAX_PEOPLE] if scope != "visitor" else ():
        event_ids += [e for e in fake.events_of_person(person.id) if e not in event_ids]
    dated = [
        e
        for e in event_ids
        if (day := fake.events[e].date_start) is not None
        and start <= dt.date.fromisoformat(day)
        and (end is None or dt.date.fromisoformat(day) <= end)
    ]
    if dated:
        charge = (("personnel.events_by_name", name), fake.prices.person_events_by_name)
        fake.charge_batch([charge], operation="personnel.events_by_name", ctx=context(request))
    body = _events_page(fake, dated, page, size)
    for item in body["items"]:
        item["attendance_identity"] = ["exhibitor"]
    return json_response(body)


def _normalise_linkedin(url: str) -> str:
    """``https://linkedin.com/in/<slug>``; query, fragment and trailing slash ignored."""
    raw = url.strip()
    if "://" not in raw:
        raw = "https://" + raw
    parts = urlsplit(raw)
    host = (parts.hostname or "").lower()
    segments = [s for s in parts.path.split("/") if s]
    if not host.endswith("linkedin.com") or len(segments) < 2 or segments[0].lower() != "in":
        raise invalid("linkedin_url must be a LinkedIn profile URL")
    return f"https://linkedin.com/in/{segments[1].lower()}"


@routes.get("/external/personnel/events/by-linkedin")
async def events_by_linkedin(request: web.Request) -> web.Response:
    """``GET /external/personnel/events/by-linkedin``: ``{personnel, events}``."""
    fake, query = state(request), Query(request.query)
    url = _normalise_linkedin(query.required("linkedin_url", max_len=500))
    page, size = query.page()
    scope = query.text("attendance_scope")
    if scope is not None and scope not in _PERSON_SCOPES:
        raise invalid("attendance_scope must be one of all, exhibitor_employee, visitor")
    match = _SLUG_ID.search(url)
    person = fake.person(match.group(1)) if match else None
    if person is None or (person.linkedin_url or "").lower() != url:
        raise not_found("No personnel found for this LinkedIn URL")
    event_ids = [] if scope == "visitor" else fake.events_of_person(person.id)
    events = _events_page(fake, event_ids, page, size)
    return json_response({"personnel": contact_item(person, fake), "events": events})


def _optional_event(fake: FakeState, body: Body) -> EventRecord | None:
    ref = body.text("event_id", max_len=20)
    if ref is None:
        return None
    if not ref.isdigit():
        raise invalid("event_id must be a numeric string")
    event = fake.resolve_event(ref)
    if event is None:
        raise event_not_found()
    return event


def _linkedin_activity(seed: int, personnel_id: str) -> dict[str, Any]:
    level = ("ACTIVE", "WARM", "DORMANT", "")[derive(seed, "activity", personnel_id) % 4]
    latest = (
        None
        if level in ("DORMANT", "")
        else str(1_767_225_600_000 + derive(seed, personnel_id) % 10**10)
    )
    return {"activityLevel": level, "isActive": level == "ACTIVE", "latestPostAt": latest}


@routes.post("/external/personnel/unlock-linkedin-activity")
async def unlock_linkedin_activity(request: web.Request) -> web.Response:
    """``POST /external/personnel/unlock-linkedin-activity`` (201).

    Already unlocked people are free (``alreadyUnlocked: true``, no task); the others
    are charged and get a ``taskId``; status turns ``ready`` after two task steps.
    """
    fake, body, ctx = state(request), await Body.read(request), context(request)
    ids = list(dict.fromkeys(body.id_list("personnel_ids", max_items=2000)))
    event = _optional_event(fake, body)
    for pid in ids:
        _person_or_404(fake, pid)
        if event is not None and pid not in fake.rosters[event.id]:
            raise invalid("Personnel does not belong to event_id")
    fresh = [pid for pid in ids if pid not in fake.linkedin]
    price = fake.prices.linkedin_activity
    charges = [(("personnel.unlock_linkedin_activity", pid), price) for pid in fresh]
    fake.charge_batch(charges, operation="personnel.unlock_linkedin_activity", ctx=ctx)
    items = []
    for pid in ids:
        already = pid not in fresh
        if not already:
            job = LinkedinState(
                TimedStatus.PROCESSING, fake.new_task_id(), _linkedin_activity(fake.seed, pid)
            )
            fake.linkedin[pid] = job
            fake.schedule_ready(job)
        items.append(
            {
                "personnel_id": pid,
                "success": True,
                "alreadyUnlocked": already,
                "taskId": None if already else fake.linkedin[pid].task_id,
                "error": None,
            }
        )
    return json_response({"items": items}, 201)


_CHANNELS = {"email", "linkedin_message"}
_LINKEDIN_TYPES = {"inmail", "connection_note", "connected_message"}


def _outreach_messages(
    person: PersonRecord, event: EventRecord | None, channels: list[str]
) -> dict[str, Any]:
    first = person.full_name.split()[0]
    where = f" at {event.name}" if event else ""
    pitch = f"Hi {first}, I would love to compare notes on {person.company_name}'s plans{where}."
    return {
        "email": pitch if "email" in channels else None,
        "linkedin_message": pitch if "linkedin_message" in channels else None,
        "linkedin": {
            "inmail": {"subject": f"Meeting{where}?", "body": pitch},
            "connection_note": {"body": f"Hi {first}, let's connect{where}."},
            "connected_message": {"body": pitch},
        },
    }


def _outreach_input(body: Body) -> tuple[list[str], list[str], str | None]:
    ids = list(dict.fromkeys(body.id_list("personnel_ids", max_items=2000)))
    channels = body.strings("channels")
    if not channels or not set(channels) <= _CHANNELS:
        raise invalid("channels must be a non-empty subset of email, linkedin_message")
    if not set(body.strings("linkedin_message_types")) <= _LINKEDIN_TYPES:
        raise invalid("linkedin_message_types has an unknown value")
    return ids, channels, body.text("outreach_purpose", max_len=1000)


@routes.post("/external/personnel/generate-outreach-message")
async def generate_outreach(request: web.Request) -> web.Response:
    """``POST /external/personnel/generate-outreach-message`` (201), up to 2,000 people.

    Free as in 0.27 (``Prices.outreach_message`` is 0); a price > 0 charges per known
    person, as plans that still charge do. Unknown people get ``success: false`` items.
    ``event_id`` must be the internal event ``id`` (not ``eventId``), as documented.
    """
    fake, body, ctx = state(request), await Body.read(request), context(request)
    ids, channels, purpose = _outreach_input(body)
    event_ref = body.text("event_id", max_len=20)
    event = fake.events.get(event_ref) if event_ref else None
    if event_ref is not None and event is None:
        raise invalid("event_id must be an internal event id")
    event_key = event.id if event else ""
    known = [pid for pid in ids if fake.person(pid) is not None]
    intent_tail = (event_key, ",".join(sorted(channels)))
    charges = [
        (("personnel.generate_outreach", pid, *intent_tail), fake.prices.outreach_message)
        for pid in known
    ]
    fake.charge_batch(charges, operation="personnel.generate_outreach", ctx=ctx)
    now = fake.now_ms()
    items = []
    for pid in ids:
        person = fake.person(pid)
        if person is None:
            items.append(
                {
                    "personnel_id": pid,
                    "success": False,
                    "taskId": None,
                    "error": "Personnel not found",
                }
            )
            continue
        record = OutreachRecord(
            pid,
            event_key,
            channels,
            purpose,
            fake.new_task_id(),
            TimedStatus.PROCESSING,
            now,
            now,
            _outreach_messages(person, event, channels),
        )
        fake.outreach[(pid, event_key)] = record
        fake.schedule_ready(record)
        items.append(
            {"personnel_id": pid, "success": True, "taskId": record.task_id, "error": None}
        )
    return json_response({"items": items}, 201)


def _outreach_body(record: OutreachRecord | None) -> dict[str, Any]:
    empty: dict[str, Any] = {"email": None, "linkedin_message": None, "linkedin": {}}
    if record is None:
        return {
            "found": False,
            "channels": [],
            "messages": empty,
            "reason": None,
            "sources": [],
            "outreach_purpose": None,
            "tone": None,
            "status": None,
            "create_time": None,
            "update_time": None,
        }
    ready = record.status is TimedStatus.READY
    return {
        "found": True,
        "channels": list(record.channels),
        "messages": record.messages if ready else empty,
        "reason": "Shared interest in the event's topics." if ready else None,
        "sources": [],
        "outreach_purpose": record.purpose,
        "tone": "professional",
        "status": record.status.value,
        "create_time": record.create_time,
        "update_time": record.update_time,
    }


@routes.get("/external/personnel/outreach")
async def get_outreach(request: web.Request) -> web.Response:
    """``GET /external/personnel/outreach``: latest outreach for a person+event pair."""
    fake, query = state(request), Query(request.query)
    pid = query.numeric_id("personnel_id")
    event_id = query.numeric_id("event_id")
    record = fake.outreach.get((pid, event_id)) or fake.outreach.get((pid, ""))
    return json_response(_outreach_body(record))
