"""ConnectionPool on real loopback sockets: opening, LIFO reuse, keep-alive, bounds, closing.

A raw ``asyncio`` server plays the origin: the tests decide when it asks to close or hangs
up, and see every socket the pool opened shut. Requests are driven as ``PooledTransport``
drives them: write, ``read()``, read the body.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from aiohttp.client_proto import ResponseHandler
from yarl import URL

from lensmor_async.transport._connections import KEEPALIVE_SECONDS, ConnectionPool, Origin

pytestmark = pytest.mark.anyio

_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
_CLOSE = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"


class RawServer:
    """Answers by path: ``/close`` asks to close, ``/hangup`` closes on a signal; counts."""

    def __init__(self) -> None:
        self.accepted = self.open = 0
        self.hangup, self.all_closed = asyncio.Event(), asyncio.Event()
        self.all_closed.set()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open += 1
        self.all_closed.clear()
        try:
            while True:
                path = (await reader.readuntil(b"\r\n\r\n")).split(b" ", 2)[1]
                writer.write(_CLOSE if path == b"/close" else _OK)
                await writer.drain()
                if path == b"/hangup":  # answered as keep-alive, then closed while idle
                    await self.hangup.wait()
                if path in (b"/close", b"/hangup"):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client closed the connection
        finally:
            writer.close()
            self.open -= 1
            if not self.open:
                self.all_closed.set()

    async def settled(self) -> None:
        """Wait until every connection the server accepted has been closed."""
        async with asyncio.timeout(2):
            await self.all_closed.wait()


@pytest.fixture
async def server() -> AsyncIterator[RawServer]:
    state = RawServer()
    listener = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    state.url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}/api"
    yield state
    await state.settled()  # the pool fixture closed first: nothing may be left open
    listener.close()
    await listener.wait_closed()


PoolFactory = Callable[..., ConnectionPool]


@pytest.fixture
def make_pool(server: RawServer) -> Iterator[PoolFactory]:
    pools: list[ConnectionPool] = []

    def make(*, max_idle: int = 8, keepalive: float = KEEPALIVE_SECONDS) -> ConnectionPool:
        pools.append(
            ConnectionPool(Origin.of(URL(server.url)), max_idle=max_idle, keepalive=keepalive)
        )
        return pools[-1]

    yield make
    for pool in pools:
        pool.close()


async def _exchange(protocol: ResponseHandler, path: str = "/") -> bytes:
    """One complete request/response on the connection; returns the body."""
    assert protocol.transport is not None
    protocol.transport.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    message, payload = await protocol.read()
    assert message.code == 200
    return await payload.read()


async def _ready(pool: ConnectionPool, path: str = "/") -> ResponseHandler:
    """A new connection that has carried one complete response (fit to release)."""
    protocol = await pool.connect()
    assert await _exchange(protocol, path) == b"ok"
    return protocol


def test_origin_of_takes_scheme_host_and_port_from_the_base_url() -> None:
    assert Origin.of(URL("http://127.0.0.1:8080/api")) == Origin("127.0.0.1", 8080, tls=False)
    assert Origin.of(URL("https://example.com/api")) == Origin("example.com", 443, tls=True)
    assert Origin.of(URL("https://[::1]:8443")) == Origin("::1", 8443, tls=True)


async def test_connect_opens_a_connection_that_len_counts(
    server: RawServer, make_pool: PoolFactory
) -> None:
    pool = make_pool()
    assert len(pool) == 0
    first, second = await _ready(pool), await _ready(pool)
    assert first is not second
    assert all(protocol.is_connected() for protocol in (first, second))
    assert len(pool) == 2
    assert server.accepted == 2


async def test_take_idle_hands_back_the_most_recently_released_first(
    server: RawServer, make_pool: PoolFactory
) -> None:
    pool = make_pool()
    older, newer = await _ready(pool), await _ready(pool)
    pool.release(older, now=1.0)
    pool.release(newer, now=2.0)
    assert pool.take_idle(now=3.0) is newer
    assert pool.take_idle(now=3.0) is older
    assert pool.take_idle(now=3.0) is None
    assert len(pool) == 2  # taken connections are in use, still open
    assert await _exchange(newer) == b"ok"  # and reusable: no new connection was opened
    assert server.accepted == 2


@pytest.mark.parametrize("how", ["connection-close", "force-close"])
async def test_a_connection_that_should_close_is_closed_not_kept(
    make_pool: PoolFactory, how: str
) -> None:
    pool = make_pool()
    protocol = await _ready(pool, "/close" if how == "connection-close" else "/")
    if how == "force-close":
        protocol.force_close()
    assert protocol.should_close
    pool.release(protocol, now=0.0)
    assert pool.take_idle(now=0.0) is None
    assert len(pool) == 0
    assert not protocol.is_connected()


async def test_idle_connections_as_old_as_keepalive_are_closed_not_handed_out(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(keepalive=5.0)
    stale, fresh, late = [await _ready(pool) for _ in range(3)]
    pool.release(stale, now=100.0)
    pool.release(fresh, now=101.0)
    assert pool.take_idle(now=105.0) is fresh  # idle 4 s: still fine
    assert pool.take_idle(now=105.0) is None  # idle exactly 5 s: dropped and closed
    assert not stale.is_connected()
    pool.release(fresh, now=110.0)
    pool.release(late, now=115.0)  # a release also closes the oldest idle one when stale
    assert not fresh.is_connected()
    assert len(pool) == 1
    assert pool.take_idle(now=115.0) is late


async def test_max_idle_bounds_the_idle_list_and_closes_the_extra_connections(
    make_pool: PoolFactory,
) -> None:
    pool = make_pool(max_idle=2)
    protocols = [await _ready(pool) for _ in range(3)]
    for protocol in protocols:
        pool.release(protocol, now=0.0)
    assert not protocols[2].is_connected()
    assert len(pool) == 2
    assert pool.take_idle(now=0.0) is protocols[1]
    assert pool.take_idle(now=0.0) is protocols[0]
    assert pool.take_idle(now=0.0) is None


async def test_a_connection_the_server_closed_while_idle_is_skipped(
    server: RawServer, make_pool: PoolFactory
) -> None:
    pool = make_pool()
    live, dead = await _ready(pool), await _ready(pool, "/hangup")
    pool.release(live, now=0.0)
    pool.release(dead, now=1.0)
    closed = dead.closed
    assert closed is not None
    server.hangup.set()
    async with asyncio.timeout(2):
        await closed
    assert pool.take_idle(now=2.0) is live
    assert len(pool) == 1
    assert pool.take_idle(now=2.0) is None


async def test_close_closes_idle_and_in_use_connections(
    server: RawServer, make_pool: PoolFactory
) -> None:
    pool = make_pool()
    idle, busy = await _ready(pool), await _ready(pool)
    pool.release(idle, now=0.0)
    pool.close()
    assert pool.closed
    assert len(pool) == 0
    assert not idle.is_connected()
    assert not busy.is_connected()
    assert pool.take_idle(now=0.0) is None
    await server.settled()  # the server saw both sockets shut
    pool.release(busy, now=0.0)  # a late release after close keeps nothing
    pool.close()  # and closing twice is harmless
    assert len(pool) == 0


class GatedPool(ConnectionPool):
    """Holds each new connection at ``gate`` once its socket is open (to close meanwhile)."""

    def __init__(self, origin: Origin) -> None:
        super().__init__(origin, max_idle=8)
        self.gate = asyncio.Event()
        self.opened: list[ResponseHandler] = []
        self.socket_open = asyncio.Event()

    async def _create_connection(
        self, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.BaseTransport, ResponseHandler]:
        made = await super()._create_connection(loop)
        self.opened.append(made[1])
        self.socket_open.set()
        await self.gate.wait()
        return made


@pytest.mark.parametrize("when", ["after-close", "while-connecting"])
async def test_connect_on_a_closed_pool_raises_and_leaves_nothing_open(
    server: RawServer, when: str
) -> None:
    pool = GatedPool(Origin.of(URL(server.url)))
    if when == "after-close":
        pool.close()
        pool.gate.set()
    task = asyncio.create_task(pool.connect())
    if when == "while-connecting":
        async with asyncio.timeout(2):
            await pool.socket_open.wait()
        pool.close()
        pool.gate.set()
    with pytest.raises(ConnectionAbortedError, match="closed"):
        await task
    assert len(pool) == 0
    # Closed first: refused before any socket opens. Closed while connecting: closed again.
    expected = [] if when == "after-close" else [False]
    assert [protocol.is_connected() for protocol in pool.opened] == expected
    await server.settled()


async def test_discarded_connections_leave_no_resource_warning(
    server: RawServer, make_pool: PoolFactory
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pool = make_pool(max_idle=1, keepalive=5.0)
        protocols = [await _ready(pool), await _ready(pool, "/close"), await _ready(pool)]
        for protocol in protocols:  # kept, closed (asked), closed (over max_idle)
            pool.release(protocol, now=0.0)
        busy = await _ready(pool)
        assert pool.take_idle(now=10.0) is None  # the kept one went stale
        pool.close()  # and the one in use
        del protocols, busy
        await server.settled()
        gc.collect()
    assert len(pool) == 0
    assert [w.message for w in caught if issubclass(w.category, ResourceWarning)] == []
