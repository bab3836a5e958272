"""``client.exhibitors``: exhibitors of an event, searches (two are paid), profiles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TypedDict, Unpack

from lensmor_async._core import operations as ops
from lensmor_async._core.validation import (
    check_choice,
    check_id,
    check_non_negative,
    check_page,
    check_string_list,
    check_text,
)
from lensmor_async._intent import Intent
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models import Event, Exhibitor, ExhibitorEventMatch, ExhibitorProfile, Page
from lensmor_async.resources._base import (
    PageIterator,
    Resource,
    build_body,
    build_query,
    check_filter_names,
    iter_pages,
    model_decoder,
    page_decoder,
)

_EXHIBITOR_PAGE = page_decoder(Exhibitor)
_EVENT_PAGE = page_decoder(Event)
_MATCH_PAGE = page_decoder(ExhibitorEventMatch)
_PROFILE = model_decoder(ExhibitorProfile)
ATTENDANCE_SCOPES = ("all", "exhibitor", "visitor")


def _company_intent(operation: str, company_name: str, page: int, page_size: int | None) -> Intent:
    # Each page of a paid search is its own purchase; the name is case-folded because
    # the API normalises it before matching.
    params = (("page", str(page)), ("page_size", str(page_size or 20)))
    return Intent(operation=operation, targets=(company_name.strip().casefold(),), params=params)


class ExhibitorFilters(TypedDict, total=False):
    """Filters of :meth:`Exhibitors.list` and its ``pages``/``iterate``."""

    keyword: str | None
    country: str | None
    category: Iterable[str] | str | None
    industry: Iterable[str] | str | None
    job_title: Iterable[str] | str | None
    management_level: Iterable[str] | str | None
    """e.g. ``vp``, ``c_suite``."""
    department: Iterable[str] | str | None
    """e.g. ``marketing``, ``sales``."""
    personnel_limit: int | None
    """Best-effort nested personnel sample per exhibitor (0 or None: none)."""


class Exhibitors(Resource):
    """Exhibitors of events, contextual and paid company searches, and profiles."""

    async def list(
        self,
        event_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> Page[Exhibitor]:
        """``GET /external/exhibitors/list``: preview-gated on locked events (see ``semantics``).

        Filters: see :class:`ExhibitorFilters`.
        """
        check_filter_names(filters, ExhibitorFilters)
        check_page(page, page_size)
        query = build_query(
            event_id=check_id("event_id", event_id),
            page=page,
            pageSize=page_size,
            keyword=check_text("keyword", filters.get("keyword")),
            country=check_text("country", filters.get("country"), max_length=100),
            category=check_string_list("category", filters.get("category")),
            industry=check_string_list("industry", filters.get("industry")),
            jobTitle=check_string_list("job_title", filters.get("job_title")),
            managementLevel=check_string_list("management_level", filters.get("management_level")),
            department=check_string_list("department", filters.get("department")),
            personnelLimit=check_non_negative("personnel_limit", filters.get("personnel_limit")),
        )
        return await self._run(ops.EXHIBITORS_LIST, _EXHIBITOR_PAGE, query=query)

    def pages(
        self, event_id: str, *, page_size: int | None = None, **filters: Unpack[ExhibitorFilters]
    ) -> AsyncIterator[Page[Exhibitor]]:
        """Pages of :meth:`list`; stops at ``has_more == False`` or the preview window."""
        check_filter_names(filters, ExhibitorFilters)
        check_id("event_id", event_id)
        check_page(1, page_size)
        return iter_pages(
            lambda number: self.list(event_id, page=number, page_size=page_size, **filters)
        )

    def iterate(
        self,
        event_id: str,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> PageIterator[Exhibitor]:
        """Exhibitors across pages (at most ``limit``); see ``PageIterator.last_page``."""
        return PageIterator(self.pages(event_id, page_size=page_size, **filters), limit)

    async def iterate_across_events(
        self,
        event_ids: Iterable[str],
        *,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> AsyncIterator[tuple[str, Exhibitor]]:
        """``(event_id, exhibitor)`` for every exhibitor of every event, event after event.

        Each event is read as :meth:`iterate` reads it (so a locked event stops at its
        preview window). Every id is checked before the first request.
        """
        check_filter_names(filters, ExhibitorFilters)
        ids = [check_id("event_id", event_id) for event_id in _as_list(event_ids)]
        check_page(1, page_size)
        for event_id in ids:
            async for exhibitor in self.iterate(event_id, page_size=page_size, **filters):
                yield event_id, exhibitor

    async def search(
        self,
        *,
        company_url: str | None = None,
        target_audience: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Exhibitor]:
        """``POST /external/exhibitors/search`` (free): by company URL and/or audience text."""
        if company_url is None and target_audience is None:
            raise InvalidRequestError("give company_url, target_audience, or both")
        if company_url is not None and not company_url.startswith(("http://", "https://")):
            raise InvalidRequestError("company_url must be a public http(s) URL")
        check_page(page, page_size)
        body = build_body(
            company_url=check_text("company_url", company_url, max_length=500),
            target_audience=check_text("target_audience", target_audience, max_length=2000),
            page=page,
            pageSize=page_size,
        )
        return await self._run(ops.EXHIBITORS_SEARCH, _EXHIBITOR_PAGE, body=body)

    async def search_by_company_name(
        self, company_name: str, *, page: int = 1, page_size: int | None = None
    ) -> Page[Exhibitor]:
        """``POST /external/exhibitors/search-by-company-name`` — PAID (50 credits per search)."""
        name = check_text("company_name", company_name, required=True) or ""
        check_page(page, page_size)
        body = build_body(company_name=name, page=page, pageSize=page_size)
        intent = _company_intent(ops.EXHIBITORS_SEARCH_BY_COMPANY.name, name, page, page_size)
        return await self._run(
            ops.EXHIBITORS_SEARCH_BY_COMPANY, _EXHIBITOR_PAGE, body=body, intent=intent
        )

    async def search_events(
        self,
        company_name: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[ExhibitorEventMatch]:
        """``POST /external/exhibitors/search-events`` — PAID (50 credits per search).

        Reverse lookup: the events where a company exhibits.
        """
        name = check_text("company_name", company_name, required=True) or ""
        check_page(page, page_size)
        body = build_body(
            company_name=name,
            page=page,
            pageSize=page_size,
            attendance_scope=check_choice("attendance_scope", attendance_scope, ATTENDANCE_SCOPES),
        )
        intent = _company_intent(ops.EXHIBITORS_SEARCH_EVENTS.name, name, page, page_size)
        return await self._run(ops.EXHIBITORS_SEARCH_EVENTS, _MATCH_PAGE, body=body, intent=intent)

    async def profile(self, exhibitor_id: str) -> ExhibitorProfile:
        """``GET /external/exhibitors/profile``: one exhibitor with its first 20 events."""
        query = build_query(exhibitor_id=check_id("exhibitor_id", exhibitor_id))
        return await self._run(ops.EXHIBITORS_PROFILE, _PROFILE, query=query)

    async def get(self, exhibitor_id: str) -> ExhibitorProfile:
        """Alias of :meth:`profile`, named like ``client.events.get``."""
        return await self.profile(exhibitor_id)

    async def events(
        self,
        exhibitor_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[Event]:
        """``GET /external/exhibitors/events``: events of one exhibitor (``attendance_scope``
        ``all``/``exhibitor``/``visitor``, 0.27)."""
        check_page(page, page_size)
        query = build_query(
            exhibitor_id=check_id("exhibitor_id", exhibitor_id),
            page=page,
            pageSize=page_size,
            attendance_scope=check_choice("attendance_scope", attendance_scope, ATTENDANCE_SCOPES),
        )
        return await self._run(ops.EXHIBITORS_EVENTS, _EVENT_PAGE, query=query)


def _as_list(event_ids: Iterable[str]) -> list[str]:
    if isinstance(event_ids, str):  # one id given bare would iterate its characters
        raise InvalidRequestError("event_ids must be a list of ids, not one string")
    return list(event_ids)
