"""In-doubt intents: reconciling a lost outcome without re-sending, and settling it later.

An in-doubt intent keeps its hold (budget checks keep counting it) and counts in
``guard.spent`` at its estimate, each with its reason, until evidence settles it:
``guard.reconcile()``, a repeat of the same intent, or ``recover()`` (which, as the
last resort, books it as spent at its estimate).
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from lensmor_async._core.reconciliation import wait_before_not_executed
from lensmor_async._core.spend import InDoubt, QuoteDecision, Settled, settle_verdict
from lensmor_async._intent import Intent
from lensmor_async.errors import SpendInDoubtError
from lensmor_async.guard._books import Books
from lensmor_async.guard._cleanup import Hurry, finish
from lensmor_async.guard._history import Entry
from lensmor_async.guard._journaling import REPEATABLE_OPERATIONS
from lensmor_async.guard._ledger_protocol import Hold
from lensmor_async.guard._policies import PaidPolicy, Reconciliation
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._singleflight import SingleFlight

if TYPE_CHECKING:
    from lensmor_async._call import Call

logger = logging.getLogger("lensmor_async")
_RECONCILE_SECONDS = 15.0


@attrs.frozen(slots=True)
class Doubt:
    """What settles an in-doubt intent later, without re-sending it."""

    policy: PaidPolicy
    call: Call[Any]
    decision: QuoteDecision
    hold: Hold
    amount: int
    """Credits counted as spent while in doubt (the estimate, or more if evidence said so)."""
    journal_key: str | None
    sent_at: float
    """``time.monotonic()`` when the request last left (see ``_core.reconciliation``)."""
    slot: str | None = None
    """The history slot its record sits in (default: its doubt key)."""

    @property
    def intent(self) -> Intent:
        assert self.call.intent is not None, "paid calls always carry an intent"
        return self.call.intent


def doubt_key(intent: Intent) -> str:
    """Where an in-doubt intent is tracked: per intent, or per call for repeatable searches."""
    if intent.operation in REPEATABLE_OPERATIONS:
        return f"doubt:{intent.key}:{uuid.uuid4().hex}"
    return f"doubt:{intent.key}"


class Doubts:
    """This guard's in-doubt intents: the record each shows and what settles it later."""

    def __init__(self, books: Books, flights: SingleFlight) -> None:
        self._account = books.account
        self._history = books.history
        self._services = books.services
        self._flights = flights
        self._records: dict[str, SpendRecord] = {}
        self._unsettled: dict[str, Doubt] = {}
        self.grace = 5.0
        """Seconds after a send before its absence of effect means "not executed"."""

    # -- the book --------------------------------------------------------------------------

    def records(self) -> tuple[SpendRecord, ...]:
        return tuple(self._records.values())

    def unsettled(self) -> tuple[Doubt, ...]:
        return tuple(self._unsettled.values())

    def journal_keys(self) -> frozenset[str]:
        return frozenset(d.journal_key for d in self._unsettled.values() if d.journal_key)

    def note(self, key: str, record: SpendRecord) -> None:
        """An in-doubt record with nothing left to settle (recovery booked it)."""
        self._records[key] = record

    async def hold_in_doubt(self, doubt: Doubt, reason: str, *, trace_id: str | None) -> None:
        """Keep ``doubt``'s hold and count it as spent until evidence settles it."""
        self._account.balance.invalidate()
        self._account.doubt(doubt.amount)
        logger.warning(
            "paid intent %s (%s) is in doubt: %s", doubt.intent.key, doubt.intent.operation, reason
        )
        key = doubt_key(doubt.intent)
        if doubt.slot is None:
            doubt = attrs.evolve(doubt, slot=key)
        record = await self._history.record(
            Entry(
                doubt.intent,
                SpendOutcome.IN_DOUBT,
                doubt.decision.credits,
                None,
                reason=reason,
                trace_id=trace_id,
                journal_key=doubt.journal_key,
                slot=doubt.slot,
            )
        )
        self._records[key] = record
        self._unsettled[key] = doubt

    # -- reconciling -----------------------------------------------------------------------

    async def reconcile_after_send(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        sent_at: float,
        *,
        hurry: Hurry | None = None,
        clock: Callable[[], float] = time.monotonic,
        settle_wait: float | None = None,
        max_wait: float = math.inf,
    ) -> Reconciliation:
        """Reconcile; a "not executed" verdict stands only once the request cannot still run.

        ``sent_at`` is on ``clock`` (monotonic here; wall time for journal rows written by
        another process). Nothing here waits longer than ``max_wait`` (the call's time
        left), and a ``hurry`` from a cancelled caller ends the wait: the verdict is then
        unknown and the intent stays in doubt.
        """
        with (hurry or Hurry()).waiting():
            return await self._reconcile_twice(
                policy, call, decision, sent_at, clock, settle_wait, max_wait
            )
        return Reconciliation(None, None, "the caller was cancelled before it could tell")

    async def _reconcile_twice(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        sent_at: float,
        clock: Callable[[], float],
        settle_wait: float | None,
        max_wait: float,
    ) -> Reconciliation:
        with anyio.move_on_after(max_wait):
            wait_for_task = policy.reconcile_wait if settle_wait is None else settle_wait
            wait_for_task = min(wait_for_task, max_wait)
            verdict = await self._reconcile_now(policy, call, decision, wait_for_task)
            wait = wait_before_not_executed(verdict.charged, clock() - sent_at, self.grace)
            if wait <= 0:
                return verdict
            if wait > max_wait:
                return Reconciliation(None, None, "too soon after the send to tell")
            await anyio.sleep(wait)
            return await self._reconcile_now(policy, call, decision, wait_for_task)
        return Reconciliation(None, None, "the call's deadline came before it could tell")

    async def _reconcile_now(
        self, policy: PaidPolicy, call: Call[Any], decision: QuoteDecision, settle_wait: float
    ) -> Reconciliation:
        try:
            with anyio.fail_after(_RECONCILE_SECONDS + settle_wait):
                return await policy.reconcile(
                    call, decision, self._services(), settle_wait=settle_wait
                )
        except Exception as exc:
            return Reconciliation(None, None, f"reconciliation failed: {type(exc).__name__}")

    # -- settling --------------------------------------------------------------------------

    async def settle(
        self, doubt: Doubt, verdict: Reconciliation, reason: str, *, slot: str | None = None
    ) -> SpendRecord:
        """Act on a verdict: charged commits, not charged releases, unknown stays held."""
        settlement = settle_verdict(
            verdict.charged, verdict.actual, estimate=doubt.hold.amount, reason=reason
        )
        intent, estimate = doubt.intent, doubt.decision.credits
        if isinstance(settlement, InDoubt):
            await self.hold_in_doubt(doubt, settlement.reason, trace_id=None)
            record = self._records.get(doubt_key(intent))
            assert record is not None
            return record
        return await self.settle_charge(doubt, settlement, estimate, slot=slot)

    async def settle_charge(
        self,
        doubt: Doubt,
        settlement: Settled,
        estimate: int | None,
        *,
        slot: str | None,
        booked: bool = False,
    ) -> SpendRecord:
        """Commit (or release) ``doubt``'s hold; ``booked``: still in doubt, booked as spent."""
        if settlement.actual:
            pending = not await self._account.commit(
                doubt.hold, settlement.actual, journal_key=doubt.journal_key
            )
            outcome = SpendOutcome.IN_DOUBT if booked else SpendOutcome.SUCCEEDED
        else:
            pending = False
            await self._account.release(doubt.hold)
            outcome = SpendOutcome.FAILED_NO_CHARGE
        reason = settlement.reason
        if pending:
            reason = f"{reason}; ledger recording pending"
        return await self._history.record(
            Entry(
                doubt.intent,
                outcome,
                estimate,
                settlement.actual,
                reason=reason,
                journal_key=doubt.journal_key,
                slot=slot,
                keep_hold=pending,
            )
        )

    async def reconcile(self) -> tuple[SpendRecord, ...]:
        """Settle in-doubt intents of this guard without re-sending them."""
        settled: list[SpendRecord] = []
        for key in list(self._unsettled):
            record = await self._settle_once(key)
            if record is not None:
                settled.append(record)
        return tuple(settled)

    async def _settle_once(self, key: str) -> SpendRecord | None:
        # Its own task (``finish``): no cancellation of the caller can cut it between the
        # verdict and the books; a cancelled caller only makes the verdict hurry.
        return await finish(partial(self._settle_shared, key))

    async def _settle_shared(self, key: str, hurry: Hurry) -> SpendRecord | None:
        # Concurrent callers (reconcile() and repeats of the intent) share one settlement.
        return await self._flights.run(f"doubt:{key}", partial(self._settle_key, key, hurry))

    async def settle_earlier(self, intent: Intent) -> None:
        """The same intent went in doubt before: settle it first, or refuse to pay twice."""
        key = doubt_key(intent)
        if key not in self._unsettled:
            return  # (a repeatable search never matches: each call is its own purchase)
        await self._settle_once(key)
        if key in self._unsettled:
            record = self._records.get(key)
            raise SpendInDoubtError(
                f"{intent.describe()} is still in doubt from an earlier attempt; "
                "sending it again could pay twice",
                intent=intent,
                reason=(record.reason if record is not None else None) or "in doubt",
            )

    async def _settle_key(self, key: str, hurry: Hurry) -> SpendRecord | None:
        doubt = self._unsettled.get(key)
        if doubt is None:
            return None  # settled meanwhile
        verdict = await self.reconcile_after_send(
            doubt.policy, doubt.call, doubt.decision, doubt.sent_at, hurry=hurry
        )
        if verdict.charged is None:
            return None
        self.forget(key)
        reason = f"reconciled: {verdict.reason}"
        return await self.settle(doubt, verdict, reason, slot=doubt.slot or key)

    def forget(self, key: str) -> Doubt | None:
        """Stop tracking ``key`` (it is being settled); its credits stop counting as doubtful."""
        doubt = self._unsettled.pop(key, None)
        self._records.pop(key, None)
        if doubt is not None:
            self._account.undoubt(doubt.amount)
        return doubt

    def unsettled_keys(self) -> list[str]:
        return list(self._unsettled)
