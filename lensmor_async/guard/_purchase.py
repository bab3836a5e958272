"""One paid call's state, carried explicitly through the guard (no ContextVars)."""

from __future__ import annotations

import time
from typing import Any

import attrs

from lensmor_async._call import Approval, Call, Sender, SendProbe
from lensmor_async._core.spend import QuoteDecision
from lensmor_async._intent import Intent
from lensmor_async.errors import ConfigurationError
from lensmor_async.guard._history import Entry
from lensmor_async.guard._journaling import IntentJournal
from lensmor_async.guard._ledger_protocol import Hold
from lensmor_async.guard._policies import PaidPolicy
from lensmor_async.guard._records import SpendOutcome


@attrs.define(slots=True, eq=False)
class Purchase:
    """Everything the guard knows about one paid call while it runs."""

    call: Call[Any]
    """The call as it will be sent (trimmed by the policy once priced)."""
    policy: PaidPolicy
    send: Sender
    deadline: float | None
    """Absolute ``time.monotonic()`` deadline of the call (None: none)."""
    approval: Approval | None = None
    """What a person approved in a two-phase quote (asked again only if it moved)."""
    follow_ups: tuple[str, ...] = ()
    """Journal rows of earlier purchases of this intent that this one follows up."""
    attached: bool = False
    """Already attached to another worker's row once (do not look it up again)."""
    decision: QuoteDecision | None = None
    hold: Hold | None = None
    journal_key: str | None = None
    balance_before: int | None = None
    refusal: str | None = None
    """Why admission refused the spend (``balance``, ``server_402_latched``)."""
    probe: SendProbe = attrs.field(factory=SendProbe)
    started_at: float = attrs.field(factory=time.time)
    """Wall-clock start: which dedupe window a repeatable search falls in."""

    def key_in(self, journal: IntentJournal) -> str:
        """This purchase's journal key (the same at every step of this purchase)."""
        return journal.key_for(self.intent, self.follow_ups, at=self.started_at)

    @property
    def intent(self) -> Intent:
        if self.call.intent is None:
            raise ConfigurationError(
                f"{self.call.operation.name} is paid but the call carries no intent"
            )
        return self.call.intent

    @property
    def estimate(self) -> int | None:
        return None if self.decision is None else self.decision.credits

    @property
    def trace_id(self) -> str | None:
        return self.probe.trace_id

    def time_left(self) -> float | None:
        """Seconds until the call's deadline (None: no deadline); never negative."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.0)

    def entry(
        self,
        outcome: SpendOutcome,
        actual: int | None,
        *,
        reason: str | None = None,
        task_id: str | None = None,
        keep_hold: bool = False,
    ) -> Entry:
        """What to record about this purchase (``guard.history`` plus its journal row)."""
        return Entry(
            self.intent,
            outcome,
            self.estimate,
            actual,
            reason=reason,
            trace_id=self.trace_id,
            task_id=task_id,
            journal_key=self.journal_key,
            keep_hold=keep_hold,
        )

    def again(self, call: Call[Any] | None = None) -> Purchase:
        """A fresh purchase of the same call (after a 409, or to take a dead owner's row over)."""
        return Purchase(
            call or self.call,
            self.policy,
            self.send,
            self.deadline,
            self.approval,
            follow_ups=self.follow_ups,
            attached=True,
            started_at=self.started_at,
        )

    def follow_up(self, row: str) -> Purchase:
        """The next purchase of the same intent, after ``row`` left something chargeable."""
        return Purchase(
            self.call,
            self.policy,
            self.send,
            self.deadline,
            self.approval,
            follow_ups=(*self.follow_ups, row),
            attached=True,
            started_at=self.started_at,
        )


def shortest(*limits: float | None) -> float:
    """The smallest of the given limits in seconds (inf when none is set)."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else float("inf")
