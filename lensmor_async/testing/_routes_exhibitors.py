"""Exhibitor routes: gated event lists, free/paid searches, profile and events.

Company-name matching follows the documented rule: a compact-normalised query of
fewer than 3 characters matches exactly only; longer queries admit a company when
every query token (single characters ignored) prefixes one of its name tokens.
"""

from __future__ import annotations

import functools
import re
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from lensmor_async.testing._data import ExhibitorRecord
from lensmor_async.testing._routes_common import (
    Body,
    Query,
    context,
    json_response,
    page_envelope,
    paginate,
    state,
)
from lensmor_async.testing._routes_shapes import contact_item, event_item, exhibitor_item, gate
from lensmor_async.testing._state import FakeState, event_not_found, invalid, not_found

__all__ = ["company_matches", "normalise_company", "routes"]

routes = web.RouteTableDef()

_NUMERIC = re.compile(r"^[0-9]+$")
_TOKEN = re.compile(r"[a-z0-9]+")


@functools.lru_cache(maxsize=1 << 16)
def _tokens(text: str) -> tuple[str, ...]:
    # Cached: every search compares its query with every exhibitor's name.
    return tuple(_TOKEN.findall(text.lower()))


def normalise_company(text: str) -> str:
    """Canonical form of a company query (lowercase words joined by one space)."""
    return " ".join(_tokens(text))


def company_matches(query: str, company_name: str) -> bool:
    """The documented precision-first admission rule."""
    compact_query = "".join(_tokens(query))
    compact_name = "".join(_tokens(company_name))
    if len(compact_query) < 3:
        return bool(compact_query) and compact_query == compact_name
    wanted = [t for t in _tokens(query) if len(t) > 1] or [compact_query]
    name_tokens = _tokens(company_name)
    return all(any(token.startswith(w) for token in name_tokens) for w in wanted)


def _person_filter_match(
    fake: FakeState, exhibitor: ExhibitorRecord, event_id: str, query: Query
) -> bool:
    titles = [t.lower() for t in query.strings("jobTitle")]
    levels = {v.lower() for v in query.strings("managementLevel")}
    departments = {v.lower() for v in query.strings("department")}
    if not (titles or levels or departments):
        return True
    for person in _explicit_people(fake, exhibitor.id, event_id):
        if (
            (not titles or any(t in (person.title or "").lower() for t in titles))
            and (not levels or (person.seniority_level or "") in levels)
            and (not departments or (person.department or "") in departments)
        ):
            return True
    return False


def _explicit_people(fake: FakeState, exhibitor_id: str, event_id: str) -> list[Any]:
    roster = fake.rosters[event_id]
    return [p for p in fake.persons.values() if p.exhibitor_id == exhibitor_id and p.id in roster]


def _list_filters_match(
    fake: FakeState, exhibitor: ExhibitorRecord, event_id: str, query: Query
) -> bool:
    keyword = query.text("keyword", max_len=200)
    country = query.text("country", max_len=100)
    categories = {c.lower() for c in query.strings("category")}
    industries = {i.lower() for i in query.strings("industry")}
    text = f"{exhibitor.company_name} {exhibitor.description or ''}".lower()
    return (
        (keyword is None or keyword.lower() in text)
        and (country is None or (exhibitor.country or "").lower() == country.lower())
        and (not categories or any(c.lower() in categories for c in exhibitor.categories))
        and (not industries or (exhibitor.industry or "").lower() in industries)
        and _person_filter_match(fake, exhibitor, event_id, query)
    )


@routes.get("/external/exhibitors/list")
async def list_exhibitors(request: web.Request) -> web.Response:
    """``GET /external/exhibitors/list``: exhibitors of one event with §6 semantics."""
    fake, query = state(request), Query(request.query)
    event = fake.resolve_event(query.required("event_id", max_len=100))
    page, size = query.page()
    personnel_limit = query.integer("personnelLimit", minimum=0) or 0
    if event is None:
        raise event_not_found()
    rows = [e for e in fake.lineup(event.id) if _list_filters_match(fake, e, event.id, query)]
    g = gate(
        len(rows),
        page,
        size,
        full=fake.is_unlocked(event.id),
        action_type="unlock_event_exhibitors",
        credits=fake.prices.event_unlock,
    )
    items = []
    for exhibitor in rows[g.start : g.stop]:
        item = exhibitor_item(exhibitor, matched_event_ids=[event.id])
        if personnel_limit:
            people = _explicit_people(fake, exhibitor.id, event.id)[:personnel_limit]
            item["personnel"] = [contact_item(p, fake) for p in people]
        items.append(item)
    answer = page_envelope(items, g.total, page, size)
    answer.update(
        totalPages=g.total_pages,
        hasMore=g.has_more,
        recommendationProcessing=False,
        recommendationProcessingFeature="none",
        semantics=g.semantics,
    )
    return json_response(answer)


def _domain_of(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid("company_url must be a public http(s) URL")
    host = parts.hostname.lower()
    return host[4:] if host.startswith("www.") else host


@routes.post("/external/exhibitors/search")
async def contextual_search(request: web.Request) -> web.Response:
    """``POST /external/exhibitors/search`` (201, free): by company URL and/or audience."""
    fake, body = state(request), await Body.read(request)
    url, audience = body.text("company_url", max_len=2048), body.text("target_audience")
    if url is None and audience is None:
        raise invalid("company_url or target_audience is required")
    page, size = body.page()
    domain = _domain_of(url) if url else None
    words = [w for w in _tokens(audience or "") if len(w) > 2]
    rows = []
    for exhibitor in fake.exhibitors.values():
        text = " ".join(
            [
                exhibitor.company_name,
                exhibitor.description or "",
                exhibitor.industry or "",
                *exhibitor.categories,
            ]
        ).lower()
        if domain and not (exhibitor.domain or "").endswith(domain):
            continue
        if words and not any(w in text for w in words):
            continue
        rows.append(exhibitor)
    items = [exhibitor_item(e, search_route=True) for e in paginate(rows, page, size)]
    return json_response(page_envelope(items, len(rows), page, size), 201)


def _charge_search(
    fake: FakeState, request: web.Request, operation: str, name: str, price: int, empty: bool
) -> None:
    """Charge one search execution (0.22: always; 0.24 semantics: only when non-empty)."""
    if empty and not fake.charge_empty_searches:
        return
    intent = (operation, normalise_company(name))
    fake.charge_batch([(intent, price)], operation=operation, ctx=context(request))


@routes.post("/external/exhibitors/search-by-company-name")
async def search_by_company_name(request: web.Request) -> web.Response:
    """``POST /external/exhibitors/search-by-company-name`` (201, 50 credits per call)."""
    fake, body = state(request), await Body.read(request)
    name = body.required("company_name", max_len=200)
    page, size = body.page()
    rows = [e for e in fake.exhibitors.values() if company_matches(name, e.company_name)]
    _charge_search(
        fake,
        request,
        "exhibitors.search_by_company_name",
        name,
        fake.prices.search_by_company_name,
        not rows,
    )
    items = [exhibitor_item(e, search_route=True) for e in paginate(rows, page, size)]
    return json_response(page_envelope(items, len(rows), page, size), 201)


_ATTENDANCE_SCOPES = {"all", "exhibitor", "visitor"}


@routes.post("/external/exhibitors/search-events")
async def search_events(request: web.Request) -> web.Response:
    """``POST /external/exhibitors/search-events`` (201, 50 credits per call).

    Items are EventItem + ``matchedExhibitors``; events are ordered most recent first.
    """
    fake, body = state(request), await Body.read(request)
    name = body.required("company_name", max_len=200)
    page, size = body.page()
    if "attendance_scope" in body.data and body.data["attendance_scope"] not in _ATTENDANCE_SCOPES:
        raise invalid("attendance_scope must be one of all, exhibitor, visitor")
    body.integer("sponsor_match_starred", minimum=0, maximum=1)
    matched = [e for e in fake.exhibitors.values() if company_matches(name, e.company_name)]
    by_event: dict[str, list[ExhibitorRecord]] = {}
    for exhibitor in matched:
        for event_id in fake.exhibitor_event_ids(exhibitor.id):
            by_event.setdefault(event_id, []).append(exhibitor)
    events = sorted(
        (fake.events[i] for i in by_event), key=lambda e: (e.date_start or "", e.id), reverse=True
    )
    _charge_search(
        fake, request, "exhibitors.search_events", name, fake.prices.search_events, not events
    )
    items = []
    for event in paginate(events, page, size):
        item = event_item(event, fake)
        item["matchedExhibitors"] = [
            {"id": e.id, "companyName": e.company_name} for e in by_event[event.id]
        ]
        items.append(item)
    return json_response(page_envelope(items, len(events), page, size), 201)


def _exhibitor_or_404(fake: FakeState, query: Query) -> ExhibitorRecord:
    exhibitor_id = query.required("exhibitor_id", max_len=20)
    if not _NUMERIC.match(exhibitor_id):
        raise invalid("exhibitor_id must be a numeric string")
    exhibitor = fake.exhibitors.get(exhibitor_id)
    if exhibitor is None:
        raise not_found("Exhibitor not found")
    return exhibitor


@routes.get("/external/exhibitors/profile")
async def exhibitor_profile(request: web.Request) -> web.Response:
    """``GET /external/exhibitors/profile``: ExhibitorItem + first 20 events."""
    fake = state(request)
    exhibitor = _exhibitor_or_404(fake, Query(request.query))
    answer = exhibitor_item(exhibitor)
    answer["events"] = [
        {"id": fake.events[i].id, "eventId": fake.events[i].event_id, "name": fake.events[i].name}
        for i in fake.exhibitor_event_ids(exhibitor.id)[:20]
    ]
    return json_response(answer)


@routes.get("/external/exhibitors/events")
async def exhibitor_events(request: web.Request) -> web.Response:
    """``GET /external/exhibitors/events``: EventPage of one exhibitor's events."""
    fake, query = state(request), Query(request.query)
    exhibitor = _exhibitor_or_404(fake, query)
    page, size = query.page()
    scope = query.text("attendance_scope")
    if scope is not None and scope not in _ATTENDANCE_SCOPES:
        raise invalid("attendance_scope must be one of all, exhibitor, visitor")
    rows = [fake.events[i] for i in fake.exhibitor_event_ids(exhibitor.id)]
    if scope == "visitor":
        rows = []
    items: list[dict[str, Any]] = [event_item(e, fake) for e in paginate(rows, page, size)]
    return json_response(page_envelope(items, len(rows), page, size))
