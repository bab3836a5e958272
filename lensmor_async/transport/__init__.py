"""Transport layer: one protocol, the pooled default and the session-based implementation."""

from __future__ import annotations

from lensmor_async.transport._base import QueryParams, Request, Response, Transport
from lensmor_async.transport._pooled import PooledTransport
from lensmor_async.transport._probe import missing_pooled_internals, warn_falling_back
from lensmor_async.transport._session import SessionTransport

__all__ = [
    "PooledTransport",
    "QueryParams",
    "Request",
    "Response",
    "SessionTransport",
    "Transport",
    "missing_pooled_internals",
    "warn_falling_back",
]
