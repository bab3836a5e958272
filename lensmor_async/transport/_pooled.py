"""The default transport: the SDK's own keep-alive connections over aiohttp's HTTP core.

``aiohttp.ClientSession`` is built for every use at once (cookies, proxies, redirects,
tracing, middlewares, per-request header merging); each request pays for all of it.
This transport keeps aiohttp's protocol and C response parser, and drops the rest: a
request is one cached head (headers pre-rendered per route, see ``_wire``) written to
a pooled connection, and the response is the parser's message and body. It sends what
``SessionTransport`` sends and maps failures the same way.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from multidict import CIMultiDictProxy
from yarl import URL

from lensmor_async._config import ClientConfig
from lensmor_async.errors import ConfigurationError, MalformedResponseError
from lensmor_async.transport._base import Request, Response
from lensmor_async.transport._body import read_chunks_capped, too_large
from lensmor_async.transport._connections import ConnectionPool, Origin
from lensmor_async.transport._errors import server_of, translate
from lensmor_async.transport._wire import HeadCache, UrlCache, frame, header_sets

if TYPE_CHECKING:  # aiohttp internals, probed before use (see _probe)
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.streams import StreamReader


class PooledTransport:
    """Sends prepared requests over pooled HTTP/1.1 connections (created in the loop)."""

    def __init__(self, config: ClientConfig, *, _shared: _Shared | None = None) -> None:
        self._config = config
        self._shared = _shared or _Shared(config)
        self._owner = _shared is None
        self._pool = self._shared.pool
        self._heads = HeadCache(self._shared.urls, header_sets(config))
        self._cap = config.max_body_bytes
        self._server = server_of(config.base_url)

    def __repr__(self) -> str:
        return f"PooledTransport(base_url={self._config.base_url!r})"

    def derive(self, config: ClientConfig) -> PooledTransport:
        """A transport with other options over the same connections (it never closes them)."""
        return PooledTransport(config, _shared=self._shared)

    async def send(self, request: Request) -> Response:
        """Send one attempt; return status, headers and the whole (size-capped) body."""
        pool = self._pool
        if pool.closed:
            # Not a transport failure: retrying a closed client can never succeed.
            raise ConfigurationError("this client is closed; create a new AsyncLensmor")
        data = frame(self._heads.get(request), request.method, request.body)
        loop = asyncio.get_running_loop()
        now = loop.time()
        deadline = now + (self._config.timeout if request.timeout is None else request.timeout)
        protocol = pool.take_idle(now)
        if protocol is None:  # not `or`: a protocol with no queued message is falsy
            protocol = await self._connect(request, deadline)
        # One plain timer rather than asyncio.timeout: when it fires it fails the read
        # that is waiting, as aiohttp's own read timeout does, for a fraction of the cost.
        timer = loop.call_at(deadline, _expire, protocol)
        try:
            assert protocol.transport is not None
            protocol.transport.write(data)
            message, payload = await protocol.read()
            while message.code < 200:  # interim answers (100 Continue, 103 Early Hints)
                message, payload = await protocol.read()
            if payload.is_eof():  # the usual case: the body came with the head
                body = self._capped(payload.read_nowait(-1), message.code)
            else:
                async with asyncio.timeout_at(deadline):
                    body = await self._rest_of_body(message.headers, payload, message.code)
        except BaseException as exc:
            pool.discard(protocol)
            if isinstance(exc, Exception) and not isinstance(exc, MalformedResponseError):
                raise translate(exc, request, server=self._server) from exc
            raise  # cancellation, and our own errors, pass through as they are
        finally:
            timer.cancel()
        pool.release(protocol, loop.time())
        return Response(status=message.code, headers=message.headers, body=body)

    async def _connect(self, request: Request, deadline: float) -> ResponseHandler:
        try:
            async with asyncio.timeout_at(deadline):
                return await self._pool.connect()
        except Exception as exc:
            raise translate(exc, request, server=self._server, sent=False) from exc

    def _capped(self, body: bytes, status: int) -> bytes:
        if len(body) > self._cap:
            raise too_large(self._cap, status)
        return body

    async def _rest_of_body(
        self, headers: CIMultiDictProxy[str], payload: StreamReader, status: int
    ) -> bytes:
        """A body still arriving: refused up front when its length is over the cap."""
        length = headers.get("Content-Length")
        if length is None:
            return await read_chunks_capped(payload, self._cap, status)
        if int(length) > self._cap:
            raise too_large(self._cap, status, length)
        return await payload.read()

    @property
    def holds_connections(self) -> bool:
        """Open connections are left that only ``aclose()`` of this (owning) transport closes."""
        return self._owner and not self._pool.closed and len(self._pool) > 0

    async def aclose(self) -> None:
        """Close our connections (idempotent); copies made by ``derive`` close nothing."""
        if self._owner:
            self._pool.close()


def _expire(protocol: ResponseHandler) -> None:
    """The attempt's timer fired: fail whatever read is waiting (a TimeoutError)."""
    protocol.set_exception(TimeoutError())


class _Shared:
    """What ``with_options`` copies share: the connection pool and the URL cache."""

    def __init__(self, config: ClientConfig) -> None:
        url = URL(config.base_url)
        self.pool = ConnectionPool(Origin.of(url), max_idle=max(100, config.max_concurrency))
        self.urls = UrlCache(config.base_url)
