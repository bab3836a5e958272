"""CreditGuard: the pipeline step every paid call goes through.

quote → check → reserve → confirm → execute once → settle → refresh → record.
Pure arithmetic lives in ``_core.admission``/``_core.costs``; per-route knowledge
in ``_policies``; this module only orchestrates, with cancellation-safe cleanup.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import attrs

from lensmor_async._core.admission import QuoteDecision, admit
from lensmor_async._core.costs import CostTable
from lensmor_async._pipeline import SendProbe, last_trace_id
from lensmor_async.errors import (
    ActionNotAllowedError,
    APIStatusError,
    ConfigurationError,
    ConfirmationRequiredError,
    ConflictError,
    CreditError,
    InsufficientCreditsError,
    SpendDeclinedError,
    SpendInDoubtError,
    TransportError,
)
from lensmor_async.guard._balance import BalanceCache
from lensmor_async.guard._confirm import ConfirmCallback, SpendRequest, ask
from lensmor_async.guard._gate import PaidGate
from lensmor_async.guard._intent import Intent
from lensmor_async.guard._journal_protocol import Journal, JournalEntry, JournalState
from lensmor_async.guard._journaling import (
    REPEATABLE_OPERATIONS,
    IntentJournal,
    current_key,
    follow_up_of,
    hold_from_json,
    hold_to_json,
    intent_from_record,
    open_journal,
)
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Hold, Ledger, StaleHoldError
from lensmor_async.guard._policies import PaidPolicy, Reconciliation, build_policies
from lensmor_async.guard._quote import Quote, QuoteCaptured, QuoteMode, quote_mode
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._recovery import RecoveryReport, recover
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._singleflight import SingleFlight
from lensmor_async.guard._state import UnlockState
from lensmor_async.guard._tasks import PendingTask, TaskKind, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async._pipeline import Call, Sender
    from lensmor_async.models import UnlockSubmission

T = TypeVar("T")
logger = logging.getLogger("lensmor_async")
PrecheckMode = Literal["auto", "always", "never"]
_RECONCILE_SECONDS = 15.0
_ATTACH_SECONDS = 60.0
_CONFLICT_REQUOTES = 2
_PENDING_OUTCOMES = frozenset({SpendOutcome.PENDING_TASK, SpendOutcome.IN_DOUBT})
_MAX_FOLLOW_UPS = 3
_HOLD_SETTLED_STATES = frozenset(
    {JournalState.SUCCEEDED, JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402}
)
_RETRYABLE_JOURNAL_STATES = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})
_JOURNAL_STATES = {
    SpendOutcome.SUCCEEDED: JournalState.SUCCEEDED,
    SpendOutcome.PENDING_TASK: JournalState.ACKNOWLEDGED,
    SpendOutcome.DECLINED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.REFUSED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.FAILED_NO_CHARGE: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.CANCELLED: JournalState.FAILED_NO_CHARGE,
    SpendOutcome.REJECTED_402: JournalState.REJECTED_402,
    SpendOutcome.IN_DOUBT: JournalState.IN_DOUBT,
}
_LATCH_RECHECK_SECONDS = 1.0


class CreditGuard:
    """Guards every paid call: never overspends, never pays twice, records everything.

    ``confirm`` approves each spend (sync or async, given a :class:`SpendRequest`);
    without it paid calls fail closed with ``ConfirmationRequiredError``. ``budget``
    caps what this guard (or every guard sharing ``ledger``) may spend.
    """

    def __init__(
        self,
        confirm: ConfirmCallback | None = None,
        *,
        budget: int | None = None,
        ledger: Ledger | None = None,
        costs: CostTable | None = None,
        precheck: PrecheckMode = "auto",
        balance_ttl: float = 30.0,
        hold_ttl: float = 3600.0,
        charge_failed_contacts: bool = False,
        confirm_free: bool = False,
        journal: Journal | str | os.PathLike[str] | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        if precheck not in ("auto", "always", "never"):
            raise ConfigurationError("precheck must be 'auto', 'always' or 'never'")
        self._ledger = _choose_ledger(ledger, budget)
        self._confirm = confirm
        self.costs = costs or CostTable.default()
        self.charge_failed_contacts = charge_failed_contacts
        self._confirm_free = confirm_free
        self._hold_ttl = hold_ttl
        self._balance_ttl = balance_ttl
        self._state = UnlockState()
        self._policies = build_policies(self.costs, self._state, precheck)
        self._flights = SingleFlight()
        self._gate = PaidGate()
        self._history: list[SpendRecord] = []
        self._record_slots: dict[str, int] = {}
        """History positions of records that a later settlement replaces."""
        self._pending: dict[str, PendingTask] = {}
        self._in_doubt: dict[str, SpendRecord] = {}
        self._doubtful: dict[str, _Doubt] = {}
        self._held = 0
        self._spent = 0
        self._latched_402 = False
        self._latch_checked = float("-inf")
        self._services: GuardServices | None = None
        self._balance: BalanceCache | None = None
        self._journal = IntentJournal(open_journal(journal))
        # A journal opened here from a path is ours to close; a passed-in one is not.
        self._owns_journal = journal is not None and not isinstance(journal, Journal)
        self._checkpoint_hook = checkpoint
        self.poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0)

    def __repr__(self) -> str:
        return f"CreditGuard(budget={self.budget}, spent={self._spent}, reserved={self._held})"

    # -- public state -----------------------------------------------------------------

    @property
    def budget(self) -> int | None:
        """The spending cap held by the ledger (None: no cap)."""
        return self._ledger.budget

    @property
    def ledger(self) -> Ledger:
        """Where holds and spending are recorded (shared across processes if configured)."""
        return self._ledger

    @property
    def history(self) -> tuple[SpendRecord, ...]:
        """Every paid intent this guard handled, in order."""
        return tuple(self._history)

    @property
    def spent(self) -> int:
        """Credits this guard settled as spent (in-doubt intents count as spent)."""
        return self._spent

    @property
    def reserved(self) -> int:
        """Credits this guard currently holds for calls in flight or tasks still running."""
        return self._held

    @property
    def in_doubt(self) -> tuple[SpendRecord, ...]:
        """Intents whose outcome could not be established (each with its reason)."""
        return tuple(self._in_doubt.values())

    @property
    def balance_refreshes(self) -> int:
        """How many balance requests the guard made (single-flight, cached)."""
        return 0 if self._balance is None else self._balance.refreshes

    # -- wiring -------------------------------------------------------------------------

    def bind(
        self,
        services: GuardServices,
        *,
        poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0),
        account: str = "default",
    ) -> None:
        """Attach the client's free calls (done by ``AsyncLensmor``; one client per guard).

        ``account`` is a fingerprint of the API key (never the key): it scopes journal
        intent keys to one account.
        """
        if self._services is not None and self._services is not services:
            raise ConfigurationError("a CreditGuard belongs to one client; create one per client")
        self._services = services
        self.poll_intervals = poll_intervals
        self._journal.fingerprint = account
        self._balance = BalanceCache(self._fetch_balance, ttl=self._balance_ttl)

    async def _fetch_balance(self) -> int:
        return int((await self._require_services().balance()).total_balance)

    def _require_services(self) -> GuardServices:
        if self._services is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._services

    # -- the pipeline step --------------------------------------------------------------

    async def run_paid(self, call: Call[T], send: Sender, *, deadline: float | None) -> T:
        """Run one paid call through the guard (the pipeline calls this)."""
        if self._confirm is None:
            raise ConfirmationRequiredError(
                f"{call.operation.name} spends credits and no confirm callback is configured: "
                "pass CreditGuard(confirm=...) to the client "
                "(e.g. always_confirm, confirm_up_to(n))"
            )
        policy = self._policies[call.operation.name]
        intent = _intent_of(call)
        await self._settle_earlier_doubt(intent)
        if quote_mode.get() is not None:
            return await self._guarded(policy, call, send, deadline)
        return await self._flights.run(
            intent.key, lambda: self._guarded(policy, call, send, deadline)
        )

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

    async def _refuse_if_not_allowed(self, intent: Intent, decision: QuoteDecision) -> None:
        reason = decision.refused_reason
        if reason is None:
            return
        await self._record(intent, SpendOutcome.REFUSED, decision.credits, 0, reason=reason)
        if reason == "insufficient_balance":
            raise InsufficientCreditsError(
                f"{intent.describe()}: precheck reports an insufficient balance",
                required=decision.credits,
                available=decision.available,
                preflight=True,
            )
        raise ActionNotAllowedError(
            f"{intent.describe()} cannot run now (precheck: {reason}); nothing was sent",
            reason_code=reason,
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

    def _required(self, intent: Intent, decision: QuoteDecision) -> int:
        if decision.credits is not None:
            return decision.credits
        if self.budget is not None:
            raise ConfigurationError(
                f"the price of {intent.operation} is unknown; set it with "
                "CostTable.default().with_price_map({...}) to spend under a budget"
            )
        return 0

    async def _check_balance(self, intent: Intent, required: int) -> int:
        balance = self._require_balance()
        if not self._latched_402:
            total = await balance.current()
        elif time.monotonic() - self._latch_checked < _LATCH_RECHECK_SECONDS:
            total = balance.known or 0  # latched: refuse without I/O until the next recheck
        else:
            # Only a refresh that shows enough credits lifts the 402 latch.
            self._latch_checked = time.monotonic()
            total = await balance.current(max_age=0)
            self._latched_402 = total - self._held < required
        verdict = admit(required, balance=total, held=self._held, latched_402=self._latched_402)
        if not verdict.ok:
            await self._record(intent, SpendOutcome.REFUSED, required, 0, reason=verdict.reason)
            raise InsufficientCreditsError(
                f"{intent.describe()} needs {required} credits; {verdict.available} available"
                + (
                    " (the server answered 402 earlier)"
                    if verdict.reason == "server_402_latched"
                    else ""
                ),
                required=required,
                available=verdict.available,
                preflight=True,
            )
        return total

    async def _reserve(self, intent: Intent, required: int) -> Hold:
        try:
            # The journal key links an orphaned hold to its journal row after a crash.
            key = current_key.get() or intent.key
            return await self._ledger.reserve(key, required, ttl=self._hold_ttl)
        except BaseException as exc:
            self._held -= required
            if isinstance(exc, InsufficientCreditsError):
                await self._record(intent, SpendOutcome.REFUSED, required, 0, reason="budget")
            raise

    async def _release(self, hold: Hold) -> None:
        self._held -= hold.amount
        await self._ledger.release(hold)

    def _spend_request(
        self,
        intent: Intent,
        call: Call[Any],
        decision: QuoteDecision,
        balance: int,
        *,
        requote: bool = False,
    ) -> SpendRequest:
        targets = tuple(call.body.get("personnel_ids", ())) if isinstance(call.body, dict) else ()
        return SpendRequest(
            operation=intent.operation,
            description=intent.describe(),
            targets=targets or intent.targets,
            expected_credits=decision.credits,
            current_balance=balance,
            budget_remaining=None
            if self.budget is None
            else max(self.budget - self._spent - self._held, 0),
            precheck_reason=decision.refused_reason
            or ("ok" if decision.credits is not None else None),
            requote=requote,
        )

    async def _confirm_spend(
        self,
        intent: Intent,
        decision: QuoteDecision,
        balance: int,
        mode: QuoteMode | None,
        request: SpendRequest,
    ) -> None:
        if (
            mode is not None
            and mode.approved is not None
            and mode.approved.matches(decision.credits, balance)
        ):
            return  # A person already approved exactly this quote.
        assert self._confirm is not None
        if not await ask(self._confirm, request):
            await self._record(
                intent, SpendOutcome.DECLINED, decision.credits, 0, reason="confirm declined"
            )
            raise SpendDeclinedError(
                f"spend declined: {intent.describe()} ({decision.credits} credits)"
            )

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

    async def _commit(
        self,
        hold: Hold,
        actual: int,
        *,
        balance_after: int | None = None,
        adjust_balance: bool = True,
    ) -> None:
        """Spend ``actual`` against ``hold``.

        The cached balance drops in the same synchronous step as the local hold, so no
        concurrent admission can see the hold gone but the balance not yet lowered.
        """
        balance = self._require_balance()
        if balance_after is not None:
            balance.observe(balance_after)
        elif adjust_balance:
            balance.spend(actual)
        self._held -= hold.amount
        self._spent += actual
        await self._ledger_commit(hold, hold.intent_key, actual)

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
                policy, call, decision, hold, "cancelled after the request was sent"
            )
            return None
        verdict = await self._reconcile_now(
            policy, call, decision, settle_wait=policy.reconcile_wait
        )
        return await self._apply_reconciliation(policy, call, decision, hold, verdict, exc)

    async def _on_402(
        self, intent: Intent, decision: QuoteDecision, hold: Hold, exc: InsufficientCreditsError
    ) -> BaseException:
        await self._release(hold)
        self._latched_402 = True
        self._latch_checked = time.monotonic()
        self._require_balance().invalidate()
        await self._record(
            intent, SpendOutcome.REJECTED_402, decision.credits, 0, reason=exc.message
        )
        return InsufficientCreditsError(
            f"the server refused {intent.describe()} for insufficient credits: {exc.message}",
            required=decision.credits,
            available=None,  # the cached figure was evidently wrong; it is refreshed next
            status=402,
            error_key=exc.error_key,
            trace_id=exc.trace_id,
        )

    async def _reconcile_now(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        *,
        settle_wait: float = 0.0,
    ) -> Reconciliation:
        services = self._require_services()
        try:
            with anyio.fail_after(_RECONCILE_SECONDS + settle_wait):
                return await policy.reconcile(call, decision, services, settle_wait=settle_wait)
        except Exception as exc:
            return Reconciliation(None, None, f"reconciliation failed: {type(exc).__name__}")

    async def _apply_reconciliation(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        hold: Hold,
        verdict: Reconciliation,
        exc: BaseException,
    ) -> BaseException | None:
        intent = _intent_of(call)
        if verdict.charged is None:
            await self._mark_in_doubt(
                policy, call, decision, hold, f"{type(exc).__name__}: {verdict.reason}"
            )
            return SpendInDoubtError(
                f"{intent.describe()} may have been charged: {verdict.reason}",
                intent=intent,
                reason=verdict.reason,
            )
        record = await self._settle_verdict(intent, decision, hold, verdict, verdict.reason)
        if not verdict.charged:
            return None
        return SpendInDoubtError(
            f"{intent.describe()} was charged ({record.actual} credits) but its response was "
            f"lost ({type(exc).__name__}); {verdict.reason}",
            intent=intent,
            reason=verdict.reason,
        )

    async def _settle_verdict(
        self,
        intent: Intent,
        decision: QuoteDecision,
        hold: Hold,
        verdict: Reconciliation,
        reason: str,
        slot: str | None = None,
    ) -> SpendRecord:
        """Act on an established verdict: a charged intent commits, an uncharged one releases."""
        if verdict.charged:
            actual = verdict.actual if verdict.actual is not None else hold.amount
            await self._commit(hold, actual)
            return await self._record(
                intent, SpendOutcome.SUCCEEDED, decision.credits, actual, reason=reason, slot=slot
            )
        await self._release(hold)
        return await self._record(
            intent, SpendOutcome.FAILED_NO_CHARGE, decision.credits, 0, reason=reason, slot=slot
        )

    async def _mark_in_doubt(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        hold: Hold,
        reason: str,
    ) -> None:
        # The hold stays: an unknown outcome keeps counting against the budget and the
        # balance until reconcile() (or recover() after a crash) settles it.
        intent = _intent_of(call)
        self._require_balance().invalidate()
        logger.warning("paid intent %s (%s) is in doubt: %s", intent.key, intent.operation, reason)
        key = _doubt_key(intent)
        record = await self._record(
            intent, SpendOutcome.IN_DOUBT, decision.credits, None, reason=reason, slot=key
        )
        self._in_doubt[key] = record
        self._doubtful[key] = _Doubt(policy, call, decision, hold, current_key.get())

    def _doubtful_journal_keys(self) -> frozenset[str]:
        return frozenset(d.journal_key for d in self._doubtful.values() if d.journal_key)

    async def reconcile(self) -> tuple[SpendRecord, ...]:
        """Settle in-doubt intents of this process without re-sending them.

        Each is checked (precheck, access mode, contact state); a charged one is spent,
        an uncharged one releases its hold, an unknowable one stays in doubt (its hold
        still counts against the budget). Returns the records that were settled.
        """
        settled: list[SpendRecord] = []
        for key in list(self._doubtful):
            record = await self._settle_doubt_once(key)
            if record is not None:
                settled.append(record)
        return tuple(settled)

    async def _settle_doubt_once(self, key: str) -> SpendRecord | None:
        # Concurrent callers (reconcile() and repeats of the intent) share one settlement.
        with anyio.CancelScope(shield=True):
            record = await self._flights.run(f"doubt:{key}", lambda: self._settle_doubt(key))
        # Returned outside the scope: a cancel scope may swallow its exception, and the
        # type checker must see a return on every path.
        return record  # noqa: RET504

    async def _settle_earlier_doubt(self, intent: Intent) -> None:
        """The same intent went in doubt before: settle it first, or refuse to pay twice."""
        key = _doubt_key(intent)
        if key not in self._doubtful:
            return  # (a repeatable search never matches: each call is its own purchase)
        await self._settle_doubt_once(key)
        if key in self._doubtful:
            record = self._in_doubt.get(key)
            raise SpendInDoubtError(
                f"{intent.describe()} is still in doubt from an earlier attempt; "
                "sending it again could pay twice",
                intent=intent,
                reason=(record.reason if record is not None else None) or "in doubt",
            )

    async def _settle_doubt(self, key: str) -> SpendRecord | None:
        doubt = self._doubtful.get(key)
        if doubt is None:
            return None  # settled meanwhile
        verdict = await self._reconcile_now(
            doubt.policy, doubt.call, doubt.decision, settle_wait=doubt.policy.reconcile_wait
        )
        if verdict.charged is None:
            return None
        self._doubtful.pop(key, None)
        self._in_doubt.pop(key, None)
        intent = _intent_of(doubt.call)
        token = current_key.set(doubt.journal_key)
        try:
            return await self._settle_verdict(
                intent, doubt.decision, doubt.hold, verdict, f"reconciled: {verdict.reason}", key
            )
        finally:
            current_key.reset(token)

    # -- tasks ---------------------------------------------------------------------------

    def task_handle(
        self, kind: TaskKind, intent: Intent, submission: UnlockSubmission
    ) -> UnlockTaskHandle:
        """The handle for a submitted (or skipped) unlock batch."""
        return UnlockTaskHandle(
            guard=self,
            kind=kind,
            task_id=submission.task_id,
            requested=intent.targets,
            skipped=self._skipped_ids(submission.task_id, submission.skipped_personnel_ids),
        )

    def _skipped_ids(self, task_id: str | None, reported: tuple[str, ...] = ()) -> tuple[str, ...]:
        # Ids the guard left out before sending are not reported by a 0.22 server.
        pending = None if task_id is None else self._pending.get(task_id)
        trimmed = () if pending is None else pending.decision.skipped_ids
        return tuple(dict.fromkeys((*reported, *trimmed)))

    def task_handle_for_id(self, kind: TaskKind, task_id: str) -> UnlockTaskHandle:
        """A handle rebuilt from a task id (its requested ids come from the task itself)."""
        pending = self._pending.get(task_id)
        requested = pending.intent.targets if pending is not None else None
        return UnlockTaskHandle(
            guard=self,
            kind=kind,
            task_id=task_id,
            requested=requested,
            skipped=self._skipped_ids(task_id),
        )

    async def poll_task(self, kind: TaskKind, task_id: str) -> Any:
        """One poll of an unlock task (used by handles)."""
        pending = self._pending.get(task_id)
        if pending is not None and not pending.polling:
            pending.polling = True
            await self._journal.advance(JournalState.POLLING, key=pending.journal_key)
        self._checkpoint("during_polling")
        return await self._require_services().unlock_task(kind.phone, task_id)

    async def settle_task(
        self, kind: TaskKind, task_id: str, *, unlocked: tuple[str, ...], failed: tuple[str, ...]
    ) -> int | None:
        """Settle a finished task's hold from its item outcomes; returns credits spent."""
        self._state.mark_contacts(kind.name, unlocked, "unlocked")
        self._state.mark_contacts(kind.name, failed, "failed")
        pending = self._pending.pop(task_id, None)
        if pending is None:
            return None
        price = self.costs.price(kind.operation.name).credits or 0
        actual = price * (len(unlocked) + (len(failed) if self.charge_failed_contacts else 0))
        with anyio.CancelScope(shield=True):
            if pending.recovered:
                await self._commit_recovered(pending.hold, pending.hold.intent_key, actual)
            else:
                await self._commit(pending.hold, actual)
            self._checkpoint("after_settle")
            # Settled from the refreshed balance: the next check fetches it again.
            self._require_balance().invalidate()
            await self._record(
                pending.intent,
                SpendOutcome.SUCCEEDED,
                pending.decision.credits,
                actual,
                task_id=task_id,
                journal_key=pending.journal_key,
            )
        return actual

    async def aclose(self) -> None:
        """Close what the guard opened itself (a journal given as a path); idempotent.

        ``AsyncLensmor.aclose()`` calls this. Ledgers and journals passed in are the
        caller's to close.
        """
        if self._owns_journal and self._journal.journal is not None:
            await self._journal.journal.aclose()

    # -- recovery ------------------------------------------------------------------------

    async def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """Finish intents a crashed process left in the journal, without re-sending them.

        Resumes polling of acknowledged tasks, reconciles intents that were being sent,
        releases holds of intents never sent and purges expired holds.
        """
        return await recover(self, deadline=deadline)

    async def _conclude_recovered(self, entry: JournalEntry, verdict: Reconciliation) -> str:
        """Settle a recovered in-flight intent from its reconciliation verdict."""
        hold = None if entry.hold is None else hold_from_json(entry.hold)
        intent = intent_from_record(entry.request)
        if verdict.charged is False:
            if hold is not None:
                await self._ledger.release(hold)
            await self._record(
                intent,
                SpendOutcome.FAILED_NO_CHARGE,
                entry.estimate,
                0,
                reason=verdict.reason,
                journal_key=entry.intent_key,
            )
            return "failed_no_charge"
        actual = verdict.actual if verdict.actual is not None else (entry.estimate or 0)
        await self._commit_recovered(hold, entry.intent_key, actual)
        outcome = SpendOutcome.SUCCEEDED if verdict.charged else SpendOutcome.IN_DOUBT
        record = await self._record(
            intent,
            outcome,
            entry.estimate,
            actual,
            reason=verdict.reason,
            journal_key=entry.intent_key,
        )
        if outcome is SpendOutcome.IN_DOUBT:
            # Recovery is the last resort: count the estimate as spent (the budget stays
            # safe) and clear the hold so a later recover() does not process it again.
            await self._journal.advance(
                JournalState.IN_DOUBT,
                key=entry.intent_key,
                hold=None,
                actual=actual,
                reason=f"counted at the estimate after recovery: {verdict.reason}",
            )
            self._in_doubt[entry.intent_key] = record
        return outcome.value

    async def _conclude_unresolved(self, entry: JournalEntry, reason: str) -> None:
        """A task still running at the recovery deadline: count it (safely) and say why."""
        pending = None if entry.task_id is None else self._pending.pop(entry.task_id, None)
        hold = pending.hold if pending is not None else None
        actual = entry.estimate or 0
        await self._commit_recovered(hold, entry.intent_key, actual)
        await self._journal.advance(
            JournalState.UNRESOLVED, key=entry.intent_key, reason=reason, actual=actual
        )

    async def _commit_recovered(self, hold: Hold | None, intent_key: str, actual: int) -> None:
        # The hold belongs to a dead process, so it was never in this guard's local count.
        if hold is not None and await self._ledger.committed(hold.hold_id) is not None:
            return  # It settled before the crash; only the journal missed it.
        self._spent += actual
        await self._ledger_commit(hold, intent_key, actual)

    async def _ledger_commit(self, hold: Hold | None, intent_key: str, actual: int) -> None:
        """Spend ``actual`` in the ledger; without a live hold it is recorded as unheld."""
        if hold is None:
            await self._ledger.record_unheld(intent_key, actual)
            return
        try:
            await self._ledger.commit(hold, actual)
        except StaleHoldError:
            # The hold expired meanwhile, but the spend happened: keep ``spent`` truthful.
            await self._ledger.record_unheld(intent_key, actual)

    # -- two-phase quotes ------------------------------------------------------------------

    async def quote(
        self, method: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> Quote[T]:
        """Price a paid call without spending it.

        ``quote = await guard.quote(client.events.unlock, event_id)``.

        Show the quote to a person, then ``await quote.execute()``; executing re-checks
        and asks again only if the cost or balance moved. Quotes expire (``ttl``).
        """
        token = quote_mode.set(QuoteMode(capture=True))
        try:
            await method(*args, **kwargs)
        except QuoteCaptured as captured:
            return Quote(self, method, args, kwargs, captured.request)
        finally:
            quote_mode.reset(token)
        return Quote(self, method, args, kwargs, None)

    # -- records ---------------------------------------------------------------------------

    async def _record(
        self,
        intent: Intent,
        outcome: SpendOutcome,
        estimate: int | None,
        actual: int | None,
        *,
        reason: str | None = None,
        trace_id: str | None = None,
        task_id: str | None = None,
        journal_key: str | None = None,
        slot: str | None = None,
    ) -> SpendRecord:
        record = SpendRecord(
            intent, outcome, estimate, actual, trace_id=trace_id, task_id=task_id, reason=reason
        )
        await self._journal_outcome(
            outcome, actual=actual, reason=reason, task_id=task_id, key=journal_key
        )
        # One record per intent: a task's or an in-doubt intent's settled record replaces
        # its pending one in place, so every intent ends in exactly one final state.
        slot = slot or (None if task_id is None else f"task:{task_id}")
        index = None if slot is None else self._record_slots.pop(slot, None)
        if index is None:
            self._history.append(record)
            if slot is not None and outcome in _PENDING_OUTCOMES:
                self._record_slots[slot] = len(self._history) - 1
        else:
            previous = self._history[index]
            self._history[index] = attrs.evolve(
                record, trace_id=record.trace_id or previous.trace_id
            )
        return record

    async def _journal_outcome(
        self,
        outcome: SpendOutcome,
        *,
        actual: int | None,
        reason: str | None,
        task_id: str | None,
        key: str | None,
    ) -> None:
        state = _JOURNAL_STATES.get(outcome)
        if state is None:
            return
        fields: dict[str, Any] = {"reason": reason}
        if state in _HOLD_SETTLED_STATES:
            fields["hold"] = None  # settled: recovery must not touch this hold again
        if actual is not None:
            fields["actual"] = actual
        if task_id is not None:
            fields["task_id"] = task_id
        await self._journal.advance(state, key=key, **fields)

    def _checkpoint(self, name: str) -> None:
        """A durability checkpoint; crash tests hook here (``CreditGuard(checkpoint=...)``)."""
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(name)

    def _require_balance(self) -> BalanceCache:
        if self._balance is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._balance


@attrs.frozen(slots=True)
class _Doubt:
    """What reconcile() needs to settle an in-doubt intent later."""

    policy: PaidPolicy
    call: Call[Any]
    decision: QuoteDecision
    hold: Hold
    journal_key: str | None


def _doubt_key(intent: Intent) -> str:
    """Where an in-doubt intent is tracked: per intent, or per call for repeatable searches."""
    if intent.operation in REPEATABLE_OPERATIONS:
        return f"doubt:{intent.key}:{uuid.uuid4().hex}"
    return f"doubt:{intent.key}"


def _choose_ledger(ledger: Ledger | None, budget: int | None) -> Ledger:
    if ledger is None:
        return InMemoryLedger(budget=budget)
    if budget is not None and ledger.budget != budget:
        raise ConfigurationError(
            "give the budget to the ledger (it holds the shared budget), not both"
        )
    return ledger


def _intent_of(call: Call[Any]) -> Intent:
    if call.intent is None:
        raise ConfigurationError(f"{call.operation.name} is paid but the call carries no intent")
    return call.intent


def _certainly_not_executed(exc: BaseException, probe: SendProbe) -> bool:
    """True when the server surely did not run the action (so the hold can go)."""
    if not probe.started:
        return True
    if isinstance(exc, TransportError):
        return not exc.request_sent
    return isinstance(exc, APIStatusError) and exc.status < 500
