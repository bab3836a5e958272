"""Two-phase spending for web apps: quote now, show it to a person, execute later.

A quote learns the exact call an SDK method would make by running the method with a
stand-in runner that records the call and stops it before anything is sent (the
method's own argument checks run, so bad input fails here, before any I/O). No
exception has to pass through anyone's code for a quote to be right, and a method the
guard cannot price this way is refused instead of being read as free.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Generator, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from lensmor_async._call import Approval, Call, CallSite, Runner, call_site
from lensmor_async.errors import (
    ConfigurationError,
    CreditError,
    QuoteExpiredError,
    QuoteTamperedError,
)
from lensmor_async.guard._confirm import SpendRequest
from lensmor_async.guard._seal import seal, secret_bytes

if TYPE_CHECKING:
    from lensmor_async.guard._guard import CreditGuard

T = TypeVar("T")
DEFAULT_QUOTE_TTL = 300.0


@attrs.frozen(slots=True)
class ApprovedQuote:
    """What a person saw and approved (an :class:`~lensmor_async._call.Approval`)."""

    credits: int | None
    balance: int | None


class _Pause:
    """Awaited by a method being priced: suspends it once, so the recorder can stop it."""

    def __await__(self) -> Generator[None, None, Any]:
        yield
        raise AssertionError("a priced call is never resumed")  # pragma: no cover


class _Recorder:
    """Stands in for the pipeline while a method is priced: records its call, sends nothing."""

    def __init__(self, pipeline: Runner) -> None:
        self._pipeline = pipeline
        self.call: Call[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)  # e.g. ``config`` for the call source

    def run(self, call: Call[Any], approval: Approval | None = None) -> Awaitable[Any]:
        del approval
        self.call = call
        return _Pause()


class _ApprovedRunner:
    """Runs the quoted call with its approval; refuses any other call."""

    def __init__(self, pipeline: Runner, quoted: Call[Any], approval: Approval | None) -> None:
        self._pipeline = pipeline
        self._quoted = quoted
        self._approval = approval

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)

    def run(self, call: Call[Any], approval: Approval | None = None) -> Awaitable[Any]:
        del approval
        if call.intent != self._quoted.intent or call.operation != self._quoted.operation:
            raise CreditError("this quote was for another call; quote the call you execute")
        return self._pipeline.run(call, self._approval)


def _site_of(method: Callable[..., Any]) -> tuple[CallSite, str]:
    return call_site(
        method,
        "guard.quote() takes a paid SDK method, e.g. guard.quote(client.events.unlock, "
        "event_id); wrap the quote, not the method",
    )


async def run_quoted(
    method: Callable[..., Awaitable[T]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    quoted: Call[Any],
    approval: Approval | None,
) -> T:
    """Run ``method`` with the approval of its quote; any other call it makes is refused."""
    site, name = _site_of(method)

    def wrap(pipeline: Runner) -> Runner:
        return _ApprovedRunner(pipeline, quoted, approval)

    rerouted: Callable[..., Awaitable[T]] = getattr(site.rerouted(wrap), name)
    return await rerouted(*args, **kwargs)


def method_at(client: object, address: str) -> Callable[..., Awaitable[Any]]:
    """The SDK method a sealed quote names (``events.unlock`` → ``client.events.unlock``)."""
    resource_name, _, name = address.partition(".")
    resource = None
    if resource_name.isidentifier() and not resource_name.startswith("_"):
        resource = getattr(client, resource_name, None)
    method = None if name.startswith("_") else getattr(resource, name, None)
    if method is None or not callable(method):
        raise QuoteTamperedError(f"the quote token names no SDK method ({address!r})")
    _site_of(method)
    return method  # type: ignore[no-any-return]


def record_call(method: Callable[..., Awaitable[Any]], args: Any, kwargs: Any) -> Call[Any]:
    """The paid call ``method(*args, **kwargs)`` would make, without making it."""
    site, name = _site_of(method)
    recorder: _Recorder | None = None

    def wrap(pipeline: Runner) -> Runner:
        nonlocal recorder
        recorder = _Recorder(pipeline)
        return recorder

    coroutine: Coroutine[Any, Any, Any] = getattr(site.rerouted(wrap), name)(*args, **kwargs)
    try:
        coroutine.send(None)  # runs the method's checks up to its call; raises on bad input
    except StopIteration:
        pass
    finally:
        coroutine.close()
    call = None if recorder is None else recorder.call
    if call is None or not call.operation.paid:
        raise ConfigurationError(f"{name}() makes no paid call; there is nothing to quote")
    return call


class Quote(Generic[T]):
    """A priced, not yet executed paid call.

    ``request`` holds what to show (cost, balance, budget). ``request is None`` means
    the call costs nothing now (already unlocked / nothing chargeable); executing it is
    still guarded: should it cost something by then, the confirm callback is asked.
    ``execute()`` re-checks everything and re-asks the confirm callback only if the
    cost or the balance moved since the quote.
    """

    def __init__(
        self,
        guard: CreditGuard,
        method: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        call: Call[Any],
        request: SpendRequest | None,
        *,
        ttl: float = DEFAULT_QUOTE_TTL,
    ) -> None:
        self.guard = guard
        self.request = request
        self._method = method
        self._args = args
        self._kwargs = kwargs
        self._call = call
        self.created_at = time.time()
        self.expires_at = self.created_at + ttl
        self.executed = False
        self._result: T | None = None
        self.approved_balance = None if request is None else request.current_balance
        """The balance this quote stands approved at (lowered within a confirmed group)."""

    @property
    def credits(self) -> int | None:
        """Expected credits (0 when nothing is charged)."""
        return 0 if self.request is None else self.request.expected_credits

    @property
    def current_balance(self) -> int | None:
        """The balance the quote was priced against (None: nothing to pay)."""
        return None if self.request is None else self.request.current_balance

    @property
    def budget_remaining(self) -> int | None:
        """Room left under the budget (None: no budget, or nothing to pay)."""
        return None if self.request is None else self.request.budget_remaining

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    async def execute(self) -> T:
        """Run the quoted call (re-checked; raises ``QuoteExpiredError`` after the TTL).

        A quote buys once: executing it again returns the first result, spending nothing.
        """
        if self.executed:
            return self._result  # type: ignore[return-value]
        if self.expired:
            raise QuoteExpiredError("this quote expired; ask for a new one before spending")
        approval = None
        if self.request is not None:
            approval = ApprovedQuote(self.request.expected_credits, self.approved_balance)
        result = await run_quoted(self._method, self._args, self._kwargs, self._call, approval)
        self._result, self.executed = result, True
        return result

    def seal(self, secret: str | bytes | None = None) -> str:
        """This quote as an opaque token another process can execute once.

        ``await guard.execute_quote(token, client)`` (any worker whose guard knows the
        secret) re-checks it; the secret defaults to ``CreditGuard(quote_secret=...)``.
        A token carries no API key; it is signed, not encrypted: ids and prices in it
        are readable by whoever holds it.
        """
        if self.executed:
            raise ConfigurationError("this quote was executed already; quote again to seal one")
        approval = None
        if self.request is not None:
            approval = (self.request.expected_credits, self.request.current_balance)
        _, name = _site_of(self._method)
        return seal(
            secret_bytes(self.guard.quote_secret if secret is None else secret),
            method=f"{self._call.operation.name.split('.')[0]}.{name}",
            args=self._args,
            kwargs=self._kwargs,
            call=self._call,
            approval=approval,
            expires_at=self.expires_at,
        )

    def __repr__(self) -> str:
        return f"Quote(credits={self.credits}, expires_at={self.expires_at:.0f})"


def group_request(requests: list[SpendRequest], description: str) -> SpendRequest:
    """One request for the total of several quotes of one operation."""
    first = requests[0]
    amounts = [r.expected_credits for r in requests]
    return SpendRequest(
        operation=first.operation,
        description=description,
        targets=tuple(t for r in requests for t in r.targets),
        expected_credits=None if None in amounts else sum(a or 0 for a in amounts),
        current_balance=first.current_balance,
        budget_remaining=first.budget_remaining,
    )
