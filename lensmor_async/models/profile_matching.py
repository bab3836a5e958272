"""Profile matching: recommended events (with page-level status) and recommended exhibitors.

Recommendation ids can be integers on the wire in some versions; they are ``str`` here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field, mapping_field, ms, wire
from lensmor_async.models.events import EventDetail
from lensmor_async.models.pagination import TYPED_PAGES, Page

__all__ = [
    "FALLBACK_CODE",
    "MATCH_STATUSES",
    "MATCH_TIERS",
    "RECOMMENDATION_STATUSES",
    "RecommendedEvent",
    "RecommendedEventPage",
    "RecommendedExhibitor",
    "RecommendedExhibitorPage",
]

RECOMMENDATION_STATUSES: Final = frozenset({"processing", "failed", "completed_empty", "completed"})
"""Known page ``status`` values of event recommendations (0.27: only the two completed)."""
MATCH_STATUSES: Final = frozenset({"pending_unlock", "processing", "ready", "failed"})
"""Known ``matchStatus`` values of recommended exhibitors."""
MATCH_TIERS: Final = frozenset({"top_match", "strong_match", "qualifying_match"})
"""Known ``matchTier`` values of recommended exhibitors."""
FALLBACK_CODE: Final = "AI_SEARCH_RESULT_MISMATCH"
"""Page ``code`` of recommended exhibitors in fallback mode."""


@attrs.frozen(kw_only=True)
class RecommendedEvent(EventDetail):
    """An event recommended for a buyer profile: event detail plus match data.

    The match fields are typed optional because the 1.0 OpenAPI does not promise them.
    """

    matched_exhibitor_count: int | None = attrs.field(
        default=None, metadata=wire("matched_exhibitor_count")
    )
    """Exhibitors matching the profile."""
    matched_personnel_count: int | None = attrs.field(
        default=None, metadata=wire("matched_personnel_count")
    )
    """People matching the profile."""
    match_score: float | None = attrs.field(default=None, metadata=wire("match_score"))
    """Match score 0–1."""
    unlocked: bool | None = None
    """The caller has base access to the event."""
    relevance_reason: str | None = None
    """Why it is relevant (``relevanceReason``)."""
    rank: int | None = None
    """One-based rank."""
    create_time: int | None = attrs.field(default=None, metadata=ms())
    """Creation time, epoch ms (string or integer on the wire; ``createTime``)."""
    update_time: int | None = attrs.field(default=None, metadata=ms())
    """Last update, epoch ms (``updateTime``)."""
    quality: str | None = None
    """Quality tier."""
    source_tags: tuple[str, ...] = ()
    """Source tags (``sourceTags``)."""
    visibility_status: int | None = None
    """Visibility status (``visibilityStatus``)."""
    preview_personnel_count: int | None = None
    """People visible in preview (``previewPersonnelCount``)."""


@attrs.frozen(kw_only=True)
class RecommendedEventPage(Page[RecommendedEvent]):
    """A page of recommended events with the recommendation's state.

    Further optional keys (``empty_reason``, ``failed_filters``, ``candidate_count``,
    ``suggestions``, ``parsed_filters_snapshot``, ``relaxed_conditions``) stay in ``extra``.
    """

    status: str | None = None
    """``completed``/``completed_empty`` (older: also ``processing``, ``failed``)."""
    condition_tags: Mapping[str, Any] | None = mapping_field("condition_tags")
    """The filters derived from the profile."""
    profile_version: int | None = attrs.field(default=None, metadata=wire("profile_version"))
    """Version of the buyer profile used."""
    active_result_version: int | None = attrs.field(
        default=None, metadata=wire("active_result_version")
    )
    """Version of the active result set."""
    is_stale: bool | None = attrs.field(default=None, metadata=wire("is_stale"))
    """The result is older than the current profile."""


@attrs.frozen(kw_only=True)
class RecommendedExhibitor(Model):
    """An exhibitor recommended for the caller's profile at one event."""

    id: str
    """Exhibitor id."""
    company_name: str | None = None
    """Company name (``companyName``)."""
    description: str | None = None
    """Company description."""
    logo: str | None = None
    """Logo URL."""
    website: str | None = None
    """Website URL."""
    country: str | None = None
    """Country."""
    industry: str | None = None
    """Industry."""
    categories: tuple[str, ...] = ()
    """Categories."""
    employee_count: int | None = None
    """Employees (``employeeCount``)."""
    company_size: str | None = None
    """Company size band (``companySize``)."""
    funding_round: str | None = None
    """Latest funding round (``fundingRound``)."""
    tech_stacks: tuple[str, ...] = ()
    """Technologies used (``techStacks``)."""
    is_recommended: bool | None = None
    """Recommended (``isRecommended``; ``None`` from 0.22 servers that omit it)."""
    recommendation_rank: int | None = None
    """Rank, from 1 (``recommendationRank``)."""
    match_status: str | None = None
    """See :data:`MATCH_STATUSES` (``matchStatus``)."""
    match_score: float | None = None
    """Match score (``matchScore``)."""
    match_tier: str | None = None
    """See :data:`MATCH_TIERS` (``matchTier``)."""
    reason: str | None = attrs.field(default=None, metadata=wire(aliases=("matchReason",)))
    """Why it is recommended (``reason``; older servers send ``matchReason``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class RecommendedExhibitorPage(Page[RecommendedExhibitor]):
    """A page of recommended exhibitors; in fallback mode ``items`` may be shorter than
    ``page_size`` while ``has_more`` is true."""

    recommendation_processing: bool | None = None
    """Recommendations are still being computed (``recommendationProcessing``)."""
    code: str | None = None
    """:data:`FALLBACK_CODE` in fallback mode, else ``None``."""
    show_refresh_hint: bool | None = attrs.field(default=None, metadata=wire("show_refresh_hint"))
    """Suggest refreshing later (fallback mode)."""

    @property
    def is_fallback(self) -> bool:
        """The server fell back to a non-AI result (``code == "AI_SEARCH_RESULT_MISMATCH"``)."""
        return self.code == FALLBACK_CODE


TYPED_PAGES[RecommendedEvent] = RecommendedEventPage
TYPED_PAGES[RecommendedExhibitor] = RecommendedExhibitorPage
