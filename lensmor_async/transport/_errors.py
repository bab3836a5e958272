"""The boundary: every aiohttp/OS exception becomes one of ours.

Messages name the route template, the server (host:port) and, for a failed connection,
the cause in words (refused, DNS, TLS, timeout); never a header, a body or the key.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

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


def server_of(base_url: str) -> str:
    """``host:port`` of the API, for error messages (the base URL holds no credentials)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"


def translate(
    exc: BaseException, request: Request, *, server: str, sent: bool = True
) -> TransportFailure:
    """Map an aiohttp/OS exception to our tree; the text never carries headers.

    ``sent`` is False when the failure happened before any byte of the request left.
    """
    where = f"{request.method} {request.route}"
    if not sent or isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return _connect_failure(exc, where, server)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return APITimeoutError(f"{where} timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return MalformedResponseError(f"{where}: response body was truncated or corrupt")
    if isinstance(exc, aiohttp.ClientResponseError | HttpProcessingError):
        status = getattr(exc, "status", None) or getattr(exc, "code", None)
        return MalformedResponseError(f"{where}: invalid HTTP response (status {status})")
    return APIConnectionError(f"{where}: connection to {server} failed ({connection_cause(exc)})")


def _connect_failure(exc: BaseException, where: str, server: str) -> TransportError:
    cause = connection_cause(exc)
    if cause == _TIMED_OUT:
        return APITimeoutError(f"connecting to {server} timed out for {where}", request_sent=False)
    return APIConnectionError(
        f"could not connect to {server} for {where}: {cause}", request_sent=False
    )


_TIMED_OUT = "timed out"
# Most specific first: a certificate error is also an SSL error, a DNS error an OSError.
_CAUSES: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
    (
        (ssl.SSLCertVerificationError, aiohttp.ClientConnectorCertificateError),
        "TLS certificate verification failed",
    ),
    ((ssl.SSLError, aiohttp.ClientSSLError), "TLS handshake failed"),
    ((socket.gaierror, aiohttp.ClientConnectorDNSError), "DNS lookup failed"),
    (ConnectionRefusedError, "connection refused"),
    ((TimeoutError, asyncio.TimeoutError), _TIMED_OUT),
    (ConnectionResetError, "connection reset by the server"),
    (aiohttp.ServerDisconnectedError, "the server closed the connection"),
)


def connection_cause(exc: BaseException) -> str:
    """What went wrong, in words, from the exception and what it wraps."""
    for cls, words in _CAUSES:
        if any(isinstance(error, cls) for error in _chain(exc)):
            return words
    return type(exc).__name__


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the OS error aiohttp wraps, and their causes (bounded: chains can loop)."""
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending and len(seen) < 8:
        error = pending.pop(0)
        if error is None or any(error is s for s in seen):
            continue
        seen.append(error)
        yield error
        pending += [getattr(error, "os_error", None), error.__cause__, error.__context__]
