"""Per-operation knowledge of the guard: how to quote, trim, settle and reconcile.

The guard's orchestration (``_spend.py``, ``_in_doubt.py``) is the same for every paid
route; what differs per route lives here, in one small policy class each.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from lensmor_async._core import operations as ops
from lensmor_async._core.costs import CostTable
from lensmor_async._core.operations import Operation
from lensmor_async._core.spend import (
    Evidence,
    QuoteDecision,
    missing_layers_price,
    refine_contact_batch,
    refine_with_precheck,
    search_evidence,
)
from lensmor_async._intent import Intent
from lensmor_async.guard._journal_protocol import JournalEntry, JournalState
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._state import UnlockState

if TYPE_CHECKING:
    from lensmor_async._call import Call
    from lensmor_async.models import (
        EventUnlockResult,
        PrecheckResult,
    )


@attrs.frozen(slots=True)
class Reconciliation:
    """The verdict on an in-doubt intent, reached without re-sending it."""

    charged: bool | None
    """True/False when established; None when it cannot be told (stays in doubt)."""
    actual: int | None
    reason: str


class PaidPolicy:
    """Default policy: table price, no precheck, settle at the quoted price."""

    operation: Operation = ops.EXHIBITORS_SEARCH_BY_COMPANY
    measure_by_balance = False
    requote_on_conflict = False
    """A 409 means the state moved (e.g. contacts now unlocking): price again."""
    reconcile_wait = 0.0
    """Seconds an in-doubt reconciliation may wait for the server's state to settle."""

    def __init__(self, costs: CostTable, state: UnlockState, *, precheck_mode: str) -> None:
        self.costs = costs
        self.state = state
        self.precheck_mode = precheck_mode

    async def quote(self, call: Call[Any], services: GuardServices) -> QuoteDecision:
        del services  # the table decides; no precheck needed
        return QuoteDecision(
            credits=self.costs.estimate(self.operation.name, len(_intent(call).targets))
        )

    def lane(self, call: Call[Any]) -> str | None:
        """Calls of one lane run one at a time (None: no lane; single-flight only)."""
        del call
        return None

    def prepare(self, call: Call[Any], decision: QuoteDecision) -> Call[Any]:
        del decision
        return call

    def list_price(self, call: Call[Any]) -> int | None:
        """The table price of ``call`` before any precheck (what it costs when not free)."""
        return self.costs.estimate(self.operation.name, len(_intent(call).targets))

    def free_result(self, call: Call[Any], decision: QuoteDecision) -> Any:
        """The result to return without sending, when nothing is chargeable (or None: send)."""
        del call, decision
        return None

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        """What a successful answer says about its charge (``_core.spend`` settles it)."""
        del call, result
        # An unknown price (held at 0 without a budget) is measured from the balance.
        return Evidence(reported=decision.credits, expected_charge=not decision.free)

    def attached_result(self, call: Call[Any], entry: JournalEntry) -> Any:
        """The result for a caller that attached to another worker's send (None: re-quote)."""
        del call, entry
        return None

    def shared_result(self, call: Call[Any]) -> Any:
        """The answer's JSON to keep with the journal row for attached callers (None: none)."""
        del call
        return None

    async def reconcile(
        self,
        call: Call[Any],
        decision: QuoteDecision,
        services: GuardServices,
        *,
        settle_wait: float = 0.0,
    ) -> Reconciliation:
        """Establish, without re-sending, whether an in-doubt send was charged."""
        del call, decision, services, settle_wait
        return Reconciliation(
            charged=None,
            actual=None,
            reason="this route leaves no per-intent trace to check; counted as spent",
        )


def _intent(call: Call[Any]) -> Intent:
    assert call.intent is not None, "paid calls always carry an intent"
    return call.intent


def _refine(
    table: int | None, answer: PrecheckResult, *, available: int | None = None
) -> QuoteDecision:
    """The table price refined by a single-target precheck ``answer``."""
    return refine_with_precheck(
        table,
        allowed=answer.allowed,
        should_charge=answer.should_charge,
        credits=int(answer.credits),
        reason_code=answer.reason_code,
        available=available,
    )


class _RoutePolicy(PaidPolicy):
    """A policy that serves several operations: which one is given, not fixed."""

    def __init__(
        self, operation: Operation, costs: CostTable, state: UnlockState, *, precheck_mode: str
    ) -> None:
        super().__init__(costs, state, precheck_mode=precheck_mode)
        self.operation = operation


@attrs.define(slots=True, eq=False)
class _KeepingPayload:
    """A call's decode that also keeps the answer's JSON, so other hosts can share it."""

    decode: Callable[[Any], Any]
    payload: Any = None

    def __call__(self, data: Any) -> Any:
        self.payload = data
        return self.decode(data)


class SearchPolicy(_RoutePolicy):
    """Paid searches: 50 per search, 0 for an empty result (0.24+).

    The quote holds the full price (whether the result will be empty is unknown before
    the send); settlement releases it when the page says the result was empty. Precheck
    only adds a round trip, so it is skipped unless asked for. Within the guard's dedupe
    window, identical searches are one journal row across the fleet: the buyer keeps the
    answer's JSON with the row, and callers that attached to it decode that same answer
    instead of paying for it again.
    """

    def __init__(
        self,
        operation: Operation,
        costs: CostTable,
        state: UnlockState,
        *,
        precheck_mode: str,
        subject: str = "company_name",
    ) -> None:
        super().__init__(operation, costs, state, precheck_mode=precheck_mode)
        self.subject = subject
        """The precheck parameter naming what is searched for."""

    def prepare(self, call: Call[Any], decision: QuoteDecision) -> Call[Any]:
        del decision
        return attrs.evolve(call, decode=_KeepingPayload(call.decode))

    def shared_result(self, call: Call[Any]) -> Any:
        decode = call.decode
        return decode.payload if isinstance(decode, _KeepingPayload) else None

    def attached_result(self, call: Call[Any], entry: JournalEntry) -> Any:
        if entry.state is not JournalState.SUCCEEDED or entry.result is None:
            return None  # nothing to share: the caller buys its own (a follow-up row)
        return call.decode(entry.result)

    async def quote(self, call: Call[Any], services: GuardServices) -> QuoteDecision:
        table = self.costs.estimate(self.operation.name)
        action = self.operation.precheck_action
        if self.precheck_mode != "always" or action is None:
            return QuoteDecision(credits=table)
        answer = await services.precheck(action, {self.subject: _intent(call).targets[0]})
        return _refine(table, answer)

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        del call
        return search_evidence(
            decision.credits,
            items=len(result.items),
            total=result.total,
            expected_charge=not decision.free,
        )


class _EventLayerPolicy(PaidPolicy, abc.ABC):
    """Unlocks of an event's layers (base, Visitors, both; idempotent and synchronous).

    All of them share one lane per event: racing unlocks of one event run one at a time,
    each quoting after the previous one settled, so holds never double up and a layer is
    never bought twice. (The lane is keyed by the id as given: an ``id`` and an
    ``eventId`` of one event are two lanes.)
    """

    def lane(self, call: Call[Any]) -> str | None:
        return f"event-layers:{_event_of(call)}"

    def _table(self, event_id: str) -> int | None:
        del event_id
        return self.costs.estimate(self.operation.name)

    @abc.abstractmethod
    def _owned(self, event_id: str) -> bool:
        """Every layer this unlock buys is known to be unlocked already."""

    @abc.abstractmethod
    def _mark(self, event_id: str) -> None:
        """Record that the layers this unlock buys are unlocked."""

    def _verdict(self, answer: PrecheckResult, decision: QuoteDecision) -> Reconciliation:
        """What a precheck after a lost answer says about it (state is final at once)."""
        del decision
        if answer.reason_code == "already_unlocked":
            return Reconciliation(True, None, "now unlocked: our request was charged")
        return Reconciliation(False, 0, "still locked: the request was not executed")

    @property
    def _action(self) -> str:
        assert self.operation.precheck_action is not None
        return self.operation.precheck_action

    @staticmethod
    def _answer(result: Any, decision: QuoteDecision, charged: Any, balance: type) -> Evidence:
        """An unlock answer as evidence: its charge field and its ``balanceAfter`` total."""
        after = result.balance_after
        total = getattr(after, "total_balance", None) if isinstance(after, balance) else None
        return Evidence(
            reported=_whole(charged),
            expected_charge=not decision.free,
            already_unlocked=result.already_unlocked,
            balance_after=_whole(total),
        )

    async def quote(self, call: Call[Any], services: GuardServices) -> QuoteDecision:
        event_id = _event_of(call)
        table = self._table(event_id)
        if self._owned(event_id):
            return QuoteDecision(credits=0, free=True)
        if self.precheck_mode == "never":
            return QuoteDecision(credits=table)
        answer = await services.precheck(self._action, {"event_id": event_id})
        decision = _refine(table, answer, available=answer.detail.available_balance)
        if decision.free:
            self._mark(event_id)
        return decision

    async def reconcile(
        self,
        call: Call[Any],
        decision: QuoteDecision,
        services: GuardServices,
        *,
        settle_wait: float = 0.0,
    ) -> Reconciliation:
        del settle_wait  # an event unlock is synchronous: its state is final at once
        event_id = _event_of(call)
        verdict = self._verdict(
            await services.precheck(self._action, {"event_id": event_id}), decision
        )
        if verdict.charged:
            self._mark(event_id)
        return verdict


class EventUnlockPolicy(_EventLayerPolicy):
    """Event (base layer) unlock: 2000, free when already unlocked (cached state or precheck)."""

    operation = ops.EVENTS_UNLOCK

    def __init__(self, costs: CostTable, state: UnlockState, *, precheck_mode: str) -> None:
        super().__init__(costs, state, precheck_mode=precheck_mode)
        self._refs: dict[str, Any] = {}
        """The server's ``event`` ref per event this guard saw unlocked (for free repeats)."""

    def _owned(self, event_id: str) -> bool:
        return self.state.event_unlocked(event_id)

    def _mark(self, event_id: str) -> None:
        self.state.mark_event_unlocked(event_id)

    def _verdict(self, answer: PrecheckResult, decision: QuoteDecision) -> Reconciliation:
        if answer.detail.access_mode == "full":
            return Reconciliation(True, None, "event is now unlocked: our request was charged")
        return super()._verdict(answer, decision)

    def free_result(self, call: Call[Any], decision: QuoteDecision) -> Any:
        # Unlocking is idempotent on the server: a repeat for an event this guard saw
        # unlocked is answered as the server would (already unlocked, 0 credits), without
        # a round trip.
        ref = self._refs.get(_intent(call).event_id or "")
        if not decision.free or ref is None:
            return None
        from lensmor_async.models import EventUnlockResult

        return EventUnlockResult(
            success=True, already_unlocked=True, credits_used=0, balance_after=None, event=ref
        )

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        from lensmor_async.models import BalanceAfter

        self.state.mark_event_unlocked(_intent(call).event_id or "", *_event_ids(result))
        for event_id in (_intent(call).event_id, *_event_ids(result)):
            if event_id:
                self._refs[event_id] = result.event
        return self._answer(result, decision, result.credits_used, BalanceAfter)


class VisitorUnlockPolicy(_EventLayerPolicy):
    """Visitor layer unlock (0.24+): 3000, free when already unlocked; needs base access.

    Settled from ``creditsSpent`` and the full balance object the answer carries.
    """

    operation = ops.EVENTS_UNLOCK_VISITORS

    def _owned(self, event_id: str) -> bool:
        return self.state.visitors_unlocked(event_id)

    def _mark(self, event_id: str) -> None:
        self.state.mark_visitors_unlocked(event_id)

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        from lensmor_async.models import CreditBalance

        self.state.mark_visitors_unlocked(_event_of(call), *_event_ids(result))
        return self._answer(result, decision, result.credits_spent, CreditBalance)


class FullAccessUnlockPolicy(_EventLayerPolicy):
    """Full access (0.24+): base + Visitors in one step, paying only the missing layers.

    Quoted as the layers this guard does not know to be unlocked (2000 + 3000), refined by
    the ``unlock_event_full_access`` precheck; settled from ``totalCreditsUsed``.
    """

    operation = ops.EVENTS_UNLOCK_FULL_ACCESS

    def _table(self, event_id: str) -> int | None:
        return missing_layers_price(
            base_unlocked=self.state.event_unlocked(event_id),
            visitors_unlocked=self.state.visitors_unlocked(event_id),
            base_price=self.costs.estimate(ops.EVENTS_UNLOCK.name),
            visitor_price=self.costs.estimate(ops.EVENTS_UNLOCK_VISITORS.name),
        )

    def _owned(self, event_id: str) -> bool:
        return self.state.event_unlocked(event_id) and self.state.visitors_unlocked(event_id)

    def _mark(self, event_id: str) -> None:
        self.state.mark_event_unlocked(event_id)
        self.state.mark_visitors_unlocked(event_id)

    def _verdict(self, answer: PrecheckResult, decision: QuoteDecision) -> Reconciliation:
        if answer.reason_code == "ok" and int(answer.credits) == decision.credits:
            return Reconciliation(False, 0, "the same layers are still missing: not executed")
        if answer.reason_code == "already_unlocked":
            return Reconciliation(True, None, "every layer is now unlocked: charged")
        # Some layers moved (another buyer, or a skipped Visitor layer): cannot tell.
        return Reconciliation(None, None, f"layers changed ({answer.reason_code}); unknown share")

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        from lensmor_async.models import BalanceAfter

        ids = (_event_of(call), *_event_ids(result))
        if result.event_unlocked:
            self.state.mark_event_unlocked(*ids)
        if result.visitor_unlocked:
            self.state.mark_visitors_unlocked(*ids)
        return self._answer(result, decision, result.total_credits_used, BalanceAfter)


def _event_of(call: Call[Any]) -> str:
    return _intent(call).event_id or ""


def _whole(value: Any) -> Any:
    """A figure as evidence: whole floats become ints; anything else stays as it came."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _event_ids(result: EventUnlockResult | Any) -> tuple[str, ...]:
    ref = result.event
    return tuple(i for i in (ref.id, ref.event_id) if i)


class ContactUnlockPolicy(_RoutePolicy):
    """Email/phone unlock: per chargeable contact; already unlocked/unlocking left out."""

    # A lost answer is settled exactly once the task ends (failed contacts are
    # refunded), so reconciliation waits briefly for it instead of guessing.
    reconcile_wait = 10.0

    def __init__(
        self,
        operation: Operation,
        costs: CostTable,
        state: UnlockState,
        *,
        precheck_mode: str,
        kind: str,
    ) -> None:
        super().__init__(operation, costs, state, precheck_mode=precheck_mode)
        self.kind = kind

    @property
    def _precheck_action(self) -> str | None:
        return self.operation.precheck_action if self.precheck_mode != "never" else None

    @property
    def requote_on_conflict(self) -> bool:  # type: ignore[override]
        # Only a precheck can tell which contacts another batch is unlocking.
        return self._precheck_action is not None

    async def quote(self, call: Call[Any], services: GuardServices) -> QuoteDecision:
        intent = _intent(call)
        requested = tuple(call.body["personnel_ids"])
        price = self.costs.price(self.operation.name).credits
        known = self.state.known_chargeable(self.kind, requested)
        if known is not None or self._precheck_action is None:
            return refine_contact_batch(
                requested, known, price_per_contact=price, precheck_credits=None
            )
        answer = await services.precheck(self._precheck_action, _batch(intent, requested))
        if (
            answer.reason_code not in ("ok", "already_unlocked", "unlock_in_progress")
            and not answer.allowed
        ):
            return QuoteDecision(
                credits=int(answer.credits) or None,
                refused_reason=answer.reason_code,
                available=answer.detail.available_balance,
            )
        chargeable = (
            answer.detail.personnel_ids if answer.detail.personnel_ids is not None else None
        )
        if chargeable is None and answer.reason_code in ("already_unlocked", "unlock_in_progress"):
            chargeable = ()
        credits = int(answer.credits) if answer.should_charge else None
        return refine_contact_batch(
            requested, chargeable, price_per_contact=price, precheck_credits=credits
        )

    def prepare(self, call: Call[Any], decision: QuoteDecision) -> Call[Any]:
        if decision.chargeable_ids is None:
            return call
        body = {**call.body, "personnel_ids": list(decision.chargeable_ids)}
        return attrs.evolve(call, body=body)

    def free_result(self, call: Call[Any], decision: QuoteDecision) -> Any:
        if decision.chargeable_ids != ():
            return None
        # Nothing chargeable: answer like the 0.24+ API does, without sending (a send
        # would only earn a 409 for contacts already unlocked or unlocking).
        from lensmor_async.models import UnlockSubmission

        return UnlockSubmission(
            status="success",
            task_id=None,
            job_id=None,
            skipped_personnel_ids=decision.skipped_ids,
        )

    def attached_result(self, call: Call[Any], entry: JournalEntry) -> Any:
        # Another worker submitted the same batch: share its task instead of a second one.
        # The row's body holds what was actually sent; what this caller asked for beyond
        # it was left out there as already unlocked or unlocking, so it is skipped here.
        if entry.task_id is None:
            return None
        from lensmor_async.models import UnlockSubmission

        body = entry.request.get("body")
        sent = body.get("personnel_ids") if isinstance(body, dict) else None
        skipped: tuple[str, ...] = ()
        if isinstance(sent, list):
            sent_ids = {str(i) for i in sent}
            skipped = tuple(i for i in _intent(call).targets if i not in sent_ids)
        return UnlockSubmission(
            status="accepted",
            task_id=entry.task_id,
            job_id=entry.task_id,
            skipped_personnel_ids=skipped,
        )

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        sent = tuple(decision.chargeable_ids or call.body.get("personnel_ids", ()))
        if isinstance(result.task_id, str) and result.task_id:
            self.state.mark_contacts(self.kind, sent, "unlocking")
        # With a task id, the task settles later (ContactUnlockReport); the hold stays.
        return Evidence(
            submission=True,
            task_id=result.task_id,
            sent_ids=sent,
            skipped_by_server=tuple(result.skipped_personnel_ids or ()),
        )

    async def reconcile(
        self,
        call: Call[Any],
        decision: QuoteDecision,
        services: GuardServices,
        *,
        settle_wait: float = 0.0,
    ) -> Reconciliation:
        if self._precheck_action is None:
            return Reconciliation(None, None, "no precheck for this unlock kind; counted as spent")
        params = _batch(_intent(call), decision.chargeable_ids or call.body["personnel_ids"])
        give_up = time.monotonic() + settle_wait
        while True:
            detail = (await services.precheck(self._precheck_action, params)).detail
            unlocked, unlocking = detail.already_unlocked_count or 0, detail.unlocking_count or 0
            if unlocking == 0 or time.monotonic() >= give_up:
                break
            await anyio.sleep(min(0.2, max(give_up - time.monotonic(), 0.0)))
        if unlocked + unlocking == 0:
            return Reconciliation(False, 0, "no requested contact changed state: not submitted")
        if unlocking:
            # Charged, but by how much is known only when the task ends (failed contacts
            # are refunded): stay in doubt, holding the estimate, until reconcile().
            return Reconciliation(None, None, "submitted; its task still runs")
        price = self.costs.price(self.operation.name).credits or 0
        return Reconciliation(True, price * unlocked, f"submitted; {unlocked} contacts unlocked")


def _batch(intent: Intent, personnel_ids: Iterable[str]) -> dict[str, Any]:
    """Precheck params of a contact batch (``event_id`` only when given: optional in 0.24+)."""
    params: dict[str, Any] = {"personnel_ids": list(personnel_ids)}
    if intent.event_id is not None:
        params["event_id"] = intent.event_id
    return params


class ItemPricedPolicy(_RoutePolicy):
    """LinkedIn-activity unlock and outreach generation: per record, price often unknown.

    With an unknown price the guard measures the spend from the balance before and
    after, inside an exclusive section (no other paid call of this guard runs then).
    A price of 0 (outreach generation since 0.27) is free: no confirm, no hold, and no
    exclusive section, so other paid calls never wait behind it.
    """

    @property
    def measure_by_balance(self) -> bool:  # type: ignore[override]
        return self.costs.price(self.operation.name).credits is None

    async def quote(self, call: Call[Any], services: GuardServices) -> QuoteDecision:
        del services
        targets = _intent(call).targets
        if self.operation is ops.PERSONNEL_UNLOCK_LINKEDIN:
            # People this guard already unlocked cost nothing again; price only the rest.
            known = self.state.known_chargeable(_LINKEDIN, targets)
            if known == ():
                return QuoteDecision(credits=0, free=True)
            unknown = [t for t in targets if self.state.contact_state(_LINKEDIN, t) is None]
            return QuoteDecision(credits=self.costs.estimate(self.operation.name, len(unknown)))
        credits = self.costs.estimate(self.operation.name, len(targets))
        if credits == 0:
            return QuoteDecision(credits=0, free=True, free_reason="free in the cost table")
        return QuoteDecision(credits=credits)

    def evidence(self, call: Call[Any], result: Any, decision: QuoteDecision) -> Evidence:
        if self.operation is ops.PERSONNEL_UNLOCK_LINKEDIN:
            done = [item.personnel_id for item in result.items if item.success]
            self.state.mark_contacts(_LINKEDIN, done, "unlocked")
        price = self.costs.price(self.operation.name).credits
        if price is None:
            return Evidence(expected_charge=not decision.free)  # measured from the balance
        charged = sum(
            1
            for item in result.items
            if item.success and not getattr(item, "already_unlocked", False)
        )
        return Evidence(reported=price * charged, expected_charge=not decision.free)


_LINKEDIN = "linkedin_activity"


def build_policies(
    costs: CostTable, state: UnlockState, precheck_mode: str
) -> dict[str, PaidPolicy]:
    """One policy per paid operation name."""
    kw = {"precheck_mode": precheck_mode}
    return {
        ops.EVENTS_UNLOCK.name: EventUnlockPolicy(costs, state, **kw),
        ops.EVENTS_UNLOCK_VISITORS.name: VisitorUnlockPolicy(costs, state, **kw),
        ops.EVENTS_UNLOCK_FULL_ACCESS.name: FullAccessUnlockPolicy(costs, state, **kw),
        ops.PERSONNEL_EVENTS_BY_NAME.name: SearchPolicy(
            ops.PERSONNEL_EVENTS_BY_NAME, costs, state, subject="person_name", **kw
        ),
        ops.CONTACTS_UNLOCK.name: ContactUnlockPolicy(
            ops.CONTACTS_UNLOCK, costs, state, kind="email", **kw
        ),
        ops.CONTACTS_UNLOCK_PHONE.name: ContactUnlockPolicy(
            ops.CONTACTS_UNLOCK_PHONE, costs, state, kind="phone", **kw
        ),
        ops.EXHIBITORS_SEARCH_BY_COMPANY.name: SearchPolicy(
            ops.EXHIBITORS_SEARCH_BY_COMPANY, costs, state, **kw
        ),
        ops.EXHIBITORS_SEARCH_EVENTS.name: SearchPolicy(
            ops.EXHIBITORS_SEARCH_EVENTS, costs, state, **kw
        ),
        ops.PERSONNEL_UNLOCK_LINKEDIN.name: ItemPricedPolicy(
            ops.PERSONNEL_UNLOCK_LINKEDIN, costs, state, **kw
        ),
        ops.PERSONNEL_GENERATE_OUTREACH.name: ItemPricedPolicy(
            ops.PERSONNEL_GENERATE_OUTREACH, costs, state, **kw
        ),
    }
