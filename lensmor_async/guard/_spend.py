"""The paid pipeline step: quote, attach or claim, reserve, confirm, send once, settle.

A failed send is released, latched (402) or handed to the in-doubt handling.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from lensmor_async._core.admission import QuoteDecision
from lensmor_async._pipeline import SendProbe, last_trace_id
from lensmor_async.errors import (
    APIStatusError,
    ConfirmationRequiredError,
    ConflictError,
    CreditError,
    InsufficientCreditsError,
    SpendDeclinedError,
    SpendInDoubtError,
    TransportError,
)
from lensmor_async.guard._in_doubt import _InDoubtHandling
from lensmor_async.guard._journal_protocol import JournalEntry, JournalState
from lensmor_async.guard._journaling import current_key, follow_up_of, hold_to_json
from lensmor_async.guard._ledger_protocol import Hold
from lensmor_async.guard._policies import PaidPolicy
from lensmor_async.guard._quote import QuoteCaptured, quote_mode
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._settlement import _intent_of
from lensmor_async.guard._spend_checks import _SpendChecks
from lensmor_async.guard._tasks import PendingTask

if TYPE_CHECKING:
    from lensmor_async._pipeline import Call, Sender

T = TypeVar("T")
logger = logging.getLogger("lensmor_async")
_ATTACH_SECONDS = 60.0
_CONFLICT_REQUOTES = 2
_MAX_FOLLOW_UPS = 3
_RETRYABLE_JOURNAL_STATES = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})


class _SpendPath(_SpendChecks, _InDoubtHandling):
    """Runs one paid call: quote, attach or claim, reserve, confirm, send once, settle."""

    async def run_paid(self, call: Call[T], send: Sender, *, deadline: float | None) -> T:
        """Run one paid call through the guard (the pipeline calls this)."""
        if self._confirm is None:
            raise ConfirmationRequiredError(
                f"{call.operation.name} spends credits and no confirm callback is configured: "
                "pass CreditGuard(confirm=...) to the client "
                "(e.g. always_confirm, confirm_up_to(n))"
            )
        policy = self._policies[call.operation.name]
        if quote_mode.get() is not None:
            return await self._settled_then_guarded(policy, call, send, deadline)
        return await self._flights.run(
            _intent_of(call).key,
            lambda: self._settled_then_guarded(policy, call, send, deadline),
        )

    async def _settled_then_guarded(
        self, policy: PaidPolicy, call: Call[T], send: Sender, deadline: float | None
    ) -> T:
        # Inside the flight, not before it: a follower that takes over from a leader
        # cancelled after its send must settle that send's doubt before sending again,
        # or both sends would be counted for one purchase.
        await self._settle_earlier_doubt(_intent_of(call))
        return await self._guarded(policy, call, send, deadline)

    async def _guarded(
        self,
        policy: PaidPolicy,
        call: Call[T],
        send: Sender,
        deadline: float | None,
        *,
        attached: bool = False,
    ) -> T:
        if not attached and quote_mode.get() is None:
            existing = await self._journaled_intent(call)
            if existing is not None:
                return await self._attach(policy, call, send, deadline, existing)
        for attempt in range(_CONFLICT_REQUOTES + 1):
            try:
                return await self._guarded_once(policy, call, send, deadline)
            except ConflictError:
                # A 409 charged nothing (e.g. another batch is unlocking some of these
                # contacts): price again, so the overlap is left out, instead of failing.
                if not policy.requote_on_conflict or attempt == _CONFLICT_REQUOTES:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _journaled_intent(self, call: Call[Any]) -> JournalEntry | None:
        """A journal row for this same intent (another worker's), unless it cost nothing."""
        if not self._journal.enabled:
            return None
        entry = await self._journal.get(self._journal.key_for(_intent_of(call)))
        if entry is None or entry.state in _RETRYABLE_JOURNAL_STATES:
            return None
        return entry

    async def _guarded_once(
        self, policy: PaidPolicy, call: Call[T], send: Sender, deadline: float | None
    ) -> T:
        decision = await policy.quote(call, self._require_services())
        intent = _intent_of(call)
        await self._refuse_if_not_allowed(intent, decision)
        free = policy.free_result(call, decision)
        if free is not None and not follow_up_of.get():
            # Nothing chargeable may mean another worker just submitted this very intent:
            # attach to its row for the real result rather than answer "all skipped".
            existing = await self._journaled_intent(call)
            if existing is not None:
                return await self._attach(policy, call, send, deadline, existing)
        if free is not None:
            await self._record(
                intent, SpendOutcome.FREE, decision.credits, 0, reason="nothing chargeable"
            )
            return free  # type: ignore[no-any-return]
        if decision.free and not self._confirm_free and quote_mode.get() is None:
            return await self._send_free(policy, call, decision, send, deadline)
        async with self._gate.enter(exclusive=policy.measure_by_balance):
            return await self._spend(
                policy, policy.prepare(call, decision), decision, send, deadline
            )

    async def _send_free(
        self,
        policy: PaidPolicy,
        call: Call[T],
        decision: QuoteDecision,
        send: Sender,
        deadline: float | None,
    ) -> T:
        result = await send(call, deadline=deadline)
        settlement = policy.settle(call, result, decision)
        await self._record(
            _intent_of(call),
            SpendOutcome.FREE,
            0,
            settlement.actual or 0,
            reason="already unlocked",
        )
        return result

    async def _spend(
        self,
        policy: PaidPolicy,
        call: Call[T],
        decision: QuoteDecision,
        send: Sender,
        deadline: float | None,
    ) -> T:
        intent = _intent_of(call)
        required = self._required(intent, decision)
        mode = quote_mode.get()
        capture = mode is not None and mode.capture
        key = self._journal.key_for(intent)
        claim = None if capture else await self._journal.claim(key, call, decision.credits)
        if claim is not None and not claim.owned:
            return await self._attach(policy, call, send, deadline, claim.entry)
        token = current_key.set(key if claim is not None else None)
        try:
            return await self._spend_owned(policy, call, decision, send, deadline, required)
        finally:
            current_key.reset(token)

    async def _spend_owned(
        self,
        policy: PaidPolicy,
        call: Call[T],
        decision: QuoteDecision,
        send: Sender,
        deadline: float | None,
        required: int,
    ) -> T:
        intent = _intent_of(call)
        balance_before = await self._check_balance(intent, required)
        mode = quote_mode.get()
        requote = mode is not None and not mode.capture
        request = self._spend_request(intent, call, decision, balance_before, requote=requote)
        if mode is not None and mode.capture:
            raise QuoteCaptured(request)
        # No await since the balance check: check-and-hold stays atomic on this loop.
        self._held += required
        hold = await self._reserve(intent, required)
        self._checkpoint("after_reserve")
        try:
            await self._journal.advance(JournalState.RESERVED, hold=hold_to_json(hold))
            await self._confirm_spend(intent, decision, balance_before, mode, request)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._release(hold)
                if not isinstance(exc, SpendDeclinedError):  # a decline is recorded already
                    await self._record(
                        intent,
                        SpendOutcome.CANCELLED,
                        decision.credits,
                        0,
                        reason=f"{type(exc).__name__} before sending",
                    )
            raise
        return await self._execute(policy, call, decision, hold, send, deadline, balance_before)

    async def _attach(
        self,
        policy: PaidPolicy,
        call: Call[T],
        send: Sender,
        deadline: float | None,
        entry: JournalEntry,
    ) -> T:
        """Another process owns this intent: wait for its outcome instead of paying again."""
        settled = await self._await_owner(entry, deadline)
        attached = policy.attached_result(call, settled)
        if attached is not None:
            return attached  # type: ignore[no-any-return]
        if settled.state in (JournalState.IN_DOUBT, JournalState.UNRESOLVED):
            raise SpendInDoubtError(
                f"{_intent_of(call).describe()} was sent by another worker and is in doubt: "
                f"{settled.reason}",
                intent=_intent_of(call),
                reason=settled.reason or "in doubt",
            )
        # Done by the other worker (now free), or it failed without charge: quote again.
        # Should the new quote still find something to buy (e.g. contacts refunded after
        # a failure), that is a follow-up purchase with its own journal key.
        chain = follow_up_of.get()
        if len(chain) >= _MAX_FOLLOW_UPS:
            raise CreditError(
                f"{_intent_of(call).describe()} was bought {len(chain)} times by other workers "
                "and still has chargeable items; stopping instead of buying again"
            )
        token = follow_up_of.set((*chain, settled.intent_key))
        try:
            return await self._guarded(policy, call, send, deadline, attached=True)
        finally:
            follow_up_of.reset(token)

    async def _await_owner(self, entry: JournalEntry, deadline: float | None) -> JournalEntry:
        give_up = time.monotonic() + (_ATTACH_SECONDS if deadline is None else 0.0)
        if deadline is not None:
            give_up = min(deadline, time.monotonic() + _ATTACH_SECONDS)
        delay = 0.02
        while not (entry.state.terminal or entry.task_id is not None):
            if time.monotonic() + delay > give_up:
                raise SpendInDoubtError(
                    f"another worker ({entry.owner}) owns this intent and has not finished; "
                    "run recover() if it crashed",
                    intent=entry.intent_key,
                    reason="owned by another worker",
                )
            await anyio.sleep(delay)
            delay = min(delay * 2, 0.5)
            latest = await self._journal.get(entry.intent_key)
            entry = latest if latest is not None else entry
        return entry

    async def _execute(
        self,
        policy: PaidPolicy,
        call: Call[T],
        decision: QuoteDecision,
        hold: Hold,
        send: Sender,
        deadline: float | None,
        balance_before: int,
    ) -> T:
        probe = SendProbe()
        try:
            await self._journal.advance(JournalState.SENDING)
            self._checkpoint("after_journal_write")
            logger.info(
                "paid %s intent=%s estimate=%s: sending",
                call.operation.name,
                _intent_of(call).key,
                decision.credits,
            )
            result = await send(call, deadline=deadline, probe=probe)
            self._checkpoint("after_response")
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                replacement = await self._on_failure(policy, call, decision, hold, exc, probe)
            if replacement is not None:
                raise replacement from exc
            raise
        with anyio.CancelScope(shield=True):
            await self._settle(policy, call, result, decision, hold, balance_before)
        return result

    async def _settle(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        result: Any,
        decision: QuoteDecision,
        hold: Hold,
        balance_before: int,
    ) -> None:
        intent = _intent_of(call)
        settlement = policy.settle(call, result, decision)
        trace_id = last_trace_id.get()
        if settlement.task_id is not None:
            self._pending[settlement.task_id] = PendingTask(
                intent=intent, hold=hold, decision=decision, journal_key=current_key.get()
            )
            await self._record(
                intent,
                SpendOutcome.PENDING_TASK,
                decision.credits,
                None,
                trace_id=trace_id,
                task_id=settlement.task_id,
            )
            return
        actual = settlement.actual
        measured = actual is None
        if actual is None:
            actual = max(balance_before - await self._require_balance().current(max_age=0), 0)
        # A measured spend is already in the fresh balance; do not subtract it twice.
        await self._commit(
            hold, actual, balance_after=settlement.balance_after, adjust_balance=not measured
        )
        self._checkpoint("after_settle")
        logger.info(
            "paid %s intent=%s settled: %s credits (trace_id=%s)",
            intent.operation,
            intent.key,
            actual,
            trace_id,
        )
        await self._record(
            intent, SpendOutcome.SUCCEEDED, decision.credits, actual, trace_id=trace_id
        )

    async def _on_failure(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        hold: Hold,
        exc: BaseException,
        probe: SendProbe,
    ) -> BaseException | None:
        intent = _intent_of(call)
        if isinstance(exc, InsufficientCreditsError):
            return await self._on_402(intent, decision, hold, exc)
        if _certainly_not_executed(exc, probe):
            await self._release(hold)
            outcome = (
                SpendOutcome.FAILED_NO_CHARGE
                if isinstance(exc, Exception)
                else SpendOutcome.CANCELLED
            )
            await self._record(intent, outcome, decision.credits, 0, reason=type(exc).__name__)
            return None
        if not isinstance(exc, Exception):
            # Cancelled after send: there is no time to reconcile now. The hold stays
            # (the budget stays safe) and guard.reconcile() / recover() settles it later.
            await self._mark_in_doubt(
                policy, call, decision, hold, "cancelled after the request was sent", probe.sent_at
            )
            return None
        verdict = await self._reconcile_after_send(policy, call, decision, probe.sent_at)
        return await self._apply_reconciliation(
            policy, call, decision, hold, verdict, exc, probe.sent_at
        )


def _certainly_not_executed(exc: BaseException, probe: SendProbe) -> bool:
    """True when the server surely did not run the action (so the hold can go)."""
    if not probe.started:
        return True
    if isinstance(exc, TransportError):
        return not exc.request_sent
    return isinstance(exc, APIStatusError) and exc.status < 500
