"""``FakeLensmor``: a faithful, in-process fake of the Lensmor 0.22 API.

It is an independent implementation of the wire contract (it imports nothing from
the SDK's client or models), served by aiohttp on loopback::

    async with FakeLensmor(seed=7) as fake:
        ...  # point your client at fake.url with fake.api_key
        assert fake.truth.duplicate_intents() == {}

Every request gets a number (1, 2, ...) and a trace id derived from ``(seed, n)``;
the middleware chain is context → faults → auth → rate limit → error envelopes →
per-user concurrency limit (0.27) → route handler, so faults see every request and
"after commit" faults really run the handler first.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from anyio.from_thread import BlockingPortal, start_blocking_portal

from lensmor_async.errors import LensmorError
from lensmor_async.testing import (
    _admin,
    _routes_actions,
    _routes_contacts,
    _routes_events,
    _routes_exhibitors,
    _routes_personnel,
    _routes_profile,
)
from lensmor_async.testing._data import EventRecord, PersonRecord, UnlockOutcome
from lensmor_async.testing._faults import (
    FaultInjector,
    FaultKind,
    FaultSchedule,
    FaultTuning,
    InjectedFault,
    apply_fault,
)
from lensmor_async.testing._routes_common import (
    CONTEXT_KEY,
    STATE_KEY,
    context,
    error_response,
    refusal_response,
    request_key,
)
from lensmor_async.testing._state import (
    ApiRefusal,
    ContactState,
    FakeState,
    Prices,
    RequestContext,
    concurrency_limited,
)
from lensmor_async.testing._truth import TruthLedger

_CONCURRENCY_LIMITED = frozenset(
    {"/external/exhibitors/search-events", "/external/personnel/events/by-name"}
)
"""Routes with a per-user concurrency limit (0.27)."""

__all__ = ["FakeLensmor", "FakeServerError", "RecordedRequest", "trace_id_for"]

_log = logging.getLogger("lensmor_async.testing")
_BEARER = re.compile(r"^bearer\s+(.+)$", re.IGNORECASE)
_RECORD_KEY = request_key("lensmor_fake_record", object)
_API_KEY = request_key("lensmor_fake_api_key", str)
_RECORDED_HEADERS = (
    "x-call-source",
    "content-type",
    "accept",
    "user-agent",
    "x-request-id",
    "idempotency-key",
)
_CONTACT_STATUSES = ("locked", "unlocking", "unlocked", "failed")


class FakeServerError(LensmorError, RuntimeError):
    """The fake was used in a way it cannot serve (e.g. ``url`` before ``start``)."""


def trace_id_for(seed: int, request_no: int) -> str:
    """The trace id of request ``request_no`` (a UUID-4 string derived from the seed)."""
    digest = hashlib.blake2b(f"trace:{seed}:{request_no}".encode(), digest_size=16).digest()
    return str(uuid.UUID(bytes=digest, version=4))


@dataclass(slots=True)
class RecordedRequest:
    """One request the fake received. The Authorization value is never stored."""

    request_no: int
    method: str
    path: str
    route: str
    """Route template, e.g. ``/external/events/{id}/unlock`` (``<unmatched>`` for 404s)."""
    query: list[tuple[str, str]]
    json: Any
    """Parsed JSON body, or ``None`` (no body / not JSON)."""
    headers: dict[str, str]
    """Selected headers only (lower-case names), e.g. ``x-call-source``."""
    trace_id: str
    authorization_present: bool = False
    authorization_valid: bool = False
    status: int | None = None
    """Status sent, ``None`` if the connection was dropped before a response."""
    fault: FaultKind | None = None


def _route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "<unmatched>"


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


class FakeLensmor:
    """A fake Lensmor server with true credit semantics, seeded data and faults.

    Args:
        api_key: the accepted key (default: a deterministic ``uak_test_…`` key);
            ``sk_…`` keys work too when passed here or in ``extra_api_keys``.
        seed: drives data, unlock outcomes, trace ids (faults use their own seed).
        subscription_balance / gift_balance: starting buckets (subscription spent first).
        task_step_seconds: each unlock task spends this long pending, then processing.
        faults: a :class:`FaultSchedule`; ``inject`` adds one-off faults on top.
        prices: credit prices (:class:`Prices`); ``charge_empty_searches`` True gives the
            0.22 semantics (every search charged); the default is 0.24+ (an empty
            result is free).
        rate_limit / rate_limit_window: fixed window per API key (429 when exceeded).
        concurrency_limit: calls of one limited route (search-events, person events by
            name) the user may have in flight (0.27: 10); more get the HTTP-200
            ``USER_CONCURRENCY_LIMIT_EXCEEDED`` envelope. ``max_in_flight`` records the peak.
        limited_route_seconds: how long a limited route works, so concurrency can show.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        extra_api_keys: Iterable[str] = (),
        seed: int = 0,
        subscription_balance: int = 30000,
        gift_balance: int = 50,
        host: str = "127.0.0.1",
        port: int = 0,
        task_step_seconds: float = 0.05,
        faults: FaultSchedule | None = None,
        fault_tuning: FaultTuning | None = None,
        prices: Prices | None = None,
        charge_empty_searches: bool = False,
        rate_limit: int = 100_000,
        rate_limit_window: int = 60,
        record_requests: bool = True,
        concurrency_limit: int = 10,
        limited_route_seconds: float = 0.0,
        admin: bool = False,
    ) -> None:
        self.seed = seed
        self.admin = admin
        self.api_key = (
            api_key or f"uak_test_{hashlib.sha256(f'key:{seed}'.encode()).hexdigest()[:32]}"
        )
        self._keys = [self.api_key, *extra_api_keys]
        self.host, self.port = host, port
        self.truth = TruthLedger()
        self.state = FakeState(
            seed=seed,
            subscription_balance=subscription_balance,
            gift_balance=gift_balance,
            prices=prices,
            task_step_seconds=task_step_seconds,
            charge_empty_searches=charge_empty_searches,
            truth=self.truth,
        )
        self.fault_tuning = fault_tuning or FaultTuning()
        self._injector = FaultInjector(faults)
        self.faults_injected: list[InjectedFault] = []
        self.requests: list[RecordedRequest] = []
        self.record_requests = record_requests
        self.rate_limit, self.rate_limit_window = rate_limit, rate_limit_window
        self._windows: dict[str, list[int]] = {}
        self.concurrency_limit = concurrency_limit
        self.limited_route_seconds = limited_route_seconds
        self._in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}
        """Peak number of concurrent calls seen per limited route template."""
        self._request_no = 0
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._stopping = asyncio.Event()
        self._thread: tuple[AbstractContextManager[BlockingPortal], BlockingPortal] | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (only while running)."""
        if self._url is None:
            raise FakeServerError("FakeLensmor is not running; use 'async with' or start()")
        return self._url

    @property
    def faults(self) -> FaultSchedule | None:
        """The active fault schedule (settable)."""
        return self._injector.schedule

    @faults.setter
    def faults(self, schedule: FaultSchedule | None) -> None:
        self._injector.schedule = schedule

    async def start(self) -> None:
        """Bind and serve on ``host:port`` (port 0 picks a free one)."""
        if self._runner is not None:
            return
        self._stopping.clear()
        runner = web.AppRunner(
            self.app(), access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        host, port = runner.addresses[0][:2]
        self._url = f"http://{host}:{port}"

    async def stop(self) -> None:
        """Stop serving: wake stalled faults, cancel task timers, close every socket."""
        self._stopping.set()
        self.state.close()
        runner, self._runner, self._url = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeLensmor:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __enter__(self) -> FakeLensmor:
        """Serve from an event loop in a thread of its own: for code without a loop.

        ``with FakeLensmor() as fake:`` pairs with the sync client (``Lensmor``). Steer it
        (balances, data, faults) between calls, as with ``async with``.
        """
        if self._thread is None:
            context = start_blocking_portal()
            portal = context.__enter__()
            try:
                portal.call(self.start)
            except BaseException:
                context.__exit__(None, None, None)
                raise
            self._thread = (context, portal)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._thread is None:
            return
        (context, portal), self._thread = self._thread, None
        try:
            portal.call(self.stop)
        finally:
            context.__exit__(None, None, None)

    def app(self) -> web.Application:
        """The aiohttp application (built once), for embedding or aiohttp test clients."""
        if self._app is None:
            admin = [self._admin_mw] if self.admin else []
            app = web.Application(
                middlewares=[
                    *admin,
                    self._context_mw,
                    self._fault_mw,
                    self._auth_mw,
                    self._rate_mw,
                    self._error_mw,
                    self._concurrency_mw,
                ]
            )
            app[STATE_KEY] = self.state
            for module in (
                _routes_actions,
                _routes_events,
                _routes_exhibitors,
                _routes_personnel,
                _routes_contacts,
                _routes_profile,
            ):
                app.add_routes(module.routes)
            self._app = app
        return self._app

    # ------------------------------------------------------------------ middlewares

    @web.middleware
    async def _admin_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """``/__`` admin endpoints (``admin=True``): answered here, before anything counts."""
        if not request.path.startswith(_admin.PREFIX):
            return await handler(request)
        if not self._key_valid(request.headers.get("Authorization")):
            return web.json_response({"error": "invalid API key"}, status=401)
        return await _admin.handle(self, request)

    @web.middleware
    async def _context_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._request_no += 1
        ctx = RequestContext(
            self._request_no, trace_id_for(self.seed, self._request_no), _route_template(request)
        )
        request[CONTEXT_KEY] = ctx
        record = await self._record(request, ctx)
        response = await handler(request)
        if record is not None:
            record.status = (
                None
                if request.transport is None or request.transport.is_closing()
                else response.status
            )
        if not response.prepared:
            response.headers.setdefault("X-Request-ID", ctx.trace_id)
        return response

    async def _record(self, request: web.Request, ctx: RequestContext) -> RecordedRequest | None:
        if not self.record_requests:
            return None
        raw = await request.read() if request.can_read_body else b""
        record = RecordedRequest(
            request_no=ctx.request_no,
            method=request.method,
            path=request.path,
            route=ctx.route,
            query=list(request.query.items()),
            json=_parse_json(raw),
            headers={h: request.headers[h] for h in _RECORDED_HEADERS if h in request.headers},
            trace_id=ctx.trace_id,
        )
        self.requests.append(record)
        request[_RECORD_KEY] = record
        return record

    @web.middleware
    async def _fault_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        ctx = context(request)
        kind = self._injector.pick(ctx.request_no, ctx.route)
        if kind is None:
            return await handler(request)
        self.faults_injected.append(InjectedFault(ctx.request_no, kind, ctx.route))
        record = request.get(_RECORD_KEY)
        if isinstance(record, RecordedRequest):
            record.fault = kind
        return await apply_fault(kind, request, handler, self.fault_tuning, self._stopping, ctx)

    @web.middleware
    async def _auth_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        header = request.headers.get("Authorization")
        token = _token_of(header)
        valid = self._key_valid(header)
        record = request.get(_RECORD_KEY)
        if isinstance(record, RecordedRequest):
            record.authorization_present, record.authorization_valid = header is not None, valid
        if not valid:
            return error_response(
                401, "INVALID_API_KEY", "Invalid API key", context(request).trace_id
            )
        request[_API_KEY] = token
        return await handler(request)

    @web.middleware
    async def _rate_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        now = time.time()
        window_start = math.floor(now / self.rate_limit_window) * self.rate_limit_window
        reset = window_start + self.rate_limit_window
        bucket = self._windows.setdefault(str(request[_API_KEY]), [window_start, 0])
        if bucket[0] != window_start:
            bucket[:] = [window_start, 0]
        if bucket[1] >= self.rate_limit:
            refused = error_response(
                429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded", context(request).trace_id
            )
            refused.headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
            return refused
        bucket[1] += 1
        response = await handler(request)
        if not response.prepared:
            response.headers["X-RateLimit-Limit"] = str(self.rate_limit)
            response.headers["X-RateLimit-Remaining"] = str(max(0, self.rate_limit - bucket[1]))
            response.headers["X-RateLimit-Reset"] = str(reset)
        return response

    @web.middleware
    async def _error_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        trace_id = context(request).trace_id
        try:
            return await handler(request)
        except ApiRefusal as refusal:
            return refusal_response(refusal, trace_id)
        except web.HTTPNotFound:
            return error_response(404, "NOT_FOUND", "Route not found", trace_id)
        except web.HTTPMethodNotAllowed:
            return error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed", trace_id)
        except (asyncio.CancelledError, web.HTTPException):
            raise
        except Exception:
            # A bug in the fake: answer like a real server would, but leave a trace.
            _log.exception("FakeLensmor handler crashed (request %s)", context(request).request_no)
            return error_response(500, "INTERNAL_ERROR", "Internal server error", trace_id)

    @web.middleware
    async def _concurrency_mw(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = context(request).route
        if route not in _CONCURRENCY_LIMITED:
            return await handler(request)
        running = self._in_flight.get(route, 0)
        if running >= self.concurrency_limit:
            raise concurrency_limited()
        self._in_flight[route] = running + 1
        self.max_in_flight[route] = max(self.max_in_flight.get(route, 0), running + 1)
        try:
            if self.limited_route_seconds > 0:
                await asyncio.sleep(self.limited_route_seconds)
            return await handler(request)
        finally:
            self._in_flight[route] -= 1

    def _key_valid(self, header: str | None) -> bool:
        token = _token_of(header)
        return any(hmac.compare_digest(token.encode(), key.encode()) for key in self._keys)

    # ------------------------------------------------------------------ helpers

    def inject(self, kind: FaultKind, count: int = 1, route: str | None = None) -> None:
        """Make the next ``count`` requests to ``route`` (a template; any if None) fail."""
        self._injector.inject(kind, count, route)

    def set_balance(self, *, subscription: int | None = None, gift: int | None = None) -> None:
        """Set the subscription and/or gift balance."""
        self.state.set_balance(subscription=subscription, gift=gift)

    def _event(self, ref: str) -> EventRecord:
        event = self.state.resolve_event(ref)
        if event is None:
            raise FakeServerError(f"unknown event {ref!r}")
        return event

    def lock_event(self, event_id: str) -> None:
        """Take base access away (lists go back to preview)."""
        self.state.unlocked_events.discard(self._event(event_id).id)

    def unlock_event(self, event_id: str) -> None:
        """Grant base access for free (no charge recorded)."""
        self.state.unlocked_events.add(self._event(event_id).id)

    def set_paid_features(self, available: bool) -> None:
        """A plan with (True) or without Visitor data, full access and person search."""
        self.state.paid_features = available

    def set_visitor_data(self, event_id: str, available: bool) -> None:
        """Whether the event has registered Visitors (its Visitor layer can be bought)."""
        event = self._event(event_id).id
        if available:
            self.state.no_visitor_data.discard(event)
        else:
            self.state.no_visitor_data.add(event)

    def add_event(self, name: str, **fields: Any) -> EventRecord:
        """Add an event; see :meth:`FakeState.add_event`."""
        return self.state.add_event(name, **fields)

    def add_person(self, event_id: str, **fields: Any) -> PersonRecord:
        """Add one person to an event; see :meth:`FakeState.add_person`."""
        return self.state.add_person(self._event(event_id).id, **fields)

    def add_personnel(self, event_id: str, count: int) -> range:
        """Add ``count`` lazily generated people (ids ``str(n)`` for n in the range)."""
        return self.state.add_personnel(self._event(event_id).id, count)

    def set_contact_status(
        self, personnel_id: str, status: str, *, value: str | None = None, channel: str = "email"
    ) -> None:
        """Force this caller's unlock state of a contact (``value`` = email/phone shown)."""
        if status not in _CONTACT_STATUSES or channel not in ("email", "phone"):
            raise FakeServerError(f"bad status {status!r} or channel {channel!r}")
        self.state.channel_states(channel)[personnel_id] = ContactState(status, value)

    def set_unlock_outcome(
        self, personnel_id: str, outcome: UnlockOutcome, *, channel: str = "email"
    ) -> None:
        """Override the seeded outcome of a future unlock of this contact."""
        self.state.outcome_overrides[(personnel_id, channel)] = outcome

    def complete_tasks(self) -> None:
        """Finish every running task and job now (refunds included), even stuck ones."""
        self.state.finish_all_tasks()

    def request_count(self, route: str | None = None, *, method: str | None = None) -> int:
        """How many requests were received (optionally for one route template/method)."""
        return len(self.requests_for(route, method=method))

    def requests_for(
        self, route: str | None = None, *, method: str | None = None
    ) -> list[RecordedRequest]:
        """Recorded requests, optionally filtered by route template and method."""
        return [
            r
            for r in self.requests
            if (route is None or r.route == route)
            and (method is None or r.method == method.upper())
        ]

    def reset_requests(self) -> None:
        """Forget recorded requests and injected-fault records (numbering continues)."""
        self.requests.clear()
        self.faults_injected.clear()


def _token_of(header: str | None) -> str:
    match = _BEARER.match(header or "")
    return match.group(1).strip() if match else ""
