"""Profile-matching routes: recommended events (current and legacy path) and exhibitors.

The fake has no real buyer profile: scores are seeded per event/exhibitor, filters
are applied exactly, and results are ordered by descending score.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from lensmor_async.testing._data import EventRecord, ExhibitorRecord, derive
from lensmor_async.testing._routes_common import (
    Body,
    Query,
    json_response,
    page_envelope,
    paginate,
    state,
)
from lensmor_async.testing._routes_shapes import event_detail, exhibitor_item
from lensmor_async.testing._state import FakeState, event_not_found, invalid

__all__ = ["routes"]

routes = web.RouteTableDef()


def _event_type_ids(body: Body) -> list[int]:
    raw = body.data.get("eventTypeIds")
    if raw is None:
        return []
    values = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(values, list):
        raise invalid("eventTypeIds must be an array of integers")
    try:
        return [int(v) for v in values if not isinstance(v, bool)]
    except (TypeError, ValueError):
        raise invalid("eventTypeIds must be an array of integers") from None


def _profile_input(body: Body) -> dict[str, Any]:
    """Validate the request; return the exact-match filters that were given."""
    url, audience = body.text("company_url", max_len=2048), body.text("target_audience")
    if url is None and audience is None:
        raise invalid("company_url or target_audience is required")
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        raise invalid("company_url must be an http(s) URL")
    body.integer("timeout_ms", minimum=60000, maximum=3_600_000)
    body.boolean("autoRecommendTop3EventsEnabled")
    filters: dict[str, Any] = {
        "city": body.text("city"),
        "region": body.text("region"),
        "country": body.text("country"),
        "category": [c.lower() for c in body.strings("category")],
        "eventTypeIds": _event_type_ids(body),
        "dateStartFrom": body.date("dateStartFrom"),
        "dateStartTo": body.date("dateStartTo"),
        "future": body.integer("future", minimum=0, maximum=1),
        "attendeeCountMin": body.integer("attendeeCountMin", minimum=0),
        "attendeeCountMax": body.integer("attendeeCountMax", minimum=0),
    }
    return {name: value for name, value in filters.items() if value not in (None, [])}


def _keeps(event: EventRecord, name: str, value: Any) -> bool:
    start = dt.date.fromisoformat(event.date_start) if event.date_start else None
    match name:
        case "city" | "region" | "country":
            return bool(getattr(event, name) == value)
        case "category":
            return any(c.code in value or c.name.lower() in value for c in event.categories)
        case "eventTypeIds":
            return any(t.id in value for t in event.event_types)
        case "dateStartFrom":
            return start is not None and start >= value
        case "dateStartTo":
            return start is not None and start <= value
        case "future":
            return bool(event.future == value)
        case "attendeeCountMin":
            return bool((event.attendee_count or 0) >= value)
        case _:
            return bool((event.attendee_count or 0) <= value)


def _recommended_item(
    fake: FakeState, event: EventRecord, rank: int, score: float
) -> dict[str, Any]:
    item = event_detail(event, fake)
    item.update(
        matched_exhibitor_count=len(fake.event_exhibitors[event.id]),
        matched_personnel_count=len(fake.rosters[event.id]),
        match_score=score,
        unlocked=fake.is_unlocked(event.id),
        relevanceReason=f"Audience overlaps with {', '.join(event.topics) or 'your profile'}.",
        rank=rank,
        createTime=1_767_225_600_000,
        updateTime=1_767_225_600_000,
        quality=event.quality,
        sourceTags=[],
    )
    return item


@routes.post("/external/profile-matching/actions/apply-recommended-events/paged")
@routes.post("/external/profile-matching/recommendations/events/paged")
async def recommended_events(request: web.Request) -> web.Response:
    """Recommended events for a buyer profile (201); the legacy path behaves the same."""
    fake, body = state(request), await Body.read(request)
    filters = _profile_input(body)
    page, size = body.page()
    candidates = list(fake.events.values())
    kept = [e for e in candidates if all(_keeps(e, n, v) for n, v in filters.items())]
    scored = sorted(
        ((round(derive(fake.seed, "profile", e.id) % 101 / 100, 2), e) for e in kept),
        key=lambda pair: (-pair[0], pair[1].id),
    )
    ranked = [_recommended_item(fake, e, rank, s) for rank, (s, e) in enumerate(scored, start=1)]
    answer = page_envelope(paginate(ranked, page, size), len(ranked), page, size)
    answer.update(
        status="completed" if ranked else "completed_empty",
        condition_tags={n: str(v) for n, v in filters.items()},
        profile_version=1,
        active_result_version=1,
        is_stale=False,
    )
    if not ranked:
        answer.update(
            empty_reason="no_events_matched",
            failed_filters=sorted(filters),
            candidate_count=len(candidates),
            suggestions=["Relax the filters or widen the date range."],
        )
    return json_response(answer, 201)


def _exhibitor_filters_match(exhibitor: ExhibitorRecord, query: Query) -> bool:
    locations = {v.lower() for v in query.strings("location")}
    search = query.text("searchQuery")
    names = set(query.strings("exhibitorName"))
    categories = {v.lower() for v in query.strings("category")}
    industries = {v.lower() for v in query.strings("industry")}
    low = query.integer("employeesMin", minimum=0)
    high = query.integer("employeesMax", minimum=0)
    employees = exhibitor.employee_count or 0
    text = f"{exhibitor.company_name} {exhibitor.description or ''}".lower()
    return (
        (not locations or (exhibitor.country or "").lower() in locations)
        and (search is None or search.lower() in text)
        and (not names or exhibitor.company_name in names)
        and (not categories or any(c.lower() in categories for c in exhibitor.categories))
        and (not industries or (exhibitor.industry or "").lower() in industries)
        and (low is None or employees >= low)
        and (high is None or employees <= high)
    )


def _tier(score: float) -> str:
    if score >= 0.8:
        return "top_match"
    return "strong_match" if score >= 0.6 else "qualifying_match"


def _recommended_exhibitor(
    exhibitor: ExhibitorRecord, event_id: str, rank: int, score: float
) -> dict[str, Any]:
    item = exhibitor_item(exhibitor, matched_event_ids=[event_id])
    item.update(
        isRecommended=score >= 0.5,
        recommendationRank=rank,
        matchStatus="ready",
        matchScore=score,
        matchTier=_tier(score),
        companySize=exhibitor.company_size,
        reason=f"{exhibitor.company_name} fits your target audience.",
    )
    return item


@routes.get("/external/profile-matching/recommendations/exhibitors")
async def recommended_exhibitors(request: web.Request) -> web.Response:
    """Profile-aware exhibitor recommendations for one event (404 ``EVENT_NOT_FOUND``)."""
    fake, query = state(request), Query(request.query)
    ref = query.required("event_id", max_len=100)
    page, size = query.page()
    event = fake.resolve_event(ref)
    if event is None:
        raise event_not_found()
    kept = [e for e in fake.lineup(event.id) if _exhibitor_filters_match(e, query)]
    scored = sorted(
        ((round(derive(fake.seed, "match", e.id) % 101 / 100, 2), e) for e in kept),
        key=lambda pair: (-pair[0], pair[1].id),
    )
    items = [
        _recommended_exhibitor(e, event.id, rank, s) for rank, (s, e) in enumerate(scored, start=1)
    ]
    answer = page_envelope(paginate(items, page, size), len(items), page, size)
    answer["recommendationProcessing"] = False
    return json_response(answer)
