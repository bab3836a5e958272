"""The observability extension point: a ``Hook`` protocol plus frozen event objects.

A hook is any callable taking one event: a :class:`RequestEvent` after every HTTP
attempt, a :class:`SpendEvent` at each step of a paid call. Hooks are passed to the
client explicitly (``AsyncLensmor(hooks=[...])``), never found through a ContextVar.
With no hook set, the pipeline and the guard skip all of this behind one ``is None``
check (benchmarks/RESULTS.md measures it).

A hook runs inline, on the event loop, and inside the guard's money-recording cleanup:
it must be quick and must not block. An exception it raises is logged and dropped, so a
broken hook can never fail a call or leave the guard's books half-written.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

if TYPE_CHECKING:
    from lensmor_async.guard import SpendOutcome

logger = logging.getLogger("lensmor_async")


@attrs.frozen(slots=True)
class RequestEvent:
    """One HTTP attempt, after it ended (with a response or a transport failure)."""

    operation: str
    """The SDK operation, e.g. ``personnel.list``."""
    method: str
    """``GET`` or ``POST``."""
    route: str
    """The route *template*, e.g. ``/api/v1/personnel/{personnel_id}``: never a real id."""
    status: int | None
    """The HTTP status; None when no response arrived (see ``error``)."""
    attempt: int
    """1 for the first attempt, 2 for the first retry, ..."""
    duration: float
    """Seconds from handing the request to the transport to its response (or failure)."""
    trace_id: str | None
    """The server's ``X-Request-ID`` (None without a response)."""
    error: str | None
    """Why the attempt failed: the SDK exception's type name for a transport failure,
    the status code as text for a 4xx/5xx answer; None for a success."""
    paid: bool
    """True for operations that spend credits."""
    host: str
    """The API host (from ``base_url``)."""
    port: int
    """The API port (from ``base_url``)."""


class SpendEventKind(enum.Enum):
    """The steps of a paid call a :class:`SpendEvent` reports."""

    QUOTED = "quoted"
    """Priced: ``credits`` is the estimate (also for a two-phase ``guard.quote``)."""
    CONFIRMED = "confirmed"
    """Approved (by the confirm callback or a quote) and held: ``credits`` is the hold."""
    DECLINED = "declined"
    """The confirm callback said no, raised or timed out; nothing was sent."""
    SETTLED = "settled"
    """The intent ended: ``credits`` is what it spent (0: nothing charged); see ``outcome``."""
    IN_DOUBT = "in_doubt"
    """It may have been charged: ``credits`` stay held and count as spent until settled."""


@attrs.frozen(slots=True)
class SpendEvent:
    """One step of one paid intent, as the CreditGuard recorded it."""

    kind: SpendEventKind
    operation: str
    """The paid operation, e.g. ``events.unlock``."""
    intent_key: str
    """The intent's stable key (a hash of what is bought, never the API key)."""
    credits: int | None
    """Estimate (quoted, confirmed, declined, in doubt) or actual spend (settled)."""
    outcome: SpendOutcome | None = None
    """The ``guard.history`` outcome, for settled and in-doubt events."""
    reason: str | None = None
    trace_id: str | None = None
    """The server's ``X-Request-ID`` of the paid call, when one arrived."""


Event = RequestEvent | SpendEvent


class Hook(Protocol):
    """Receives observability events; must be quick, must not block, must not raise."""

    def __call__(self, event: Event, /) -> None: ...


@attrs.frozen(slots=True)
class Hooks:
    """Several hooks called in order; one failing does not stop the others."""

    hooks: tuple[Hook, ...]

    def __call__(self, event: Event, /) -> None:
        for hook in self.hooks:
            try:
                hook(event)
            except Exception:
                logger.exception("observability hook %r raised; event dropped", hook)


def combine(hooks: Sequence[Hook] | None) -> Hooks | None:
    """One callable for the client's hooks, or None (the zero-cost path) when there are none."""
    if not hooks:
        return None
    return Hooks(tuple(hooks))
