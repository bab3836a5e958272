"""AsyncLensmor, the client users hold: config, transport, pipeline, guard and resources."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import aiohttp
import attrs

from lensmor_async._call import Approval, Call, Sender
from lensmor_async._config import CallSource, ClientConfig, Secret, load_config
from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.reconciliation import NOT_EXECUTED_GRACE, TESTING_NOT_EXECUTED_GRACE
from lensmor_async._core.retry import RetryPolicy
from lensmor_async._hooks import Hook, Hooks, combine
from lensmor_async._logs import configure_from_env
from lensmor_async._pipeline import Pipeline
from lensmor_async._response import RawResponse, run_raw
from lensmor_async._runtime import require_asyncio
from lensmor_async.transport import (
    PooledTransport,
    SessionTransport,
    Transport,
    missing_pooled_internals,
    warn_falling_back,
)

if TYPE_CHECKING:
    from lensmor_async._rate_limit_store import RateLimitStore
    from lensmor_async.guard import CreditGuard, RecoveryReport
    from lensmor_async.models import CreditBalance, PrecheckResult, UnlockTask
    from lensmor_async.resources import (
        Actions,
        Contacts,
        Credits,
        Events,
        Exhibitors,
        Personnel,
        ProfileMatching,
    )

UNSET_OPTION: Any = object()
"""``with_options(deadline=...)`` default: keep the deadline as it is (None means no cap)."""
T = TypeVar("T")
P = ParamSpec("P")


class _GuardServices:
    """The free calls the guard makes, routed through this client's resources."""

    def __init__(self, client: AsyncLensmor) -> None:
        self._client = client

    async def precheck(self, action_type: str, params: Mapping[str, Any]) -> PrecheckResult:
        return await self._client.actions.precheck(action_type, params)

    async def balance(self) -> CreditBalance:
        return await self._client.credits.balance()

    async def unlock_task(self, phone: bool, task_id: str) -> UnlockTask:
        contacts = self._client.contacts
        if phone:
            return await contacts.get_phone_unlock_task(task_id)
        return await contacts.get_unlock_task(task_id)


class _GuardSlot:
    """The client's guard: the caller's, or a default one built on first use.

    The default ``CreditGuard()`` (no confirm callback: paid calls fail closed) costs
    tens of milliseconds to import and build (its modules, its locks' async backend).
    A client that never makes a paid call or reads ``client.guard`` never pays that.
    The slot is the pipeline's guard step; ``with_options`` copies share it.
    """

    __slots__ = ("_bind", "_building", "built")

    def __init__(self, guard: CreditGuard | None, bind: Callable[[CreditGuard], None]) -> None:
        self.built = guard
        self._bind = bind
        # The sync client reads ``client.guard`` from its callers' threads: one lock so
        # that threads racing on a fresh client all get the one guard.
        self._building = threading.Lock()
        if guard is not None:
            bind(guard)

    def get(self) -> CreditGuard:
        guard = self.built
        if guard is None:
            with self._building:
                guard = self.built
                if guard is None:
                    guard = self._build()
        return guard

    def _build(self) -> CreditGuard:
        from lensmor_async.guard import CreditGuard

        guard = CreditGuard()
        self._bind(guard)
        self.built = guard
        return guard

    async def run_paid(
        self,
        call: Call[T],
        send: Sender,
        *,
        deadline: float | None,
        approval: Approval | None = None,
    ) -> T:
        return await self.get().run_paid(call, send, deadline=deadline, approval=approval)


class AsyncLensmor:
    """Async client for the Lensmor API.

    Use it as an async context manager (or call :meth:`aclose`). Every paid call goes
    through ``guard`` (a :class:`CreditGuard`); without one, a default guard with no
    confirm callback makes paid calls fail closed.

    ``api_key`` and ``base_url`` default to ``LENSMOR_API_KEY`` and ``LENSMOR_BASE_URL``.
    Plain ``http://`` is accepted only for loopback hosts (tests, FakeLensmor).
    ``hooks`` receive a ``RequestEvent`` per HTTP attempt and a ``SpendEvent`` per step
    of a paid call (see the observability guide); none costs nothing.
    ``LENSMOR_LOG=info|debug`` turns on the ``lensmor_async`` logger (stderr).
    ``rate_limit_store`` (e.g. ``RedisRateLimitStore(url)``) shares the key's rate limit
    with every client using that store's backend and key; without one a client paces
    alone. The client closes it (give each client a store of its own).
    """

    def __init__(
        self,
        api_key: str | Secret | None = None,
        *,
        base_url: str | None = None,
        call_source: CallSource = "api",
        timeout: float = 30.0,
        deadline: float | None = None,
        max_concurrency: int = 64,
        retry: RetryPolicy | None = None,
        max_body_bytes: int | None = None,
        poll_intervals: tuple[float, ...] | None = None,
        session: aiohttp.ClientSession | None = None,
        guard: CreditGuard | None = None,
        testing: bool = False,
        transport: Transport | None = None,
        hooks: Sequence[Hook] | None = None,
        rate_limit_store: RateLimitStore | None = None,
    ) -> None:
        configure_from_env()
        config = load_config(
            api_key,
            base_url,
            call_source=call_source,
            timeout=timeout,
            deadline=deadline,
            max_concurrency=max_concurrency,
            retry=retry,
            max_body_bytes=max_body_bytes,
            poll_intervals=poll_intervals,
            testing=testing,
        )
        self._transport: Transport = transport or _default_transport(config, session)
        self._owns_transport = transport is None
        hook = combine(hooks)
        self._store = rate_limit_store
        """Closed with this client: its connections live in this client's event loop."""
        # A guard passed in is bound now (one bound elsewhere fails here); the default is
        # built and bound on first use.
        self._guards = _GuardSlot(guard, lambda built: self._bind_guard(built, config, hook))
        self._wire(
            Pipeline(
                config,
                self._transport,
                self._guards,
                hook=hook,
                rate_limit_store=rate_limit_store,
            )
        )

    def _bind_guard(self, guard: CreditGuard, config: ClientConfig, hook: Hooks | None) -> None:
        from lensmor_async._intent import account_fingerprint

        guard.bind(
            _GuardServices(self),
            poll_intervals=config.poll_intervals,
            account=account_fingerprint(config.api_key.get_secret_value()),
            doubt_grace=TESTING_NOT_EXECUTED_GRACE if config.testing else NOT_EXECUTED_GRACE,
            hook=hook,
        )

    @property
    def guard(self) -> CreditGuard:
        """The CreditGuard every paid call goes through (the default one is built on first use)."""
        return self._guards.get()

    def _wire(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline

    # Resource groups are built on first use: each pulls in its models, and a client that
    # only checks the balance should not pay for importing all of them.

    @cached_property
    def credits(self) -> Credits:
        """``client.credits``: the credit balance."""
        from lensmor_async.resources.credits import Credits

        return Credits(self._pipeline)

    @cached_property
    def actions(self) -> Actions:
        """``client.actions``: the read-only precheck."""
        from lensmor_async.resources.actions import Actions

        return Actions(self._pipeline)

    @cached_property
    def events(self) -> Events:
        """``client.events``: catalogue, detail, brief, fit score, rank, (paid) unlock."""
        from lensmor_async.resources.events import Events

        return Events(self._pipeline)

    @cached_property
    def exhibitors(self) -> Exhibitors:
        """``client.exhibitors``: exhibitors of events, searches (two paid), profiles."""
        from lensmor_async.resources.exhibitors import Exhibitors

        return Exhibitors(self._pipeline)

    @cached_property
    def personnel(self) -> Personnel:
        """``client.personnel``: people of events, profiles, events, outreach."""
        from lensmor_async.resources.personnel import Personnel

        return Personnel(self._pipeline)

    @cached_property
    def contacts(self) -> Contacts:
        """``client.contacts``: company search and (paid) email/phone unlock tasks."""
        from lensmor_async.resources.contacts import Contacts

        return Contacts(self._pipeline, self.guard)

    @cached_property
    def profile_matching(self) -> ProfileMatching:
        """``client.profile_matching``: profile-aware recommendations."""
        from lensmor_async.resources.profile_matching import ProfileMatching

        return ProfileMatching(self._pipeline)

    @property
    def config(self) -> ClientConfig:
        """The frozen configuration (its repr never shows the key)."""
        return self._pipeline.config

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        """The last ``X-RateLimit-*`` values the server sent (None before any)."""
        return self._pipeline.rate_limit.last

    def with_options(
        self,
        *,
        call_source: CallSource | None = None,
        timeout: float | None = None,
        deadline: float | None = UNSET_OPTION,
        retry: RetryPolicy | None = None,
    ) -> AsyncLensmor:
        """A cheap copy with some options changed; it shares the session, guard and limiter.

        The copy never closes the shared session; close the original.
        """
        changes: dict[str, Any] = {}
        if call_source is not None:
            changes["call_source"] = call_source
        if timeout is not None:
            changes["timeout"] = timeout
        if deadline is not UNSET_OPTION:
            changes["deadline"] = deadline
        if retry is not None:
            changes["retry"] = retry
        config = attrs.evolve(self.config, **changes)
        transport = self._derived_transport(config)
        copy = object.__new__(AsyncLensmor)
        copy._transport = transport
        copy._owns_transport = False
        copy._store = None
        copy._guards = self._guards
        copy._wire(self._pipeline.derive(config, transport))
        return copy

    def _derived_transport(self, config: ClientConfig) -> Transport:
        if isinstance(self._transport, PooledTransport | SessionTransport):
            return self._transport.derive(config)
        return self._transport

    async def with_raw_response(
        self, method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> RawResponse[T]:
        """Run an SDK method and return its HTTP answer with the typed result.

        ``raw = await client.with_raw_response(client.events.get, "101")``: ``raw.status``,
        ``raw.headers``, ``raw.trace_id``, ``raw.body`` (bytes) and ``raw.parse()``. The call
        runs exactly as ``client.events.get("101")`` would; a method that sends several
        requests reports its last answer.
        """
        return await run_raw(method, *args, **kwargs)

    async def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """On start after a crash: resume tasks, reconcile in-doubt intents, release holds.

        Uses the guard's journal (``CreditGuard(journal=path)``); nothing is re-sent.
        """
        require_asyncio()
        return await self.guard.recover(deadline=deadline)

    async def __aenter__(self) -> AsyncLensmor:
        require_asyncio()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections this client owns (idempotent; caller-owned sessions stay open).

        Also closes a journal the guard opened from a path, and the ``rate_limit_store``.
        Copies made with ``with_options`` close nothing: close the original.
        """
        if self._owns_transport:
            await self._transport.aclose()
            built = self._guards.built
            if built is not None:
                await built.aclose()
        store, self._store = self._store, None
        if store is not None:
            await store.aclose()

    def __repr__(self) -> str:
        config = self.config
        return f"AsyncLensmor(base_url={config.base_url!r}, call_source={config.call_source!r})"

    def __reduce__(self) -> Any:
        raise TypeError("AsyncLensmor holds live connections and an API key; it cannot be pickled")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # As aiohttp's ClientSession does: a client dropped with connections still open
        # leaks sockets until the process ends. (``_warn`` is bound now: at interpreter
        # exit the warnings module may already be gone.)
        transport = getattr(self, "_transport", None)
        owned = getattr(self, "_owns_transport", False)
        if owned and isinstance(transport, PooledTransport) and transport.holds_connections:
            _warn(
                "an AsyncLensmor was dropped without being closed; use "
                "'async with AsyncLensmor(...)' or 'await client.aclose()'",
                ResourceWarning,
                source=self,
            )


def _default_transport(config: ClientConfig, session: aiohttp.ClientSession | None) -> Transport:
    """Our pooled connections, unless the caller brings a session (then its settings apply)."""
    if session is not None:
        return SessionTransport(config, session)
    missing = missing_pooled_internals()
    if missing is not None:
        warn_falling_back(missing)
        return SessionTransport(config)
    return PooledTransport(config)
