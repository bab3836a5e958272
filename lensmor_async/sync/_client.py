"""``Lensmor``: the sync client. The same surface as ``AsyncLensmor``, the same code.

Every call runs the async implementation on the client's own event loop thread through an
anyio blocking portal (see ``_portal``), so there is one implementation to keep right; the
sync resource methods are typed one-line shims whose signatures a test compares with the
async ones.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property, partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from lensmor_async._client import UNSET_OPTION, AsyncLensmor
from lensmor_async._config import CallSource, ClientConfig, Secret
from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.retry import RetryPolicy
from lensmor_async._hooks import Hook
from lensmor_async._response import RawResponse
from lensmor_async.bulk import BulkCheckpoint, BulkProgress, BulkReport
from lensmor_async.errors import ConfigurationError
from lensmor_async.sync import _resources as sync
from lensmor_async.sync._bulk import SyncBulkCheckpoint, SyncLedger, run_bulk_on
from lensmor_async.sync._handles import SyncQuote
from lensmor_async.sync._portal import LoopThread
from lensmor_async.transport import Transport

if TYPE_CHECKING:
    from lensmor_async._rate_limit_store import RateLimitStore
    from lensmor_async.guard import CreditGuard, RecoveryReport, SpendRecord

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class Lensmor:
    """Sync client for the Lensmor API, for scripts, notebooks and sync web frameworks.

    ``with Lensmor(guard=CreditGuard(always_confirm)) as client:`` then
    ``client.events.get("101")``. Same arguments as :class:`AsyncLensmor` (except
    ``session``: an aiohttp session belongs to another loop). Safe to share between
    threads, and usable where an event loop already runs (Jupyter). Confirm callbacks and
    hooks run on the client's loop thread: keep them quick.
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
        guard: CreditGuard | None = None,
        testing: bool = False,
        transport: Transport | None = None,
        hooks: Sequence[Hook] | None = None,
        rate_limit_store: RateLimitStore | None = None,
    ) -> None:
        build = partial(
            AsyncLensmor,
            api_key,
            base_url=base_url,
            call_source=call_source,
            timeout=timeout,
            deadline=deadline,
            max_concurrency=max_concurrency,
            retry=retry,
            max_body_bytes=max_body_bytes,
            poll_intervals=poll_intervals,
            guard=guard,
            testing=testing,
            transport=transport,
            hooks=hooks,
            rate_limit_store=rate_limit_store,
        )
        self._owns_loop = False
        self._loop = LoopThread()
        self._owns_loop = True
        try:
            self._async: AsyncLensmor = self._loop.call(_built, build)
        except BaseException:
            self._loop.stop()
            raise

    # -- resources: the async client's, run on the loop ----------------------------------

    @cached_property
    def credits(self) -> sync.Credits:
        return sync.Credits(self._loop, self._async.credits)

    @cached_property
    def actions(self) -> sync.Actions:
        return sync.Actions(self._loop, self._async.actions)

    @cached_property
    def events(self) -> sync.Events:
        return sync.Events(self._loop, self._async.events)

    @cached_property
    def exhibitors(self) -> sync.Exhibitors:
        return sync.Exhibitors(self._loop, self._async.exhibitors)

    @cached_property
    def personnel(self) -> sync.Personnel:
        return sync.Personnel(self._loop, self._async.personnel)

    @cached_property
    def contacts(self) -> sync.Contacts:
        return sync.Contacts(self._loop, self._async.contacts)

    @cached_property
    def profile_matching(self) -> sync.ProfileMatching:
        return sync.ProfileMatching(self._loop, self._async.profile_matching)

    # -- state ---------------------------------------------------------------------------

    @property
    def guard(self) -> CreditGuard:
        """The CreditGuard (``spent``, ``history``, ``in_doubt``…; its state is thread-safe
        to read). Its async methods have sync twins here: ``quote``, ``execute_quote``,
        ``reconcile``."""
        return self._async.guard

    @cached_property
    def ledger(self) -> SyncLedger:
        """The guard's ledger: ``client.ledger.snapshot()`` for its totals."""
        return SyncLedger(self._loop, self.guard.ledger)

    @property
    def config(self) -> ClientConfig:
        return self._async.config

    @property
    def rate_limit(self) -> RateLimitInfo | None:
        return self._async.rate_limit

    # -- calls that take a method or need the loop --------------------------------------

    def quote(self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> SyncQuote[T]:
        """Price a paid call without spending: ``client.quote(client.events.unlock, "101")``."""
        quote = self._loop.call(partial(self.guard.quote, _async_twin(method), *args, **kwargs))
        return SyncQuote(self._loop, quote)

    def with_raw_response(
        self, method: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> RawResponse[T]:
        """The answer's status, headers, trace id and body, with ``parse()`` for the result."""
        twin = _async_twin(method)
        return self._loop.call(partial(self._async.with_raw_response, twin, *args, **kwargs))

    def execute_quote(self, token: str | bytes, *, secret: str | bytes | None = None) -> Any:
        """``guard.execute_quote(token, client)``: run a sealed quote, once (``Quote.seal``)."""
        return self._loop.call(partial(self.guard.execute_quote, token, self._async, secret=secret))

    def reconcile(self) -> tuple[SpendRecord, ...]:
        """``guard.reconcile()``: settle in-doubt intents without re-sending them."""
        return self._loop.call(self.guard.reconcile)

    def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """After a crash: resume tasks, reconcile in-doubt intents, release holds."""
        return self._loop.call(partial(self._async.recover, deadline=deadline))

    # -- bulk runs (lensmor_async.bulk, on this client's loop) ---------------------------

    def run_bulk(
        self,
        items: Iterable[T],
        work: Callable[[T], R],
        *,
        concurrency: int = 16,
        key: Callable[[T], str] = str,
        guard: CreditGuard | None = None,
        on_progress: Callable[[BulkProgress], None] | None = None,
        resume: SyncBulkCheckpoint | None = None,
    ) -> BulkReport[T, R]:
        """:func:`lensmor_async.bulk.run_bulk` for sync ``work`` (which may call this client).

        Each item's ``work`` runs in a worker thread, at most ``concurrency`` at once;
        ``on_progress`` runs on the loop thread (keep it quick; it cannot call the client).
        Ctrl-C cancels the run as cancelling the async one does: items in flight finish
        and are accounted, then ``KeyboardInterrupt`` propagates.
        """
        return run_bulk_on(
            self._loop,
            items,
            work,
            concurrency=concurrency,
            key=key,
            guard=guard,
            on_progress=on_progress,
            resume=resume,
        )

    def bulk_checkpoint(
        self,
        path: str | os.PathLike[str],
        *,
        summarize: Callable[[Any], Any] | None = None,
        busy_timeout: float = 5.0,
    ) -> SyncBulkCheckpoint:
        """A :class:`~lensmor_async.bulk.BulkCheckpoint` for :meth:`run_bulk`'s ``resume``."""
        checkpoint = BulkCheckpoint(path, summarize=summarize, busy_timeout=busy_timeout)
        return SyncBulkCheckpoint(self._loop, checkpoint)

    def with_options(
        self,
        *,
        call_source: CallSource | None = None,
        timeout: float | None = None,
        deadline: float | None = UNSET_OPTION,
        retry: RetryPolicy | None = None,
    ) -> Lensmor:
        """A cheap copy with some options changed, on the same loop and connections."""
        changes: dict[str, Any] = {"call_source": call_source, "timeout": timeout}
        changes["retry"] = retry
        if deadline is not UNSET_OPTION:
            changes["deadline"] = deadline
        copy = object.__new__(Lensmor)
        copy._loop, copy._owns_loop = self._loop, False
        copy._async = self._async.with_options(**changes)
        return copy

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        """Close connections and stop the loop thread (idempotent; copies close nothing)."""
        if self._owns_loop and not self._loop.closed:
            try:
                self._loop.call(self._async.aclose)
            finally:
                self._loop.stop()

    def __enter__(self) -> Lensmor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        config = self.config
        return f"Lensmor(base_url={config.base_url!r}, call_source={config.call_source!r})"

    def __reduce__(self) -> Any:
        raise TypeError("Lensmor holds live connections and an API key; it cannot be pickled")

    def __del__(self, _warn: Callable[..., None] = warnings.warn) -> None:
        # Not closed here: __del__ may run on the loop thread itself, which cannot wait
        # for its own loop. The thread is a daemon, so it never blocks interpreter exit.
        loop = getattr(self, "_loop", None)
        if getattr(self, "_owns_loop", False) and loop is not None and not loop.closed:
            _warn(
                "a Lensmor client was dropped without being closed; use "
                "'with Lensmor(...) as client:' or 'client.close()'",
                ResourceWarning,
                source=self,
            )


async def _built(build: Callable[[], AsyncLensmor]) -> AsyncLensmor:
    """Build the async client on the loop thread, where it will run."""
    return build()


def _async_twin(method: Callable[..., Any]) -> Callable[..., Any]:
    """The async method behind a sync resource method (``client.events.unlock``)."""
    owner = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    twin = getattr(getattr(owner, "_async", None), name, None)
    if twin is None or not name or name.startswith("_"):
        raise ConfigurationError(
            "pass a method of this client, e.g. client.quote(client.events.unlock, event_id)"
        )
    return twin  # type: ignore[no-any-return]
