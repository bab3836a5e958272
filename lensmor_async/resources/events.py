"""``client.events``: the event catalogue, scoring, ranking and (paid) layer unlocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from datetime import date
from typing import Any, TypedDict, TypeVar, Unpack

from lensmor_async._core import operations as ops
from lensmor_async._core.operations import Operation
from lensmor_async._core.validation import (
    check_date,
    check_flag,
    check_id,
    check_ids,
    check_page,
    check_string_list,
    check_text,
)
from lensmor_async._intent import Intent
from lensmor_async.models import (
    Event,
    EventBrief,
    EventDetail,
    EventRanking,
    EventUnlockResult,
    FitScore,
    FullAccessUnlockResult,
    Page,
    VisitorUnlockResult,
)
from lensmor_async.models.converter import structure
from lensmor_async.resources._base import (
    PageIterator,
    Resource,
    build_query,
    check_filter_names,
    iter_pages,
    model_decoder,
    page_decoder,
)

T = TypeVar("T")
_EVENT_PAGE = page_decoder(Event)
_BRIEF = model_decoder(EventBrief)
_FIT = model_decoder(FitScore)
_RANKING = model_decoder(EventRanking)
_UNLOCK = model_decoder(EventUnlockResult)
_VISITORS = model_decoder(VisitorUnlockResult)
_FULL_ACCESS = model_decoder(FullAccessUnlockResult)
MAX_RANKED = 100
"""Events one rank request may order (the server refuses more)."""


def _detail(data: object) -> EventDetail:
    # The detail route wraps the event: {"event": {...}}.
    inner = data.get("event") if isinstance(data, dict) else data
    return structure(inner, EventDetail)


class EventFilters(TypedDict, total=False):
    """Filters of :meth:`Events.list`, :meth:`Events.pages` and :meth:`Events.iterate`."""

    keyword: str | None
    country: str | None
    city: str | None
    date_start_from: str | date | None
    """Inclusive lower bound of the start date (``YYYY-MM-DD`` or a ``date``)."""
    date_start_to: str | date | None
    """Inclusive upper bound of the start date."""
    event_type: Iterable[str] | str | None
    quality: Iterable[str] | str | None
    has_visitors: bool | None
    """Only events with (True) or without registered Visitor data (0.24.2+)."""
    sponsor_match_starred: bool | None
    """Only events starred (True) or not starred as a sponsor match (0.24+)."""


class Events(Resource):
    """Find, inspect, score and unlock events."""

    async def list(
        self, *, page: int = 1, page_size: int | None = None, **filters: Unpack[EventFilters]
    ) -> Page[Event]:
        """``GET /external/events/list``: one page of the neutral event catalogue.

        Filters: see :class:`EventFilters`.
        """
        check_filter_names(filters, EventFilters)
        check_page(page, page_size)
        query = build_query(
            page=page,
            pageSize=page_size,
            keyword=check_text("keyword", filters.get("keyword")),
            country=check_text("country", filters.get("country"), max_length=100),
            city=check_text("city", filters.get("city"), max_length=100),
            date_start_from=check_date("date_start_from", filters.get("date_start_from")),
            date_start_to=check_date("date_start_to", filters.get("date_start_to")),
            event_type=check_string_list("event_type", filters.get("event_type")),
            quality=check_string_list("quality", filters.get("quality")),
            has_visitors=check_flag("has_visitors", filters.get("has_visitors")),
            sponsor_match_starred=check_flag(
                "sponsor_match_starred", filters.get("sponsor_match_starred")
            ),
        )
        return await self._run(ops.EVENTS_LIST, _EVENT_PAGE, query=query)

    def pages(
        self, *, page_size: int | None = None, **filters: Unpack[EventFilters]
    ) -> AsyncIterator[Page[Event]]:
        """Pages of :meth:`list` with the same filters, until ``has_more`` is false."""
        check_filter_names(filters, EventFilters)
        check_page(1, page_size)
        return iter_pages(lambda number: self.list(page=number, page_size=page_size, **filters))

    def iterate(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> PageIterator[Event]:
        """Events across pages (at most ``limit``), with the filters of :meth:`list`."""
        return PageIterator(self.pages(page_size=page_size, **filters), limit)

    async def get(self, event_id: str) -> EventDetail:
        """``GET /external/events/{id}``: full detail (``id`` or ``eventId`` accepted)."""
        event_id = check_id("event_id", event_id)
        return await self._run(ops.EVENTS_GET, _detail, path=f"/external/events/{event_id}")

    async def brief(self, event_id: str) -> EventBrief:
        """``GET /external/events/brief``: a light summary with counts."""
        query = build_query(event_id=check_id("event_id", event_id))
        return await self._run(ops.EVENTS_BRIEF, _BRIEF, query=query)

    async def fit_score(self, event_id: str) -> FitScore:
        """``POST /external/events/fit-score``: score one event against your profile."""
        body = {"event_id": check_id("event_id", event_id)}
        return await self._run(ops.EVENTS_FIT_SCORE, _FIT, body=body)

    async def rank(self, event_ids: Iterable[str]) -> EventRanking:
        """``POST /external/events/rank``: order a shortlist by fit."""
        body = {"event_ids": list(check_ids("event_ids", event_ids, max_items=MAX_RANKED))}
        return await self._run(ops.EVENTS_RANK, _RANKING, body=body)

    async def unlock(self, event_id: str) -> EventUnlockResult:
        """``POST /external/events/{id}/unlock`` — PAID (2000 credits; free if already unlocked).

        Runs through the CreditGuard: quote, check, reserve, confirm, execute once,
        settle, refresh. Raises ``ConfirmationRequiredError`` when no confirm callback
        is configured. Unlocks the base layer only, not the Visitor layer.
        """
        return await self._unlock_layer(ops.EVENTS_UNLOCK, _UNLOCK, event_id)

    async def unlock_visitors(self, event_id: str) -> VisitorUnlockResult:
        """``POST /external/events/{id}/visitors/unlock`` — PAID (3000; free if already unlocked).

        Adds the registered Visitors (0.24+). Needs base access (else ``ConflictError``),
        a paid plan (else ``FeatureNotAvailableError``) and Visitor data for the event.
        """
        return await self._unlock_layer(ops.EVENTS_UNLOCK_VISITORS, _VISITORS, event_id)

    async def unlock_full_access(self, event_id: str) -> FullAccessUnlockResult:
        """``POST /external/events/{id}/full-access/unlock`` — PAID (0–5000: missing layers).

        Base and Visitor layers in one atomic step (0.24+); only layers still locked are
        paid for (2000 base, 3000 Visitors). Without a paid plan: ``FeatureNotAvailableError``.
        """
        return await self._unlock_layer(ops.EVENTS_UNLOCK_FULL_ACCESS, _FULL_ACCESS, event_id)

    async def _unlock_layer(
        self, operation: Operation, decode: Callable[[Any], T], event_id: str
    ) -> T:
        event_id = check_id("event_id", event_id)
        intent = Intent(operation=operation.name, targets=(event_id,), event_id=event_id)
        path = operation.route.replace("{id}", event_id)
        return await self._run(operation, decode, path=path, intent=intent)
