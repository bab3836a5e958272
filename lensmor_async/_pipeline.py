"""The request pipeline: guard step (paid operations only) → send step.

The send step owns the limiter, the retry loop (pure decisions from ``_core.retry``),
the transport and decoding. The guard step is the CreditGuard, which wraps the send
step for paid operations; it is the only place money is handled.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import anyio
import attrs
import orjson

from lensmor_async._call import Approval, Call, GuardStep, SendProbe
from lensmor_async._config import ClientConfig
from lensmor_async._core.decoding import decode_payload
from lensmor_async._core.ratelimit import RateLimitInfo, parse_rate_limit
from lensmor_async._core.retry import (
    Failure,
    FailureKind,
    Retry,
    RetryAfterTooLong,
    RetryBudget,
    attempt_timeout,
    decide,
)
from lensmor_async._hooks import Hooks, RequestEvent
from lensmor_async._limiter import AdaptiveLimiter
from lensmor_async._runtime import require_asyncio
from lensmor_async.errors import (
    APIStatusError,
    APITimeoutError,
    ConcurrencyLimitError,
    ConfigurationError,
    DeadlineExceededError,
    LensmorError,
    RateLimitError,
    TransportError,
    sanitize_message,
)
from lensmor_async.transport import Request, Response, Transport

if TYPE_CHECKING:
    from lensmor_async._rate_limit_store import RateLimitStore
    from lensmor_async._shared_limiter import SharedLimiter

T = TypeVar("T")
Answer = tuple[int, Mapping[str, str], str | None]
"""Status, headers and trace id of an answer: what ``result.response`` is built from."""
logger = logging.getLogger("lensmor_async")
_DEADLINE_SLACK = 0.005
"""Seconds of timer jitter tolerated when telling a deadline timeout from an attempt's."""


_STORE_METHODS = ("start", "give_back", "pause_until", "aclose")


def _shared_limiter(config: ClientConfig, store: RateLimitStore | None) -> SharedLimiter | None:
    """A limiter sharing the key's limit through ``store``; None: the in-process default."""
    if store is None:
        return None
    if not all(callable(getattr(store, name, None)) for name in _STORE_METHODS):
        raise ConfigurationError(
            "rate_limit_store must be a RateLimitStore (e.g. RedisRateLimitStore(url)), "
            f"got {type(store).__name__}"
        )
    # Loaded only here, so a client without a store imports none of it.
    from lensmor_async._intent import account_fingerprint
    from lensmor_async._shared_limiter import SharedLimiter

    local = AdaptiveLimiter(config.max_concurrency)
    return SharedLimiter(local, store, account_fingerprint(config.api_key.get_secret_value()))


class LoopBinding:
    """The event loop a client belongs to: bound on first use, refused anywhere else.

    Its connections, limiter and guard locks live in that loop; used from another one
    they would fail in obscure ways (or hang), so the misuse is named up front.
    """

    __slots__ = ("_loop",)

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def check(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not called from a coroutine: the awaiting loop is checked then
        if loop is self._loop:
            return
        if self._loop is None:
            self._loop = loop
            return
        raise ConfigurationError(
            "this client was first used in another event loop; its connections belong "
            "there. Create one client per event loop (build it inside the async code that "
            "uses it, e.g. in the coroutine you pass to asyncio.run)"
        )


@attrs.define(slots=True)
class RateLimitState:
    """The last ``X-RateLimit-*`` values seen (``client.rate_limit``)."""

    last: RateLimitInfo | None = None


class Pipeline:
    """Runs calls for one client (and its ``with_options`` copies, which share it)."""

    def __init__(
        self,
        config: ClientConfig,
        transport: Transport,
        guard: GuardStep,
        *,
        hook: Hooks | None = None,
        shared_from: Pipeline | None = None,
        rate_limit_store: RateLimitStore | None = None,
    ) -> None:
        self.config = config
        self.transport = transport
        self.guard = guard
        self.hook = hook
        """Where request events go; None (no hooks) skips them entirely."""
        self._endpoint = _endpoint(config.base_url)
        self._base_path = urlsplit(config.base_url).path.rstrip("/")
        # Copies made by with_options() talk to the same account and server, so they
        # share the limiter, the retry budget and the rate-limit view.
        if shared_from is None:
            self.shared = _shared_limiter(config, rate_limit_store)
            self.limiter: AdaptiveLimiter | SharedLimiter = self.shared or AdaptiveLimiter(
                config.max_concurrency
            )
            self.retry_budget = RetryBudget()
            self.rate_limit = RateLimitState()
            self.route_caps: dict[str, anyio.CapacityLimiter] = {}
            self.loop = LoopBinding()
        else:
            self.limiter = shared_from.limiter
            self.shared = shared_from.shared
            self.retry_budget = shared_from.retry_budget
            self.rate_limit = shared_from.rate_limit
            self.route_caps = shared_from.route_caps
            self.loop = shared_from.loop
        self._rng = random.Random()
        self._clock: Callable[[], float] = time.monotonic

    def derive(self, config: ClientConfig, transport: Transport) -> Pipeline:
        """A pipeline for a ``with_options`` copy."""
        return Pipeline(config, transport, self.guard, hook=self.hook, shared_from=self)

    def deadline(self) -> float | None:
        """The absolute (monotonic) deadline for a call starting now."""
        limit = self.config.deadline
        return None if limit is None else self._clock() + limit

    def run(self, call: Call[T], approval: Approval | None = None) -> Coroutine[Any, Any, T]:
        """Run one call through the guard (if paid) and the send step: ``await run(call)``.

        ``approval``: what a person approved in a two-phase quote (paid calls only).
        A plain function returning the step's coroutine, not a coroutine of its own: one
        frame less on every suspension and resumption of every request.
        """
        self.loop.check()
        deadline = self.deadline()
        cap = call.operation.max_in_flight
        if cap is not None:
            return self._capped(call, cap, deadline, approval)
        if call.operation.paid:
            return self._run_paid(call, deadline, approval)
        return self.send(call, deadline=deadline)

    async def _run_paid(
        self, call: Call[T], deadline: float | None, approval: Approval | None
    ) -> T:
        require_asyncio()  # before the guard holds or journals anything
        return await self.guard.run_paid(call, self.send, deadline=deadline, approval=approval)

    async def _capped(
        self, call: Call[T], cap: int, deadline: float | None, approval: Approval | None
    ) -> T:
        # The API refuses calls over its per-user concurrency limit of this route
        # (USER_CONCURRENCY_LIMIT_EXCEEDED): queue here instead. The slot is taken before
        # the guard prices and holds, so queued paid calls hold no credits meanwhile.
        slots = self._route_cap(call.operation.name, cap)
        try:
            # A free slot is taken without yielding, so a capped call starts as early
            # as any other (competing for credits in the order the calls were made).
            slots.acquire_nowait()
        except anyio.WouldBlock:
            await slots.acquire()
        try:
            if call.operation.paid:
                return await self._run_paid(call, deadline, approval)
            return await self.send(call, deadline=deadline)
        finally:
            slots.release()

    async def send(
        self, call: Call[T], *, deadline: float | None, probe: SendProbe | None = None
    ) -> T:
        """Send with retries; return the decoded success or raise a typed error."""
        require_asyncio()
        body = None if call.body is None else orjson.dumps(call.body)
        # Without a deadline every attempt sends the same request: build it once, reuse it.
        fixed: Request | None = None
        attempt = 0
        while True:
            attempt += 1
            remaining = self._remaining(deadline)
            try:
                if remaining is None:
                    if fixed is None:
                        fixed = self._request(call, body, self.config.timeout)
                    payload, answer = await self._exchange(fixed, probe, attempt, call)
                else:
                    payload, answer = await self._attempt(call, body, remaining, probe, attempt)
            except (TransportError, APIStatusError) as exc:
                await self._after_failure(call, exc, attempt, deadline)
                continue
            self.retry_budget.record_success()
            result = call.decode(payload)
            # ``result.response``: models' one slot, outside equality and to_dict(). Not
            # contextlib.suppress: a context manager on every request costs more.
            try:  # noqa: SIM105
                object.__setattr__(result, "_response", answer)
            except (AttributeError, TypeError):
                pass  # not a model: nothing carries the answer
            return result

    def _request(self, call: Call[Any], body: bytes | None, timeout: float | None) -> Request:
        operation = call.operation
        return Request(
            method=operation.method,
            path=call.path,
            route=operation.route,
            query=call.query,
            body=body,
            timeout=timeout,
            credit_relevant=operation.credit_relevant,
        )

    async def _attempt(
        self,
        call: Call[Any],
        body: bytes | None,
        remaining: float,
        probe: SendProbe | None,
        attempt: int,
    ) -> tuple[Any, Answer]:
        """One attempt under the call's deadline: its timeout shrinks to the time left."""
        request = self._request(call, body, attempt_timeout(self.config.timeout, remaining))
        started = self._clock()
        try:
            with anyio.fail_after(remaining):
                return await self._exchange(request, probe, attempt, call)
        except TimeoutError as exc:
            raise DeadlineExceededError(
                f"{request.method} {request.route}: the call's deadline ran out"
            ) from exc
        except APITimeoutError as exc:
            # aiohttp's own timer may fire first when the attempt's timeout was shrunk to
            # the deadline; once the deadline has passed, that is the deadline's failure.
            if self._clock() - started >= remaining - _DEADLINE_SLACK:
                raise DeadlineExceededError(
                    f"{request.method} {request.route}: the call's deadline ran out",
                    request_sent=exc.request_sent,
                ) from exc
            raise

    async def _exchange(
        self, request: Request, probe: SendProbe | None, attempt: int, call: Call[Any]
    ) -> tuple[Any, Answer]:
        """One attempt: the decoded payload, and the answer it came in (status, headers, id)."""
        hook = self.hook
        started = time.monotonic() if hook is not None else 0.0
        try:
            response = await self._send_limited(request, probe)
        except BaseException as exc:
            # Cancellation (a deadline, the caller) ends the attempt too: report it, re-raise.
            if hook is not None:
                hook(self._event(call, attempt, started, None, None, type(exc).__name__))
            raise
        headers = response.headers
        now = time.time()
        trace_id = _trace_id(headers)
        if hook is not None:
            status = response.status
            error = str(status) if status >= 400 else None
            hook(self._event(call, attempt, started, status, trace_id, error))
        if probe is not None:
            probe.trace_id = trace_id
        capture = call.capture
        if capture is not None:
            capture.status, capture.headers = response.status, headers
            capture.body, capture.trace_id = response.body, trace_id
        info = parse_rate_limit(headers)
        if info is not None:
            self.rate_limit.last = info
            self.limiter.observe(info, now)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s trace_id=%s attempt %d intent=%s",
                request.method,
                request.route,
                response.status,
                trace_id,
                attempt,
                call.intent.key if call.intent is not None else "-",
            )
        where = None if response.status < 400 else (request.method, self._base_path + request.path)
        payload = decode_payload(response.status, headers, response.body, now=now, where=where)
        return payload, (response.status, headers, trace_id)

    def _event(
        self,
        call: Call[Any],
        attempt: int,
        started: float,
        status: int | None,
        trace_id: str | None,
        error: str | None,
    ) -> RequestEvent:
        operation = call.operation
        host, port = self._endpoint
        return RequestEvent(
            operation=operation.name,
            method=operation.method,
            route=operation.route,
            status=status,
            attempt=attempt,
            duration=time.monotonic() - started,
            trace_id=trace_id,
            error=error,
            paid=operation.paid,
            host=host,
            port=port,
        )

    async def _send_limited(self, request: Request, probe: SendProbe | None) -> Response:
        limiter = self.limiter
        # Not `async with`: taking a free slot directly saves two coroutine objects on
        # every request; the slow path (waiting, pacing) is the same as the context manager's.
        if not limiter.try_enter():
            await limiter.enter()
        try:
            if probe is not None:
                probe.started = True
                probe.sent_at = time.monotonic()
            return await self.transport.send(request)
        finally:
            limiter.release()

    def _route_cap(self, name: str, cap: int) -> anyio.CapacityLimiter:
        limiter = self.route_caps.get(name)
        if limiter is None:
            limiter = self.route_caps[name] = anyio.CapacityLimiter(cap)
        return limiter

    def _remaining(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise DeadlineExceededError("the call's deadline ran out before the next attempt")
        return remaining

    async def _after_failure(
        self,
        call: Call[Any],
        exc: TransportError | APIStatusError,
        attempt: int,
        deadline: float | None,
    ) -> None:
        """Sleep before the next attempt, or re-raise ``exc`` (or a RateLimitError)."""
        if isinstance(exc, DeadlineExceededError):
            raise exc
        if isinstance(exc, RateLimitError):
            self.limiter.pause_after_429(_retry_after_header(exc))
            if self.shared is not None:
                await self.shared.share_429(_retry_after_header(exc))  # every sharer pauses
        failure = _failure_of(exc)
        if failure is None:
            raise exc
        remaining = None if deadline is None else deadline - self._clock()
        decision = decide(
            self.config.retry,
            failure,
            attempt=attempt,
            paid=call.operation.paid,
            deadline_remaining=remaining,
            now=time.time(),
            rng=self._rng,
            budget=self.retry_budget,
        )
        logger.info(
            "%s %s attempt %d failed (%s): %s",
            call.operation.method,
            call.operation.route,
            attempt,
            type(exc).__name__,
            type(decision).__name__,
        )
        if isinstance(decision, Retry):
            if decision.delay > 0:
                await anyio.sleep(decision.delay)
            return
        if isinstance(decision, RetryAfterTooLong) and isinstance(exc, RateLimitError):
            raise RateLimitError(
                "rate limited; Retry-After exceeds the cap or the deadline",
                retry_after=decision.retry_after,
                status=429,
                error_key=getattr(exc, "error_key", None),
                trace_id=getattr(exc, "trace_id", None),
            ) from exc
        raise exc


def _endpoint(base_url: str) -> tuple[str, int]:
    """The host and port of ``base_url`` (for request events; parsed once per pipeline)."""
    parts = urlsplit(base_url)
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


def _trace_id(headers: Mapping[str, str]) -> str | None:
    """The server's ``X-Request-ID``, made safe for logs and records (it is server-controlled)."""
    raw = headers.get("X-Request-ID")
    if raw is None or (len(raw) <= 80 and raw.isascii() and raw.isprintable()):
        return raw  # the usual UUID: nothing to clean, so skip the regex
    return sanitize_message(raw, 80)


def _retry_after_header(exc: RateLimitError) -> str | None:
    return exc.retry_after_header


def _failure_of(exc: LensmorError) -> Failure | None:
    """Describe a failed attempt for the pure retry policy (None: never retry)."""
    if isinstance(exc, ConcurrencyLimitError):
        return Failure(kind=FailureKind.CONCURRENCY_LIMIT, status=exc.status)
    if isinstance(exc, APIStatusError):
        header = _retry_after_header(exc) if isinstance(exc, RateLimitError) else None
        return Failure(kind=FailureKind.STATUS, status=exc.status, retry_after_header=header)
    assert isinstance(exc, TransportError)
    return Failure.from_transport_error(exc)
