"""Operation descriptors: the one table that says what each API call is.

The pipeline reads these to decide how to send (method, route, success status),
whether the guard must run (``paid``), what it costs (``cost_key`` into the cost
table) and which precheck ``action_type`` can refine a quote.
"""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class Operation:
    """A static description of one API route as the SDK calls it."""

    name: str
    """Stable dotted name, e.g. ``events.unlock``; used in logs, quotes and intents."""
    method: str
    route: str
    """Path template, e.g. ``/external/events/{id}/unlock``; never contains real ids."""
    success_status: int = 200
    paid: bool = False
    precheck_action: str | None = None
    """The ``action_type`` that precheck understands for this operation, if any."""
    credit_relevant: bool = False
    """Send ``x-call-source`` (credit attribution)."""
    max_in_flight: int | None = None
    """The API's per-user concurrency limit of this route (0.27): more calls queue."""


def _free(name: str, method: str, route: str, status: int = 200) -> Operation:
    return Operation(name=name, method=method, route=route, success_status=status)


def _paid(name: str, route: str, precheck: str | None = None) -> Operation:
    return Operation(
        name=name,
        method="POST",
        route=route,
        success_status=201,
        paid=True,
        precheck_action=precheck,
        credit_relevant=True,
    )


USER_CONCURRENCY_LIMIT = 10
"""Calls of a concurrency-limited route one user may have in flight (0.27)."""

CREDITS_BALANCE = _free("credits.balance", "GET", "/external/credits/balance")
ACTIONS_PRECHECK = _free("actions.precheck", "POST", "/external/actions/precheck")

EVENTS_LIST = _free("events.list", "GET", "/external/events/list")
EVENTS_GET = _free("events.get", "GET", "/external/events/{id}")
EVENTS_BRIEF = _free("events.brief", "GET", "/external/events/brief")
EVENTS_FIT_SCORE = _free("events.fit_score", "POST", "/external/events/fit-score", 201)
EVENTS_RANK = _free("events.rank", "POST", "/external/events/rank", 201)
EVENTS_UNLOCK = _paid("events.unlock", "/external/events/{id}/unlock", "unlock_event_contacts")
EVENTS_UNLOCK_VISITORS = _paid(
    "events.unlock_visitors", "/external/events/{id}/visitors/unlock", "unlock_event_visitors"
)
EVENTS_UNLOCK_FULL_ACCESS = _paid(
    "events.unlock_full_access",
    "/external/events/{id}/full-access/unlock",
    "unlock_event_full_access",
)

EXHIBITORS_LIST = _free("exhibitors.list", "GET", "/external/exhibitors/list")
EXHIBITORS_SEARCH = _free("exhibitors.search", "POST", "/external/exhibitors/search", 201)
EXHIBITORS_PROFILE = _free("exhibitors.profile", "GET", "/external/exhibitors/profile")
EXHIBITORS_EVENTS = _free("exhibitors.events", "GET", "/external/exhibitors/events")
EXHIBITORS_SEARCH_BY_COMPANY = _paid(
    "exhibitors.search_by_company_name", "/external/exhibitors/search-by-company-name"
)
EXHIBITORS_SEARCH_EVENTS = attrs.evolve(
    _paid(
        "exhibitors.search_events", "/external/exhibitors/search-events", "search_exhibitor_events"
    ),
    max_in_flight=USER_CONCURRENCY_LIMIT,
)

PERSONNEL_LIST = _free("personnel.list", "GET", "/external/personnel/list")
PERSONNEL_PROFILE = _free("personnel.profile", "GET", "/external/personnel/profile")
PERSONNEL_EVENTS = _free("personnel.events", "GET", "/external/personnel/events")
PERSONNEL_BY_LINKEDIN = _free(
    "personnel.events_by_linkedin", "GET", "/external/personnel/events/by-linkedin"
)
PERSONNEL_EVENTS_BY_NAME = Operation(
    name="personnel.events_by_name",
    method="GET",  # a paid GET, answered 200
    route="/external/personnel/events/by-name",
    paid=True,
    precheck_action="search_personnel_events_by_name",
    credit_relevant=True,
    max_in_flight=USER_CONCURRENCY_LIMIT,
)
PERSONNEL_OUTREACH = _free("personnel.outreach", "GET", "/external/personnel/outreach")
PERSONNEL_UNLOCK_LINKEDIN = _paid(
    "personnel.unlock_linkedin_activity", "/external/personnel/unlock-linkedin-activity"
)
PERSONNEL_GENERATE_OUTREACH = _paid(
    "personnel.generate_outreach_message", "/external/personnel/generate-outreach-message"
)

CONTACTS_SEARCH = _free("contacts.search", "GET", "/external/contacts/search")
CONTACTS_UNLOCK = _paid("contacts.unlock", "/external/contacts/unlock", "unlock_contact_emails")
CONTACTS_UNLOCK_TASK = _free(
    "contacts.get_unlock_task", "GET", "/external/contacts/unlock-tasks/{id}"
)
CONTACTS_UNLOCK_PHONE = _paid(
    "contacts.unlock_phone", "/external/contacts/unlock-phone", "unlock_contact_phones"
)
CONTACTS_PHONE_TASK = _free(
    "contacts.get_phone_unlock_task", "GET", "/external/contacts/unlock-phone-tasks/{id}"
)

PM_APPLY_RECOMMENDED_EVENTS = _free(
    "profile_matching.recommended_events",
    "POST",
    "/external/profile-matching/actions/apply-recommended-events/paged",
    201,
)
PM_LEGACY_RECOMMENDED_EVENTS = _free(
    "profile_matching.legacy_recommended_events",
    "POST",
    "/external/profile-matching/recommendations/events/paged",
    201,
)
PM_RECOMMENDED_EXHIBITORS = _free(
    "profile_matching.recommended_exhibitors",
    "GET",
    "/external/profile-matching/recommendations/exhibitors",
)

PAID_OPERATIONS: tuple[Operation, ...] = (
    EVENTS_UNLOCK,
    EVENTS_UNLOCK_VISITORS,
    EVENTS_UNLOCK_FULL_ACCESS,
    PERSONNEL_EVENTS_BY_NAME,
    CONTACTS_UNLOCK,
    CONTACTS_UNLOCK_PHONE,
    EXHIBITORS_SEARCH_BY_COMPANY,
    EXHIBITORS_SEARCH_EVENTS,
    PERSONNEL_UNLOCK_LINKEDIN,
    PERSONNEL_GENERATE_OUTREACH,
)


@attrs.frozen(slots=True)
class TaskKind:
    """Email or phone unlock: which routes to call and which value an item carries."""

    name: str
    operation: Operation
    poll_operation: Operation
    value_field: str

    @property
    def phone(self) -> bool:
        return self.name == "phone"


EMAIL = TaskKind("email", CONTACTS_UNLOCK, CONTACTS_UNLOCK_TASK, "email")
PHONE = TaskKind("phone", CONTACTS_UNLOCK_PHONE, CONTACTS_PHONE_TASK, "phone")
