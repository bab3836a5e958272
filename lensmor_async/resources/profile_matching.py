"""``client.profile_matching``: profile-aware event and exhibitor recommendations."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from lensmor_async._core import operations as ops
from lensmor_async._core.validation import (
    check_date,
    check_id,
    check_non_negative,
    check_page,
    check_string_list,
    check_text,
)
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models import (
    RecommendedEventPage,
    RecommendedExhibitorPage,
)
from lensmor_async.resources._base import Resource, build_body, build_query, model_decoder

_EVENTS = model_decoder(RecommendedEventPage)
_EXHIBITORS = model_decoder(RecommendedExhibitorPage)
_MIN_TIMEOUT_MS, _MAX_TIMEOUT_MS = 60_000, 3_600_000


def _timeout_ms(value: int | None) -> int | None:
    if value is not None and not _MIN_TIMEOUT_MS <= value <= _MAX_TIMEOUT_MS:
        raise InvalidRequestError("timeout_ms must be from 60000 to 3600000")
    return value


def _profile_context(**fields: str | tuple[str, ...] | None) -> dict[str, Any]:
    """The 0.27 profile-context body fields that were given (lists as JSON arrays)."""
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in fields.items()
        if value is not None
    }


class ProfileMatching(Resource):
    """Rank events and exhibitors against a buyer profile."""

    async def recommended_events(
        self,
        *,
        company_url: str | None = None,
        target_audience: str | None = None,
        page: int = 1,
        page_size: int | None = None,
        timeout_ms: int | None = None,
        auto_recommend_top3: bool | None = None,
        city: str | None = None,
        region: str | None = None,
        country: str | None = None,
        category: Iterable[str] | str | None = None,
        event_type_ids: Iterable[int] | None = None,
        date_start_from: str | date | None = None,
        date_start_to: str | date | None = None,
        future: int | None = None,
        attendee_count_min: int | None = None,
        attendee_count_max: int | None = None,
        linkedin_url: str | None = None,
        company_description: str | None = None,
        industry: str | None = None,
        target_industry: Iterable[str] | str | None = None,
        planned_events: str | None = None,
        target_management_level: Iterable[str] | str | None = None,
        target_job_titles: Iterable[str] | str | None = None,
        legacy_route: bool = False,
    ) -> RecommendedEventPage:
        """``POST /external/profile-matching/actions/apply-recommended-events/paged``.

        Synchronous and possibly slow (seconds). ``legacy_route=True`` uses the older
        ``recommendations/events/paged`` route kept for compatibility. The profile
        context fields (``linkedin_url``, ``company_description``, ``industry``,
        ``target_industry``, ``planned_events``, ``target_management_level``,
        ``target_job_titles``) are 0.27 additions; the server keeps the first five job
        titles.
        """
        if company_url is None and target_audience is None:
            raise InvalidRequestError("give company_url, target_audience, or both")
        check_page(page, page_size)
        categories = check_string_list("category", category)
        body: dict[str, Any] = build_body(
            company_url=check_text("company_url", company_url, max_length=500),
            target_audience=check_text("target_audience", target_audience, max_length=2000),
            page=page,
            pageSize=page_size,
            timeout_ms=_timeout_ms(timeout_ms),
            autoRecommendTop3EventsEnabled=auto_recommend_top3,
            city=check_text("city", city, max_length=100),
            region=check_text("region", region, max_length=100),
            country=check_text("country", country, max_length=100),
            category=None if categories is None else list(categories),
            eventTypeIds=None if event_type_ids is None else [int(i) for i in event_type_ids],
            dateStartFrom=check_date("date_start_from", date_start_from),
            dateStartTo=check_date("date_start_to", date_start_to),
            future=check_non_negative("future", future),
            attendeeCountMin=check_non_negative("attendee_count_min", attendee_count_min),
            attendeeCountMax=check_non_negative("attendee_count_max", attendee_count_max),
            **_profile_context(
                linkedin_url=check_text("linkedin_url", linkedin_url, max_length=500),
                company_description=check_text(
                    "company_description", company_description, max_length=2000
                ),
                industry=check_text("industry", industry, max_length=255),
                target_industry=check_string_list(
                    "target_industry", target_industry, max_length=255
                ),
                planned_events=check_text("planned_events", planned_events, max_length=500),
                target_management_level=check_string_list(
                    "target_management_level", target_management_level, max_length=100
                ),
                target_job_titles=check_string_list(
                    "target_job_titles", target_job_titles, max_length=255
                ),
            ),
        )
        operation = (
            ops.PM_LEGACY_RECOMMENDED_EVENTS if legacy_route else ops.PM_APPLY_RECOMMENDED_EVENTS
        )
        return await self._run(operation, _EVENTS, body=body)

    async def recommended_exhibitors(
        self,
        event_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        location: Iterable[str] | str | None = None,
        search_query: str | None = None,
        exhibitor_name: Iterable[str] | str | None = None,
        category: Iterable[str] | str | None = None,
        industry: Iterable[str] | str | None = None,
        employees_min: int | None = None,
        employees_max: int | None = None,
    ) -> RecommendedExhibitorPage:
        """``GET /external/profile-matching/recommendations/exhibitors`` for one event."""
        check_page(page, page_size)
        query = build_query(
            event_id=check_id("event_id", event_id),
            page=page,
            pageSize=page_size,
            location=check_string_list("location", location),
            searchQuery=check_text("search_query", search_query),
            exhibitorName=check_string_list("exhibitor_name", exhibitor_name),
            category=check_string_list("category", category),
            industry=check_string_list("industry", industry),
            employeesMin=check_non_negative("employees_min", employees_min),
            employeesMax=check_non_negative("employees_max", employees_max),
        )
        return await self._run(ops.PM_RECOMMENDED_EXHIBITORS, _EXHIBITORS, query=query)
