"""Events routes: catalogue, detail, brief, fit-score, rank and the paid layer unlocks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from aiohttp import web

from lensmor_async.testing._data import EventRecord, derive
from lensmor_async.testing._routes_common import (
    Body,
    Query,
    context,
    json_response,
    page_envelope,
    paginate,
    state,
)
from lensmor_async.testing._routes_shapes import event_detail, event_item, event_ref
from lensmor_async.testing._state import (
    Balance,
    FakeState,
    LayerAssessment,
    event_not_found,
    invalid,
)

__all__ = ["fit_score", "routes"]

routes = web.RouteTableDef()

_MAX_ID = 100


def _event_or_404(fake: FakeState, ref: str) -> EventRecord:
    if not ref or len(ref) > _MAX_ID:
        raise invalid("event id must be 1-100 characters")
    event = fake.resolve_event(ref)
    if event is None:
        raise event_not_found()
    return event


def _matches_catalogue_filters(event: EventRecord, query: Query, fake: FakeState) -> bool:
    keyword = query.text("keyword", max_len=200)
    country = query.text("country", max_len=100)
    city = query.text("city", max_len=100)
    start_from, start_to = query.date("date_start_from"), query.date("date_start_to")
    has_visitors = query.integer("has_visitors", minimum=0, maximum=1)
    starred = query.integer("sponsor_match_starred", minimum=0, maximum=1)
    types = {t.lower() for t in query.strings("event_type")}
    qualities = {q.lower() for q in query.strings("quality")}
    haystack = " ".join(
        filter(None, [event.name, event.nickname, event.description, event.city, event.country])
    ).lower()
    start = dt.date.fromisoformat(event.date_start) if event.date_start else None
    checks = [
        keyword is None or keyword.lower() in haystack,
        country is None or (event.country or "").lower() == country.lower(),
        city is None or (event.city or "").lower() == city.lower(),
        start_from is None or (start is not None and start >= start_from),
        start_to is None or (start is not None and start <= start_to),
        not types or (event.event_type or "").lower() in types,
        not qualities or (event.quality or "").lower() in qualities,
        has_visitors is None or has_visitors == (event.id not in fake.no_visitor_data),
        # No seeded event is starred as a sponsor match.
        starred is None or starred == 0,
    ]
    return all(checks)


@routes.get("/external/events/list")
async def list_events(request: web.Request) -> web.Response:
    """``GET /external/events/list``: the neutral catalogue, soonest first (no date window)."""
    fake, query = state(request), Query(request.query)
    page, size = query.page()
    rows = [e for e in fake.events.values() if _matches_catalogue_filters(e, query, fake)]
    rows.sort(key=lambda e: (e.date_start or "9999", int(e.id)))
    items = [event_item(e, fake) for e in paginate(rows, page, size)]
    return json_response(page_envelope(items, len(rows), page, size))


@routes.get("/external/events/brief")
async def event_brief(request: web.Request) -> web.Response:
    """``GET /external/events/brief``: EventItem plus summary counts."""
    fake = state(request)
    event = _event_or_404(fake, Query(request.query).required("event_id", max_len=_MAX_ID))
    personnel = len(fake.rosters[event.id])
    summary: dict[str, Any] = {
        "attendeeCount": event.attendee_count if personnel else None,
        "exhibitorCount": len(fake.event_exhibitors[event.id]),
        "personnelCount": personnel,
        "topCategories": [],
        "dataFreshness": "database_snapshot",
    }
    return json_response({"event": event_item(event, fake), "summary": summary})


def fit_score(seed: int, event_id: str) -> tuple[float, dict[str, float]]:
    """The seeded fit score (0-10, 2 dp) of an event and its breakdown."""
    parts = ("profile_match", "matched_exhibitor_density", "event_scale")
    breakdown = {p: round(derive(seed, "fit", p, event_id) % 1001 / 100, 2) for p in parts}
    return round(sum(breakdown.values()) / 3, 2), breakdown


def _recommendation(score: float) -> str:
    if score >= 7:
        return "recommended"
    return "consider" if score >= 4 else "not_recommended"


@routes.post("/external/events/fit-score")
async def event_fit_score(request: web.Request) -> web.Response:
    """``POST /external/events/fit-score`` (201): deterministic per seed and event."""
    fake, body = state(request), await Body.read(request)
    event = _event_or_404(fake, body.required("event_id", max_len=_MAX_ID))
    score, breakdown = fit_score(fake.seed, event.id)
    answer = {
        "event": event_item(event, fake),
        "score": score,
        "recommendation": _recommendation(score),
        "breakdown": breakdown,
    }
    return json_response(answer, 201)


@routes.post("/external/events/rank")
async def rank_events(request: web.Request) -> web.Response:
    """``POST /external/events/rank`` (201): the shortlist ordered by descending score."""
    fake, body = state(request), await Body.read(request)
    refs = body.data.get("event_ids")
    if not isinstance(refs, list) or not refs or not all(isinstance(r, str) for r in refs):
        raise invalid("event_ids must be a non-empty array of strings")
    if len(refs) > 100:
        raise invalid("event_ids must contain at most 100 items")
    ranked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for ref in refs:
        event = _event_or_404(fake, ref)
        if event.id in seen:
            continue
        seen.add(event.id)
        score, _ = fit_score(fake.seed, event.id)
        ranked.append({"event_id": ref, "name": event.name, "match_score": score, "reasons": []})
    ranked.sort(key=lambda item: -float(item["match_score"]))
    for position, item in enumerate(ranked, start=1):
        item["rank"] = position
    return json_response({"items": ranked}, 201)


@routes.get("/external/events/{id}")
async def get_event(request: web.Request) -> web.Response:
    """``GET /external/events/{id}``: full detail (id or eventId)."""
    fake = state(request)
    event = _event_or_404(fake, request.match_info["id"])
    return json_response({"event": event_detail(event, fake)})


@routes.post("/external/events/{id}/unlock")
async def unlock_event(request: web.Request) -> web.Response:
    """``POST /external/events/{id}/unlock`` (201): 2000 credits, idempotent.

    Already unlocked: ``alreadyUnlocked: true, creditsUsed: 0, balanceAfter: null``.
    No personnel: 400, nothing charged. Short balance: 402, nothing charged.
    """
    fake, ctx = state(request), context(request)
    ref = request.match_info["id"]
    if len(ref) > _MAX_ID:
        raise invalid("event id must be 1-100 characters")
    assessment = fake.assess_event_unlock(ref)
    if assessment.refusal is not None:
        raise assessment.refusal
    event = assessment.event
    assert event is not None
    if assessment.already_unlocked:
        return json_response(_unlock_result(event, True, 0, None), 201)
    fake.charge_batch(
        [(("events.unlock", event.id), assessment.credits)], operation="events.unlock", ctx=ctx
    )
    fake.unlocked_events.add(event.id)
    after = fake.balance.balance_after()
    return json_response(_unlock_result(event, False, assessment.credits, after), 201)


def _unlock_result(
    event: EventRecord, already: bool, used: int, after: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "success": True,
        "alreadyUnlocked": already,
        "creditsUsed": used,
        "balanceAfter": after,
        "event": event_ref(event),
    }


@routes.post("/external/events/{id}/visitors/unlock")
async def unlock_visitors(request: web.Request) -> web.Response:
    """``POST /external/events/{id}/visitors/unlock`` (201, 0.24+): 3000 credits, idempotent.

    Answers ``creditsSpent`` and the full balance object; see
    :meth:`FakeState.assess_layers` for the refusals.
    """
    _, assessment, event, after = _bought(request, "visitors", Balance.to_wire)
    answer = {
        "success": True,
        "alreadyUnlocked": assessment.already_unlocked,
        "creditsSpent": assessment.credits,
        "balanceAfter": after,
        "event": event_ref(event),
    }
    return json_response(answer, 201)


@routes.post("/external/events/{id}/full-access/unlock")
async def unlock_full_access(request: web.Request) -> web.Response:
    """``POST /external/events/{id}/full-access/unlock`` (201, 0.24+): the missing layers."""
    fake, assessment, event, after = _bought(request, "full", Balance.balance_after)
    answer = {
        "success": True,
        "alreadyUnlocked": assessment.already_unlocked,
        "eventUnlocked": fake.is_unlocked(event.id),
        "visitorUnlocked": event.id in fake.visitor_unlocked_events,
        "visitorSkipped": assessment.visitors_skipped,
        "totalCreditsUsed": assessment.credits,
        "balanceAfter": after,
        "event": event_ref(event),
    }
    return json_response(answer, 201)


def _bought(
    request: web.Request, layers: str, balance_shape: Callable[[Balance], dict[str, Any]]
) -> tuple[FakeState, LayerAssessment, EventRecord, dict[str, Any] | None]:
    """Assess, refuse or buy the missing layers; the balance after in the route's shape."""
    fake = state(request)
    ref = request.match_info["id"]
    if len(ref) > _MAX_ID:
        raise invalid("event id must be 1-100 characters")
    assessment = fake.assess_layers(ref, layers)
    if assessment.refusal is not None:
        raise assessment.refusal
    assert assessment.event is not None
    if assessment.already_unlocked:
        return fake, assessment, assessment.event, None
    fake.unlock_layers(assessment, context(request))
    return fake, assessment, assessment.event, balance_shape(fake.balance)
