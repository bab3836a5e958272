"""Seeded fault injection for :class:`~lensmor_async.testing.FakeLensmor`.

Whether request number ``n`` fails, and how, is a pure function of ``(seed, n)``
(:meth:`FaultSchedule.decide`), so a failing chaos run replays exactly with the same
seed. Faults run as an aiohttp middleware *around* the route handlers, so the
"after commit" kinds really execute the handler — and charge credits — before they
break the response:

=======================  =================================================================
kind                     effect
=======================  =================================================================
COMMIT_THEN_TIMEOUT      handler runs (commits), then the response stalls ``stall_seconds``
COMMIT_THEN_DROP         handler runs, then the connection closes without a response
RESET_BEFORE             connection closed before the handler runs (nothing committed)
HTTP_500_BEFORE          500 ``INTERNAL_ERROR`` envelope, handler not run
HTTP_500_AFTER           handler runs, then a 500 envelope replaces its answer
HTTP_503_BEFORE          503 ``SERVICE_UNAVAILABLE`` envelope, handler not run
RATE_LIMIT_SECONDS       429 with ``Retry-After: <retry_after_seconds>``
RATE_LIMIT_DATE          429 with an HTTP-date ``Retry-After``
RATE_LIMIT_NEGATIVE      429 with ``Retry-After: -5``
RATE_LIMIT_HUGE          429 with ``Retry-After: 999999999``
RATE_LIMIT_GARBAGE       429 with ``Retry-After: soon-ish``
MALFORMED_BODY           handler runs, then its status with a non-JSON body
TRUNCATED_BODY           handler runs, half its body is sent, then the connection closes
OVERSIZED_BODY           handler runs, then ``oversized_bytes`` are streamed lazily
SLOW_BODY                handler runs, then its body dribbles out over ``slow_body_seconds``
LATE_COMMIT              handler runs ``late_seconds`` after the request arrived, even if the
                         client has gone meanwhile (as servers that never cancel handlers do)
STUCK_TASK               handler runs; an unlock task it creates never completes
TASK_404                 a task poll answers 404 although the task exists
REDIRECT_CROSS_ORIGIN    302 to ``http://127.0.0.2:1/steal`` (never follow it)
PATCH                    handler runs (commits, charges), then its 2xx JSON answer is sent
                         with fields replaced per ``FaultTuning.patch`` (other answers as is)
=======================  =================================================================

STUCK_TASK applies only to unlock submissions and TASK_404 only to task polls; a
schedule decision of those kinds on another route is skipped (no fault).

PATCH lies about what happened: ``FaultTuning.patch`` is either a mapping of dotted
paths into the top-level JSON answer to new values (``{"creditsUsed": -2000}``,
``{"balanceAfter.totalBalance": 1}``, ``{"items.0.status": "failed"}``; integer
segments index lists, missing dict keys are created) or a callable that takes the
parsed body and returns the body to send (it may edit it in place and return it)::

    fake.fault_tuning = FaultTuning(patch={"creditsUsed": -2000})
    fake.inject(FaultKind.PATCH, route="/external/events/{id}/unlock")
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from lensmor_async.errors import ConfigurationError
from lensmor_async.testing._data import derive
from lensmor_async.testing._routes_common import error_response
from lensmor_async.testing._state import RequestContext

__all__ = [
    "TASK_CREATING_ROUTES",
    "TASK_POLL_ROUTES",
    "FaultInjector",
    "FaultKind",
    "FaultSchedule",
    "FaultTuning",
    "InjectedFault",
    "PatchSpec",
    "apply_fault",
    "fault_applies",
]


class FaultKind(enum.Enum):
    """Every way the fake can misbehave (see the module table)."""

    COMMIT_THEN_TIMEOUT = "commit_then_timeout"
    COMMIT_THEN_DROP = "commit_then_drop"
    RESET_BEFORE = "reset_before"
    HTTP_500_BEFORE = "http_500_before"
    HTTP_500_AFTER = "http_500_after"
    HTTP_503_BEFORE = "http_503_before"
    RATE_LIMIT_SECONDS = "rate_limit_seconds"
    RATE_LIMIT_DATE = "rate_limit_date"
    RATE_LIMIT_NEGATIVE = "rate_limit_negative"
    RATE_LIMIT_HUGE = "rate_limit_huge"
    RATE_LIMIT_GARBAGE = "rate_limit_garbage"
    MALFORMED_BODY = "malformed_body"
    TRUNCATED_BODY = "truncated_body"
    OVERSIZED_BODY = "oversized_body"
    SLOW_BODY = "slow_body"
    LATE_COMMIT = "late_commit"
    STUCK_TASK = "stuck_task"
    TASK_404 = "task_404"
    REDIRECT_CROSS_ORIGIN = "redirect_cross_origin"
    PATCH = "patch"


TASK_CREATING_ROUTES = frozenset({"/external/contacts/unlock", "/external/contacts/unlock-phone"})
TASK_POLL_ROUTES = frozenset(
    {"/external/contacts/unlock-tasks/{taskId}", "/external/contacts/unlock-phone-tasks/{taskId}"}
)


def fault_applies(kind: FaultKind, route: str) -> bool:
    """Whether ``kind`` means anything on ``route`` (task faults need task routes)."""
    if kind is FaultKind.STUCK_TASK:
        return route in TASK_CREATING_ROUTES
    if kind is FaultKind.TASK_404:
        return route in TASK_POLL_ROUTES
    return True


PatchSpec = Mapping[str, Any] | Callable[[Any], Any]
"""PATCH edits: dotted path -> new value, or a function of the parsed body."""


@dataclass(frozen=True, slots=True)
class FaultTuning:
    """Knobs of the faults (durations in seconds, sizes in bytes)."""

    stall_seconds: float = 30.0
    """COMMIT_THEN_TIMEOUT stall; cut short when the server stops."""
    slow_body_seconds: float = 2.0
    """SLOW_BODY total dribble time."""
    late_seconds: float = 0.2
    """LATE_COMMIT delay before the handler runs."""
    retry_after_seconds: int = 1
    """RATE_LIMIT_SECONDS/RATE_LIMIT_DATE wait."""
    oversized_bytes: int = 50 * 1024 * 1024
    """OVERSIZED_BODY claimed and streamed length."""
    redirect_location: str = "http://127.0.0.2:1/steal"
    """REDIRECT_CROSS_ORIGIN target (loopback, nothing listens there)."""
    patch: PatchSpec | None = None
    """PATCH edits of the answer (``None``: the answer is sent unchanged)."""


class InjectedFault(NamedTuple):
    """A fault the server actually applied."""

    request_no: int
    kind: FaultKind
    route: str


class FaultSchedule:
    """Which request numbers fail: seeded rates, or an explicit plan.

    ``rates`` maps kinds to probabilities (summing to at most 1); ``routes`` limits
    faults to those route templates (e.g. ``{"/external/events/{id}/unlock"}``).
    """

    def __init__(
        self,
        seed: int = 0,
        rates: Mapping[FaultKind, float] | None = None,
        routes: Iterable[str] | None = None,
    ) -> None:
        self.seed = seed
        self.rates: dict[FaultKind, float] = dict(rates or {})
        self.routes: frozenset[str] | None = frozenset(routes) if routes is not None else None
        self._plan: dict[int, FaultKind] | None = None
        if any(not 0.0 <= rate <= 1.0 for rate in self.rates.values()):
            raise ConfigurationError("fault rates must be between 0 and 1")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ConfigurationError("fault rates must add up to at most 1")

    @classmethod
    def explicit(
        cls, plan: Mapping[int, FaultKind], routes: Iterable[str] | None = None
    ) -> FaultSchedule:
        """Fail exactly the given request numbers (1-based) with the given kinds."""
        schedule = cls(routes=routes)
        schedule._plan = dict(plan)
        return schedule

    def decide(self, request_no: int) -> FaultKind | None:
        """The fault planned for request ``request_no``: a pure function of (seed, n)."""
        if self._plan is not None:
            return self._plan.get(request_no)
        if not self.rates:
            return None
        draw = random.Random(derive(self.seed, "fault", request_no)).random()
        cumulative = 0.0
        for kind in FaultKind:  # enum order keeps the mapping independent of dict order
            cumulative += self.rates.get(kind, 0.0)
            if draw < cumulative:
                return kind
        return None

    def fault_for(self, request_no: int, route: str) -> FaultKind | None:
        """The planned fault if it applies to ``route``, else ``None``."""
        if self.routes is not None and route not in self.routes:
            return None
        kind = self.decide(request_no)
        return kind if kind is not None and fault_applies(kind, route) else None


@dataclass(slots=True)
class _Injection:
    kind: FaultKind
    remaining: int
    route: str | None


class FaultInjector:
    """One-off injections (``fake.inject``) take precedence over the schedule."""

    def __init__(self, schedule: FaultSchedule | None = None) -> None:
        self.schedule = schedule
        self._pending: list[_Injection] = []

    def inject(self, kind: FaultKind, count: int = 1, route: str | None = None) -> None:
        """Make the next ``count`` requests matching ``route`` (any if None) fail with ``kind``."""
        if count < 1:
            raise ConfigurationError("count must be at least 1")
        self._pending.append(_Injection(kind, count, route))

    def clear(self) -> None:
        """Drop pending injections."""
        self._pending.clear()

    def pick(self, request_no: int, route: str) -> FaultKind | None:
        """The fault to apply to this request, consuming one injection if one matches."""
        for injection in self._pending:
            if injection.route not in (None, route) or not fault_applies(injection.kind, route):
                continue
            injection.remaining -= 1
            if injection.remaining == 0:
                self._pending.remove(injection)
            return injection.kind
        return self.schedule.fault_for(request_no, route) if self.schedule else None


# --------------------------------------------------------------------------- effects


@dataclass(frozen=True, slots=True)
class _Call:
    """Everything a fault effect needs about the request it breaks."""

    request: web.Request
    handler: Handler
    tuning: FaultTuning
    stopping: asyncio.Event
    """Set when the server stops: stalls and streams end early."""
    ctx: RequestContext

    async def commit(self) -> web.StreamResponse:
        """Run the real handler (charges happen here)."""
        return await self.handler(self.request)

    def drop(self) -> None:
        """Close the connection at once, without a response."""
        if self.request.transport is not None:
            self.request.transport.abort()

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up early when the server stops."""
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)
        except TimeoutError:
            return

    def error(self, status: int, key: str, message: str) -> web.Response:
        """An error envelope for this request."""
        return error_response(status, key, message, self.ctx.trace_id)

    async def stream(self, status: int, length: int) -> web.StreamResponse:
        """Start a JSON response that claims ``length`` bytes."""
        stream = web.StreamResponse(status=status)
        stream.content_type = "application/json"
        stream.content_length = length
        stream.headers["X-Request-ID"] = self.ctx.trace_id
        await stream.prepare(self.request)
        return stream


_Effect = Callable[[_Call], Awaitable[web.StreamResponse]]


def _body_of(response: web.StreamResponse) -> bytes:
    body = response.body if isinstance(response, web.Response) else None
    return body if isinstance(body, bytes) else b""


async def _commit_then_timeout(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    await call.pause(call.tuning.stall_seconds)
    return response


async def _commit_then_drop(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    call.drop()
    return response


async def _reset_before(call: _Call) -> web.StreamResponse:
    call.drop()
    # Never sent (the connection is gone); aiohttp just needs a response object.
    return web.Response(status=500)


def _error(status: int, key: str, message: str) -> _Effect:
    async def effect(call: _Call) -> web.StreamResponse:
        return call.error(status, key, message)

    return effect


async def _http_500_after(call: _Call) -> web.StreamResponse:
    await call.commit()
    return call.error(500, "INTERNAL_ERROR", "Internal server error")


def _retry_after_value(kind: FaultKind, tuning: FaultTuning) -> str:
    if kind is FaultKind.RATE_LIMIT_DATE:
        return email.utils.formatdate(time.time() + tuning.retry_after_seconds, usegmt=True)
    fixed = {
        FaultKind.RATE_LIMIT_SECONDS: str(tuning.retry_after_seconds),
        FaultKind.RATE_LIMIT_NEGATIVE: "-5",
        FaultKind.RATE_LIMIT_HUGE: "999999999",
        FaultKind.RATE_LIMIT_GARBAGE: "soon-ish",
    }
    return fixed[kind]


def _rate_limited(kind: FaultKind) -> _Effect:
    async def effect(call: _Call) -> web.StreamResponse:
        response = call.error(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded")
        response.headers["Retry-After"] = _retry_after_value(kind, call.tuning)
        return response

    return effect


async def _malformed_body(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    body = b"<html><body>502 Bad Gateway</body></html>"
    return web.Response(status=response.status, body=body, content_type="application/json")


async def _truncated_body(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    body = _body_of(response)
    stream = await call.stream(response.status, len(body))
    try:
        await stream.write(body[: len(body) // 2])
    except ConnectionError:
        return stream
    call.drop()
    return stream


async def _oversized_body(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    total = call.tuning.oversized_bytes
    stream = await call.stream(response.status, total)
    # Streamed lazily from one reusable chunk: the claimed size is never allocated.
    chunk = b" " * 65536
    sent = 0
    try:
        await stream.write(b'{"items":[')
        sent = 10
        while sent < total and not call.stopping.is_set():
            piece = chunk[: total - sent]
            await stream.write(piece)
            sent += len(piece)
    except ConnectionError:
        return stream
    if sent < total:
        call.drop()
    return stream


async def _slow_body(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    body = _body_of(response)
    stream = await call.stream(response.status, len(body))
    pieces = max(1, min(len(body), 20))
    step = -(-len(body) // pieces)
    try:
        for start in range(0, len(body), step):
            await stream.write(body[start : start + step])
            await call.pause(call.tuning.slow_body_seconds / pieces)
    except ConnectionError:
        return stream
    return stream


_LATE_COMMITS: set[asyncio.Task[web.StreamResponse]] = set()
"""Late commits in progress (held so a client's disconnect cannot lose them to the GC)."""


async def _late_commit(call: _Call) -> web.StreamResponse:
    async def late() -> web.StreamResponse:
        await call.pause(call.tuning.late_seconds)
        return await call.commit()

    # Shielded: the fake cancels handlers whose client disconnects, but this fault models
    # a server that runs a request it has read whether or not anyone still waits for it.
    task = asyncio.ensure_future(late())
    _LATE_COMMITS.add(task)
    task.add_done_callback(_LATE_COMMITS.discard)
    return await asyncio.shield(task)


async def _stuck_task(call: _Call) -> web.StreamResponse:
    call.ctx.stuck_task = True
    return await call.commit()


async def _redirect(call: _Call) -> web.StreamResponse:
    response = web.Response(status=302)
    response.headers["Location"] = call.tuning.redirect_location
    return response


def _set_path(body: Any, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = body
    for segment in parents:
        node = node[int(segment)] if isinstance(node, list) else node.setdefault(segment, {})
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value


def patch_body(body: Any, patch: PatchSpec) -> Any:
    """``body`` edited by ``patch`` (see PATCH in the module docstring)."""
    if callable(patch):
        return patch(body)
    for path, value in patch.items():
        _set_path(body, path, value)
    return body


async def _patch(call: _Call) -> web.StreamResponse:
    response = await call.commit()
    patch = call.tuning.patch
    if patch is None or not 200 <= response.status < 300 or not isinstance(response, web.Response):
        return response
    try:
        body = orjson.loads(_body_of(response))
    except orjson.JSONDecodeError:
        return response
    patched = web.Response(
        status=response.status,
        body=orjson.dumps(patch_body(body, patch)),
        content_type="application/json",
    )
    for name, value in response.headers.items():
        if name.lower() not in ("content-type", "content-length"):
            patched.headers[name] = value
    return patched


_EFFECTS: dict[FaultKind, _Effect] = {
    FaultKind.COMMIT_THEN_TIMEOUT: _commit_then_timeout,
    FaultKind.COMMIT_THEN_DROP: _commit_then_drop,
    FaultKind.RESET_BEFORE: _reset_before,
    FaultKind.HTTP_500_BEFORE: _error(500, "INTERNAL_ERROR", "Internal server error"),
    FaultKind.HTTP_500_AFTER: _http_500_after,
    FaultKind.HTTP_503_BEFORE: _error(503, "SERVICE_UNAVAILABLE", "Service unavailable"),
    FaultKind.RATE_LIMIT_SECONDS: _rate_limited(FaultKind.RATE_LIMIT_SECONDS),
    FaultKind.RATE_LIMIT_DATE: _rate_limited(FaultKind.RATE_LIMIT_DATE),
    FaultKind.RATE_LIMIT_NEGATIVE: _rate_limited(FaultKind.RATE_LIMIT_NEGATIVE),
    FaultKind.RATE_LIMIT_HUGE: _rate_limited(FaultKind.RATE_LIMIT_HUGE),
    FaultKind.RATE_LIMIT_GARBAGE: _rate_limited(FaultKind.RATE_LIMIT_GARBAGE),
    FaultKind.MALFORMED_BODY: _malformed_body,
    FaultKind.TRUNCATED_BODY: _truncated_body,
    FaultKind.OVERSIZED_BODY: _oversized_body,
    FaultKind.SLOW_BODY: _slow_body,
    FaultKind.LATE_COMMIT: _late_commit,
    FaultKind.STUCK_TASK: _stuck_task,
    FaultKind.TASK_404: _error(404, "NOT_FOUND", "Task not found"),
    FaultKind.REDIRECT_CROSS_ORIGIN: _redirect,
    FaultKind.PATCH: _patch,
}


async def apply_fault(
    kind: FaultKind,
    request: web.Request,
    handler: Handler,
    tuning: FaultTuning,
    stopping: asyncio.Event,
    ctx: RequestContext,
) -> web.StreamResponse:
    """Serve ``request`` with fault ``kind`` (see the module table)."""
    return await _EFFECTS[kind](_Call(request, handler, tuning, stopping, ctx))
