"""The retry policy as pure decisions: what to do after a failed attempt.

Nothing here sleeps, reads a clock or draws global randomness: the caller passes
``now`` (wall-clock Unix seconds, used only to read HTTP-date ``Retry-After``
values), the time left before the call's deadline and a ``random.Random``. The
pipeline turns the returned decision into a sleep or an exception.

Rules (in the order :func:`decide` applies them):

1. The call's deadline has already run out → give up.
2. The failure is not retryable: 400/401/402/403/404/409/422 and every other
   status except 429 and 5xx are never retried; a paid call (one that spends
   credits) is re-sent only when the failure certainly happened before any byte
   left (connect failure or connect timeout), or on a 429 when
   ``retry_paid_on_429`` is set, because the rate limiter rejects before the
   action runs. A concurrency-limit refusal (``USER_CONCURRENCY_LIMIT_EXCEEDED``)
   is retried for reads only: a paid call goes back to its caller, who calls again
   through the guard's whole flow instead of a blind re-send.
3. ``max_attempts`` (counting the first attempt) have been made → give up.
4. A ``Retry-After`` longer than ``retry_after_cap`` or than the time left →
   :class:`RetryAfterTooLong`, so the caller raises ``RateLimitError`` at once
   instead of sleeping through it. A garbage or negative value falls back to backoff.
5. The wait (``Retry-After`` or full-jitter backoff) would reach the deadline → give up.
6. The per-client :class:`RetryBudget` is empty → give up (fail fast).

Budget tokens are taken only when the decision is :class:`Retry`.
"""

from __future__ import annotations

import enum
import math
import random
import re
from collections.abc import Callable
from datetime import UTC
from email.utils import parsedate_to_datetime

import attrs

from lensmor_async.errors import (
    APITimeoutError,
    ConfigurationError,
    DeadlineExceededError,
    RedirectRefusedError,
    TransportError,
)

__all__ = [
    "NEVER_RETRIED_STATUSES",
    "Failure",
    "FailureKind",
    "GiveUp",
    "GiveUpReason",
    "Retry",
    "RetryAfterTooLong",
    "RetryBudget",
    "RetryDecision",
    "RetryPolicy",
    "attempt_timeout",
    "backoff_delay",
    "decide",
    "is_retryable_status",
    "parse_retry_after",
]

NEVER_RETRIED_STATUSES = frozenset({400, 401, 402, 403, 404, 409, 422})
"""Statuses the API documents as "fix the request / stop": never retried."""

# delay-seconds is 1*DIGIT in RFC 9110; a fraction is accepted because the SDK itself
# round-trips parsed values through ``str(float)``. The length bound keeps float() finite.
_SECONDS = re.compile(r"\d{1,30}(?:\.\d{1,9})?")
_MAX_HEADER_LEN = 64


class FailureKind(enum.Enum):
    """How an attempt failed, as far as re-sending safety is concerned."""

    CONNECT_NOT_SENT = "connect_not_sent"
    """Connecting failed: no byte of the request left this process."""
    CONNECTION_LOST = "connection_lost"
    """The connection broke after the request may have been (partly) sent."""
    TIMEOUT_NOT_SENT = "timeout_not_sent"
    """The connect timeout ran out: nothing was sent."""
    TIMEOUT = "timeout"
    """A timeout after the request may have been sent."""
    STATUS = "status"
    """The server answered with an error status."""
    CONCURRENCY_LIMIT = "concurrency_limit"
    """The server refused to start the call: too many of the user's calls in flight."""


_NOT_SENT = frozenset({FailureKind.CONNECT_NOT_SENT, FailureKind.TIMEOUT_NOT_SENT})
_TIMEOUTS = frozenset({FailureKind.TIMEOUT, FailureKind.TIMEOUT_NOT_SENT})


@attrs.frozen(slots=True)
class Failure:
    """One failed attempt, described for :func:`decide`."""

    kind: FailureKind
    status: int | None = None
    retry_after_header: str | None = None
    """The raw ``Retry-After`` value, if the response had one."""

    @classmethod
    def from_transport_error(cls, exc: TransportError) -> Failure | None:
        """Describe a transport error; None when it must never be retried.

        A redirect is a final answer and an exhausted deadline leaves no time,
        so neither gets a ``Failure``.
        """
        if isinstance(exc, DeadlineExceededError | RedirectRefusedError):
            return None
        if isinstance(exc, APITimeoutError):
            return cls(FailureKind.TIMEOUT if exc.request_sent else FailureKind.TIMEOUT_NOT_SENT)
        # APIConnectionError and any other transport failure: only ``request_sent`` matters.
        return cls(
            FailureKind.CONNECTION_LOST if exc.request_sent else FailureKind.CONNECT_NOT_SENT
        )


def _non_negative_float(name: str) -> Callable[[object, object, float], None]:
    def check(_instance: object, _attribute: object, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigurationError(f"{name} must be a number, got {type(value).__name__}")
        if not math.isfinite(value) or value < 0:
            raise ConfigurationError(f"{name} must be a finite number >= 0, got {value!r}")

    return check


def _validate_attempts(_instance: object, _attribute: object, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"max_attempts must be an integer >= 1, got {value!r}")


@attrs.frozen(slots=True)
class RetryPolicy:
    """How failed attempts are retried. Immutable; validated on construction."""

    max_attempts: int = attrs.field(default=3, validator=_validate_attempts)
    """Total attempts, the first one included (1 disables retries)."""
    backoff_base: float = attrs.field(default=0.5, validator=_non_negative_float("backoff_base"))
    backoff_cap: float = attrs.field(default=8.0, validator=_non_negative_float("backoff_cap"))
    retry_after_cap: float = attrs.field(
        default=60.0, validator=_non_negative_float("retry_after_cap")
    )
    """A longer ``Retry-After`` is raised as ``RateLimitError`` instead of slept through."""
    retry_paid_on_429: bool = True
    """A 429 is answered by the rate limiter before the paid action runs: safe to re-send."""
    no_sleep: bool = False
    """Testing mode: every decision is the same, but ``Retry.delay`` is always 0."""

    @classmethod
    def testing(cls) -> RetryPolicy:
        """The default policy without backoff sleeps (for FakeLensmor and unit tests)."""
        return cls(no_sleep=True)


@attrs.frozen(slots=True)
class Retry:
    """Send the next attempt after sleeping ``delay`` seconds."""

    delay: float


class GiveUpReason(enum.Enum):
    """Why no further attempt will be made."""

    NOT_RETRYABLE = "not_retryable"
    """The status or error is never retried."""
    MAY_HAVE_BEEN_SENT = "may_have_been_sent"
    """A paid call whose request may have reached the server: re-sending could spend twice."""
    ATTEMPTS_EXHAUSTED = "attempts_exhausted"
    DEADLINE = "deadline"
    """The deadline has run out, or the wait before the next attempt would reach it."""
    BUDGET_EXHAUSTED = "budget_exhausted"
    """The client's retry budget is empty (many recent failures): fail fast."""


@attrs.frozen(slots=True)
class GiveUp:
    """Stop: the caller re-raises the failure."""

    reason: GiveUpReason


@attrs.frozen(slots=True)
class RetryAfterTooLong:
    """The server asked for a wait past the cap or the deadline: raise ``RateLimitError``."""

    retry_after: float


RetryDecision = Retry | GiveUp | RetryAfterTooLong


class RetryBudget:
    """A per-client token bucket that stops retry storms (botocore's "standard" mode).

    Each retry costs ``retry_cost`` tokens (``timeout_retry_cost`` after a timeout,
    which is likelier to mean an overloaded server); each clean success refunds
    ``success_refund`` up to ``capacity``. An empty bucket makes calls fail fast.
    """

    __slots__ = ("_tokens", "capacity", "retry_cost", "success_refund", "timeout_retry_cost")

    def __init__(
        self,
        capacity: int = 500,
        retry_cost: int = 5,
        timeout_retry_cost: int = 10,
        success_refund: int = 1,
    ) -> None:
        for name, value in (
            ("capacity", capacity),
            ("retry_cost", retry_cost),
            ("timeout_retry_cost", timeout_retry_cost),
            ("success_refund", success_refund),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigurationError(f"{name} must be an integer >= 0, got {value!r}")
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_retry_cost = timeout_retry_cost
        self.success_refund = success_refund
        self._tokens = capacity

    @property
    def tokens(self) -> int:
        """Tokens left."""
        return self._tokens

    def try_acquire(self, timeout: bool = False) -> bool:
        """Take the cost of one retry; False (and nothing taken) if the bucket is short."""
        cost = self.timeout_retry_cost if timeout else self.retry_cost
        if cost > self._tokens:
            return False
        self._tokens -= cost
        return True

    def record_success(self) -> None:
        """Refund after a clean success, never above capacity."""
        self._tokens = min(self.capacity, self._tokens + self.success_refund)

    def __repr__(self) -> str:
        return f"RetryBudget(tokens={self._tokens}/{self.capacity})"


def is_retryable_status(status: int) -> bool:
    """429 and 5xx are transient; everything else (4xx, odd codes) is a final answer."""
    return status == 429 or 500 <= status <= 599


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full-jitter backoff after failed attempt ``attempt`` (1-based).

    ``uniform(0, min(cap, base * 2**(attempt-1)))``: the first retry waits up to
    ``base``, each further one doubles the ceiling until ``cap``. Full jitter spreads
    clients that failed together, so they do not retry in lock-step.
    """
    try:
        ceiling = min(cap, math.ldexp(base, max(0, attempt - 1)))
    except OverflowError:
        ceiling = cap
    return rng.uniform(0.0, ceiling)


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delay-seconds or an HTTP date).

    ``now`` is wall-clock Unix seconds (only HTTP dates need it). Returns None for an
    absent, garbage or negative value, and for a date already in the past (our clock
    may be ahead of the server's), so the caller falls back to its own backoff.
    """
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > _MAX_HEADER_LEN:
        return None
    if _SECONDS.fullmatch(text):
        return float(text)
    return _seconds_until_http_date(text, now)


def _seconds_until_http_date(text: str, now: float) -> float | None:
    if not text[0].isalpha():
        # An HTTP date always starts with a day name; this refuses "-5", "1e3", "inf".
        return None
    try:
        when = parsedate_to_datetime(text)
        # asctime dates carry no zone; HTTP dates are always GMT.
        target = when.timestamp() if when.tzinfo else when.replace(tzinfo=UTC).timestamp()
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    seconds = target - now
    return seconds if seconds >= 0 else None


def attempt_timeout(per_attempt: float | None, deadline_remaining: float | None) -> float | None:
    """The timeout for one attempt: the per-attempt limit shrunk to the time left."""
    if deadline_remaining is None:
        return per_attempt
    remaining = max(0.0, deadline_remaining)
    return remaining if per_attempt is None else min(per_attempt, remaining)


def decide(
    policy: RetryPolicy,
    failure: Failure,
    *,
    attempt: int,
    paid: bool,
    deadline_remaining: float | None,
    now: float,
    rng: random.Random,
    budget: RetryBudget,
) -> RetryDecision:
    """Decide what follows failed attempt number ``attempt`` (1-based); see the module doc."""
    if deadline_remaining is not None and deadline_remaining <= 0:
        return GiveUp(GiveUpReason.DEADLINE)
    refusal = _refusal(policy, failure, paid=paid)
    if refusal is not None:
        return GiveUp(refusal)
    if attempt >= policy.max_attempts:
        return GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED)
    delay = _server_delay(failure, now)
    if delay is not None and (
        delay > policy.retry_after_cap
        or (deadline_remaining is not None and delay >= deadline_remaining)
    ):
        return RetryAfterTooLong(delay)
    if delay is None:
        delay = backoff_delay(attempt, policy.backoff_base, policy.backoff_cap, rng)
    if deadline_remaining is not None and delay >= deadline_remaining:
        return GiveUp(GiveUpReason.DEADLINE)
    if not budget.try_acquire(timeout=failure.kind in _TIMEOUTS):
        return GiveUp(GiveUpReason.BUDGET_EXHAUSTED)
    return Retry(0.0 if policy.no_sleep else delay)


def _refusal(policy: RetryPolicy, failure: Failure, *, paid: bool) -> GiveUpReason | None:
    """Why this failure may not be retried at all, or None if it may."""
    if failure.kind is FailureKind.STATUS:
        status = failure.status
        if status is None or not is_retryable_status(status):
            return GiveUpReason.NOT_RETRYABLE
        if paid and not (status == 429 and policy.retry_paid_on_429):
            # A 5xx may come after the action ran: re-sending could charge twice.
            return GiveUpReason.MAY_HAVE_BEEN_SENT
        return None
    if failure.kind is FailureKind.CONCURRENCY_LIMIT:
        # Nothing ran, but a paid call is never re-sent behind the guard's back.
        return GiveUpReason.NOT_RETRYABLE if paid else None
    if paid and failure.kind not in _NOT_SENT:
        return GiveUpReason.MAY_HAVE_BEEN_SENT
    return None


def _server_delay(failure: Failure, now: float) -> float | None:
    if failure.kind is not FailureKind.STATUS:
        return None
    return parse_retry_after(failure.retry_after_header, now)
