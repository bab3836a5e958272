"""CreditGuard: the pipeline step every paid call goes through.

One paid call is one :class:`Purchase`, driven down one path::

    settle an earlier doubt → replay unrecorded spends → attach to another worker's row?
    → price (policy) → plan (``_core.spend``) → claim the journal row → admit and hold
    → confirm (bounded) → send once → settle from the evidence (uncancellable)

The decisions (plan, admission, settlement arithmetic) are pure functions in
``_core/spend.py``; per-route knowledge is in ``_policies``; the guard's books are
collaborators: ``Account`` (ledger, balance, holds), ``History`` (records and journal
rows), ``Doubts`` (reconciling lost outcomes), ``TaskBook`` (unlock tasks) and
``Recovery`` (what crashed processes left). Cleanup that records money runs through
``_cleanup.finish``, which no cancellation of the caller can cut short.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import anyio

from lensmor_async._call import Approval, Call, Sender
from lensmor_async._core import spend
from lensmor_async._core.costs import CostTable
from lensmor_async._core.reconciliation import NOT_EXECUTED_GRACE
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
from lensmor_async.guard._account import Account
from lensmor_async.guard._cleanup import Hurry, finish
from lensmor_async.guard._confirm import ConfirmCallback, SpendRequest, ask
from lensmor_async.guard._gate import PaidGate
from lensmor_async.guard._history import Entry, History
from lensmor_async.guard._in_doubt import Doubt, Doubts
from lensmor_async.guard._journal_protocol import Journal, JournalEntry, JournalState
from lensmor_async.guard._journaling import IntentJournal, hold_to_json, open_journal
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Ledger
from lensmor_async.guard._policies import PaidPolicy, Reconciliation, build_policies
from lensmor_async.guard._purchase import Purchase
from lensmor_async.guard._quote import Quote, record_call
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._recovery import Recovery, RecoveryReport, owner_is_dead
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._singleflight import SingleFlight
from lensmor_async.guard._state import UnlockState
from lensmor_async.guard._task_book import TaskBook
from lensmor_async.guard._tasks import PendingTask, TaskKind, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async.models import UnlockSubmission

T = TypeVar("T")
P = ParamSpec("P")
PrecheckMode = Literal["auto", "always", "never"]
logger = logging.getLogger("lensmor_async")
_ATTACH_SECONDS = 60.0
_CONFLICT_REQUOTES = 2
_MAX_FOLLOW_UPS = 3
_RETRYABLE_JOURNAL_STATES = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})


class CreditGuard:
    """Guards every paid call: never overspends, never pays twice, records everything.

    ``confirm`` approves each spend (sync or async, given a :class:`SpendRequest`);
    without it paid calls fail closed with ``ConfirmationRequiredError``. ``budget``
    caps what this guard (or every guard sharing ``ledger``) may spend. A confirm
    callback gets at most ``confirm_timeout`` seconds and never more than the call's
    deadline; running out is a decline.
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
        confirm_timeout: float | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        if precheck not in ("auto", "always", "never"):
            raise ConfigurationError("precheck must be 'auto', 'always' or 'never'")
        if confirm_timeout is not None and not confirm_timeout > 0:
            raise ConfigurationError("confirm_timeout must be a number of seconds > 0")
        self._confirm = confirm
        self._confirm_free = confirm_free
        self._confirm_timeout = confirm_timeout
        self.costs = costs or CostTable.default()
        self._account = Account(
            _choose_ledger(ledger, budget), hold_ttl=hold_ttl, balance_ttl=balance_ttl
        )
        self._journal = IntentJournal(open_journal(journal))
        # A journal opened here from a path is ours to close; a passed-in one is not.
        self._owns_journal = journal is not None and not isinstance(journal, Journal)
        self._checkpoint_hook = checkpoint
        self._services: GuardServices | None = None
        self._policies = build_policies(self.costs, UnlockState(), precheck)
        self._flights = SingleFlight()
        self._gate = PaidGate()
        self._history = History(self._journal)
        self._doubts = Doubts(self._account, self._history, self._require_services, self._flights)
        self._tasks = TaskBook(
            account=self._account,
            history=self._history,
            doubts=self._doubts,
            journal=self._journal,
            costs=self.costs,
            state=self._policies["events.unlock"].state,
            services=self._require_services,
            checkpoint=self._checkpoint,
            charge_failed_contacts=charge_failed_contacts,
        )
        self._recovery = Recovery(
            journal=self._journal,
            account=self._account,
            history=self._history,
            doubts=self._doubts,
            tasks=self._tasks,
            policies=self._policies,
        )

    def __repr__(self) -> str:
        return f"CreditGuard(budget={self.budget}, spent={self.spent}, reserved={self.reserved})"

    # -- public state -----------------------------------------------------------------

    @property
    def budget(self) -> int | None:
        """The spending cap held by the ledger (None: no cap)."""
        return self._account.ledger.budget

    @property
    def ledger(self) -> Ledger:
        """Where holds and spending are recorded (shared across processes if configured)."""
        return self._account.ledger

    @property
    def history(self) -> tuple[SpendRecord, ...]:
        """Every paid intent this guard handled, in order."""
        return self._history.records()

    @property
    def spent(self) -> int:
        """Credits spent: settled ones plus in-doubt intents at their estimate.

        A credit that may have left the account is spent until evidence says otherwise.
        """
        return self._account.settled + self._account.doubtful

    @property
    def reserved(self) -> int:
        """Credits held for calls in flight and tasks still running (not in-doubt ones)."""
        return self._account.held - self._account.doubtful

    @property
    def in_doubt(self) -> tuple[SpendRecord, ...]:
        """Intents whose outcome could not be established (each with its reason)."""
        return self._doubts.records()

    @property
    def unrecorded(self) -> int:
        """Charged credits the ledger has not taken yet (an outage); replayed before spending."""
        return sum(spend.actual for spend in self._account.unrecorded)

    @property
    def balance_refreshes(self) -> int:
        """How many balance requests the guard made (single-flight, cached)."""
        return self._account.refreshes

    @property
    def poll_intervals(self) -> tuple[float, ...]:
        """Seconds between task polls (set by the client from its config)."""
        return self._tasks.poll_intervals

    @property
    def charge_failed_contacts(self) -> bool:
        return self._tasks.charge_failed_contacts

    # -- wiring -------------------------------------------------------------------------

    def bind(
        self,
        services: GuardServices,
        *,
        poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0),
        account: str = "default",
        doubt_grace: float = NOT_EXECUTED_GRACE,
    ) -> None:
        """Attach the client's free calls (done by ``AsyncLensmor``; one client per guard).

        ``account`` is a fingerprint of the API key (never the key): it scopes journal
        intent keys to one account. ``doubt_grace`` is how long after a send its
        absence of effect starts to mean "not executed" (see ``_core.reconciliation``).
        """
        if self._services is not None and self._services is not services:
            raise ConfigurationError("a CreditGuard belongs to one client; create one per client")
        self._services = services
        self._tasks.poll_intervals = poll_intervals
        self._doubts.grace = doubt_grace
        self._journal.fingerprint = account
        self._account.bind(self._fetch_balance)

    async def _fetch_balance(self) -> int:
        return int((await self._require_services().balance()).total_balance)

    def _require_services(self) -> GuardServices:
        if self._services is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._services

    def _checkpoint(self, name: str) -> None:
        """A durability checkpoint; crash tests hook here (``CreditGuard(checkpoint=...)``)."""
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(name)

    async def aclose(self) -> None:
        """Close what the guard opened itself (a journal given as a path); idempotent.

        ``AsyncLensmor.aclose()`` calls this. Ledgers and journals passed in are the
        caller's to close.
        """
        if self._owns_journal and self._journal.journal is not None:
            await self._journal.journal.aclose()

    # -- recovery, reconciliation, tasks -------------------------------------------------

    async def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """Finish intents a crashed process left in the journal, without re-sending them.

        Replays spends the ledger missed, resumes polling of acknowledged tasks,
        reconciles intents that were being sent, books what stays in doubt as spent at
        its estimate (releasing its hold), releases holds of intents never sent and
        purges expired holds.
        """
        return await self._recovery.run(deadline=deadline)

    async def reconcile(self) -> tuple[SpendRecord, ...]:
        """Settle this guard's in-doubt intents without re-sending them.

        Each is checked (precheck, access mode, contact state); a charged one is spent,
        an uncharged one releases its hold, an unknowable one stays in doubt (its hold
        still counts against the budget). Spends the ledger missed are replayed first.
        Returns the records that were settled.
        """
        for done in await self._account.replay():
            await self._journal.advance(done.journal_key, JournalState.SUCCEEDED, hold=None)
        return await self._doubts.reconcile()

    def task_handle(
        self, kind: TaskKind, intent: Any, submission: UnlockSubmission
    ) -> UnlockTaskHandle:
        """The handle for a submitted (or skipped) unlock batch."""
        return self._tasks.handle(kind, intent, submission)

    def task_handle_for_id(self, kind: TaskKind, task_id: str) -> UnlockTaskHandle:
        """A handle rebuilt from a task id (its requested ids come from the task itself)."""
        return self._tasks.handle_for_id(kind, task_id)

    # -- two-phase quotes ------------------------------------------------------------------

    async def quote(
        self, method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Quote[T]:
        """Price a paid SDK call without spending it.

        ``quote = await guard.quote(client.events.unlock, event_id)``.

        Show the quote to a person, then ``await quote.execute()``; executing re-checks
        and asks again only if the cost or balance moved. Quotes expire (``ttl``).
        ``method`` must be a paid method of this guard's client (a wrapper around one
        cannot be priced and is refused with ``ConfigurationError``).
        """
        call = record_call(method, args, kwargs)
        self._require_confirm(call)
        request = await self._price(call)
        return Quote(self, method, args, dict(kwargs), call, request)

    async def _price(self, call: Call[Any]) -> SpendRequest | None:
        """What spending ``call`` would ask a person now (None: it costs nothing)."""
        purchase = Purchase(call, self._policy_of(call), self._no_send, None)
        step = await self._plan(purchase)
        if not isinstance(step, spend.Spend):
            return None
        balance = await self._admit(purchase, step.required, hold=False)
        return self._spend_request(purchase, balance)

    @staticmethod
    async def _no_send(call: Call[T], *, deadline: float | None, probe: Any = None) -> T:
        raise AssertionError("a quote never sends")  # pragma: no cover

    # -- the paid path -------------------------------------------------------------------

    async def run_paid(
        self,
        call: Call[T],
        send: Sender,
        *,
        deadline: float | None,
        approval: Approval | None = None,
    ) -> T:
        """Run one paid call through the guard (the pipeline calls this)."""
        self._require_confirm(call)
        purchase = Purchase(call, self._policy_of(call), send, deadline, approval)
        result: T = await self._flights.run(purchase.intent.key, lambda: self._buy(purchase))
        return result

    def _require_confirm(self, call: Call[Any]) -> None:
        if self._confirm is None:
            raise ConfirmationRequiredError(
                f"{call.operation.name} spends credits and no confirm callback is configured: "
                "pass CreditGuard(confirm=...) to the client "
                "(e.g. always_confirm, confirm_up_to(n))"
            )

    def _policy_of(self, call: Call[Any]) -> PaidPolicy:
        return self._policies[call.operation.name]

    async def _buy(self, purchase: Purchase) -> Any:
        # Inside the flight, not before it: a follower that takes over from a leader
        # cancelled after its send must settle that send's doubt before sending again,
        # or both sends would be counted for one purchase.
        await self._doubts.settle_earlier(purchase.intent)
        # Fail closed while the ledger still owes a charged spend (an outage).
        for done in await self._account.replay():
            await self._journal.advance(done.journal_key, JournalState.SUCCEEDED, hold=None)
        if not purchase.attached:
            existing = await self._journaled_intent(purchase)
            if existing is not None:
                return await self._attach(purchase, existing)
        for attempt in range(_CONFLICT_REQUOTES + 1):
            try:
                return await self._buy_once(purchase)
            except ConflictError:
                # A 409 charged nothing (e.g. another batch is unlocking some of these
                # contacts): price again, so the overlap is left out, instead of failing.
                if not purchase.policy.requote_on_conflict or attempt == _CONFLICT_REQUOTES:
                    raise
                purchase = Purchase(
                    purchase.call,
                    purchase.policy,
                    purchase.send,
                    purchase.deadline,
                    purchase.approval,
                    follow_ups=purchase.follow_ups,
                    attached=purchase.attached,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _plan(self, purchase: Purchase) -> spend.Plan:
        """Price the call and decide what it may do (refusals are recorded and raised)."""
        decision = await purchase.policy.quote(purchase.call, self._require_services())
        purchase.decision = decision
        free = purchase.policy.free_result(purchase.call, decision)
        step = spend.plan(
            decision,
            can_answer_free=free is not None,
            confirm_free=self._confirm_free,
            budgeted=self.budget is not None,
        )
        if isinstance(step, spend.Refuse):
            await self._refuse(purchase, step.reason)
        return step

    async def _buy_once(self, purchase: Purchase) -> Any:
        step = await self._plan(purchase)
        if isinstance(step, spend.AnswerFree):
            return await self._answer_free(purchase)
        if isinstance(step, spend.SendFree):
            return await self._send_free(purchase)
        assert isinstance(step, spend.Spend)
        async with self._gate.enter(exclusive=purchase.policy.measure_by_balance):
            return await self._spend(purchase, step.required)

    async def _refuse(self, purchase: Purchase, reason: str) -> None:
        intent, decision = purchase.intent, purchase.decision
        assert decision is not None
        if reason == "unknown_price":
            raise ConfigurationError(
                f"the price of {intent.operation} is unknown; set it with "
                "CostTable.default().with_price_map({...}) to spend under a budget"
            )
        await self._record(purchase, SpendOutcome.REFUSED, 0, reason=reason)
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

    async def _answer_free(self, purchase: Purchase) -> Any:
        assert purchase.decision is not None
        if not purchase.follow_ups:
            # Nothing chargeable may mean another worker just submitted this very intent:
            # attach to its row for the real result rather than answer "all skipped".
            existing = await self._journaled_intent(purchase)
            if existing is not None:
                return await self._attach(purchase, existing)
        await self._record(purchase, SpendOutcome.FREE, 0, reason="nothing chargeable")
        return purchase.policy.free_result(purchase.call, purchase.decision)

    async def _send_free(self, purchase: Purchase) -> Any:
        result = await purchase.send(
            purchase.call, deadline=purchase.deadline, probe=purchase.probe
        )

        async def settle(_: Hurry) -> None:
            decision = purchase.decision
            assert decision is not None
            evidence = purchase.policy.evidence(purchase.call, result, decision)
            settled = spend.settle_evidence(evidence, estimate=0, balance_before=None)
            actual = settled.actual if isinstance(settled, spend.Settled) else None
            if not actual:
                await self._record(purchase, SpendOutcome.FREE, 0, reason="already unlocked")
                return
            # The quote said free, the server charged: no hold covered it, count it anyway.
            recorded = await self._account.commit_unheld(purchase.intent.key, actual)
            reason = "charged although the quote said free" + (
                "" if recorded else "; ledger recording pending"
            )
            await self._record(purchase, SpendOutcome.SUCCEEDED, actual, reason=reason)

        await finish(settle)
        return result

    async def _spend(self, purchase: Purchase, required: int) -> Any:
        decision = purchase.decision
        assert decision is not None
        purchase.call = purchase.policy.prepare(purchase.call, decision)
        purchase.journal_key = None
        if self._journal.enabled:
            key = self._journal.key_for(purchase.intent, purchase.follow_ups)
            claim = await self._journal.claim(key, purchase.call, decision.credits)
            assert claim is not None
            if not claim.owned:
                return await self._attach(purchase, claim.entry)
            purchase.journal_key = key
        balance = await self._admit(purchase, required, hold=True)
        request = self._spend_request(purchase, balance, own_hold=required)
        # The journal key links an orphaned hold to its journal row after a crash.
        try:
            purchase.hold = await self._account.reserve(
                purchase.journal_key or purchase.intent.key, required
            )
        except InsufficientCreditsError:
            await self._record(purchase, SpendOutcome.REFUSED, 0, reason="budget")
            raise
        self._checkpoint("after_reserve")
        try:
            await self._journal.advance(
                purchase.journal_key, JournalState.RESERVED, hold=hold_to_json(purchase.hold)
            )
            await self._confirm_spend(purchase, request)
        except BaseException as exc:
            await finish(partial(self._release_unsent, purchase, exc))
            raise
        return await self._execute(purchase)

    async def _admit(self, purchase: Purchase, required: int, *, hold: bool) -> int:
        """The balance the spend is admitted against; refuses (recorded) when it does not fit."""
        view = await self._account.view(required)
        if hold:
            short = self._account.hold_locally(view, required)
        else:
            verdict = spend.admit_view(required, view)
            short = None if verdict.ok else (verdict.available or 0)
        if short is None:
            purchase.balance_before = view.balance
            return view.balance or 0
        reason = "server_402_latched" if view.latched_402 else "balance"
        await self._record(purchase, SpendOutcome.REFUSED, 0, reason=reason)
        raise InsufficientCreditsError(
            f"{purchase.intent.describe()} needs {required} credits; {short} available"
            + (" (the server answered 402 earlier)" if view.latched_402 else ""),
            required=required,
            available=short,
            preflight=True,
        )

    def _spend_request(self, purchase: Purchase, balance: int, own_hold: int = 0) -> SpendRequest:
        intent, decision, call = purchase.intent, purchase.decision, purchase.call
        assert decision is not None
        targets = tuple(call.body.get("personnel_ids", ())) if isinstance(call.body, dict) else ()
        return SpendRequest(
            operation=intent.operation,
            description=intent.describe(),
            targets=targets or intent.targets,
            expected_credits=decision.credits,
            current_balance=balance,
            budget_remaining=spend.budget_remaining(
                self.budget, spent=self._account.settled, held=self._account.held - own_hold
            ),
            precheck_reason=decision.refused_reason
            or ("ok" if decision.credits is not None else None),
            requote=purchase.approval is not None,
        )

    async def _confirm_spend(self, purchase: Purchase, request: SpendRequest) -> None:
        approval = purchase.approval
        if not spend.confirm_needed(
            None if approval is None else approval.credits,
            None if approval is None else approval.balance,
            approved=approval is not None,
            credits=request.expected_credits,
            balance=request.current_balance or 0,
        ):
            return  # A person already approved exactly this quote.
        assert self._confirm is not None
        limit = _shortest(self._confirm_timeout, purchase.time_left())
        try:
            with anyio.fail_after(None if limit == float("inf") else limit):
                approved = await ask(self._confirm, request)
        except TimeoutError as exc:
            await self._decline(purchase, f"confirm timed out after {limit:.1f}s", exc)
        except Exception as exc:
            await self._decline(purchase, f"confirm raised {type(exc).__name__}: {exc}", exc)
        if not approved:
            await self._decline(purchase, "confirm declined", None)

    async def _decline(self, purchase: Purchase, reason: str, cause: BaseException | None) -> None:
        await self._record(purchase, SpendOutcome.DECLINED, 0, reason=reason)
        raise SpendDeclinedError(
            f"spend declined: {purchase.intent.describe()} ({purchase.estimate} credits): {reason}"
        ) from cause

    async def _release_unsent(self, purchase: Purchase, exc: BaseException, _: Hurry) -> None:
        assert purchase.hold is not None
        await self._account.release(purchase.hold)
        if not isinstance(exc, SpendDeclinedError):  # a decline is recorded already
            reason = f"{type(exc).__name__} before sending"
            await self._record(purchase, SpendOutcome.CANCELLED, 0, reason=reason)

    async def _execute(self, purchase: Purchase) -> Any:
        try:
            await self._journal.advance(purchase.journal_key, JournalState.SENDING)
            self._checkpoint("after_journal_write")
            logger.info(
                "paid %s intent=%s estimate=%s: sending",
                purchase.intent.operation,
                purchase.intent.key,
                purchase.estimate,
            )
            result = await purchase.send(
                purchase.call, deadline=purchase.deadline, probe=purchase.probe
            )
            self._checkpoint("after_response")
        except BaseException as exc:
            replacement = await finish(partial(self._after_failure, purchase, exc))
            if replacement is not None:
                raise replacement from exc
            raise
        await finish(partial(self._settle, purchase, result))
        return result

    # -- settling ------------------------------------------------------------------------

    async def _settle(self, purchase: Purchase, result: Any, _: Hurry) -> None:
        decision, hold = purchase.decision, purchase.hold
        assert decision is not None
        assert hold is not None
        evidence = purchase.policy.evidence(purchase.call, result, decision)
        balance_now = None
        if evidence.needs_balance:
            balance_now = await self._account.balance.current(max_age=0)
        settlement = spend.settle_evidence(
            evidence,
            estimate=decision.credits,
            balance_before=purchase.balance_before,
            balance_now=balance_now,
        )
        if settlement is None:
            await self._await_task(purchase, str(evidence.task_id))
        elif isinstance(settlement, spend.InDoubt):
            await self._hold_in_doubt(purchase, settlement.amount, settlement.reason)
        else:
            await self._commit(purchase, settlement, evidence.balance_after, balance_now)

    async def _await_task(self, purchase: Purchase, task_id: str) -> None:
        assert purchase.decision is not None
        assert purchase.hold is not None
        self._tasks.track(
            task_id,
            PendingTask(
                intent=purchase.intent,
                hold=purchase.hold,
                decision=purchase.decision,
                policy=purchase.policy,
                call=purchase.call,
                journal_key=purchase.journal_key,
            ),
        )
        await self._record(purchase, SpendOutcome.PENDING_TASK, None, task_id=task_id)

    async def _commit(
        self,
        purchase: Purchase,
        settlement: spend.Settled,
        balance_after: int | None,
        balance_now: int | None,
    ) -> None:
        assert purchase.hold is not None
        actual = settlement.actual
        # Durable first: the journal holds the settled amount (and the hold) before the
        # ledger commit, so a crash or an outage between them is replayed, never lost.
        await self._journal.advance(
            purchase.journal_key, JournalState.SUCCEEDED, actual=actual, reason="settling"
        )
        recorded = await self._account.commit(
            purchase.hold,
            actual,
            journal_key=purchase.journal_key,
            balance_after=balance_after,
            # A measured spend is already in the fresh balance; do not subtract it twice.
            adjust_balance=balance_now is None,
        )
        self._checkpoint("after_settle")
        logger.info(
            "paid %s intent=%s settled: %s credits (trace_id=%s)",
            purchase.intent.operation,
            purchase.intent.key,
            actual,
            purchase.trace_id,
        )
        reason = settlement.reason if recorded else _pending_reason(settlement.reason)
        await self._record(
            purchase, SpendOutcome.SUCCEEDED, actual, reason=reason, keep_hold=not recorded
        )

    async def _hold_in_doubt(self, purchase: Purchase, amount: int, reason: str) -> None:
        assert purchase.decision is not None
        assert purchase.hold is not None
        doubt = Doubt(
            purchase.policy,
            purchase.call,
            purchase.decision,
            purchase.hold,
            amount,
            purchase.journal_key,
            purchase.probe.sent_at,
        )
        await self._doubts.hold_in_doubt(doubt, reason, trace_id=purchase.trace_id)

    async def _after_failure(
        self, purchase: Purchase, exc: BaseException, hurry: Hurry
    ) -> BaseException | None:
        """Settle a send that failed; returns the exception to raise instead, if any."""
        hold = purchase.hold
        assert hold is not None
        if isinstance(exc, InsufficientCreditsError):
            return await self._on_402(purchase, exc)
        if _certainly_not_executed(exc, purchase):
            await self._account.release(hold)
            outcome = (
                SpendOutcome.FAILED_NO_CHARGE
                if isinstance(exc, Exception)
                else SpendOutcome.CANCELLED
            )
            await self._record(purchase, outcome, 0, reason=type(exc).__name__)
            return None
        if not isinstance(exc, Exception):
            # Cancelled after send: there is no time to reconcile now. The hold stays
            # (the budget stays safe) and guard.reconcile() / recover() settles it later.
            await self._hold_in_doubt(purchase, hold.amount, "cancelled after the request was sent")
            return None
        verdict = await self._doubts.reconcile_after_send(
            purchase.policy,
            purchase.call,
            purchase.decision,  # type: ignore[arg-type]
            purchase.probe.sent_at,
            hurry=hurry,
            max_wait=_shortest(None, purchase.time_left()),
        )
        return await self._apply_verdict(purchase, verdict, exc)

    async def _apply_verdict(
        self, purchase: Purchase, verdict: Reconciliation, exc: BaseException
    ) -> BaseException | None:
        intent, hold = purchase.intent, purchase.hold
        assert hold is not None
        assert purchase.decision is not None
        if verdict.charged is None:
            reason = f"{type(exc).__name__}: {verdict.reason}"
            await self._hold_in_doubt(purchase, hold.amount, reason)
            return SpendInDoubtError(
                f"{intent.describe()} may have been charged: {verdict.reason}",
                intent=intent,
                reason=verdict.reason,
            )
        doubt = Doubt(
            purchase.policy,
            purchase.call,
            purchase.decision,
            hold,
            hold.amount,
            purchase.journal_key,
            purchase.probe.sent_at,
        )
        record = await self._doubts.settle(doubt, verdict, verdict.reason)
        if not verdict.charged:
            return None
        return SpendInDoubtError(
            f"{intent.describe()} was charged ({record.actual} credits) but its response was "
            f"lost ({type(exc).__name__}); {verdict.reason}",
            intent=intent,
            reason=verdict.reason,
        )

    async def _on_402(self, purchase: Purchase, exc: InsufficientCreditsError) -> BaseException:
        assert purchase.hold is not None
        await self._account.release(purchase.hold)
        self._account.latch_402()
        await self._record(purchase, SpendOutcome.REJECTED_402, 0, reason=exc.message)
        return InsufficientCreditsError(
            f"the server refused {purchase.intent.describe()} for insufficient credits: "
            f"{exc.message}",
            required=purchase.estimate,
            available=None,  # the cached figure was evidently wrong; it is refreshed next
            status=402,
            error_key=exc.error_key,
            trace_id=exc.trace_id,
        )

    async def _record(
        self,
        purchase: Purchase,
        outcome: SpendOutcome,
        actual: int | None,
        *,
        reason: str | None = None,
        task_id: str | None = None,
        keep_hold: bool = False,
    ) -> SpendRecord:
        return await self._history.record(
            Entry(
                purchase.intent,
                outcome,
                purchase.estimate,
                actual,
                reason=reason,
                trace_id=purchase.trace_id,
                task_id=task_id,
                journal_key=purchase.journal_key,
                keep_hold=keep_hold,
            )
        )

    # -- another worker's purchase of the same intent ------------------------------------

    async def _journaled_intent(self, purchase: Purchase) -> JournalEntry | None:
        """A journal row for this same intent (another worker's), unless it cost nothing."""
        if not self._journal.enabled:
            return None
        entry = await self._journal.get(self._journal.key_for(purchase.intent, purchase.follow_ups))
        if entry is None or entry.state in _RETRYABLE_JOURNAL_STATES:
            return None
        return entry

    async def _attach(self, purchase: Purchase, entry: JournalEntry) -> Any:
        """Another process owns this intent: wait for its outcome instead of paying again."""
        settled = await self._await_owner(purchase, entry)
        attached = purchase.policy.attached_result(purchase.call, settled)
        if attached is not None:
            return attached
        if settled.state in (JournalState.IN_DOUBT, JournalState.UNRESOLVED):
            raise SpendInDoubtError(
                f"{purchase.intent.describe()} was sent by another worker and is in doubt: "
                f"{settled.reason}",
                intent=purchase.intent,
                reason=settled.reason or "in doubt",
            )
        if settled.state in _RETRYABLE_JOURNAL_STATES:
            # Nothing was charged (e.g. a dead owner's send that never ran): buy under
            # this same key; the claim takes the row over.
            retry = Purchase(
                purchase.call,
                purchase.policy,
                purchase.send,
                purchase.deadline,
                purchase.approval,
                follow_ups=purchase.follow_ups,
                attached=True,
            )
            return await self._buy(retry)
        # Done by the other worker (now free): quote again. Should the new quote still
        # find something to buy (e.g. contacts refunded after a failure), that is a
        # follow-up purchase with its own journal key.
        if len(purchase.follow_ups) >= _MAX_FOLLOW_UPS:
            raise CreditError(
                f"{purchase.intent.describe()} was bought {len(purchase.follow_ups)} times by "
                "other workers and still has chargeable items; stopping instead of buying again"
            )
        return await self._buy(purchase.follow_up(settled.intent_key))

    async def _await_owner(self, purchase: Purchase, entry: JournalEntry) -> JournalEntry:
        limit = _shortest(_ATTACH_SECONDS, purchase.time_left())
        give_up = time.monotonic() + limit
        delay = 0.02
        while not (entry.state.terminal or entry.task_id is not None):
            if owner_is_dead(entry.owner):
                # The owner crashed: conclude its row as recover() would (no re-send).
                end = anyio.current_time() + limit
                await finish(partial(self._recover_row, entry, end))
            elif time.monotonic() + delay > give_up:
                raise SpendInDoubtError(
                    f"another worker ({entry.owner}) owns this intent and has not finished; "
                    "run recover() if it crashed",
                    intent=entry.intent_key,
                    reason="owned by another worker",
                )
            else:
                await anyio.sleep(delay)
                delay = min(delay * 2, 0.5)
            latest = await self._journal.get(entry.intent_key)
            entry = latest if latest is not None else entry
        return entry

    async def _recover_row(self, entry: JournalEntry, end: float, _: Hurry) -> None:
        await self._recovery.recover_entry(entry, end)


def _shortest(*limits: float | None) -> float:
    """The smallest of the given limits in seconds (inf when none is set)."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else float("inf")


def _pending_reason(reason: str | None) -> str:
    head = f"{reason}; " if reason else ""
    return f"{head}charged; ledger recording pending (replayed before the next paid call)"


def _certainly_not_executed(exc: BaseException, purchase: Purchase) -> bool:
    """True when the server surely did not run the action (so the hold can go)."""
    if not purchase.probe.started:
        return True
    if isinstance(exc, TransportError):
        return not exc.request_sent
    return isinstance(exc, APIStatusError) and exc.status < 500


def _choose_ledger(ledger: Ledger | None, budget: int | None) -> Ledger:
    if ledger is None:
        return InMemoryLedger(budget=budget)
    if budget is not None and ledger.budget != budget:
        raise ConfigurationError(
            "give the budget to the ledger (it holds the shared budget), not both"
        )
    return ledger
