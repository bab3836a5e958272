"""Mutable server state of the fake: catalogue, access, balances, tasks and charges.

Everything that costs credits goes through :meth:`FakeState.charge_batch` (which is
all-or-nothing and writes the :class:`~lensmor_async.testing.TruthLedger`) and
:meth:`FakeState.refund`. The checks that decide *whether* a paid action may run are
``assess_*`` methods shared by the paid routes and by ``POST /external/actions/precheck``,
so the precheck can never disagree with what the route would do.

Fake policies where the real API is undocumented (REFERENCE §13), chosen once here:

* Email and phone unlocks charge every chargeable contact **at submission**; items
  that end ``failed`` are **refunded when the task completes** (one refund entry per
  contact, back to the buckets the charge came from). Unlocked items without an
  email/phone are *not* refunded: the lookup ran, it just found nothing.
* A task whose items all failed ends ``taskStatus: failed``; otherwise ``completed``.
* Subscription credits are spent before gift credits (documented).

All methods run on the server's event loop; none of them awaits, so a check and the
charge that follows it can never interleave with another request.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from lensmor_async.errors import LensmorError
from lensmor_async.testing._data import (
    EventRecord,
    ExhibitorRecord,
    PersonRecord,
    SeedWorld,
    UnlockOutcome,
    build_world,
    linkedin_slug,
    make_person,
    unlock_outcome,
)
from lensmor_async.testing._truth import Intent, TruthEntry, TruthLedger

__all__ = [
    "MAX_UNLOCK_BATCH",
    "PREVIEW_LIMIT",
    "ApiRefusal",
    "Balance",
    "ContactUnlockAssessment",
    "EventUnlockAssessment",
    "FakeState",
    "LayerAssessment",
    "Prices",
    "RequestContext",
    "Roster",
    "TaskItem",
    "UnlockTask",
]

PREVIEW_LIMIT = 50
"""Rows a caller may see of a locked event's lists."""
MAX_UNLOCK_BATCH = 2000
"""0.24+ limit of ``personnel_ids`` on email/phone unlock (more: 422)."""


def lead_selection_limit(requested: int) -> ApiRefusal:
    """422 ``LEAD_SELECTION_LIMIT_EXCEEDED`` for a batch over :data:`MAX_UNLOCK_BATCH`."""
    refusal = ApiRefusal(
        422,
        "LEAD_SELECTION_LIMIT_EXCEEDED",
        f"At most {MAX_UNLOCK_BATCH} contacts can be selected at once",
    )
    refusal.details = {
        "requestedCount": requested,
        "limit": MAX_UNLOCK_BATCH,
        "selectionMode": "selected",
    }
    return refusal


class ApiRefusal(LensmorError):
    """An API error answer (status + errorKey). Raised inside the server only.

    Route handlers raise it; the error middleware turns it into the documented
    ``{code, message, errorKey, traceId}`` envelope. It never reaches API users.
    """

    def __init__(
        self, status: int, error_key: str, message: str, *, http_status: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_key = error_key
        self.message = message
        self.http_status = status if http_status is None else http_status
        """The HTTP status of the answer: 200 for 0.24+ business envelopes."""
        self.details: Any = None
        """The envelope's ``details`` (0.27), when the refusal has any."""


def invalid(message: str) -> ApiRefusal:
    """A 400 ``INVALID_REQUEST`` refusal."""
    return ApiRefusal(400, "INVALID_REQUEST", message)


def not_found(message: str, key: str = "NOT_FOUND") -> ApiRefusal:
    """A 404 refusal."""
    return ApiRefusal(404, key, message)


def event_not_found() -> ApiRefusal:
    """404 ``EVENT_NOT_FOUND`` for an unknown event id."""
    return not_found("Event not found", "EVENT_NOT_FOUND")


def insufficient_credits() -> ApiRefusal:
    """402 ``INSUFFICIENT_CREDITS``; nothing was charged."""
    return ApiRefusal(402, "INSUFFICIENT_CREDITS", "Insufficient credits")


def feature_not_available() -> ApiRefusal:
    """HTTP 200 carrying ``{code: 400, errorKey: USER_HAS_NO_FEATURE}`` (0.24+ plan refusal)."""
    message = "Your plan does not include this feature"
    return ApiRefusal(400, "USER_HAS_NO_FEATURE", message, http_status=200)


def concurrency_limited() -> ApiRefusal:
    """HTTP 200 carrying ``{code: 429, errorKey: USER_CONCURRENCY_LIMIT_EXCEEDED}`` (0.27)."""
    message = "Too many concurrent requests"
    return ApiRefusal(429, "USER_CONCURRENCY_LIMIT_EXCEEDED", message, http_status=200)


@dataclass(frozen=True, slots=True)
class Prices:
    """Credit prices of every paid operation (whole credits).

    The documented ones are the defaults; the rest are the fake's choices because
    the 0.22 price is unknown: phone unlock uses the 0.24 price (150), LinkedIn
    activity 10 per newly unlocked person; outreach generation is free as in 0.27.
    """

    event_unlock: int = 2000
    contact_email: int = 15
    contact_phone: int = 150
    search_by_company_name: int = 50
    search_events: int = 50
    visitor_unlock: int = 3000
    person_events_by_name: int = 50
    linkedin_activity: int = 10
    outreach_message: int = 0
    """0.27: outreach generation deducts no credits (set a price for plans that charge)."""


@dataclass(slots=True)
class RequestContext:
    """Per-request facts the server attaches to an aiohttp request."""

    request_no: int
    trace_id: str
    route: str
    stuck_task: bool = False
    """Set by the STUCK_TASK fault: a task created by this request never completes."""


@dataclass(slots=True)
class Balance:
    """The account's credit buckets."""

    subscription_amount: int
    subscription_balance: int
    gift_amount: int
    gift_balance: int
    reset_at: int | None

    @property
    def total_balance(self) -> int:
        """Spendable credits."""
        return self.subscription_balance + self.gift_balance

    def to_wire(self) -> dict[str, Any]:
        """``GET /external/credits/balance`` body (0.22 fields)."""
        return {
            "totalAmount": self.subscription_amount + self.gift_amount,
            "totalBalance": self.total_balance,
            "subscriptionAmount": self.subscription_amount,
            "subscriptionBalance": self.subscription_balance,
            "giftAmount": self.gift_amount,
            "giftBalance": self.gift_balance,
            "resetAt": self.reset_at,
        }

    def balance_after(self) -> dict[str, Any]:
        """The ``balanceAfter`` object of event unlock (gift credits are 'permanent')."""
        return {
            "subscriptionBalance": self.subscription_balance,
            "permanentBalance": self.gift_balance,
            "totalBalance": self.total_balance,
            "unlimited": False,
        }


class Roster:
    """The ordered people of one event: explicit ids plus lazily generated id ranges."""

    def __init__(self) -> None:
        self._segments: list[list[str] | range] = []
        self._explicit: set[str] = set()
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __contains__(self, personnel_id: object) -> bool:
        if not isinstance(personnel_id, str):
            return False
        if personnel_id in self._explicit:
            return True
        if not personnel_id.isdigit():
            return False
        number = int(personnel_id)
        return any(isinstance(s, range) and number in s for s in self._segments)

    def __iter__(self) -> Iterator[str]:
        for segment in self._segments:
            if isinstance(segment, range):
                yield from (str(n) for n in segment)
            else:
                yield from segment

    def add(self, personnel_id: str) -> None:
        """Append one explicit person (ignored if already listed)."""
        if personnel_id in self:
            return
        if not self._segments or isinstance(self._segments[-1], range):
            self._segments.append([])
        last = self._segments[-1]
        assert isinstance(last, list)
        last.append(personnel_id)
        self._explicit.add(personnel_id)
        self._length += 1

    def add_range(self, ids: range) -> None:
        """Append a block of generated people (no per-person storage)."""
        self._segments.append(ids)
        self._length += len(ids)

    def slice(self, start: int, stop: int) -> list[str]:
        """Ids in positions ``[start, stop)``, touching only the needed segments."""
        out: list[str] = []
        offset = 0
        for segment in self._segments:
            size = len(segment)
            lo, hi = max(start - offset, 0), min(stop - offset, size)
            if lo < hi:
                out.extend(str(n) for n in segment[lo:hi])
            offset += size
            if offset >= stop:
                break
        return out


@dataclass(frozen=True, slots=True)
class _Block:
    """A generated id range of one event, with the exhibitor lineup it was made from."""

    ids: range
    event_id: str
    lineup: tuple[ExhibitorRecord, ...]


@dataclass(slots=True)
class ContactState:
    """This caller's unlock state of one channel (email or phone) of one person."""

    status: str = "locked"
    """``locked`` | ``unlocking`` | ``unlocked`` | ``failed``."""
    value: str | None = None
    """Revealed email/phone (only when ``unlocked`` and one was found)."""


@dataclass(slots=True)
class TaskItem:
    """One contact of an unlock task."""

    personnel_id: str
    status: str = "pending"
    value: str | None = None
    error_code: str | None = None
    charge: TruthEntry | None = None


@dataclass(slots=True)
class UnlockTask:
    """An asynchronous email or phone unlock task."""

    task_id: str
    channel: str
    """``email`` or ``phone``."""
    event_id: str
    items: list[TaskItem]
    status: str = "pending"
    stuck: bool = False
    route: str = ""


class TimedStatus(enum.Enum):
    """Progress of the LinkedIn-activity and outreach jobs."""

    PROCESSING = "processing"
    READY = "ready"


@dataclass(slots=True)
class LinkedinState:
    """LinkedIn-activity analysis of one person."""

    status: TimedStatus
    task_id: str
    activity: dict[str, Any] | None = None


@dataclass(slots=True)
class OutreachRecord:
    """Latest generated outreach for one (person, event) pair."""

    personnel_id: str
    event_key: str
    channels: list[str]
    purpose: str | None
    task_id: str
    status: TimedStatus
    create_time: int
    update_time: int
    messages: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class EventUnlockAssessment:
    """What ``POST /external/events/{id}/unlock`` would do now."""

    event: EventRecord | None
    already_unlocked: bool = False
    chargeable_count: int = 0
    credits: int = 0
    refusal: ApiRefusal | None = None
    reason_code: str = "ok"


@dataclass(slots=True)
class LayerAssessment:
    """What a Visitor (``layers='visitors'``) or full-access (``'full'``) unlock would do."""

    event: EventRecord | None
    base_missing: bool = False
    visitors_missing: bool = False
    visitors_skipped: bool = False
    """Full access on an event without Visitor data: only the base layer is bought."""
    credits: int = 0
    refusal: ApiRefusal | None = None
    reason_code: str = "ok"

    @property
    def already_unlocked(self) -> bool:
        return self.refusal is None and not (self.base_missing or self.visitors_missing)


@dataclass(slots=True)
class ContactUnlockAssessment:
    """What an email/phone unlock of a batch would do now."""

    event: EventRecord | None
    requested: list[str]
    chargeable: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    already_unlocked: list[str] = field(default_factory=list)
    unlocking: list[str] = field(default_factory=list)
    credits: int = 0
    refusal: ApiRefusal | None = None
    reason_code: str = "ok"


def _dedupe(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


class FakeState:
    """Everything the fake server knows. Mutate it through its helper methods."""

    def __init__(
        self,
        *,
        seed: int = 0,
        subscription_balance: int = 30000,
        gift_balance: int = 50,
        subscription_amount: int | None = None,
        gift_amount: int | None = None,
        prices: Prices | None = None,
        task_step_seconds: float = 0.05,
        charge_empty_searches: bool = False,
        truth: TruthLedger | None = None,
    ) -> None:
        self.seed = seed
        self.prices = prices or Prices()
        self.task_step_seconds = task_step_seconds
        self.charge_empty_searches = charge_empty_searches
        """True: 0.22 charges every successful search; False (default): 0.24+ 'empty is free'."""
        self.truth = truth if truth is not None else TruthLedger()
        self.balance = Balance(
            subscription_amount=max(
                subscription_amount or subscription_balance + 5000, subscription_balance
            ),
            subscription_balance=subscription_balance,
            gift_amount=max(gift_amount or gift_balance, gift_balance),
            gift_balance=gift_balance,
            reset_at=1_790_000_000_000,
        )
        self.events: dict[str, EventRecord] = {}
        self.event_aliases: dict[str, str] = {}
        self.unlocked_events: set[str] = set()
        self.visitor_unlocked_events: set[str] = set()
        """Events whose Visitor layer (0.24+) this caller unlocked."""
        self.no_visitor_data: set[str] = set()
        """Events without registered Visitors (their Visitor layer cannot be bought)."""
        self.paid_features = True
        """The plan has Visitor data, full access and person search (else USER_HAS_NO_FEATURE)."""
        self.exhibitors: dict[str, ExhibitorRecord] = {}
        self.event_exhibitors: dict[str, list[str]] = {}
        self.persons: dict[str, PersonRecord] = {}
        self.person_events: dict[str, list[str]] = {}
        self.rosters: dict[str, Roster] = {}
        self.emails: dict[str, ContactState] = {}
        self.phones: dict[str, ContactState] = {}
        self.linkedin: dict[str, LinkedinState] = {}
        self.outreach: dict[tuple[str, str], OutreachRecord] = {}
        self.tasks: dict[str, UnlockTask] = {}
        self.outcome_overrides: dict[tuple[str, str], UnlockOutcome] = {}
        self._blocks: list[_Block] = []
        self._next_task = 901
        self._next_event = 201
        self._next_exhibitor = 6001
        self._timers: set[asyncio.TimerHandle] = set()
        self._load(build_world(seed))

    # ------------------------------------------------------------------ catalogue

    def _load(self, world: SeedWorld) -> None:
        for event in world.events:
            self._register_event(event)
        self.unlocked_events |= world.initially_unlocked
        for exhibitor in world.exhibitors:
            self.exhibitors[exhibitor.id] = exhibitor
        for event_id, lineup in world.event_exhibitors.items():
            self.event_exhibitors[event_id] = list(lineup)
        for person in world.persons:
            self.persons[person.id] = person
        for event_id, ids in world.rosters.items():
            for pid in ids:
                self._enrol(event_id, pid)
        self._next_person = world.next_person_id

    def _register_event(self, event: EventRecord) -> None:
        self.events[event.id] = event
        self.event_aliases[event.event_id] = event.id
        self.rosters.setdefault(event.id, Roster())
        self.event_exhibitors.setdefault(event.id, [])

    def _enrol(self, event_id: str, personnel_id: str) -> None:
        self.rosters[event_id].add(personnel_id)
        events = self.person_events.setdefault(personnel_id, [])
        if event_id not in events:
            events.append(event_id)

    def resolve_event(self, ref: str) -> EventRecord | None:
        """Find an event by internal ``id`` first, then by ``eventId``."""
        event = self.events.get(ref)
        if event is None and ref in self.event_aliases:
            event = self.events[self.event_aliases[ref]]
        return event

    def add_event(
        self,
        name: str,
        *,
        unlocked: bool = False,
        personnel: int = 0,
        exhibitor_ids: Sequence[str] = (),
        **fields: Any,
    ) -> EventRecord:
        """Add an event (id from ``201`` up, ``eventId`` from ``150201``) and return it.

        ``fields`` override any :class:`EventRecord` field; ``personnel`` generates that
        many people lazily (see :meth:`add_personnel`).
        """
        event_id = str(self._next_event)
        self._next_event += 1
        base: dict[str, Any] = {
            "id": event_id,
            "event_id": str(150000 + int(event_id)),
            "name": name,
            "nickname": None,
            "description": None,
            "url": None,
            "date_start": "2026-12-01",
            "date_end": "2026-12-02",
            "venue": None,
            "city": None,
            "region": None,
            "country": None,
            "image": None,
            "data_source": "database",
            "latitude": None,
            "longitude": None,
            "attendee_count": None,
            "declared_expected_attendees": None,
            "estimated_expected_attendees": None,
            "price_lower": None,
            "price_upper": None,
            "event_type": "conference_led",
            "quality": "Standard",
        }
        base.update(fields)
        event = EventRecord(**base)
        self._register_event(event)
        self.event_exhibitors[event.id] = [e for e in exhibitor_ids if e in self.exhibitors]
        if unlocked:
            self.unlocked_events.add(event.id)
        if personnel:
            self.add_personnel(event.id, personnel)
        return event

    def add_exhibitor(
        self, company_name: str, *, event_ids: Sequence[str] = (), **fields: Any
    ) -> ExhibitorRecord:
        """Add an exhibitor (ids from ``6001`` up), optionally to some events."""
        exhibitor_id = str(self._next_exhibitor)
        self._next_exhibitor += 1
        base: dict[str, Any] = {
            "id": exhibitor_id,
            "company_name": company_name,
            "domain": None,
            "description": None,
            "website": None,
            "industry": None,
            "employee_count": None,
            "company_size": None,
            "country": None,
            "logo": None,
            "data_source": "database",
            "linkedin_url": None,
            "funding_round": None,
        }
        base.update(fields)
        exhibitor = ExhibitorRecord(**base)
        self.exhibitors[exhibitor_id] = exhibitor
        for ref in event_ids:
            event = self._require_event(ref)
            self.event_exhibitors[event.id].append(exhibitor_id)
        return exhibitor

    def _require_event(self, ref: str) -> EventRecord:
        event = self.resolve_event(ref)
        if event is None:
            raise KeyError(f"unknown event {ref!r}")
        return event

    def add_person(self, event_id: str, **fields: Any) -> PersonRecord:
        """Add one explicit person to an event; ``fields`` override generated values."""
        event = self._require_event(event_id)
        number = self._take_person_ids(1).start
        person = make_person(
            self.seed, number, self.lineup(event.id), list(self.exhibitors.values())
        )
        if fields:
            values = {name: getattr(person, name) for name in PersonRecord.__dataclass_fields__}
            values.update(fields)
            if "full_name" in fields and "linkedin_url" not in fields:
                slug = linkedin_slug(values["full_name"], person.id)
                values["linkedin_url"] = f"https://linkedin.com/in/{slug}"
            person = PersonRecord(**values)
        self.persons[person.id] = person
        self._enrol(event.id, person.id)
        return person

    def add_personnel(self, event_id: str, count: int) -> range:
        """Add ``count`` generated people to an event without storing them.

        Returns the integer id range (ids are ``str(n)``). People are rebuilt from
        ``(seed, id)`` on every access, so even 100k people cost a few bytes.
        """
        event = self._require_event(event_id)
        ids = self._take_person_ids(count)
        self._blocks.append(_Block(ids, event.id, tuple(self.lineup(event.id))))
        self.rosters[event.id].add_range(ids)
        return ids

    def _take_person_ids(self, count: int) -> range:
        ids = range(self._next_person, self._next_person + count)
        self._next_person += count
        return ids

    def lineup(self, event_id: str) -> list[ExhibitorRecord]:
        """Exhibitors of an event, in id order."""
        return [self.exhibitors[i] for i in self.event_exhibitors.get(event_id, ())]

    def exhibitor_event_ids(self, exhibitor_id: str) -> list[str]:
        """Events an exhibitor attends, most recent first."""
        ids = [eid for eid, lineup in self.event_exhibitors.items() if exhibitor_id in lineup]
        return sorted(ids, key=lambda eid: self.events[eid].date_start or "", reverse=True)

    def person(self, personnel_id: str) -> PersonRecord | None:
        """A person by id (explicit or generated), or ``None``."""
        person = self.persons.get(personnel_id)
        if person is not None or not personnel_id.isdigit():
            return person
        block = self._block_of(personnel_id)
        if block is None:
            return None
        return make_person(
            self.seed, int(personnel_id), block.lineup, list(self.exhibitors.values())
        )

    def _block_of(self, personnel_id: str) -> _Block | None:
        number = int(personnel_id)
        return next((b for b in self._blocks if number in b.ids), None)

    def events_of_person(self, personnel_id: str) -> list[str]:
        """Event ids a person is listed at."""
        if personnel_id in self.person_events:
            return list(self.person_events[personnel_id])
        block = self._block_of(personnel_id) if personnel_id.isdigit() else None
        return [block.event_id] if block else []

    def iter_persons(self) -> Iterator[PersonRecord]:
        """Every person, explicit ones first (generated ones are built on the fly)."""
        yield from self.persons.values()
        everyone = list(self.exhibitors.values())
        for block in self._blocks:
            for number in block.ids:
                yield make_person(self.seed, number, block.lineup, everyone)

    # ------------------------------------------------------------------ access

    def is_unlocked(self, event_id: str) -> bool:
        """Whether this caller has base access to the event."""
        return event_id in self.unlocked_events

    def email_state(self, personnel_id: str) -> ContactState:
        """This caller's email-unlock state of a person."""
        return self.emails.get(personnel_id) or ContactState()

    def phone_state(self, personnel_id: str) -> ContactState:
        """This caller's phone-unlock state of a person."""
        return self.phones.get(personnel_id) or ContactState()

    def channel_states(self, channel: str) -> dict[str, ContactState]:
        """The per-person state table of ``email`` or ``phone``."""
        return self.emails if channel == "email" else self.phones

    def outcome(self, personnel_id: str, channel: str) -> UnlockOutcome:
        """The outcome an unlock of this contact will have (override or seeded)."""
        override = self.outcome_overrides.get((personnel_id, channel))
        return override or unlock_outcome(self.seed, personnel_id, channel)

    # ------------------------------------------------------------------ credits

    def charge_batch(
        self,
        charges: Sequence[tuple[Intent, int]],
        *,
        operation: str,
        ctx: RequestContext,
        task_id: str | None = None,
    ) -> list[TruthEntry]:
        """Charge every ``(intent, amount)`` or nothing (402 when the total is short).

        Each charge is split across buckets, subscription first; zero amounts are
        not recorded.
        """
        total = sum(amount for _, amount in charges)
        if total > self.balance.total_balance:
            raise insufficient_credits()
        return [
            self._charge_one(intent, amount, operation, ctx, task_id)
            for intent, amount in charges
            if amount > 0
        ]

    def _charge_one(
        self, intent: Intent, amount: int, operation: str, ctx: RequestContext, task_id: str | None
    ) -> TruthEntry:
        from_subscription = min(amount, self.balance.subscription_balance)
        from_gift = amount - from_subscription
        self.balance.subscription_balance -= from_subscription
        self.balance.gift_balance -= from_gift
        return self.truth.record(
            route=ctx.route,
            operation=operation,
            amount=amount,
            intent=intent,
            trace_id=ctx.trace_id,
            task_id=task_id,
            request_no=ctx.request_no,
            subscription_part=from_subscription,
            gift_part=from_gift,
        )

    def refund(self, charge: TruthEntry) -> TruthEntry:
        """Give a charge back to the buckets it came from and record the refund."""
        self.balance.subscription_balance += charge.subscription_part
        self.balance.gift_balance += charge.gift_part
        return self.truth.record(
            route=charge.route,
            operation=charge.operation,
            amount=-charge.amount,
            intent=charge.intent,
            trace_id=None,
            task_id=charge.task_id,
            subscription_part=-charge.subscription_part,
            gift_part=-charge.gift_part,
        )

    def set_balance(self, *, subscription: int | None = None, gift: int | None = None) -> None:
        """Set bucket balances (granted amounts grow to stay >= balances)."""
        if subscription is not None:
            self.balance.subscription_balance = subscription
            self.balance.subscription_amount = max(self.balance.subscription_amount, subscription)
        if gift is not None:
            self.balance.gift_balance = gift
            self.balance.gift_amount = max(self.balance.gift_amount, gift)

    # ------------------------------------------------------------------ assessments

    def assess_event_unlock(self, ref: str) -> EventUnlockAssessment:
        """Decide ``POST /external/events/{id}/unlock`` without doing it."""
        event = self.resolve_event(ref)
        if event is None:
            return EventUnlockAssessment(None, refusal=event_not_found(), reason_code="not_found")
        chargeable = len(self.rosters[event.id])
        if self.is_unlocked(event.id):
            return EventUnlockAssessment(
                event, already_unlocked=True, chargeable_count=0, reason_code="already_unlocked"
            )
        if chargeable == 0:
            refusal = invalid("Event has no chargeable contacts")
            return EventUnlockAssessment(
                event, refusal=refusal, reason_code="no_contacts_available"
            )
        price = self.prices.event_unlock
        result = EventUnlockAssessment(event, chargeable_count=chargeable, credits=price)
        if price > self.balance.total_balance:
            result.refusal, result.reason_code = insufficient_credits(), "insufficient_balance"
        return result

    def assess_layers(self, ref: str, layers: str, *, check_plan: bool = True) -> LayerAssessment:
        """Decide a Visitor (``layers='visitors'``) or full-access (``'full'``) unlock.

        Checks, first failing wins: the plan (HTTP-200 ``USER_HAS_NO_FEATURE``), unknown
        event (404); Visitors only: base access missing (409), no Visitor data (400);
        then balance (402). Full access buys only the missing layers and skips a
        Visitor layer the event has no data for. Precheck passes ``check_plan=False``:
        whether it knows the plan is undocumented, so the fake leaves that to the route.
        """
        event = self.resolve_event(ref)
        result = LayerAssessment(event)
        if check_plan and not self.paid_features:
            result.refusal, result.reason_code = feature_not_available(), "forbidden"
            return result
        if event is None:
            result.refusal, result.reason_code = event_not_found(), "not_found"
            return result
        has_data = event.id not in self.no_visitor_data
        result.base_missing = layers == "full" and not self.is_unlocked(event.id)
        result.visitors_missing = has_data and event.id not in self.visitor_unlocked_events
        result.visitors_skipped = layers == "full" and not has_data
        if layers == "visitors" and not self.is_unlocked(event.id):
            conflict = ApiRefusal(409, "STATE_CONFLICT", "Unlock the event before its Visitors")
            result.refusal, result.reason_code = conflict, "state_conflict"
        elif layers == "visitors" and not has_data:
            result.refusal = invalid("Event has no Visitor data")
            result.reason_code = "no_contacts_available"
        result.credits = self.prices.event_unlock * result.base_missing + (
            self.prices.visitor_unlock * result.visitors_missing
        )
        if result.refusal is None and result.credits > self.balance.total_balance:
            result.refusal, result.reason_code = insufficient_credits(), "insufficient_balance"
        return result

    def unlock_layers(self, assessment: LayerAssessment, ctx: RequestContext) -> None:
        """Charge and grant the missing layers of an assessed unlock (one charge per layer)."""
        event = assessment.event
        assert event is not None
        assert assessment.refusal is None
        charges: list[tuple[Intent, int]] = []
        if assessment.base_missing:
            charges.append((("events.unlock", event.id), self.prices.event_unlock))
        if assessment.visitors_missing:
            charges.append((("events.unlock_visitors", event.id), self.prices.visitor_unlock))
        self.charge_batch(charges, operation="events.unlock_layers", ctx=ctx)
        if assessment.base_missing:
            self.unlocked_events.add(event.id)
        if assessment.visitors_missing:
            self.visitor_unlocked_events.add(event.id)

    def assess_contact_unlock(
        self, channel: str, event_ref: str | None, personnel_ids: Sequence[str]
    ) -> ContactUnlockAssessment:
        """Decide an email (``channel='email'``) or phone unlock of a batch.

        Order of checks (first failing wins): unknown event (404), unknown people
        (404), people of another event (400), already unlocked / unlocking (409),
        balance (402). Without ``event_ref`` (optional since 0.24) membership is not
        checked.
        """
        requested = _dedupe(personnel_ids)
        event = None if event_ref is None else self.resolve_event(event_ref)
        result = ContactUnlockAssessment(event, requested)
        if event_ref is not None and event is None:
            result.refusal, result.reason_code = event_not_found(), "not_found"
            return result
        self._classify_contacts(channel, event, result)
        price = self.prices.contact_email if channel == "email" else self.prices.contact_phone
        result.credits = price * len(result.chargeable)
        result.refusal, result.reason_code = self._contact_refusal(result)
        return result

    def _classify_contacts(
        self, channel: str, event: EventRecord | None, result: ContactUnlockAssessment
    ) -> None:
        roster = None if event is None else self.rosters[event.id]
        states = self.channel_states(channel)
        for pid in result.requested:
            if self.person(pid) is None:
                result.missing.append(pid)
            elif roster is not None and pid not in roster:
                result.invalid.append(pid)
            else:
                status = states[pid].status if pid in states else "locked"
                bucket = {"unlocked": result.already_unlocked, "unlocking": result.unlocking}
                bucket.get(status, result.chargeable).append(pid)

    def _contact_refusal(self, result: ContactUnlockAssessment) -> tuple[ApiRefusal | None, str]:
        if result.missing:
            return not_found("Personnel not found"), "not_found"
        if result.invalid:
            return invalid("Personnel does not belong to event_id"), "invalid_subject"
        if result.already_unlocked:
            return ApiRefusal(
                409, "STATE_CONFLICT", "Contacts already unlocked"
            ), "already_unlocked"
        if result.unlocking:
            conflict = ApiRefusal(409, "STATE_CONFLICT", "Contacts are being unlocked")
            return conflict, "unlock_in_progress"
        if result.credits > self.balance.total_balance:
            return insufficient_credits(), "insufficient_balance"
        return None, "ok"

    # ------------------------------------------------------------------ tasks

    def new_task_id(self) -> str:
        """Next numeric task id (shared by unlock, LinkedIn and outreach jobs)."""
        task_id = str(self._next_task)
        self._next_task += 1
        return task_id

    def start_unlock_task(
        self,
        channel: str,
        event: EventRecord | None,
        personnel_ids: Sequence[str],
        ctx: RequestContext,
    ) -> UnlockTask:
        """Charge a batch, mark its contacts ``unlocking`` and start the task clock."""
        price = self.prices.contact_email if channel == "email" else self.prices.contact_phone
        event_id = "" if event is None else event.id
        task = UnlockTask(
            self.new_task_id(),
            channel,
            event_id,
            [TaskItem(pid) for pid in personnel_ids],
            stuck=ctx.stuck_task,
            route=ctx.route,
        )
        operation = "contacts.unlock" if channel == "email" else "contacts.unlock_phone"
        charges = [((operation, event_id, pid), price) for pid in personnel_ids]
        entries = self.charge_batch(charges, operation=operation, ctx=ctx, task_id=task.task_id)
        by_intent = {entry.intent[-1]: entry for entry in entries}
        states = self.channel_states(channel)
        for item in task.items:
            item.charge = by_intent.get(item.personnel_id)
            states[item.personnel_id] = ContactState("unlocking")
        self.tasks[task.task_id] = task
        self._schedule(self.task_step_seconds, lambda: self._advance(task.task_id))
        return task

    def _advance(self, task_id: str) -> None:
        task = self.tasks.get(task_id)
        if task is None or task.status in ("completed", "failed"):
            return
        if task.status == "pending":
            task.status = "processing"
            for item in task.items:
                item.status = "processing"
            if not task.stuck:
                self._schedule(self.task_step_seconds, lambda: self._advance(task_id))
            return
        self.finish_task(task_id)

    def finish_task(self, task_id: str) -> UnlockTask:
        """Complete a task now: settle item outcomes, person states and refunds."""
        task = self.tasks[task_id]
        if task.status in ("completed", "failed"):
            return task
        states = self.channel_states(task.channel)
        for item in task.items:
            self._settle_item(task, item, states)
        failed = all(item.status == "failed" for item in task.items)
        task.status = "failed" if failed and task.items else "completed"
        return task

    def _settle_item(
        self, task: UnlockTask, item: TaskItem, states: dict[str, ContactState]
    ) -> None:
        outcome = self.outcome(item.personnel_id, task.channel)
        if outcome is UnlockOutcome.FAILED:
            item.status, item.error_code = "failed", "TASK_FAILED"
            states[item.personnel_id] = ContactState("failed")
            if item.charge is not None:
                self.refund(item.charge)
            return
        person = self.person(item.personnel_id)
        value = None
        if outcome is UnlockOutcome.DELIVERED and person is not None:
            value = person.email if task.channel == "email" else person.phone
        item.status, item.value = "unlocked", value
        states[item.personnel_id] = ContactState("unlocked", value)

    def finish_all_tasks(self) -> None:
        """Complete every unfinished unlock task and timed job now (stuck ones too)."""
        for task_id in list(self.tasks):
            self.finish_task(task_id)
        for state in self.linkedin.values():
            state.status = TimedStatus.READY
        for record in self.outreach.values():
            record.status = TimedStatus.READY

    def _schedule(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` after ``delay`` seconds on the running loop (cancelled by close)."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle

        def fire() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay, fire)
        self._timers.add(handle)

    def schedule_ready(self, job: LinkedinState | OutreachRecord) -> None:
        """Mark a LinkedIn/outreach job ready after two task steps."""

        def ready() -> None:
            job.status = TimedStatus.READY

        self._schedule(2 * self.task_step_seconds, ready)

    def close(self) -> None:
        """Cancel pending task timers (the server is stopping)."""
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()

    def now_ms(self) -> int:
        """Wall-clock milliseconds (used for outreach timestamps)."""
        return int(time.time() * 1000)
