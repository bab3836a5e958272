"""``client.with_raw_response``: the HTTP answer behind a result, and the result itself.

``await client.with_raw_response(client.events.get, "101")`` runs the call exactly as
``client.events.get("101")`` would (same validation, retries, guard), and returns a
:class:`RawResponse`: status, headers, trace id and body bytes of the answer, with
``parse()`` for the typed result. It takes the SDK method itself, like ``guard.quote``,
so ``mypy`` checks the arguments and knows what ``parse()`` returns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any, Generic, ParamSpec, TypeVar

import attrs

from lensmor_async._call import Approval, Call, Capture, Runner, call_site

T = TypeVar("T")
P = ParamSpec("P")
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


@attrs.frozen(slots=True)
class RawResponse(Generic[T]):
    """One call's HTTP answer (its last attempt) and its decoded result."""

    status: int | None
    """The HTTP status, e.g. 200 or 201. None when no request was needed: the guard
    answered a paid call that had nothing chargeable left from what it knew."""
    headers: Mapping[str, str] = attrs.field(repr=False)
    """The response headers as received (case-insensitive lookup; empty without a request)."""
    body: bytes = attrs.field(repr=False)
    """The body bytes as received (empty without a request)."""
    trace_id: str | None
    """The server's ``X-Request-ID`` (quote it to support)."""
    _parsed: T = attrs.field(repr=False, alias="parsed")

    def parse(self) -> T:
        """The typed result, exactly what the method returns on its own.

        It was decoded when the answer arrived: a paid call's guard settles from it.
        """
        return self._parsed


class _Capturing:
    """Runs calls through the pipeline, each recording its raw answer in ``capture``."""

    def __init__(self, pipeline: Runner, capture: Capture) -> None:
        self._pipeline = pipeline
        self._capture = capture

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipeline, name)  # e.g. ``config`` for the call source

    def run(self, call: Call[Any], approval: Approval | None = None) -> Awaitable[Any]:
        return self._pipeline.run(attrs.evolve(call, capture=self._capture), approval)


async def run_raw(
    method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
) -> RawResponse[T]:
    """Run ``method(*args, **kwargs)`` and return its raw answer with the parsed result."""
    site, name = call_site(
        method,
        "with_raw_response() takes an SDK method, e.g. "
        'client.with_raw_response(client.events.get, "101")',
    )
    capture = Capture()
    rerouted = site.rerouted(lambda pipeline: _Capturing(pipeline, capture))
    parsed: T = await getattr(rerouted, name)(*args, **kwargs)
    return RawResponse(
        capture.status,
        _NO_HEADERS if capture.headers is None else capture.headers,
        capture.body or b"",
        capture.trace_id,
        parsed,
    )
