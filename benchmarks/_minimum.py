"""The typed minimum: the least client code that yields the SDK's typed models.

A hand-rolled ``asyncio.Protocol`` HTTP/1.1 keep-alive client (a pool of connections,
one request in flight per connection, fixed-length answers only), ``orjson.loads``, and
the SDK's own converter building the same frozen models from the same bytes. No
retries, no limiter, no guard, no errors worth the name: it is a floor, not a client.
``SDK ÷ typed minimum`` is what the SDK's plumbing (pipeline, transport, response
handling) costs on top of the work both must do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson

from benchmarks._payloads import personnel_query
from lensmor_async.models import CreditBalance, Person
from lensmor_async.models.converter import structure, structure_page


class _Connection(asyncio.Protocol):
    """One keep-alive connection: a request out, a fixed-length answer back."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[bytes] | None = None
        self.needed = -1  # body end offset in ``buffer`` once the head is parsed

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if self.needed < 0:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            self.needed = end + 4 + _content_length(bytes(buffer[:end]))
        if len(buffer) >= self.needed and self.waiter is not None:
            answer = bytes(buffer[: self.needed])
            del buffer[: self.needed]
            self.needed = -1
            waiter, self.waiter = self.waiter, None
            waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("connection closed"))

    async def request(self, head: bytes) -> bytes:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(head)
        return await self.waiter


def _content_length(head: bytes) -> int:
    if not head.startswith(b"HTTP/1.1 200 "):
        raise RuntimeError(head.split(b"\r\n", 1)[0].decode(errors="replace"))
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            return int(value)
    raise RuntimeError("no Content-Length")


class MinimalClient:
    """Idle connections on a stack; a new one is opened when none is idle."""

    def __init__(self, base_url: str, api_key: str) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.auth = f"Authorization: Bearer {api_key}\r\n"
        self.idle: list[_Connection] = []
        self.every: list[_Connection] = []

    def head(self, target: str) -> bytes:
        return (
            f"GET {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self.auth}"
            "Accept: application/json\r\n\r\n"
        ).encode()

    async def get(self, head: bytes) -> bytes:
        conn = self.idle.pop() if self.idle else await self._open()
        answer = await conn.request(head)
        self.idle.append(conn)
        return answer[answer.index(b"\r\n\r\n") + 4 :]

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        self.every.append(conn)
        return conn

    def close(self) -> None:
        for conn in self.every:
            if conn.transport is not None:
                conn.transport.close()


def typed_decoder(endpoint: str) -> Callable[[bytes | memoryview], Any]:
    """Body bytes → the endpoint's typed model: orjson, then the SDK's own converter.

    Shared with the pyreqwest reference, so both build exactly what the SDK returns.
    """
    if endpoint == "balance":
        return lambda body: structure(orjson.loads(body), CreditBalance)
    return lambda body: structure_page(orjson.loads(body), Person)


@asynccontextmanager
async def typed_minimum(
    base_url: str, api_key: str, endpoint: str
) -> AsyncIterator[Callable[[], Any]]:
    """Yield a zero-argument coroutine function returning the endpoint's typed model."""
    client = MinimalClient(base_url, api_key)
    decode = typed_decoder(endpoint)
    if endpoint == "balance":
        head = client.head("/external/credits/balance")
    else:
        query = "&".join(f"{k}={v}" for k, v in personnel_query().items())
        head = client.head(f"/external/personnel/list?{query}")

    async def call() -> Any:
        return decode(await client.get(head))

    try:
        yield call
    finally:
        client.close()
