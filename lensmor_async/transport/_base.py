"""The one transport protocol the rest of the SDK talks to.

A transport sends one prepared :class:`Request` and returns the raw :class:`Response`;
it never retries, never follows redirects and never decodes JSON. It raises only
:class:`~lensmor_async.errors.TransportError` subclasses (setting ``request_sent``
truthfully) or ``MalformedResponseError`` for an oversized/truncated body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import attrs

QueryParams = tuple[tuple[str, str], ...]


@attrs.frozen(slots=True)
class Request:
    """One HTTP attempt, fully prepared (path rendered, body encoded)."""

    method: str
    path: str
    """Rendered path below the base URL, e.g. ``/external/events/123``."""
    route: str
    """The path template, for logs and metrics (never contains ids)."""
    query: QueryParams = ()
    body: bytes | None = None
    timeout: float | None = None
    """Seconds allowed for this attempt (already shrunk to the call's deadline)."""
    credit_relevant: bool = False
    """Send ``x-call-source`` (it attributes credit use)."""


@attrs.frozen(slots=True)
class Response:
    """The raw answer: status, headers and the complete body bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


@runtime_checkable
class Transport(Protocol):
    """Sends requests; owns connections."""

    async def send(self, request: Request) -> Response:
        """Send one attempt and return the full response."""
        ...

    async def aclose(self) -> None:
        """Release connections (idempotent; never closes a caller-owned session)."""
        ...
