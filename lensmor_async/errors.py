"""The lensmor-async exception tree.

Every exception the SDK raises on purpose derives from :class:`LensmorError`; no
exception type from aiohttp, json or orjson ever reaches the caller (each is
translated at the transport boundary with ``raise ... from exc``)::

    LensmorError
    ├── InvalidRequestError (ValueError)     bad input, refused before any I/O
    │   └── ConfigurationError               bad client/guard configuration
    ├── TransportError                       the request did not produce a response
    │   ├── APIConnectionError               connect/reset/disconnect (``request_sent`` tells)
    │   ├── APITimeoutError                  an attempt or the call's deadline ran out
    │   │   └── DeadlineExceededError        the call's overall deadline ran out
    │   └── RedirectRefusedError             a 3xx answer; redirects are never followed
    ├── ResponseError                        a response arrived but cannot be used
    │   ├── MalformedResponseError           not JSON, truncated, too large or too deep
    │   └── ResponseValidationError          JSON that does not fit the model (``path``)
    ├── APIStatusError                       the API answered with an error envelope
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── InsufficientCreditsError   402   (also a CreditError; raised pre-flight too)
    │   │   └── BudgetExceededError          this guard's spending cap would be crossed
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── ConflictError              409
    │   ├── UnprocessableError         422
    │   ├── RateLimitError             429   (``retry_after`` seconds)
    │   ├── ServerError                5xx
    │   ├── FeatureNotAvailableError   HTTP-200 ``USER_HAS_NO_FEATURE``: the plan lacks it
    │   └── ConcurrencyLimitError      HTTP-200 ``USER_CONCURRENCY_LIMIT_EXCEEDED``
    └── CreditError                          the CreditGuard stopped or lost track of a spend
        ├── ConfirmationRequiredError        no confirm callback: paid calls fail closed
        ├── SpendDeclinedError               the confirm callback said no
        ├── QuoteExpiredError                a two-phase quote outlived its TTL
        ├── ActionNotAllowedError            precheck says the action cannot run now
        ├── SpendInDoubtError                sent, outcome unknown; holds the intent
        ├── LedgerUnavailableError           the shared ledger (SQLite/Redis) cannot be used now
        └── InsufficientCreditsError         (see above)

Error text never contains request headers, the API key or the body of a paid call,
and server-supplied messages are truncated and stripped of control characters.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionNotAllowedError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConcurrencyLimitError",
    "ConfigurationError",
    "ConfirmationRequiredError",
    "ConflictError",
    "CreditError",
    "DeadlineExceededError",
    "FeatureNotAvailableError",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "LeaseLostError",
    "LedgerUnavailableError",
    "LensmorError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuoteExpiredError",
    "QuoteReplayedError",
    "QuoteTamperedError",
    "QuoteTokenError",
    "RateLimitError",
    "RateLimitStoreError",
    "RedirectRefusedError",
    "ResponseError",
    "ResponseValidationError",
    "ServerError",
    "SpendDeclinedError",
    "SpendInDoubtError",
    "TransportError",
    "UnprocessableError",
    "sanitize_message",
]

_MAX_MESSAGE = 300
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def sanitize_message(text: object, limit: int = _MAX_MESSAGE) -> str:
    """Make server-supplied text safe for exception text and logs.

    Control characters are replaced (they could forge log lines or hide text) and
    the result is truncated, because a hostile or broken server controls it.
    """
    cleaned = _CONTROL.sub(" ", str(text))
    if len(cleaned) > limit:
        return cleaned[: limit - 1] + "…"
    return cleaned


def _rebuild(cls: type[LensmorError], args: tuple[Any, ...], state: dict[str, Any]) -> LensmorError:
    """Unpickle without re-running ``__init__`` (its keyword-only fields are in ``state``)."""
    error = cls.__new__(cls)
    Exception.__init__(error, *args)
    error.__dict__.update(state)
    return error


class LensmorError(Exception):
    """Root of every exception raised by lensmor-async."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (worker pools); keep their fields intact.
        return (_rebuild, (type(self), self.args, self.__dict__))


class InvalidRequestError(LensmorError, ValueError):
    """An argument was refused before any network I/O."""


class ConfigurationError(InvalidRequestError):
    """The client, guard or ledger was configured with an unusable value."""


class RateLimitStoreError(LensmorError):
    """The shared rate-limit store (e.g. ``RedisRateLimitStore``) did not answer.

    A store raises it; the client never does: it paces from its own headers until the
    store answers again (a read call never fails because the store did).
    """


class TransportError(LensmorError):
    """No usable HTTP response was received.

    ``request_sent`` is False only when the failure certainly happened before any
    byte of the request left this process; paid calls rely on it to decide whether
    re-sending is safe.
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        super().__init__(message)
        self.request_sent = request_sent


class APIConnectionError(TransportError):
    """Connecting failed, or the connection broke before a full response."""


class APITimeoutError(TransportError):
    """An attempt (or the whole call) ran out of time."""


class DeadlineExceededError(APITimeoutError):
    """The call's overall deadline ran out (attempts, backoff, queueing, polling)."""


class RedirectRefusedError(TransportError):
    """The server answered with a redirect; the SDK never follows one."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message, request_sent=True)
        self.status = status


class ResponseError(LensmorError):
    """A response arrived but could not be turned into a result."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MalformedResponseError(ResponseError):
    """The body was not valid JSON, was truncated, too large or nested too deeply."""


class ResponseValidationError(ResponseError):
    """The JSON did not fit the expected model; ``path`` names where (``$.items[3].id``)."""

    def __init__(self, message: str, *, path: str, status: int | None = None) -> None:
        super().__init__(f"{path}: {message}", status=status)
        self.path = path


class APIStatusError(LensmorError):
    """The API answered with an error envelope (``code``, ``message``, ``errorKey``, ``traceId``).

    Also raised for HTTP-2xx bodies that carry an ``errorKey`` (0.24+ business errors);
    the class then follows the envelope's ``code``.
    """

    default_status: int = 0

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error_key: str | None = None,
        trace_id: str | None = None,
        details: Any = None,
        method: str | None = None,
        url_path: str | None = None,
    ) -> None:
        self.status = status if status is not None else self.default_status
        self.error_key = error_key
        self.trace_id = trace_id
        self.message = sanitize_message(message)
        self.details = details
        self.method = method
        self.url_path = url_path
        """The URL path a 404 was answered for (base URL path included; never the query)."""
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [f"{self.status} {self.error_key or 'ERROR'}: {self.message}"]
        if self.url_path is not None:
            # Names what was not found: a wrong base URL shows at once.
            parts.append(f"({self.method or 'request'} {sanitize_message(self.url_path, 200)})")
        if self.trace_id:
            parts.append(f"(trace_id={sanitize_message(self.trace_id, 80)})")
        return " ".join(parts)


class BadRequestError(APIStatusError):
    """400: the request was invalid."""

    default_status = 400


class AuthenticationError(APIStatusError):
    """401: the API key is missing, malformed, revoked or invalid."""

    default_status = 401


class PermissionDeniedError(APIStatusError):
    """403: the caller may not use this resource (e.g. a paid subscription is required)."""

    default_status = 403


class NotFoundError(APIStatusError):
    """404: the resource is absent or not visible to this key."""

    default_status = 404


class ConflictError(APIStatusError):
    """409: a state conflict (e.g. contacts already unlocking, another credit operation)."""

    default_status = 409


class UnprocessableError(APIStatusError):
    """422: the request is well formed but over a runtime limit."""

    default_status = 422


class RateLimitError(APIStatusError):
    """429: rate limited; ``retry_after`` is the server's wait in seconds, when known.

    ``retry_after_header`` keeps the raw ``Retry-After`` value (seconds or an HTTP date)
    so the retry policy judges exactly what the server sent.
    """

    default_status = 429

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        retry_after_header: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.retry_after = retry_after
        self.retry_after_header = (
            None if retry_after_header is None else sanitize_message(retry_after_header, 64)
        )
        super().__init__(message, **kwargs)


class ServerError(APIStatusError):
    """5xx: the server failed."""

    default_status = 500


class FeatureNotAvailableError(APIStatusError):
    """The account's plan lacks this feature (``USER_HAS_NO_FEATURE``, answered with HTTP 200).

    A refusal, not an input mistake: deliberately not a :class:`BadRequestError`, so an
    ``except BadRequestError`` written for bad arguments does not swallow it. Nothing
    was executed or charged, and it is never retried.
    """

    default_status = 400


class ConcurrencyLimitError(APIStatusError):
    """Too many concurrent calls of this route (``USER_CONCURRENCY_LIMIT_EXCEEDED``, HTTP 200).

    Nothing was executed. A read is retried with backoff within the retry budget; a
    paid call is never re-sent blindly: the guard releases its hold and raises this, and
    calling again goes through the guard's whole flow (quote, confirm, hold). Not a
    :class:`RateLimitError`: there is no ``Retry-After`` and the per-client rate limiter
    is not paused for it.
    """

    default_status = 429


class CreditError(LensmorError):
    """The CreditGuard refused a paid call, or lost certainty about one."""


class InsufficientCreditsError(APIStatusError, CreditError):
    """Not enough credits: a 402 from the server, or the guard's own check before I/O.

    ``required`` and ``available`` are credits as far as they are known; ``preflight``
    is True when the guard refused the call before sending anything.
    """

    default_status = 402

    def __init__(
        self,
        message: str,
        *,
        required: int | None = None,
        available: int | None = None,
        preflight: bool = False,
        **kwargs: Any,
    ) -> None:
        self.required = required
        self.available = available
        self.preflight = preflight
        kwargs.setdefault("error_key", "INSUFFICIENT_CREDITS")
        super().__init__(message, **kwargs)


class BudgetExceededError(InsufficientCreditsError):
    """The guard's spending cap (``budget``) would be crossed; nothing was sent."""


class ConfirmationRequiredError(CreditError):
    """A paid call needs a confirm callback and none is configured (fail closed)."""


class SpendDeclinedError(CreditError):
    """The confirm callback declined the spend; the hold was released, nothing was sent."""


class QuoteExpiredError(CreditError):
    """A two-phase quote (or a sealed quote token) was executed after its TTL."""


class QuoteTokenError(CreditError):
    """A sealed quote token was refused before any network I/O; nothing was spent."""


class QuoteTamperedError(QuoteTokenError):
    """A sealed quote token is malformed, altered or sealed with another secret."""


class QuoteReplayedError(QuoteTokenError):
    """A sealed quote token was already executed (each token buys at most once)."""


class ActionNotAllowedError(CreditError):
    """Precheck says the action cannot run now (``reason_code``), so nothing was sent."""

    def __init__(self, message: str, *, reason_code: str, detail: Any = None) -> None:
        super().__init__(message)
        self.reason_code = reason_code
        self.detail = detail


class SpendInDoubtError(CreditError):
    """A paid request may have reached the server but its outcome is unknown.

    ``intent`` identifies the spend so that it can be reconciled or resumed;
    ``reason`` says why certainty was lost. The SDK never re-sends it on its own.
    """

    def __init__(self, message: str, *, intent: Any, reason: str) -> None:
        super().__init__(message)
        self.intent = intent
        self.reason = reason


class LedgerUnavailableError(CreditError):
    """The shared ledger stayed locked or unreachable; no hold was taken or settled."""


class LeaseLostError(CreditError):
    """This process's lease on a journal row expired and another worker took the intent over.

    The stale owner wrote nothing: it never sends after losing its lease, and it leaves
    any hold and any answer it got for the new owner, which reconciles the intent with
    the server (without re-sending) and settles it. Nothing is forgotten: the intent
    stays in the journal until the new owner concludes it.
    """


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
    429: RateLimitError,
}


_ERROR_KEY_CLASSES: dict[str, type[APIStatusError]] = {
    "USER_HAS_NO_FEATURE": FeatureNotAvailableError,
    "USER_CONCURRENCY_LIMIT_EXCEEDED": ConcurrencyLimitError,
}


def error_key_class(error_key: object) -> type[APIStatusError] | None:
    """The exception class an ``errorKey`` names regardless of its status, if any."""
    return _ERROR_KEY_CLASSES.get(error_key) if isinstance(error_key, str) else None


def status_error_class(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP (or envelope) status code."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, APIStatusError)
