"""The paid path: one :class:`Purchase` from price to settlement, in one readable line.

    settle an earlier doubt → replay unrecorded spends → attach to another worker's row?
    → price (policy) → plan (``_core.spend``) → claim the journal row → admit and hold
    → confirm (bounded) → send once → settle from the evidence (uncancellable)

Every "may it spend, and how much?" is answered by ``_core.spend``; this module does
the I/O around those answers and records each outcome.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any, TypeVar

import anyio
import attrs

from lensmor_async._call import Call
from lensmor_async._core import spend
from lensmor_async._hooks import SpendEventKind
from lensmor_async.errors import (
    ActionNotAllowedError,
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    InsufficientCreditsError,
    SpendDeclinedError,
)
from lensmor_async.guard._attach import Attacher
from lensmor_async.guard._books import Books
from lensmor_async.guard._cleanup import Hurry, finish
from lensmor_async.guard._confirm import ConfirmCallback, SpendRequest, ask
from lensmor_async.guard._gate import PaidGate
from lensmor_async.guard._in_doubt import Doubts
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._journaling import hold_to_json
from lensmor_async.guard._policies import PaidPolicy
from lensmor_async.guard._purchase import Purchase, shortest
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._settle import Settler

T = TypeVar("T")
logger = logging.getLogger("lensmor_async")
_CONFLICT_REQUOTES = 2
_REFUSAL_NOTES = {
    "server_402_latched": " (the server answered 402 earlier)",
    "budget": " under the budget",
}


class Buyer:
    """Drives purchases for one guard; the books are its collaborators."""

    def __init__(
        self,
        books: Books,
        doubts: Doubts,
        settler: Settler,
        attacher: Attacher,
        *,
        confirm: ConfirmCallback | None,
        confirm_free: bool,
        confirm_timeout: float | None,
    ) -> None:
        self._account = books.account
        self._history = books.history
        self._journal = books.journal
        self._require_services = books.services
        self._checkpoint = books.checkpoint
        self._doubts = doubts
        self._settler = settler
        self._attacher = attacher
        self._books = books
        self._confirm = confirm
        self._confirm_free = confirm_free
        self._confirm_timeout = confirm_timeout
        self._gate = PaidGate()

    async def price(self, call: Call[Any], policy: PaidPolicy) -> SpendRequest | None:
        """What spending ``call`` would ask a person now (None: it costs nothing)."""
        purchase = Purchase(call, policy, self._no_send, None)
        step = await self._plan(purchase)
        if not isinstance(step, spend.Spend):
            return None
        try:
            # The budget is not checked here: the quote shows what is left under it
            # (``budget_remaining``) and the spend is refused when it is executed.
            balance = await self._admit(purchase, step.required, hold=False)
        except InsufficientCreditsError:
            await self._history.record(
                purchase.entry(SpendOutcome.REFUSED, 0, reason=purchase.refusal)
            )
            raise
        return self._spend_request(purchase, balance)

    @staticmethod
    async def _no_send(call: Call[T], *, deadline: float | None, probe: Any = None) -> T:
        raise AssertionError("a quote never sends")  # pragma: no cover

    async def buy(self, purchase: Purchase) -> Any:
        """Run one purchase down the paid path (inside its single-flight)."""
        # Inside the flight, not before it: a follower that takes over from a leader
        # cancelled after its send must settle that send's doubt before sending again,
        # or both sends would be counted for one purchase.
        await self._doubts.settle_earlier(purchase.intent)
        # Fail closed while the ledger still owes a charged spend (an outage).
        await self._books.replay()
        if not purchase.attached:
            existing = await self._attacher.existing(purchase)
            if existing is not None:
                return await self._attacher.attach(purchase, existing, self.buy)
        requested = purchase.call
        for attempt in range(_CONFLICT_REQUOTES + 1):
            try:
                return await self._buy_once(purchase)
            except ConflictError:
                # A 409 charged nothing (e.g. another batch is unlocking some of these
                # contacts): price again, so the overlap is left out, instead of failing.
                if not purchase.policy.requote_on_conflict or attempt == _CONFLICT_REQUOTES:
                    raise
                purchase = purchase.again(requested)
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
            budgeted=self._account.ledger.budget is not None,
        )
        if isinstance(step, spend.Refuse):
            await self._refuse(purchase, step.reason)
        if isinstance(step, spend.Spend):
            self._history.emit(SpendEventKind.QUOTED, purchase.intent, decision.credits)
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
        await self._history.record(purchase.entry(SpendOutcome.REFUSED, 0, reason=reason))
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
            existing = await self._attacher.existing(purchase)
            if existing is not None:
                return await self._attacher.attach(purchase, existing, self.buy)
        await self._history.record(
            purchase.entry(SpendOutcome.FREE, 0, reason="nothing chargeable")
        )
        return purchase.policy.free_result(purchase.call, purchase.decision)

    async def _send_free(self, purchase: Purchase) -> Any:
        """Send a call the quote priced at 0: no hold, no confirm, but settled from evidence."""
        try:
            result = await purchase.send(
                purchase.call, deadline=purchase.deadline, probe=purchase.probe
            )
        except BaseException as exc:
            await finish(partial(self._settler.free_send_failed, purchase, exc))
            raise
        await finish(partial(self._settler.settle_free, purchase, result))
        return result

    async def _spend(self, purchase: Purchase, required: int) -> Any:
        decision = purchase.decision
        assert decision is not None
        purchase.call = purchase.policy.prepare(purchase.call, decision)
        purchase.journal_key = None
        if self._journal.enabled:
            key = purchase.key_in(self._journal)
            claim = await self._journal.claim(key, purchase.call, decision.credits)
            assert claim is not None
            if not claim.owned:
                return await self._attacher.attach(purchase, claim.entry, self.buy)
            purchase.journal_key = key
            self._books.in_flight.add(key)
        try:
            # The lease is renewed while this process works on the intent (hold, confirm,
            # send, settle); should it be lost anyway, every later journal write fails
            # (LeaseLostError) and nothing is sent.
            async with self._journal.leased(purchase.journal_key):
                return await self._spend_claimed(purchase, required)
        finally:
            if purchase.journal_key is not None:
                self._books.in_flight.discard(purchase.journal_key)

    async def _spend_claimed(self, purchase: Purchase, required: int) -> Any:
        try:
            request = await self._hold(purchase, required)
        except BaseException as exc:
            await finish(partial(self._abandon, purchase, exc))
            raise
        self._checkpoint("after_reserve")
        assert purchase.hold is not None
        try:
            await self._journal.advance(
                purchase.journal_key, JournalState.RESERVED, hold=hold_to_json(purchase.hold)
            )
            await self._confirm_spend(purchase, request)
        except BaseException as exc:
            await finish(partial(self._release_unsent, purchase, exc))
            raise
        self._history.emit(SpendEventKind.CONFIRMED, purchase.intent, required)
        return await self._execute(purchase)

    async def _hold(self, purchase: Purchase, required: int) -> SpendRequest:
        """Admit the spend against the balance and hold it in the ledger."""
        balance = await self._admit(purchase, required, hold=True)
        request = self._spend_request(purchase, balance, own_hold=required)
        # The journal key links an orphaned hold to its journal row after a crash.
        key = purchase.journal_key or purchase.intent.key
        purchase.hold = await self._account.reserve(key, required)
        return request

    async def _abandon(self, purchase: Purchase, exc: BaseException, _: Hurry) -> None:
        """Stopped before the hold was taken: nothing was sent; close the journal row.

        An open row would make the next caller wait on it as on another worker's. A
        reserve cut short may still have left a hold in the ledger: with a journal row of
        our own, its key names only our holds, so they can be dropped.
        """
        if isinstance(exc, InsufficientCreditsError):
            outcome, reason = SpendOutcome.REFUSED, purchase.refusal or "budget"
        elif isinstance(exc, Exception):
            outcome, reason = SpendOutcome.REFUSED, type(exc).__name__
        else:
            outcome, reason = SpendOutcome.CANCELLED, "cancelled before sending"
        if purchase.journal_key is not None and not isinstance(exc, InsufficientCreditsError):
            await self._account.ledger.release_intent(purchase.journal_key)
        await self._history.record(purchase.entry(outcome, 0, reason=reason))

    async def _admit(self, purchase: Purchase, required: int, *, hold: bool) -> int:
        """The balance the spend is admitted against; raises when it does not fit."""
        view = await self._account.view(required, fresh=purchase.policy.measure_by_balance)
        if hold:
            verdict = self._account.hold_locally(view, required)
        else:
            verdict = spend.admit_view(required, attrs.evolve(view, budget=None))
        if verdict.ok:
            purchase.balance_before = view.balance
            return view.balance or 0
        purchase.refusal = verdict.reason
        short = verdict.available or 0
        error = BudgetExceededError if verdict.reason == "budget" else InsufficientCreditsError
        raise error(
            f"{purchase.intent.describe()} needs {required} credits; {short} available"
            + _REFUSAL_NOTES.get(verdict.reason or "", ""),
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
                self._account.ledger.budget,
                spent=self._account.settled,
                held=self._account.held - own_hold,
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
        limit = shortest(self._confirm_timeout, purchase.time_left())
        try:
            with anyio.fail_after(None if limit == float("inf") else limit):
                approved = await ask(self._confirm, request)
        except TimeoutError as exc:
            if limit == float("inf"):  # no limit was set: the callback itself raised
                await self._decline(purchase, f"confirm raised TimeoutError: {exc}", exc)
            await self._decline(purchase, f"confirm timed out after {limit:.1f}s", exc)
        except Exception as exc:
            await self._decline(purchase, f"confirm raised {type(exc).__name__}: {exc}", exc)
        if not approved:
            await self._decline(purchase, "confirm declined", None)

    async def _decline(self, purchase: Purchase, reason: str, cause: BaseException | None) -> None:
        await self._history.record(purchase.entry(SpendOutcome.DECLINED, 0, reason=reason))
        raise SpendDeclinedError(
            f"spend declined: {purchase.intent.describe()} ({purchase.estimate} credits): {reason}"
        ) from cause

    async def _release_unsent(self, purchase: Purchase, exc: BaseException, _: Hurry) -> None:
        assert purchase.hold is not None
        await self._account.release(purchase.hold)
        if not isinstance(exc, SpendDeclinedError):  # a decline is recorded already
            reason = f"{type(exc).__name__} before sending"
            await self._history.record(purchase.entry(SpendOutcome.CANCELLED, 0, reason=reason))

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
            replacement = await finish(partial(self._settler.after_failure, purchase, exc))
            if replacement is not None:
                raise replacement from exc
            raise
        await finish(partial(self._settler.settle, purchase, result))
        return result
