"""The sync client's resource groups: typed shims that run the async methods on the loop.

Each method has the async method's signature (``tests/test_sync_client.py`` compares them,
so they cannot drift) and one line of body: no logic lives here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from functools import partial
from typing import Any, Unpack

import lensmor_async.resources as _async
from lensmor_async._core.validation import MAX_UNLOCK_BATCH
from lensmor_async.models import (
    CreditBalance,
    Event,
    EventBrief,
    EventDetail,
    EventRanking,
    EventUnlockResult,
    Exhibitor,
    ExhibitorEventMatch,
    ExhibitorProfile,
    FitScore,
    FullAccessUnlockResult,
    LinkedinActivityUnlockResult,
    Outreach,
    OutreachGenerationResult,
    Page,
    Person,
    PersonEvents,
    PrecheckResult,
    RecommendedEventPage,
    RecommendedExhibitorPage,
    UnlockTask,
    VisitorUnlockResult,
)
from lensmor_async.resources.events import EventFilters
from lensmor_async.resources.exhibitors import ExhibitorFilters
from lensmor_async.resources.personnel import BY_NAME_DEFAULT_START, PersonnelFilters
from lensmor_async.sync._handles import SyncPageIterator, SyncUnlockTaskHandle
from lensmor_async.sync._portal import LoopThread, SyncIterator


class Actions:
    """``client.actions`` of the sync client: each method runs ``AsyncLensmor.actions``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Actions) -> None:
        self._loop = loop
        self._async = resource

    def precheck(
        self,
        action_type: str,
        params: Mapping[str, Any],
        *,
        locale: str | None = None,
        trace_id: str | None = None,
        conversation_id: str | None = None,
        channel_message_id: str | None = None,
    ) -> PrecheckResult:
        """``POST /external/actions/precheck``: advisory; it reserves nothing."""
        return self._loop.call(
            partial(
                self._async.precheck,
                action_type,
                params,
                locale=locale,
                trace_id=trace_id,
                conversation_id=conversation_id,
                channel_message_id=channel_message_id,
            )
        )


class Contacts:
    """``client.contacts`` of the sync client: each method runs ``AsyncLensmor.contacts``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Contacts) -> None:
        self._loop = loop
        self._async = resource

    def search(
        self,
        company_name: str,
        *,
        role: str | None = None,
        person_name: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Person]:
        """``GET /external/contacts/search`` (free; never unlocks data)."""
        return self._loop.call(
            partial(
                self._async.search,
                company_name,
                role=role,
                person_name=person_name,
                page=page,
                page_size=page_size,
            )
        )

    def unlock(
        self, *, personnel_ids: Iterable[str], event_id: str | None = None
    ) -> SyncUnlockTaskHandle:
        """``POST /external/contacts/unlock`` — PAID (15 credits per chargeable contact)."""
        return SyncUnlockTaskHandle(
            self._loop,
            self._loop.call(
                partial(self._async.unlock, personnel_ids=personnel_ids, event_id=event_id)
            ),
        )

    def unlock_phone(
        self, *, personnel_ids: Iterable[str], event_id: str | None = None
    ) -> SyncUnlockTaskHandle:
        """``POST /external/contacts/unlock-phone`` — PAID (150 per chargeable contact)."""
        return SyncUnlockTaskHandle(
            self._loop,
            self._loop.call(
                partial(self._async.unlock_phone, personnel_ids=personnel_ids, event_id=event_id)
            ),
        )

    def unlock_all(
        self,
        *,
        personnel_ids: Iterable[str],
        event_id: str | None = None,
        batch_size: int = MAX_UNLOCK_BATCH,
    ) -> list[SyncUnlockTaskHandle]:
        """Unlock any number of contacts' emails in guarded batches, confirmed once."""
        handles = self._loop.call(
            partial(
                self._async.unlock_all,
                personnel_ids=personnel_ids,
                event_id=event_id,
                batch_size=batch_size,
            )
        )
        return [SyncUnlockTaskHandle(self._loop, handle) for handle in handles]

    def get_unlock_task(self, task_id: str) -> UnlockTask:
        """``GET /external/contacts/unlock-tasks/{taskId}``: one poll of an email task."""
        return self._loop.call(partial(self._async.get_unlock_task, task_id))

    def get_phone_unlock_task(self, task_id: str) -> UnlockTask:
        """``GET /external/contacts/unlock-phone-tasks/{taskId}``: one poll of a phone task."""
        return self._loop.call(partial(self._async.get_phone_unlock_task, task_id))

    def unlock_task_handle(self, task_id: str, *, phone: bool = False) -> SyncUnlockTaskHandle:
        """Rebuild a handle from a ``task_id`` alone (e.g. after a restart)."""
        return SyncUnlockTaskHandle(
            self._loop, self._async.unlock_task_handle(task_id, phone=phone)
        )


class Credits:
    """``client.credits`` of the sync client: each method runs ``AsyncLensmor.credits``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Credits) -> None:
        self._loop = loop
        self._async = resource

    def balance(self) -> CreditBalance:
        """``GET /external/credits/balance``: subscription, gift and total balance."""
        return self._loop.call(self._async.balance)


class Events:
    """``client.events`` of the sync client: each method runs ``AsyncLensmor.events``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Events) -> None:
        self._loop = loop
        self._async = resource

    def list(
        self, *, page: int = 1, page_size: int | None = None, **filters: Unpack[EventFilters]
    ) -> Page[Event]:
        """``GET /external/events/list``: one page of the neutral event catalogue."""
        return self._loop.call(partial(self._async.list, page=page, page_size=page_size, **filters))

    def pages(
        self, *, page_size: int | None = None, **filters: Unpack[EventFilters]
    ) -> SyncIterator[Page[Event]]:
        """Pages of :meth:`list` with the same filters, until ``has_more`` is false."""
        return SyncIterator(self._loop, self._async.pages(page_size=page_size, **filters))

    def iterate(
        self,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[EventFilters],
    ) -> SyncPageIterator[Event]:
        """Events across pages (at most ``limit``), with the filters of :meth:`list`."""
        return SyncPageIterator(
            self._loop, self._async.iterate(limit=limit, page_size=page_size, **filters)
        )

    def get(self, event_id: str) -> EventDetail:
        """``GET /external/events/{id}``: full detail (``id`` or ``eventId`` accepted)."""
        return self._loop.call(partial(self._async.get, event_id))

    def brief(self, event_id: str) -> EventBrief:
        """``GET /external/events/brief``: a light summary with counts."""
        return self._loop.call(partial(self._async.brief, event_id))

    def fit_score(self, event_id: str) -> FitScore:
        """``POST /external/events/fit-score``: score one event against your profile."""
        return self._loop.call(partial(self._async.fit_score, event_id))

    def rank(self, event_ids: Iterable[str]) -> EventRanking:
        """``POST /external/events/rank``: order a shortlist by fit."""
        return self._loop.call(partial(self._async.rank, event_ids))

    def unlock(self, event_id: str) -> EventUnlockResult:
        """``POST /external/events/{id}/unlock`` — PAID (2000 credits; free if already unlocked)."""
        return self._loop.call(partial(self._async.unlock, event_id))

    def unlock_visitors(self, event_id: str) -> VisitorUnlockResult:
        """``POST /external/events/{id}/visitors/unlock`` — PAID (3000; free if already unlocked).

        Adds the registered Visitors (0.24+); needs base access and a paid plan.
        """
        return self._loop.call(partial(self._async.unlock_visitors, event_id))

    def unlock_full_access(self, event_id: str) -> FullAccessUnlockResult:
        """``POST /external/events/{id}/full-access/unlock`` — PAID (0–5000: missing layers)."""
        return self._loop.call(partial(self._async.unlock_full_access, event_id))


class Exhibitors:
    """``client.exhibitors`` of the sync client: each method runs ``AsyncLensmor.exhibitors``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Exhibitors) -> None:
        self._loop = loop
        self._async = resource

    def list(
        self,
        event_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> Page[Exhibitor]:
        """``GET /external/exhibitors/list``: preview-gated on locked events (see ``semantics``)."""
        return self._loop.call(
            partial(self._async.list, event_id, page=page, page_size=page_size, **filters)
        )

    def pages(
        self, event_id: str, *, page_size: int | None = None, **filters: Unpack[ExhibitorFilters]
    ) -> SyncIterator[Page[Exhibitor]]:
        """Pages of :meth:`list`; stops at ``has_more == False`` or the preview window."""
        return SyncIterator(self._loop, self._async.pages(event_id, page_size=page_size, **filters))

    def iterate(
        self,
        event_id: str,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> SyncPageIterator[Exhibitor]:
        """Exhibitors across pages (at most ``limit``); see ``PageIterator.last_page``."""
        return SyncPageIterator(
            self._loop, self._async.iterate(event_id, limit=limit, page_size=page_size, **filters)
        )

    def iterate_across_events(
        self,
        event_ids: Iterable[str],
        *,
        page_size: int | None = None,
        **filters: Unpack[ExhibitorFilters],
    ) -> SyncIterator[tuple[str, Exhibitor]]:
        """``(event_id, exhibitor)`` for every exhibitor of every event, event after event."""
        return SyncIterator(
            self._loop,
            self._async.iterate_across_events(event_ids, page_size=page_size, **filters),
        )

    def search(
        self,
        *,
        company_url: str | None = None,
        target_audience: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Exhibitor]:
        """``POST /external/exhibitors/search`` (free): by company URL and/or audience text."""
        return self._loop.call(
            partial(
                self._async.search,
                company_url=company_url,
                target_audience=target_audience,
                page=page,
                page_size=page_size,
            )
        )

    def search_by_company_name(
        self, company_name: str, *, page: int = 1, page_size: int | None = None
    ) -> Page[Exhibitor]:
        """``POST /external/exhibitors/search-by-company-name`` — PAID (50 credits per search)."""
        return self._loop.call(
            partial(
                self._async.search_by_company_name, company_name, page=page, page_size=page_size
            )
        )

    def search_events(
        self,
        company_name: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[ExhibitorEventMatch]:
        """``POST /external/exhibitors/search-events`` — PAID (50 credits per search)."""
        return self._loop.call(
            partial(
                self._async.search_events,
                company_name,
                page=page,
                page_size=page_size,
                attendance_scope=attendance_scope,
            )
        )

    def profile(self, exhibitor_id: str) -> ExhibitorProfile:
        """``GET /external/exhibitors/profile``: one exhibitor with its first 20 events."""
        return self._loop.call(partial(self._async.profile, exhibitor_id))

    def get(self, exhibitor_id: str) -> ExhibitorProfile:
        """Alias of :meth:`profile`, named like ``client.events.get``."""
        return self._loop.call(partial(self._async.get, exhibitor_id))

    def events(
        self,
        exhibitor_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[Event]:
        """``GET /external/exhibitors/events``: events of one exhibitor (``attendance_scope``
        ``all``/``exhibitor``/``visitor``, 0.27)."""
        return self._loop.call(
            partial(
                self._async.events,
                exhibitor_id,
                page=page,
                page_size=page_size,
                attendance_scope=attendance_scope,
            )
        )


class Personnel:
    """``client.personnel`` of the sync client: each method runs ``AsyncLensmor.personnel``'s."""

    def __init__(self, loop: LoopThread, resource: _async.Personnel) -> None:
        self._loop = loop
        self._async = resource

    def list(
        self,
        event_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        **filters: Unpack[PersonnelFilters],
    ) -> Page[Person]:
        """``GET /external/personnel/list``: preview-gated on locked events (``semantics``)."""
        return self._loop.call(
            partial(self._async.list, event_id, page=page, page_size=page_size, **filters)
        )

    def pages(
        self, event_id: str, *, page_size: int | None = None, **filters: Unpack[PersonnelFilters]
    ) -> SyncIterator[Page[Person]]:
        """Pages of :meth:`list`; stops at ``has_more == False`` or the preview window."""
        return SyncIterator(self._loop, self._async.pages(event_id, page_size=page_size, **filters))

    def iterate(
        self,
        event_id: str,
        *,
        limit: int | None = None,
        page_size: int | None = None,
        **filters: Unpack[PersonnelFilters],
    ) -> SyncPageIterator[Person]:
        """People across pages (at most ``limit``); see ``PageIterator.last_page``."""
        return SyncPageIterator(
            self._loop, self._async.iterate(event_id, limit=limit, page_size=page_size, **filters)
        )

    def profile(self, personnel_id: str) -> Person:
        """``GET /external/personnel/profile``: one person."""
        return self._loop.call(partial(self._async.profile, personnel_id))

    def get(self, personnel_id: str) -> Person:
        """Alias of :meth:`profile`, named like ``client.events.get``."""
        return self._loop.call(partial(self._async.get, personnel_id))

    def events(
        self,
        personnel_id: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> Page[Event]:
        """``GET /external/personnel/events``: events one person is associated with."""
        return self._loop.call(
            partial(
                self._async.events,
                personnel_id,
                page=page,
                page_size=page_size,
                attendance_scope=attendance_scope,
            )
        )

    def events_by_linkedin(
        self,
        linkedin_url: str,
        *,
        page: int = 1,
        page_size: int | None = None,
        attendance_scope: str | None = None,
    ) -> PersonEvents:
        """``GET /external/personnel/events/by-linkedin``: a profile URL to person + events."""
        return self._loop.call(
            partial(
                self._async.events_by_linkedin,
                linkedin_url,
                page=page,
                page_size=page_size,
                attendance_scope=attendance_scope,
            )
        )

    def events_by_name(
        self,
        person_name: str,
        *,
        date_start_from: str | date = BY_NAME_DEFAULT_START,
        date_start_to: str | date | None = None,
        attendance_scope: str | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> Page[Event]:
        """``GET /external/personnel/events/by-name`` — PAID (50; 0 when nothing is found)."""
        return self._loop.call(
            partial(
                self._async.events_by_name,
                person_name,
                date_start_from=date_start_from,
                date_start_to=date_start_to,
                attendance_scope=attendance_scope,
                page=page,
                page_size=page_size,
            )
        )

    def outreach(self, personnel_id: str, event_id: str) -> Outreach:
        """``GET /external/personnel/outreach``: the latest drafts (``found`` may be False)."""
        return self._loop.call(partial(self._async.outreach, personnel_id, event_id))

    def unlock_linkedin_activity(
        self, personnel_ids: Iterable[str], *, event_id: str | None = None
    ) -> LinkedinActivityUnlockResult:
        """``POST /external/personnel/unlock-linkedin-activity`` — PAID (price not documented)."""
        return self._loop.call(
            partial(self._async.unlock_linkedin_activity, personnel_ids, event_id=event_id)
        )

    def generate_outreach_message(
        self,
        personnel_ids: Iterable[str],
        *,
        channels: Iterable[str],
        event_id: str | None = None,
        linkedin_message_types: Iterable[str] | None = None,
        outreach_purpose: str | None = None,
    ) -> OutreachGenerationResult:
        """``POST /external/personnel/generate-outreach-message`` — free since 0.27."""
        return self._loop.call(
            partial(
                self._async.generate_outreach_message,
                personnel_ids,
                channels=channels,
                event_id=event_id,
                linkedin_message_types=linkedin_message_types,
                outreach_purpose=outreach_purpose,
            )
        )


class ProfileMatching:
    """``client.profile_matching`` of the sync client (runs the async methods)."""

    def __init__(self, loop: LoopThread, resource: _async.ProfileMatching) -> None:
        self._loop = loop
        self._async = resource

    def recommended_events(
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
        """``POST /external/profile-matching/actions/apply-recommended-events/paged``."""
        return self._loop.call(
            partial(
                self._async.recommended_events,
                company_url=company_url,
                target_audience=target_audience,
                page=page,
                page_size=page_size,
                timeout_ms=timeout_ms,
                auto_recommend_top3=auto_recommend_top3,
                city=city,
                region=region,
                country=country,
                category=category,
                event_type_ids=event_type_ids,
                date_start_from=date_start_from,
                date_start_to=date_start_to,
                future=future,
                attendee_count_min=attendee_count_min,
                attendee_count_max=attendee_count_max,
                linkedin_url=linkedin_url,
                company_description=company_description,
                industry=industry,
                target_industry=target_industry,
                planned_events=planned_events,
                target_management_level=target_management_level,
                target_job_titles=target_job_titles,
                legacy_route=legacy_route,
            )
        )

    def recommended_exhibitors(
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
        return self._loop.call(
            partial(
                self._async.recommended_exhibitors,
                event_id,
                page=page,
                page_size=page_size,
                location=location,
                search_query=search_query,
                exhibitor_name=exhibitor_name,
                category=category,
                industry=industry,
                employees_min=employees_min,
                employees_max=employees_max,
            )
        )
