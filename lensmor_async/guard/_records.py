"""What the guard remembers about each paid intent."""

from __future__ import annotations

import enum
import time

import attrs

from lensmor_async._intent import Intent


class SpendOutcome(enum.Enum):
    """The final (or current) state of one paid intent."""

    SUCCEEDED = "succeeded"
    """Executed; ``actual`` credits were spent."""
    FREE = "free"
    """Nothing to pay (already unlocked / nothing chargeable); nothing reserved."""
    PENDING_TASK = "pending_task"
    """Accepted; an unlock task is still running and holds its credits."""
    DECLINED = "declined"
    """The confirm callback said no; nothing sent."""
    REFUSED = "refused"
    """Refused before sending (budget, balance, precheck reason, 402 latch)."""
    REJECTED_402 = "rejected_402"
    """The server answered 402; nothing charged."""
    FAILED_NO_CHARGE = "failed_no_charge"
    """The server refused (4xx) without charging."""
    IN_DOUBT = "in_doubt"
    """May have been charged; see ``reason``. Counted as spent so budgets stay safe."""
    CANCELLED = "cancelled"
    """Cancelled before anything was sent; the hold was released."""


@attrs.frozen(slots=True)
class SpendRecord:
    """One line of ``guard.history``."""

    intent: Intent
    outcome: SpendOutcome
    estimate: int | None
    actual: int | None
    """Credits spent, as settled (None when unknown)."""
    trace_id: str | None = None
    task_id: str | None = None
    reason: str | None = None
    at: float = attrs.field(factory=time.time)
