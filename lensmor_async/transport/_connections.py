"""Keep-alive HTTP/1.1 connections to one origin, on aiohttp's protocol and C parser.

Each connection is an aiohttp ``ResponseHandler`` (the protocol its connector uses),
with one response parser for its whole life, as aiohttp's server side does. The pool
hands out the most recently used idle connection, so a warm one is taken first,
drops connections idle longer than ``keepalive`` (servers close them about then),
and never holds more idle ones than ``max_idle``. How many are open at once is bounded
by the client's limiter, which every request passes before it gets here.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections import deque
from typing import TYPE_CHECKING

import attrs
from yarl import URL

if TYPE_CHECKING:  # imported where used: the client probes it first (see _probe)
    from aiohttp.client_proto import ResponseHandler

KEEPALIVE_SECONDS = 15.0
"""aiohttp's own default: idle connections older than this are closed, not reused."""


@attrs.frozen
class Origin:
    """Where the connections go: scheme, host and port of the base URL."""

    host: str
    port: int
    tls: bool

    @classmethod
    def of(cls, url: URL) -> Origin:
        # load_config has checked the base URL: absolute http(s), so host and port exist.
        assert url.host is not None
        assert url.port is not None
        return cls(host=url.host, port=url.port, tls=url.scheme == "https")


class ConnectionPool:
    """Idle keep-alive connections to one origin, plus every open one (to close them all)."""

    def __init__(
        self, origin: Origin, *, max_idle: int, keepalive: float = KEEPALIVE_SECONDS
    ) -> None:
        self._origin = origin
        self._max_idle = max_idle
        self._keepalive = keepalive
        self._idle: deque[tuple[ResponseHandler, float]] = deque()
        self._open: set[ResponseHandler] = set()
        self.closed = False

    def __len__(self) -> int:
        """Open connections (idle and in use)."""
        return len(self._open)

    def take_idle(self, now: float) -> ResponseHandler | None:
        """The most recently released live connection, or None (no I/O, no await)."""
        idle = self._idle
        while idle:
            protocol, since = idle.pop()
            # should_close also covers bytes that arrived while idle: an unasked-for
            # answer queued there must never be taken as the next request's response.
            if (
                protocol.is_connected()
                and not protocol.should_close
                and now - since < self._keepalive
            ):
                return protocol
            self.discard(protocol)
        return None

    async def connect(self) -> ResponseHandler:
        """Open a new connection (DNS, TCP and TLS happen here)."""
        if self.closed:
            raise ConnectionAbortedError("the connection pool was closed")
        loop = asyncio.get_running_loop()
        _, protocol = await self._create_connection(loop)
        self._open.add(protocol)
        if self.closed:  # closed while we were connecting
            self.discard(protocol)
            raise ConnectionAbortedError("the connection pool was closed")
        # One parser for the connection's life; aiohttp's defaults for the limits.
        protocol.set_response_params(read_until_eof=True, auto_decompress=True)
        return protocol

    async def _create_connection(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.BaseTransport, ResponseHandler]:
        """The one place a socket is opened (the benchmarks swap it for in-memory pipes)."""
        from aiohttp.client_proto import ResponseHandler

        origin = self._origin
        return await loop.create_connection(
            lambda: ResponseHandler(loop),
            origin.host,
            origin.port,
            ssl=default_ssl_context() if origin.tls else None,
            server_hostname=origin.host if origin.tls else None,
        )

    def release(self, protocol: ResponseHandler, now: float) -> None:
        """Return a connection after a complete response: kept if it can carry another."""
        if self.closed or protocol.should_close or len(self._idle) >= self._max_idle:
            self.discard(protocol)
            return
        self._idle.append((protocol, now))
        oldest, since = self._idle[0]
        if now - since >= self._keepalive:  # one stale connection dropped per release
            self._idle.popleft()
            self.discard(oldest)

    def discard(self, protocol: ResponseHandler) -> None:
        """Close a connection that must not be reused (error, cancellation, close asked)."""
        self._open.discard(protocol)
        protocol.close()

    def close(self) -> None:
        """Close every connection, idle or in use; later requests are refused by the caller."""
        self.closed = True
        self._idle.clear()
        for protocol in list(self._open):
            self.discard(protocol)


@functools.cache
def default_ssl_context() -> ssl.SSLContext:
    """The system's trust store, verifying certificates and host names.

    Built once per process, as aiohttp does: loading the trust store takes milliseconds,
    too much for every client an app creates. For other trust settings, pass your own
    ``aiohttp.ClientSession`` (its connector's ``ssl=``) to ``AsyncLensmor(session=...)``.
    """
    return ssl.create_default_context()
