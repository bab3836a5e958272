"""Checks before a paid call is sent: precheck refusal, balance and 402 latch, hold, confirm."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from lensmor_async._core.admission import QuoteDecision, admit
from lensmor_async.errors import (
    ActionNotAllowedError,
    ConfigurationError,
    InsufficientCreditsError,
    SpendDeclinedError,
)
from lensmor_async.guard._confirm import SpendRequest, ask
from lensmor_async.guard._intent import Intent
from lensmor_async.guard._journaling import current_key
from lensmor_async.guard._ledger_protocol import Hold
from lensmor_async.guard._quote import QuoteMode
from lensmor_async.guard._records import SpendOutcome
from lensmor_async.guard._settlement import _Settlement

if TYPE_CHECKING:
    from lensmor_async._pipeline import Call

_LATCH_RECHECK_SECONDS = 1.0


class _SpendChecks(_Settlement):
    """Admission of one spend: refuse, check the balance, hold the budget, confirm."""

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

    def _required(self, intent: Intent, decision: QuoteDecision) -> int:
        if decision.credits is not None:
            return decision.credits
        if self._ledger.budget is not None:
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
            if self._ledger.budget is None
            else max(self._ledger.budget - self._spent - self._held, 0),
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
