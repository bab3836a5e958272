"""After the send: settle a paid answer from its evidence, or a failed send from a verdict.

Runs inside ``_cleanup.finish``: whatever cancels the caller, the outcome is recorded.
"""

from __future__ import annotations

import logging
from typing import Any, NoReturn

from lensmor_async._core import spend
from lensmor_async.errors import (
    APIStatusError,
    CreditError,
    InsufficientCreditsError,
    LeaseLostError,
    SpendInDoubtError,
    TransportError,
)
from lensmor_async.guard._books import Books
from lensmor_async.guard._cleanup import Hurry
from lensmor_async.guard._in_doubt import Doubt, Doubts
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._policies import Reconciliation
from lensmor_async.guard._purchase import Purchase, shortest
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._task_book import TaskBook
from lensmor_async.guard._tasks import PendingTask

logger = logging.getLogger("lensmor_async")


class Settler:
    """Turns what came back from a send into the guard's books."""

    def __init__(self, books: Books, doubts: Doubts, tasks: TaskBook) -> None:
        self._account = books.account
        self._history = books.history
        self._journal = books.journal
        self._checkpoint = books.checkpoint
        self._doubts = doubts
        self._tasks = tasks

    async def settle(self, purchase: Purchase, result: Any, _: Hurry) -> None:
        """Settle a successful answer from its evidence (runs in ``finish``)."""
        decision, hold = purchase.decision, purchase.hold
        assert decision is not None
        assert hold is not None
        evidence = purchase.policy.evidence(purchase.call, result, decision)
        balance_now = None
        if evidence.needs_balance:
            balance_now = await self._measured_balance()
        settlement = spend.settle_evidence(
            evidence,
            estimate=decision.credits,
            balance_before=purchase.balance_before,
            balance_now=balance_now,
        )
        if settlement is None:
            await self._await_task(purchase, str(evidence.task_id))
        elif isinstance(settlement, spend.InDoubt):
            await self.hold_in_doubt(purchase, settlement.amount, settlement.reason)
        else:
            await self._commit(purchase, settlement, evidence.balance_after, balance_now)

    async def _measured_balance(self) -> int | None:
        """A fresh balance to measure a spend by; None (so: in doubt) when it cannot be had."""
        try:
            return await self._account.balance.current(max_age=0)
        except Exception as exc:
            logger.warning("could not measure a spend from the balance: %s", type(exc).__name__)
            return None

    async def settle_free(self, purchase: Purchase, result: Any, _: Hurry) -> None:
        """Settle a call sent as free: a charge the server made anyway is still counted."""
        decision = purchase.decision
        assert decision is not None
        evidence = purchase.policy.evidence(purchase.call, result, decision)
        list_price = purchase.policy.list_price(purchase.call)
        settled = spend.settle_evidence(evidence, estimate=list_price, balance_before=None)
        # No charge figure at all: nothing contradicts the quote that called it free.
        free = evidence.needs_balance or (isinstance(settled, spend.Settled) and not settled.actual)
        if free:
            reason = decision.free_reason or "already unlocked"
            await self._history.record(purchase.entry(SpendOutcome.FREE, 0, reason=reason))
            return
        assert settled is not None  # only unlock batches settle through a task
        await self._count_unheld(purchase, settled)

    async def free_send_failed(self, purchase: Purchase, exc: BaseException, _: Hurry) -> None:
        """A call sent as free lost its answer: count its list price, never guess it free.

        The precheck said free, but an answer that never came cannot confirm it, and
        nothing on the server tells an unlock we made from one made before.
        """
        if _certainly_not_executed(exc, purchase):
            return
        amount = purchase.policy.list_price(purchase.call) or 0
        if amount:  # a route free by its price (e.g. outreach per 0.27) costs nothing either way
            reason = f"{type(exc).__name__} after a send the quote called free"
            await self._count_unheld(purchase, spend.InDoubt(amount, reason))

    async def _count_unheld(self, purchase: Purchase, settled: spend.Settlement) -> None:
        """Book a charge no hold covered (the quote said free): spent, or in doubt and booked."""
        if isinstance(settled, spend.Settled):
            amount, outcome = settled.actual, SpendOutcome.SUCCEEDED
            reason = "charged although the quote said free"
        else:
            amount, outcome, reason = settled.amount, SpendOutcome.IN_DOUBT, settled.reason
        recorded = await self._account.commit_unheld(purchase.intent.key, amount)
        reason += "" if recorded else "; ledger recording pending"
        await self._history.record(purchase.entry(outcome, amount, reason=reason))

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
        await self._history.record(purchase.entry(SpendOutcome.PENDING_TASK, None, task_id=task_id))

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
        shared = purchase.policy.shared_result(purchase.call)
        try:
            await self._journal.advance(
                purchase.journal_key,
                JournalState.SUCCEEDED,
                actual=actual,
                reason="settling",
                **({} if shared is None else {"result": shared}),
            )
        except CreditError as exc:
            await self._commit_without_journal(purchase, actual, exc)
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
        await self._history.record(
            purchase.entry(SpendOutcome.SUCCEEDED, actual, reason=reason, keep_hold=not recorded)
        )

    async def _commit_without_journal(
        self, purchase: Purchase, actual: int, refused: CreditError
    ) -> NoReturn:
        """The answer proves a charge, but the journal refused to record it.

        Either another worker took the intent over meanwhile (``LeaseLostError``), or the
        journal lost the row or cannot be reached. The charge goes to the ledger anyway
        (idempotent per hold; a hold already released is recorded unheld; an unreachable
        ledger keeps it for replay), so it is never forgotten; the journal row is
        concluded by whoever recovers it, without re-sending.
        """
        assert purchase.hold is not None
        await self._account.commit(purchase.hold, actual, journal_key=None)
        if isinstance(refused, LeaseLostError):
            raise LeaseLostError(
                f"{purchase.intent.describe()} was charged {actual} credits (recorded in "
                "the ledger), but its journal lease was lost to another worker, which "
                "concludes the intent; this answer is not returned"
            ) from refused
        raise refused

    async def hold_in_doubt(self, purchase: Purchase, amount: int, reason: str) -> None:
        await self._doubts.hold_in_doubt(
            _doubt_of(purchase, amount), reason, trace_id=purchase.trace_id
        )

    async def after_failure(
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
            await self._history.record(purchase.entry(outcome, 0, reason=type(exc).__name__))
            return None
        if not isinstance(exc, Exception):
            # Cancelled after send: there is no time to reconcile now. The hold stays
            # (the budget stays safe) and guard.reconcile() / recover() settles it later.
            await self.hold_in_doubt(purchase, hold.amount, "cancelled after the request was sent")
            return None
        assert purchase.decision is not None
        verdict = await self._doubts.reconcile_after_send(
            purchase.policy,
            purchase.call,
            purchase.decision,
            purchase.probe.sent_at,
            hurry=hurry,
            max_wait=shortest(None, purchase.time_left()),
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
            await self.hold_in_doubt(purchase, hold.amount, reason)
            return SpendInDoubtError(
                f"{intent.describe()} may have been charged: {verdict.reason}",
                intent=intent,
                reason=verdict.reason,
            )
        doubt = _doubt_of(purchase, hold.amount)
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
        await self._history.record(purchase.entry(SpendOutcome.REJECTED_402, 0, reason=exc.message))
        return InsufficientCreditsError(
            f"the server refused {purchase.intent.describe()} for insufficient credits: "
            f"{exc.message}",
            required=purchase.estimate,
            available=None,  # the cached figure was evidently wrong; it is refreshed next
            status=402,
            error_key=exc.error_key,
            trace_id=exc.trace_id,
        )


def _doubt_of(purchase: Purchase, amount: int) -> Doubt:
    """What settles ``purchase`` later, if its outcome stays unknown now."""
    assert purchase.decision is not None
    assert purchase.hold is not None
    return Doubt(
        purchase.policy,
        purchase.call,
        purchase.decision,
        purchase.hold,
        amount,
        purchase.journal_key,
        purchase.probe.sent_at,
    )


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
