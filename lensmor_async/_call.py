"""The call contract shared by the pipeline and the guard (neither imports the other).

A :class:`Call` says what to send; the pipeline's send step executes it; the guard
step (``CreditGuard.run_paid``) wraps the send step for paid calls. The
:class:`SendProbe` is the per-call channel back from the send step: whether a request
may have left, when, and the server's trace id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from lensmor_async._core.operations import Operation
from lensmor_async.errors import ConfigurationError

if TYPE_CHECKING:
    from lensmor_async._intent import Intent
    from lensmor_async.transport import QueryParams

T = TypeVar("T")


@attrs.frozen(slots=True)
class Call(Generic[T]):
    """One logical API call: what to send and how to decode a success."""

    operation: Operation
    path: str
    decode: Callable[[Any], T]
    query: QueryParams = ()
    body: Any = None
    intent: Intent | None = None
    """For paid calls: what is being bought (targets, canonical params)."""
    capture: Capture | None = None
    """Set by ``client.with_raw_response``: the send step records the raw answer here."""


@attrs.define(slots=True)
class Capture:
    """The raw answer of a call's last attempt (``with_raw_response``; None until one came)."""

    status: int | None = None
    headers: Mapping[str, str] | None = None
    body: bytes | None = None
    trace_id: str | None = None


@attrs.define(slots=True)
class SendProbe:
    """Tells the guard whether a request may have left (set just before the transport)."""

    started: bool = False
    sent_at: float = 0.0
    """``time.monotonic()`` when the last attempt was handed to the transport."""
    trace_id: str | None = None
    """The server's ``X-Request-ID`` of the last answer (for spend records)."""


class Sender(Protocol):
    """The send step of the pipeline (what the guard step calls to execute)."""

    async def __call__(
        self, call: Call[T], *, deadline: float | None, probe: SendProbe | None = None
    ) -> T: ...


class Approval(Protocol):
    """What a person approved in a two-phase quote (see ``guard.Quote``)."""

    @property
    def credits(self) -> int | None: ...

    @property
    def balance(self) -> int | None: ...


class GuardStep(Protocol):
    """The CreditGuard as a pipeline step."""

    async def run_paid(
        self,
        call: Call[T],
        send: Sender,
        *,
        deadline: float | None,
        approval: Approval | None = None,
    ) -> T: ...


class Runner(Protocol):
    """What resources hand their calls to (the pipeline, or a stand-in while quoting)."""

    def run(self, call: Call[T], approval: Approval | None = None) -> Awaitable[T]: ...


class CallSite(Protocol):
    """A resource whose calls can be routed through another :class:`Runner`.

    ``guard.quote(client.events.unlock, ...)`` uses this to learn the exact call a
    method would make, without sending it and without running user code.
    """

    def rerouted(self, wrap: Callable[[Runner], Runner]) -> CallSite: ...


def call_site(method: Callable[..., Any], refusal: str) -> tuple[CallSite, str]:
    """The resource and method name behind a bound SDK method (``client.events.get``).

    Anything else (a wrapper cannot be rerouted) raises ``ConfigurationError(refusal)``.
    """
    site = getattr(method, "__self__", None)
    name = getattr(method, "__name__", "")
    if site is None or not callable(getattr(site, "rerouted", None)) or not name:
        raise ConfigurationError(refusal)
    return site, name
