"""Exhibitors: list/search items with buying signals, profiles, and reverse event search."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field, ms, wire
from lensmor_async.models.events import Event, EventRef

__all__ = [
    "BUYING_SIGNAL_STATUSES",
    "BuyingSignal",
    "Exhibitor",
    "ExhibitorEventMatch",
    "ExhibitorProfile",
    "MatchedExhibitor",
]

BUYING_SIGNAL_STATUSES: Final = frozenset({"ready", "processing", "pending"})
"""Known ``buyingSignalStatus`` values (``None`` on search routes); others kept as given."""


@attrs.frozen(kw_only=True)
class BuyingSignal(Model):
    """One analysed buying signal of an exhibitor (API 0.21+)."""

    signal_tag: str
    """Signal tag (``signalTag``)."""
    signal_score: float
    """Score 0–100 (``signalScore``)."""
    analyzed_at: int = attrs.field(metadata=ms())
    """When it was analysed, epoch ms (a digit string on the wire; ``analyzedAt``)."""
    signal_date: str | None = None
    """Date of the underlying event (``signalDate``)."""
    source_type: str | None = None
    """Kind of source (``sourceType``)."""
    source_title: str | None = None
    """Source title (``sourceTitle``)."""
    source_url: str | None = None
    """Source URL (``sourceUrl``)."""
    evidence_summary: str | None = None
    """Evidence summary (``evidenceSummary``)."""
    relevance_to_icp: str | None = None
    """Why it matters for the ideal customer profile (``relevanceToIcp``)."""
    recommended_play: str | None = None
    """Suggested sales play (``recommendedPlay``)."""
    confidence: str | None = None
    """``high``, ``medium`` or ``low`` (unknown values kept)."""
    direct_or_inferred: str | None = None
    """``direct`` or ``inferred`` (``directOrInferred``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Exhibitor(Model):
    """An exhibitor company (ExhibitorItem): list, search and recommendation results."""

    id: str
    """Exhibitor id (use it as ``exhibitor_id``)."""
    company_name: str | None = None
    """Company name (``companyName``)."""
    domain: str | None = None
    """Web domain."""
    description: str | None = None
    """Company description."""
    website: str | None = None
    """Website URL."""
    industry: str | None = None
    """Industry."""
    employee_count: int | None = None
    """Employees (``employeeCount``)."""
    country: str | None = None
    """Country."""
    logo: str | None = None
    """Logo URL."""
    data_source: str | None = None
    """Data source (``dataSource``)."""
    linkedin_url: str | None = None
    """Company LinkedIn URL (``linkedinUrl``)."""
    funding_round: str | None = None
    """Latest funding round (``fundingRound``)."""
    matched_event_ids: tuple[str, ...] = attrs.field(default=(), metadata=wire("matched_event_ids"))
    """Events (in the request's scope) this exhibitor matched; empty without scope."""
    is_recommended: bool | None = None
    """Recommended for the caller's profile (``isRecommended``)."""
    recommendation_rank: int | None = None
    """Recommendation rank (``recommendationRank``)."""
    match_status: str | None = None
    """Profile-match status (``matchStatus``)."""
    match_score: float | None = None
    """Profile-match score (``matchScore``)."""
    match_tier: str | None = None
    """Profile-match tier (``matchTier``)."""
    match_reason: str | None = None
    """Why it matched (``matchReason``)."""
    categories: tuple[str, ...] = ()
    """Categories."""
    tech_stacks: tuple[str, ...] = ()
    """Technologies used (``techStacks``)."""
    buying_signal_tags: tuple[str, ...] = ()
    """Buying-signal tags (``buyingSignalTags``, 0.21+)."""
    buying_signal_status: str | None = None
    """One of :data:`BUYING_SIGNAL_STATUSES` or ``None`` (``buyingSignalStatus``)."""
    buying_signals: tuple[BuyingSignal, ...] = ()
    """Analysed buying signals (``buyingSignals``, 0.21+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet (e.g. a nested personnel sample)."""


@attrs.frozen(kw_only=True)
class ExhibitorProfile(Exhibitor):
    """``GET /external/exhibitors/profile``: an exhibitor and its first 20 events."""

    events: tuple[EventRef, ...] = ()
    """First 20 associated events (not paginated)."""


@attrs.frozen(kw_only=True)
class MatchedExhibitor(Model):
    """An exhibitor record that made an event match a reverse search."""

    id: str
    """Exhibitor id."""
    company_name: str | None = None
    """Company name (``companyName``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class ExhibitorEventMatch(Event):
    """An item of ``POST /external/exhibitors/search-events`` (paid): an event and the
    exhibitor records of the searched company that attend it.

    :attr:`attendance_identity` (0.27) says whether the company exhibits or visits.
    """

    matched_exhibitors: tuple[MatchedExhibitor, ...] = ()
    """Admitted matches, most recent first (``matchedExhibitors``)."""
