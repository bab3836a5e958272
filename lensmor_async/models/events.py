"""Events: catalogue items, detail, brief, fit score, ranking and the (paid) unlock results.

Dates (``dateStart``/``dateEnd``) stay ``YYYY-MM-DD`` strings: parsing them would cost
time on every list item and the SDK never computes with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import KIND_BALANCE_AFTER, extra_field, wire
from lensmor_async.models._sentinel import UNSET, UnsetType
from lensmor_async.models.credits import BalanceAfter, CreditBalance

__all__ = [
    "FIT_RECOMMENDATIONS",
    "Event",
    "EventBrief",
    "EventCategory",
    "EventDetail",
    "EventDetailResponse",
    "EventRanking",
    "EventRef",
    "EventSummary",
    "EventTypeInfo",
    "EventUnlockResult",
    "FitScore",
    "FitScoreBreakdown",
    "FullAccessUnlockResult",
    "RankedEvent",
    "VisitorUnlockResult",
]

FIT_RECOMMENDATIONS: Final = frozenset({"recommended", "consider", "not_recommended"})
"""Known fit-score ``recommendation`` values; unknown ones are kept as given."""


@attrs.frozen(kw_only=True)
class EventRef(Model):
    """A minimal event identity: ``{id, eventId, name}`` (unlock results, exhibitor profile)."""

    id: str
    """Internal event id."""
    event_id: str
    """Public event id (``eventId``; prefer it when storing)."""
    name: str | None = None
    """Event name."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Event(Model):
    """An event summary (EventItem): list, search and related-event items.

    Either :attr:`id` or :attr:`event_id` is accepted wherever the API takes an event id.
    """

    id: str
    """Internal event id."""
    event_id: str
    """Public event id (``eventId``); currently equal to ``id``. Prefer it when storing."""
    name: str | None = None
    """Event name."""
    nickname: str | None = None
    """Short or alternative name."""
    description: str | None = None
    """Free-text description."""
    url: str | None = None
    """Event website."""
    date_start: str | None = None
    """First day, ``YYYY-MM-DD`` (``dateStart``)."""
    date_end: str | None = None
    """Last day, ``YYYY-MM-DD`` (``dateEnd``)."""
    venue: str | None = None
    """Venue name."""
    city: str | None = None
    """City."""
    region: str | None = None
    """Region or state."""
    country: str | None = None
    """Country."""
    exhibitor_count: int | None = None
    """Number of exhibitors (``exhibitorCount``)."""
    image: str | None = None
    """Image URL."""
    data_source: str | None = None
    """Data source (``"Lensmor"`` from 0.24; older values ``database``, ``vendelux``…)."""
    has_visitors: bool | None = None
    """Visitor data exists (availability, not access; ``hasVisitors``, 0.24.2+)."""
    sponsor_match_starred: int | None = None
    """``0``/``1`` sponsor-match star (``sponsorMatchStarred``, 0.24.2+)."""
    attendance_identity: tuple[str, ...] = attrs.field(
        default=(), metadata=wire("attendance_identity")
    )
    """How the company/person attends (``exhibitor``, ``visitor``, ``exhibitor_employee``;
    0.27 related-event routes); empty when not sent."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet (e.g. ``attendeeCount`` on older list items)."""


@attrs.frozen(kw_only=True)
class EventCategory(Model):
    """One entry of ``EventDetail.categories``."""

    id: str | None = None
    """Category id (an integer on the wire, a string here)."""
    code: str | None = None
    """Category code."""
    name: str | None = None
    """Display name."""
    description: str | None = None
    """Description."""
    confidence: str | None = None
    """Classification confidence."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventTypeInfo(Model):
    """One entry of ``EventDetail.eventTypes``."""

    id: str | None = None
    """Event-type id (an integer on the wire, a string here)."""
    type_name: str | None = None
    """Display name (``typeName``)."""
    slug: str | None = None
    """Slug."""
    is_primary: bool | None = None
    """This is the event's primary type (``isPrimary``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventDetail(Event):
    """Full event detail (``GET /external/events/{id}``): every :class:`Event` field and more.

    Counts here are display metadata, not a statement about the caller's access.
    """

    latitude: str | None = None
    """Latitude as sent (a string)."""
    longitude: str | None = None
    """Longitude as sent (a string)."""
    attendee_count: int | None = None
    """Attendee count; ``None`` without personnel relations (``attendeeCount``)."""
    declared_expected_attendees: int | str | None = None
    """Declared attendance (a string on detail, an integer on recommendations)."""
    estimated_expected_attendees: str | None = None
    """Estimated attendance (``estimatedExpectedAttendees``)."""
    price_lower: str | None = None
    """Lowest ticket price as sent (``priceLower``)."""
    price_upper: str | None = None
    """Highest ticket price as sent (``priceUpper``)."""
    event_type: str | None = None
    """Event type label (``eventType``)."""
    categories: tuple[EventCategory, ...] = ()
    """Categories."""
    topics: tuple[str, ...] = ()
    """Topics."""
    topics_count: int | None = None
    """Number of topics (``topicsCount``)."""
    verified: int | None = None
    """Verified flag (0/1)."""
    future: int | None = None
    """Future-event flag (0/1)."""
    historic: int | None = None
    """Historic-event flag (0/1)."""
    historic_event: str | None = None
    """Reference to the historic edition (``historicEvent``)."""
    personnel_count: int | None = None
    """Personnel count; ``None`` without personnel relations (``personnelCount``)."""
    event_types: tuple[EventTypeInfo, ...] = ()
    """Typed event classification (``eventTypes``)."""


@attrs.frozen(kw_only=True)
class EventDetailResponse(Model):
    """The body of ``GET /external/events/{id}``: ``{"event": EventDetail}``."""

    event: EventDetail
    """The event."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventSummary(Model):
    """``summary`` of an event brief."""

    attendee_count: int | None = None
    """Attendee count (``attendeeCount``)."""
    exhibitor_count: int | None = None
    """Exhibitor count (``exhibitorCount``)."""
    top_categories: tuple[str, ...] = ()
    """Top categories (currently always empty; ``topCategories``)."""
    data_freshness: str | None = None
    """Freshness marker, e.g. ``"database_snapshot"`` (``dataFreshness``)."""
    personnel_count: int | None = None
    """Personnel count, when sent (``personnelCount``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventBrief(Model):
    """``GET /external/events/brief``: the event and a light summary."""

    event: Event
    """The event."""
    summary: EventSummary
    """Counts and freshness."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class FitScoreBreakdown(Model):
    """Score components, each 0–10."""

    __wire_snake__: ClassVar[bool] = True

    profile_match: float | None = None
    """How well the event matches the caller's profile."""
    matched_exhibitor_density: float | None = None
    """Density of matched exhibitors."""
    event_scale: float | None = None
    """Size of the event."""
    extra: Mapping[str, Any] = extra_field()
    """Other components this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class FitScore(Model):
    """``POST /external/events/fit-score``: one event scored against the caller's profile."""

    event: Event
    """The scored event."""
    score: float
    """Score 0–10 (≥7 recommended, 4–<7 consider, <4 not recommended)."""
    recommendation: str
    """One of :data:`FIT_RECOMMENDATIONS` (unknown values kept as given)."""
    breakdown: FitScoreBreakdown
    """Score components."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class RankedEvent(Model):
    """One entry of an event ranking."""

    __wire_snake__: ClassVar[bool] = True

    event_id: str
    """The event id as submitted."""
    rank: int
    """One-based rank."""
    match_score: float
    """Match score (two decimals)."""
    name: str | None = None
    """Event name."""
    reasons: tuple[str, ...] = ()
    """Reasons (currently always empty)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventRanking(Model):
    """``POST /external/events/rank``: the shortlist, best match first."""

    items: tuple[RankedEvent, ...]
    """Ranked events, descending score."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class EventUnlockResult(Model):
    """``POST /external/events/{id}/unlock`` (paid, 2000 credits).

    Repeating an unlock is free: ``already_unlocked`` is ``True``, ``credits_used`` is
    ``0`` and ``balance_after`` is ``None``.
    """

    success: bool
    """Always ``True`` when the unlock completed."""
    already_unlocked: bool
    """The caller already had base access; nothing was charged (``alreadyUnlocked``)."""
    credits_used: int
    """Credits charged, 2000 or 0 (``creditsUsed``)."""
    event: EventRef
    """The unlocked event."""
    balance_after: BalanceAfter | UnsetType | None = attrs.field(
        default=UNSET, metadata=wire(kind=KIND_BALANCE_AFTER)
    )
    """Balance after the charge; ``None`` when nothing was charged; ``UNSET`` when absent."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class VisitorUnlockResult(Model):
    """``POST /external/events/{id}/visitors/unlock`` (paid, 3000 credits; API 0.24+).

    Note the different names: the charge is ``creditsSpent`` and ``balanceAfter`` is a
    full :class:`CreditBalance`.
    """

    success: bool
    """Always ``True`` when the unlock completed."""
    already_unlocked: bool
    """Visitor data was already unlocked; nothing was charged (``alreadyUnlocked``)."""
    credits_spent: int
    """Credits charged (``creditsSpent``)."""
    event: EventRef
    """The event."""
    balance_after: CreditBalance | UnsetType | None = UNSET
    """Balance after the charge; ``None`` when nothing was charged; ``UNSET`` when absent."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class FullAccessUnlockResult(Model):
    """``POST /external/events/{id}/full-access/unlock`` (paid, 0–5000 credits; API 0.24+).

    Pays only for the layers (base, Visitor) that were still locked.
    """

    success: bool
    """Always ``True`` when the unlock completed."""
    already_unlocked: bool
    """Both layers were already unlocked (``alreadyUnlocked``)."""
    event_unlocked: bool
    """Base access is now unlocked (``eventUnlocked``)."""
    visitor_unlocked: bool
    """Visitor data is now unlocked (``visitorUnlocked``)."""
    visitor_skipped: bool
    """The Visitor layer was skipped (``visitorSkipped``)."""
    total_credits_used: int
    """Credits charged for all layers (``totalCreditsUsed``)."""
    event: EventRef
    """The event."""
    balance_after: BalanceAfter | UnsetType | None = attrs.field(
        default=UNSET, metadata=wire(kind=KIND_BALANCE_AFTER)
    )
    """Balance after the charge; ``None`` when nothing was charged; ``UNSET`` when absent."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""
