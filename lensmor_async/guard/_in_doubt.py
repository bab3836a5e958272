"""In-doubt intents: reconciling a lost outcome without re-sending, and settling it later.

``InDoubtBook`` keeps this process's in-doubt intents; ``_InDoubtHandling`` decides them.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
import attrs

from lensmor_async._core.admission import QuoteDecision
from lensmor_async._core.reconciliation import wait_before_not_executed
from lensmor_async.errors import SpendInDoubtError
from lensmor_async.guard._intent import Intent
from lensmor_async.guard._journaling import REPEATABLE_OPERATIONS, current_key
from lensmor_async.guard._ledger_protocol import Hold
from lensmor_async.guard._policies import PaidPolicy, Reconciliation
from lensmor_async.guard._records import SpendOutcome, SpendRecord
from lensmor_async.guard._settlement import _intent_of, _Settlement

if TYPE_CHECKING:
    from lensmor_async._pipeline import Call

logger = logging.getLogger("lensmor_async")
_RECONCILE_SECONDS = 15.0


@attrs.frozen(slots=True)
class _Doubt:
    """What reconcile() needs to settle an in-doubt intent later."""

    policy: PaidPolicy
    call: Call[Any]
    decision: QuoteDecision
    hold: Hold
    journal_key: str | None
    sent_at: float
    """``time.monotonic()`` when the request last left (see ``_core.reconciliation``)."""


class InDoubtBook:
    """This process's in-doubt intents: the record each shows and what settles it later.

    Keyed by ``_doubt_key``. An intent that recovery counted at its estimate has a record
    but nothing left to settle.
    """

    def __init__(self) -> None:
        self._records: dict[str, SpendRecord] = {}
        self._unsettled: dict[str, _Doubt] = {}

    def records(self) -> tuple[SpendRecord, ...]:
        return tuple(self._records.values())

    def record(self, key: str) -> SpendRecord | None:
        return self._records.get(key)

    def unsettled(self, key: str) -> _Doubt | None:
        return self._unsettled.get(key)

    def unsettled_keys(self) -> list[str]:
        return list(self._unsettled)

    def track(self, key: str, record: SpendRecord, doubt: _Doubt) -> None:
        self._records[key] = record
        self._unsettled[key] = doubt

    def note(self, key: str, record: SpendRecord) -> None:
        """An in-doubt record with nothing left to settle (recovery counted it)."""
        self._records[key] = record

    def settled(self, key: str) -> None:
        self._unsettled.pop(key, None)
        self._records.pop(key, None)

    def journal_keys(self) -> frozenset[str]:
        return frozenset(d.journal_key for d in self._unsettled.values() if d.journal_key)


class _InDoubtHandling(_Settlement):
    """Reconcile a send whose outcome was lost; keep or settle what stays in doubt."""

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

    async def _reconcile_after_send(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        sent_at: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        settle_wait: float | None = None,
        max_wait: float = math.inf,
    ) -> Reconciliation:
        """Reconcile; a "not executed" verdict stands only once the request cannot still run.

        ``sent_at`` is on ``clock`` (monotonic here; wall time for journal rows written by
        another process). A verdict that would need more than ``max_wait`` stays unknown.
        """
        wait_for_task = policy.reconcile_wait if settle_wait is None else settle_wait
        verdict = await self._reconcile_now(policy, call, decision, settle_wait=wait_for_task)
        wait = wait_before_not_executed(verdict.charged, clock() - sent_at, self._doubt_grace)
        if wait <= 0:
            return verdict
        if wait > max_wait:
            return Reconciliation(None, None, "too soon after the send to tell")
        await anyio.sleep(wait)
        return await self._reconcile_now(policy, call, decision, settle_wait=wait_for_task)

    async def _apply_reconciliation(
        self,
        policy: PaidPolicy,
        call: Call[Any],
        decision: QuoteDecision,
        hold: Hold,
        verdict: Reconciliation,
        exc: BaseException,
        sent_at: float,
    ) -> BaseException | None:
        intent = _intent_of(call)
        if verdict.charged is None:
            reason = f"{type(exc).__name__}: {verdict.reason}"
            await self._mark_in_doubt(policy, call, decision, hold, reason, sent_at)
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
        sent_at: float,
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
        doubt = _Doubt(policy, call, decision, hold, current_key.get(), sent_at)
        self._doubts.track(key, record, doubt)

    async def reconcile(self) -> tuple[SpendRecord, ...]:
        """Settle in-doubt intents of this process without re-sending them.

        Each is checked (precheck, access mode, contact state); a charged one is spent,
        an uncharged one releases its hold, an unknowable one stays in doubt (its hold
        still counts against the budget). Returns the records that were settled.
        """
        settled: list[SpendRecord] = []
        for key in self._doubts.unsettled_keys():
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
        if self._doubts.unsettled(key) is None:
            return  # (a repeatable search never matches: each call is its own purchase)
        await self._settle_doubt_once(key)
        if self._doubts.unsettled(key) is not None:
            record = self._doubts.record(key)
            raise SpendInDoubtError(
                f"{intent.describe()} is still in doubt from an earlier attempt; "
                "sending it again could pay twice",
                intent=intent,
                reason=(record.reason if record is not None else None) or "in doubt",
            )

    async def _settle_doubt(self, key: str) -> SpendRecord | None:
        doubt = self._doubts.unsettled(key)
        if doubt is None:
            return None  # settled meanwhile
        verdict = await self._reconcile_after_send(
            doubt.policy, doubt.call, doubt.decision, doubt.sent_at
        )
        if verdict.charged is None:
            return None
        self._doubts.settled(key)
        intent = _intent_of(doubt.call)
        token = current_key.set(doubt.journal_key)
        try:
            return await self._settle_verdict(
                intent, doubt.decision, doubt.hold, verdict, f"reconciled: {verdict.reason}", key
            )
        finally:
            current_key.reset(token)


def _doubt_key(intent: Intent) -> str:
    """Where an in-doubt intent is tracked: per intent, or per call for repeatable searches."""
    if intent.operation in REPEATABLE_OPERATIONS:
        return f"doubt:{intent.key}:{uuid.uuid4().hex}"
    return f"doubt:{intent.key}"
