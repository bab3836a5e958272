"""The boundary: every aiohttp/OS exception becomes one of ours, naming the route only."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from lensmor_async.errors import (
    APIConnectionError,
    APITimeoutError,
    MalformedResponseError,
    TransportError,
)
from lensmor_async.transport._base import Request

TransportFailure = TransportError | MalformedResponseError


def translate(exc: BaseException, request: Request, *, sent: bool = True) -> TransportFailure:
    """Map an aiohttp/OS exception to our tree; the text never carries headers.

    ``sent`` is False when the failure happened before any byte of the request left.
    """
    where = f"{request.method} {request.route}"
    if not sent or isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return _connect_failure(exc, where)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return APITimeoutError(f"{where} timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return MalformedResponseError(f"{where}: response body was truncated or corrupt")
    if isinstance(exc, aiohttp.ClientResponseError | HttpProcessingError):
        status = getattr(exc, "status", None) or getattr(exc, "code", None)
        return MalformedResponseError(f"{where}: invalid HTTP response (status {status})")
    return APIConnectionError(f"{where}: connection failed ({type(exc).__name__})")


def _connect_failure(exc: BaseException, where: str) -> TransportError:
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return APITimeoutError(f"connecting timed out for {where}", request_sent=False)
    return APIConnectionError(f"could not connect for {where}", request_sent=False)
