"""Wire shapes (REFERENCE §6 and §10) built from the fake's records and state.

Field names, required keys and nulls follow the 0.22 contract exactly; per-caller
fields (``email``, ``contactUnlockStatus``) come from this caller's unlock state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lensmor_async.testing._data import EventRecord, ExhibitorRecord, PersonRecord
from lensmor_async.testing._state import PREVIEW_LIMIT, FakeState, TimedStatus

__all__ = [
    "Gate",
    "contact_item",
    "event_detail",
    "event_item",
    "event_ref",
    "exhibitor_item",
    "gate",
]


def event_ref(event: EventRecord) -> dict[str, Any]:
    """``{id, eventId, name}``."""
    return {"id": event.id, "eventId": event.event_id, "name": event.name}


def event_item(event: EventRecord, state: FakeState) -> dict[str, Any]:
    """EventItem (§10.1); list items omit attendee/personnel counts on purpose."""
    return {
        "id": event.id,
        "eventId": event.event_id,
        "name": event.name,
        "nickname": event.nickname,
        "description": event.description,
        "url": event.url,
        "dateStart": event.date_start,
        "dateEnd": event.date_end,
        "venue": event.venue,
        "city": event.city,
        "region": event.region,
        "country": event.country,
        "exhibitorCount": len(state.event_exhibitors.get(event.id, ())),
        "hasVisitors": event.id not in state.no_visitor_data,
        "sponsorMatchStarred": 0,
        "image": event.image,
        "dataSource": event.data_source,
    }


def event_detail(event: EventRecord, state: FakeState) -> dict[str, Any]:
    """EventDetail (§10.2); counts are ``null`` when the event has no personnel."""
    personnel = len(state.rosters[event.id])
    return {
        **event_item(event, state),
        "latitude": event.latitude,
        "longitude": event.longitude,
        "attendeeCount": event.attendee_count if personnel else None,
        "declaredExpectedAttendees": event.declared_expected_attendees,
        "estimatedExpectedAttendees": event.estimated_expected_attendees,
        "priceLower": event.price_lower,
        "priceUpper": event.price_upper,
        "eventType": event.event_type,
        "categories": [
            {
                "id": c.id,
                "code": c.code,
                "name": c.name,
                "description": c.description,
                "confidence": c.confidence,
            }
            for c in event.categories
        ],
        "topics": list(event.topics),
        "topicsCount": len(event.topics),
        "verified": event.verified,
        "future": event.future,
        "historic": event.historic,
        "historicEvent": event.historic_event,
        "personnelCount": personnel or None,
        "eventTypes": [
            {"id": t.id, "typeName": t.type_name, "slug": t.slug, "isPrimary": t.is_primary}
            for t in event.event_types
        ],
    }


def _signals(exhibitor: ExhibitorRecord) -> list[dict[str, Any]]:
    return [
        {
            "signalTag": s.signal_tag,
            "signalDate": s.signal_date,
            "sourceType": s.source_type,
            "sourceTitle": s.source_title,
            "sourceUrl": s.source_url,
            "evidenceSummary": s.evidence_summary,
            "relevanceToIcp": s.relevance_to_icp,
            "recommendedPlay": s.recommended_play,
            "signalScore": s.signal_score,
            "confidence": s.confidence,
            "directOrInferred": s.direct_or_inferred,
            "analyzedAt": s.analyzed_at,
        }
        for s in exhibitor.buying_signals
    ]


def exhibitor_item(
    exhibitor: ExhibitorRecord,
    *,
    matched_event_ids: list[str] | None = None,
    search_route: bool = False,
) -> dict[str, Any]:
    """ExhibitorItem (§10.3); ``buyingSignalStatus`` is always null on search routes."""
    signal_status = None if search_route or not exhibitor.buying_signals else "ready"
    return {
        "id": exhibitor.id,
        "companyName": exhibitor.company_name,
        "domain": exhibitor.domain,
        "description": exhibitor.description,
        "website": exhibitor.website,
        "industry": exhibitor.industry,
        "employeeCount": exhibitor.employee_count,
        "country": exhibitor.country,
        "logo": exhibitor.logo,
        "dataSource": exhibitor.data_source,
        "linkedinUrl": exhibitor.linkedin_url,
        "fundingRound": exhibitor.funding_round,
        "matched_event_ids": list(matched_event_ids or []),
        "isRecommended": False,
        "recommendationRank": None,
        "matchStatus": None,
        "matchScore": None,
        "matchTier": None,
        "matchReason": None,
        "categories": list(exhibitor.categories),
        "techStacks": list(exhibitor.tech_stacks),
        "buyingSignalTags": sorted({s.signal_tag for s in exhibitor.buying_signals}),
        "buyingSignalStatus": signal_status,
        "buyingSignals": _signals(exhibitor),
    }


def contact_item(
    person: PersonRecord, state: FakeState, *, list_view: bool = False
) -> dict[str, Any]:
    """ContactItem (§10.4) with this caller's email overlay.

    LinkedIn activity is populated only on personnel lists (``list_view``); profile
    and contact search always return nulls there, as documented.
    """
    email = state.email_state(person.id)
    activity, activity_status = None, None
    linkedin = state.linkedin.get(person.id) if list_view else None
    if linkedin is not None:
        activity_status = linkedin.status.value
        activity = linkedin.activity if linkedin.status is TimedStatus.READY else None
    return {
        "id": person.id,
        "fullName": person.full_name,
        "title": person.title,
        "department": person.department,
        "seniorityLevel": person.seniority_level,
        "linkedinUrl": person.linkedin_url,
        "companyName": person.company_name,
        "sourceType": person.source_type,
        "email": email.value if email.status == "unlocked" else None,
        "contactUnlockStatus": email.status,
        "linkedinActivity": activity,
        "linkedinActivityStatus": activity_status,
    }


@dataclass(frozen=True, slots=True)
class Gate:
    """Which rows of a gated list a request may see, and the page numbers to report."""

    start: int
    stop: int
    total: int
    total_pages: int
    has_more: bool
    semantics: dict[str, Any]


_GUIDANCE = {
    "full_access": "Full access: all matching results are available.",
    "no_matching_results": "No results match this query.",
    "preview_page_inaccessible": "This page is outside the preview window; unlock the event "
    "to see more results.",
    "preview_results_truncated": "Preview results are limited; unlock the event to see all "
    "matching results.",
    "preview_complete_for_query": "All matching results are visible in preview.",
}


def gate(
    actual_total: int, page: int, page_size: int, *, full: bool, action_type: str, credits: int
) -> Gate:
    """Apply §6 preview semantics to a list of ``actual_total`` matching rows.

    ``maxAccessiblePage`` is set explicitly as ``ceil(previewLimit / pageSize)``.
    """
    if full:
        return _full_gate(actual_total, page, page_size)
    visible = min(actual_total, PREVIEW_LIMIT)
    max_page = max(1, math.ceil(PREVIEW_LIMIT / page_size))
    accessible = page <= max_page
    start = (page - 1) * page_size
    total_pages = math.ceil(actual_total / page_size) if actual_total else 0
    if actual_total == 0:
        code = "no_matching_results"
    elif not accessible:
        code = "preview_page_inaccessible"
    elif actual_total > PREVIEW_LIMIT:
        code = "preview_results_truncated"
    else:
        code = "preview_complete_for_query"
    semantics = {
        "accessMode": "preview",
        "previewLimit": PREVIEW_LIMIT,
        "counts": {
            "actualTotal": actual_total,
            "visibleTotal": visible,
            "remainingLockedCount": actual_total - visible,
        },
        "pageState": {
            "requestedPage": page,
            "accessible": accessible,
            "maxAccessiblePage": max_page,
        },
        "unlock": {
            "requiredForMoreResults": actual_total > visible,
            "actionType": action_type,
            "credits": credits,
        },
        "guidance": {"code": code, "message": _GUIDANCE[code]},
    }
    if not accessible:
        return Gate(0, 0, 0, 0, False, semantics)
    stop = max(start, min(start + page_size, visible))
    return Gate(start, stop, actual_total, total_pages, page < total_pages, semantics)


def _full_gate(total: int, page: int, page_size: int) -> Gate:
    total_pages = math.ceil(total / page_size) if total else 0
    code = "full_access"
    semantics = {
        "accessMode": "full",
        "previewLimit": None,
        "counts": {"actualTotal": total, "visibleTotal": total, "remainingLockedCount": 0},
        "pageState": {
            "requestedPage": page,
            "accessible": True,
            "maxAccessiblePage": max(1, total_pages),
        },
        "unlock": {"requiredForMoreResults": False, "actionType": None, "credits": None},
        "guidance": {"code": code, "message": _GUIDANCE[code]},
    }
    start = (page - 1) * page_size
    stop = max(start, min(start + page_size, total))
    return Gate(start, stop, total, total_pages, page < total_pages, semantics)
