"""``client.personnel``: people of events, profiles, their events, outreach (two paid calls)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import TypedDict, Unpack

from lensmor_async._core import operations as ops
from lensmor_async._core.validation import (
    PERSONNEL_MAX_PAGE_SIZE,
    check_choice,
    check_date,
    check_id,
    check_ids,
    check_page,
    check_string_list,
    check_text,
)
from lensmor_async._intent import Intent
from lensmor_async.errors import InvalidRequestError
from lensmor_async.models import (
    Event,
    LinkedinActivityUnlockResult,
    Outreach,
    OutreachGenerationResult,
    Page,
    Person,
    PersonEvents,
)
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

_PERSON_PAGE = page_decoder(Person)
_EVENT_PAGE = page_decoder(Event)
_PERSON = model_decoder(Person)
_PERSON_EVENTS = model_decoder(PersonEvents)
_OUTREACH = model_decoder(Outreach)
_LINKEDIN = model_decoder(LinkedinActivityUnlockResult)
_GENERATION = model_decoder(OutreachGenerationResult)
PERSON_ATTENDANCE_SCOPES = ("all", "exhibitor_employee", "visitor")
OUTREACH_CHANNELS = ("email", "linkedin_message")
LINKEDIN_MESSAGE_TYPES = ("inmail", "connection_note", "connected_message")
BY_NAME_DEFAULT_START = "2026-01-01"
"""The server's default ``date_start_from`` of person events by name (0.27), sent explicitly."""
MAX_OUTREACH_BATCH = 2000
"""0.27: up to 2,000 personnel ids per generation request."""


SOURCE_TYPES = ("exhibitor", "social", "visitors")


def _source_types(value: Iterable[str] | str | None) -> str | None:
    """``sourceType`` as the comma-separated value the API documents."""
    types = check_string_list("source_type", value)
    if types is None:
        return None
    for item in types:
        check_choice("source_type", item, SOURCE_TYPES)
    return ",".join(types)


class PersonnelFilters(TypedDict, total=False):
    """Filters of :meth:`Personnel.list`, :meth:`Personnel.pages` and :meth:`Personnel.iterate`."""

    exhibitor_id: str | None
    """Only people of this exhibitor (numeric string)."""
    department: str | None
    """Department, case-insensitive (at most 100 characters)."""
    level: str | None
    """Seniority level (at most 50 characters)."""
    search_query: str | None
    """Matches role text or full name (at most 200 characters)."""
    source_type: Iterable[str] | str | None
    """Where people come from: ``exhibitor``, ``social``, ``visitors`` (0.24.2+; any of)."""


class Personnel(Resource):
    """People attending or exhibiting at events."""

    async def list(
        self,
        event_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        **filters: Unpack[PersonnelFilters],
    ) -> Page[Person]:
        """``GET /external/personnel/list``: preview-gated on locked events (``semantics``).

        ``page_size`` is 1–50 on this route (default 50). Filters: ``exhibitor_id``,
        ``department``, ``level``, ``search_query``, ``source_type`` (see
        :class:`PersonnelFilters`).
        """
        check_filter_names(filters, PersonnelFilters)
        check_page(page, page_size, max_page_size=PERSONNEL_MAX_PAGE_SIZE)
        exhibitor_id = filters.get("exhibitor_id")
        query = build_query(
            event_id=check_id("event_id", event_id),
            page=page,
            pageSize=page_size,
            exhibitor_id=None if exhibitor_id is None else check_id("exhibitor_id", exhibitor_id),
            department=check_text("department", filters.get("department"), max_length=100),
            level=check_text("level", filters.get("level"), max_length=50),
            search_query=check_text("search_query", filters.get("search_query")),
            sourceType=_source_types(filters.get("source_type")),
        )
        return await self._run(ops.PERSONNEL_LIST, _PERSON_PAGE, query=query)

    def pages(
        self, event_id: str, *, page_size: int | None = None, **filters: Unpack[PersonnelFilters]
    ) -> AsyncIterator[Page[Person]]:
        """Pages of :meth:`list`; stops at ``has_more == False`` or the preview window."""
        check_filter_names(filters, PersonnelFilters)
        check_id("event_id", event_id)
        check_page(1, page_size, max_page_size=PERSONNEL_MAX_PAGE_SIZE)
        return iter_pages(
            lambda number: self.list(event_id, page=number, page_size=page_size, **filters)
        )

    def iterate(
        self,
        event_id: str,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[PersonnelFilters],
    ) -> PageIterator[Person]:
        """People across pages (at most ``limit``); see ``PageIterator.last_page``."""
        return PageIterator(self.pages(event_id, page_size=page_size, **filters), limit)

    async def profile(self, personnel_id: str) -> Person:
        """``GET /external/personnel/profile``: one person."""
        query = build_query(personnel_id=check_id("personnel_id", personnel_id, max_length=20))
        return await self._run(ops.PERSONNEL_PROFILE, _PERSON, query=query)

    async def get(self, personnel_id: str) -> Person:
        """Alias of :meth:`profile`, named like ``client.events.get``."""
        return await self.profile(personnel_id)

    async def events(
        self,
        personnel_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[Event]:
        """``GET /external/personnel/events``: events one person is associated with."""
        check_page(page, page_size)
        query = build_query(
            personnel_id=check_id("personnel_id", personnel_id, max_length=20),
            page=page,
            pageSize=page_size,
            attendance_scope=check_choice(
                "attendance_scope", attendance_scope, PERSON_ATTENDANCE_SCOPES
            ),
        )
        return await self._run(ops.PERSONNEL_EVENTS, _EVENT_PAGE, query=query)

    async def events_by_linkedin(
        self,
        linkedin_url: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> PersonEvents:
        """``GET /external/personnel/events/by-linkedin``: a profile URL to person + events."""
        url = check_text("linkedin_url", linkedin_url, max_length=500, required=True) or ""
        if "linkedin.com/" not in url.lower():
            raise InvalidRequestError("linkedin_url must be a linkedin.com profile URL")
        check_page(page, page_size)
        query = build_query(
            linkedin_url=url,
            page=page,
            pageSize=page_size,
            attendance_scope=check_choice(
                "attendance_scope", attendance_scope, PERSON_ATTENDANCE_SCOPES
            ),
        )
        return await self._run(ops.PERSONNEL_BY_LINKEDIN, _PERSON_EVENTS, query=query)

    async def events_by_name(
        self,
        person_name: str,
        *,
        date_start_from: str | date = BY_NAME_DEFAULT_START,
        date_start_to: str | date | None = None,
        attendance_scope: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Event]:
        """``GET /external/personnel/events/by-name`` — PAID (50; 0 when nothing is found).

        Events of the people whose full name is exactly ``person_name`` (case-insensitive;
        0.27). ``date_start_from`` is always sent: the server's own default is
        2026-01-01, and this method makes it the visible default instead of a hidden one;
        pass an earlier date for older events. Needs a paid plan (else
        ``FeatureNotAvailableError`` or ``PermissionDeniedError``). At most 10 calls of
        this route are in flight per client (the API's per-user limit); more queue.
        """
        name = check_text("person_name", person_name, required=True) or ""
        check_page(page, page_size)
        start = check_date("date_start_from", date_start_from)
        if start is None:
            raise InvalidRequestError("date_start_from is required (default 2026-01-01)")
        end = check_date("date_start_to", date_start_to)
        scope = check_choice("attendance_scope", attendance_scope, PERSON_ATTENDANCE_SCOPES)
        query = build_query(
            person_name=name,
            attendance_scope=scope,
            date_start_from=start,
            date_start_to=end,
            page=page,
            pageSize=page_size,
        )
        # Each page and window is its own purchase; the API matches names case-insensitively.
        params = tuple((k, v) for k, v in query if k != "person_name")
        intent = Intent(
            operation=ops.PERSONNEL_EVENTS_BY_NAME.name,
            targets=(name.strip().casefold(),),
            params=tuple(sorted(params)),
        )
        return await self._run(
            ops.PERSONNEL_EVENTS_BY_NAME, _EVENT_PAGE, query=query, intent=intent
        )

    async def outreach(self, personnel_id: str, event_id: str) -> Outreach:
        """``GET /external/personnel/outreach``: the latest drafts (``found`` may be False)."""
        query = build_query(
            personnel_id=check_id("personnel_id", personnel_id, max_length=20),
            event_id=check_id("event_id", event_id, max_length=20),
        )
        return await self._run(ops.PERSONNEL_OUTREACH, _OUTREACH, query=query)

    async def unlock_linkedin_activity(
        self, personnel_ids: Iterable[str], *, event_id: str | None = None
    ) -> LinkedinActivityUnlockResult:
        """``POST /external/personnel/unlock-linkedin-activity`` — PAID (price not documented).

        An unknown price still needs confirmation; set it in the guard's ``CostTable``
        to use this route under a budget.
        """
        ids = check_ids("personnel_ids", personnel_ids)
        event = None if event_id is None else check_id("event_id", event_id, max_length=20)
        body = build_body(personnel_ids=list(ids), event_id=event)
        intent = Intent(
            operation=ops.PERSONNEL_UNLOCK_LINKEDIN.name, targets=tuple(sorted(ids)), event_id=event
        )
        return await self._run(ops.PERSONNEL_UNLOCK_LINKEDIN, _LINKEDIN, body=body, intent=intent)

    async def generate_outreach_message(
        self,
        personnel_ids: Iterable[str],
        *,
        channels: Iterable[str],
        event_id: str | None = None,
        linkedin_message_types: Iterable[str] | None = None,
        outreach_purpose: str | None = None,
    ) -> OutreachGenerationResult:
        """``POST /external/personnel/generate-outreach-message`` — free since 0.27.

        Up to 2,000 personnel ids. It still passes the guard (at the cost table's price,
        0 by default: no confirm, no hold); plans that charge set a price with
        ``CostTable.default().with_prices(personnel__generate_outreach_message=n)``.
        Generation is asynchronous; read results with :meth:`outreach`.
        """
        ids = check_ids("personnel_ids", personnel_ids, max_items=MAX_OUTREACH_BATCH)
        if isinstance(channels, str) or not isinstance(channels, Iterable):
            raise InvalidRequestError(f"channels must be a list drawn from {OUTREACH_CHANNELS}")
        chosen = tuple(dict.fromkeys(channels))
        if not chosen or any(c not in OUTREACH_CHANNELS for c in chosen):
            raise InvalidRequestError(f"channels must be a non-empty subset of {OUTREACH_CHANNELS}")
        types = None if linkedin_message_types is None else tuple(linkedin_message_types)
        if types is not None and any(t not in LINKEDIN_MESSAGE_TYPES for t in types):
            raise InvalidRequestError(
                f"linkedin_message_types must be among {LINKEDIN_MESSAGE_TYPES}"
            )
        event = None if event_id is None else check_id("event_id", event_id, max_length=20)
        body = build_body(
            personnel_ids=list(ids),
            channels=list(chosen),
            event_id=event,
            linkedin_message_types=None if types is None else list(types),
            outreach_purpose=check_text("outreach_purpose", outreach_purpose, max_length=500),
        )
        intent = Intent(
            operation=ops.PERSONNEL_GENERATE_OUTREACH.name,
            targets=tuple(sorted(ids)),
            event_id=event,
            params=(("channels", ",".join(sorted(chosen))),),
        )
        return await self._run(
            ops.PERSONNEL_GENERATE_OUTREACH, _GENERATION, body=body, intent=intent
        )
