"""SessionTransport on real loopback HTTP: headers, redirects, failures and their mapping.

Tiny ``aiohttp.web`` apps play the server where FakeLensmor cannot misbehave the right
way; FakeLensmor's fault injection covers the rest. No aiohttp, OS or JSON exception
type may reach the caller, and no error text may carry a header or the key.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest
import trustme
from aiohttp import web
from aiohttp.test_utils import TestServer

from lensmor_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncLensmor,
    ConfigurationError,
    CreditGuard,
    LensmorError,
    MalformedResponseError,
    RedirectRefusedError,
    RetryPolicy,
    always_confirm,
)
from lensmor_async._config import load_config
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning
from lensmor_async.transport import (
    PooledTransport,
    Request,
    Response,
    SessionTransport,
    Transport,
    _connections,
)

pytestmark = pytest.mark.anyio

KEY = "uak_transport_test_key_0123456789"
ECHO = "/external/echo"
ONE_ATTEMPT = RetryPolicy(max_attempts=1, no_sleep=True)


class EchoServer:
    """Records every request (method, path, query, headers, body) and answers 200 JSON."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen.append(
            {
                "method": request.method,
                "path": request.path,
                "query": list(request.query.items()),
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        response = web.json_response({"ok": True})
        response.set_cookie("session", "tracking-cookie")
        return response


@pytest.fixture
async def echo() -> AsyncIterator[tuple[EchoServer, str]]:
    server = EchoServer()
    async with TestServer(server.app) as test_server:
        yield server, str(test_server.make_url(""))


TransportFactory = Callable[..., PooledTransport | SessionTransport]


@pytest.fixture(params=[PooledTransport, SessionTransport], ids=["pooled", "session"])
def make_transport(request: pytest.FixtureRequest) -> TransportFactory:
    """Both transports must put the same bytes on the wire and fail the same way."""
    kind: type[PooledTransport | SessionTransport] = request.param

    def make(base_url: str, **options: Any) -> PooledTransport | SessionTransport:
        return kind(load_config(KEY, base_url, **options))

    return make


def _request(**fields: Any) -> Request:
    fields.setdefault("method", "GET")
    fields.setdefault("path", ECHO)
    fields.setdefault("route", ECHO)
    return Request(**fields)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _assert_clean(exc: BaseException, key: str = KEY) -> None:
    """Our type, and no header or key anywhere in the text or the traceback."""
    assert isinstance(exc, LensmorError)
    assert type(exc).__module__.startswith("lensmor_async")
    text = "".join(traceback.format_exception(exc))
    for secret in (key, "Bearer", "Authorization", "x-call-source"):
        assert secret not in str(exc)
        assert secret not in repr(exc)
        assert secret not in text


# ----------------------------------------------------------------------------- protocol


async def test_aiohttp_transport_satisfies_the_transport_protocol(
    echo: tuple[EchoServer, str], make_transport: TransportFactory
) -> None:
    _, url = echo
    transport = make_transport(url)
    assert isinstance(transport, Transport)
    response = await transport.send(_request())
    await transport.aclose()
    assert isinstance(response, Response)
    assert response.status == 200
    assert orjson.loads(response.body) == {"ok": True}
    assert response.headers["Content-Type"].startswith("application/json")


async def test_repr_of_the_transport_never_shows_the_key(
    echo: tuple[EchoServer, str], make_transport: TransportFactory
) -> None:
    _, url = echo
    transport = make_transport(url)
    assert KEY not in repr(transport)
    assert url in repr(transport)


# ----------------------------------------------------------------------------- headers


async def test_free_calls_send_bearer_auth_but_no_call_source(
    echo: tuple[EchoServer, str], make_transport: TransportFactory
) -> None:
    server, url = echo
    transport = make_transport(url)
    await transport.send(_request(query=(("event_id", "101"), ("pageSize", "5"))))
    await transport.aclose()
    (seen,) = server.seen
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    assert seen["headers"]["Accept"] == "application/json"
    assert "x-call-source" not in {h.lower() for h in seen["headers"]}
    assert "Content-Type" not in seen["headers"]
    assert seen["query"] == [("event_id", "101"), ("pageSize", "5")]
    assert seen["method"] == "GET"
    assert seen["path"] == ECHO


@pytest.mark.parametrize("source", ["api", "agent"])
async def test_credit_relevant_calls_also_send_the_call_source(
    echo: tuple[EchoServer, str], source: str, make_transport: TransportFactory
) -> None:
    server, url = echo
    transport = make_transport(url, call_source=source)
    body = orjson.dumps({"event_id": "101"})
    await transport.send(_request(method="POST", body=body, credit_relevant=True))
    await transport.aclose()
    (seen,) = server.seen
    assert seen["headers"]["Authorization"] == f"Bearer {KEY}"
    assert seen["headers"]["x-call-source"] == source
    assert seen["headers"]["Content-Type"] == "application/json"
    assert orjson.loads(seen["body"]) == {"event_id": "101"}


async def test_cookies_set_by_the_server_are_never_sent_back(
    echo: tuple[EchoServer, str], make_transport: TransportFactory
) -> None:
    server, url = echo
    transport = make_transport(url)
    await transport.send(_request())
    await transport.send(_request())
    await transport.aclose()
    assert all("Cookie" not in seen["headers"] for seen in server.seen)


async def test_with_options_call_source_reaches_the_wire_of_paid_calls(
    fake_lensmor: FakeLensmor,
) -> None:
    guard = CreditGuard(confirm=always_confirm)
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, guard=guard, testing=True
    ) as client:
        await client.with_options(call_source="agent").events.unlock("103")
        await client.credits.balance()
    unlocks = fake_lensmor.requests_for("/external/events/{id}/unlock")
    assert [r.headers.get("x-call-source") for r in unlocks] == ["agent"]
    free = [r for r in fake_lensmor.requests if r.route != "/external/events/{id}/unlock"]
    assert free
    assert all("x-call-source" not in r.headers for r in free)
    assert all(r.authorization_valid for r in fake_lensmor.requests)


async def test_free_calls_through_the_client_carry_no_call_source(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    await lensmor_client.events.list(page_size=1)
    await lensmor_client.events.fit_score("101")
    await lensmor_client.actions.precheck("query_event_personnel", {"event_id": "101"})
    assert len(fake_lensmor.requests) == 3
    for recorded in fake_lensmor.requests:
        assert recorded.authorization_present
        assert recorded.authorization_valid
        assert "x-call-source" not in recorded.headers


# ----------------------------------------------------------------------------- redirects


@pytest.fixture
async def redirect_target() -> AsyncIterator[tuple[list[str], str]]:
    hits: list[str] = []

    async def steal(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return web.json_response({"stolen": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", steal)
    async with TestServer(app) as server:
        yield hits, str(server.make_url("/steal"))


async def _redirecting_server(status: int, location: str) -> TestServer:
    async def redirect(_: web.Request) -> web.Response:
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", redirect)
    return TestServer(app)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_transport_returns_a_redirect_without_following_it(
    redirect_target: tuple[list[str], str], status: int, make_transport: TransportFactory
) -> None:
    hits, location = redirect_target
    async with await _redirecting_server(status, location) as server:
        transport = make_transport(str(server.make_url("")))
        response = await transport.send(_request(method="POST", body=b"{}"))
        await transport.aclose()
    assert response.status == status
    assert hits == []


@pytest.mark.parametrize("status", [302, 307])
async def test_client_raises_redirect_refused_and_the_target_gets_no_request(
    redirect_target: tuple[list[str], str], status: int
) -> None:
    hits, location = redirect_target
    async with (
        await _redirecting_server(status, location) as server,
        AsyncLensmor(KEY, base_url=str(server.make_url("")), testing=True) as client,
    ):
        with pytest.raises(RedirectRefusedError) as info:
            await client.credits.balance()
    assert info.value.status == status
    assert info.value.request_sent is True
    assert hits == []
    assert location not in str(info.value)
    _assert_clean(info.value)


async def test_fake_cross_origin_redirect_is_refused_once_and_not_retried(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.inject(FaultKind.REDIRECT_CROSS_ORIGIN)
    with pytest.raises(RedirectRefusedError) as info:
        await lensmor_client.events.list()
    assert info.value.status == 302
    assert len(fake_lensmor.requests) == 1
    _assert_clean(info.value, fake_lensmor.api_key)


# ----------------------------------------------------------------------------- connection


async def test_connection_refused_is_api_connection_error_not_sent(
    make_transport: TransportFactory,
) -> None:
    transport = make_transport(f"http://127.0.0.1:{_free_port()}")
    with pytest.raises(APIConnectionError) as info:
        await transport.send(_request())
    await transport.aclose()
    assert info.value.request_sent is False
    assert ECHO in str(info.value)
    _assert_clean(info.value)


async def test_connection_refused_through_the_client_stays_not_sent() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    async with AsyncLensmor(KEY, base_url=url, testing=True) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.credits.balance()
    assert info.value.request_sent is False
    _assert_clean(info.value)


async def test_connection_reset_before_an_answer_is_api_connection_error_sent(
    fake_lensmor: FakeLensmor,
) -> None:
    # A POST: aiohttp re-sends idempotent methods on its own, which would hide the reset.
    fake_lensmor.inject(FaultKind.RESET_BEFORE)
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, retry=ONE_ATTEMPT
    ) as client:
        with pytest.raises(APIConnectionError) as info:
            await client.events.fit_score("101")
    assert info.value.request_sent is True
    _assert_clean(info.value, fake_lensmor.api_key)


# ----------------------------------------------------------------------------- timeouts


@pytest.fixture
async def stalling() -> AsyncIterator[str]:
    release = asyncio.Event()

    async def stall(_: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", stall)
    async with TestServer(app) as server:
        try:
            yield str(server.make_url(""))
        finally:
            release.set()


async def _assert_times_out_after_sending(transport: Transport) -> None:
    with pytest.raises(APITimeoutError) as info:
        await transport.send(_request(timeout=0.2))
    await transport.aclose()
    assert info.value.request_sent is True
    _assert_clean(info.value)


async def test_a_stalled_response_is_api_timeout_error(
    stalling: str, make_transport: TransportFactory
) -> None:
    await _assert_times_out_after_sending(make_transport(stalling))


async def test_client_timeout_applies_to_each_attempt(stalling: str) -> None:
    async with AsyncLensmor(KEY, base_url=stalling, timeout=0.2, retry=ONE_ATTEMPT) as client:
        with pytest.raises(APITimeoutError) as info:
            await client.credits.balance()
    assert not isinstance(info.value, asyncio.TimeoutError)
    _assert_clean(info.value)


async def test_fake_commit_then_stall_is_api_timeout_error() -> None:
    tuning = FaultTuning(stall_seconds=10.0)
    async with FakeLensmor(fault_tuning=tuning) as fake:
        fake.inject(FaultKind.COMMIT_THEN_TIMEOUT)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, timeout=0.2, retry=ONE_ATTEMPT
        ) as client:
            with pytest.raises(APITimeoutError) as info:
                await client.events.list()
    _assert_clean(info.value, fake.api_key)


# ----------------------------------------------------------------------------- bodies


async def _body_server(body: bytes, *, chunked: bool) -> TestServer:
    async def answer(request: web.Request) -> web.StreamResponse:
        if not chunked:
            return web.Response(body=body, content_type="application/json")
        stream = web.StreamResponse()
        stream.content_type = "application/json"
        stream.enable_chunked_encoding()
        await stream.prepare(request)
        for start in range(0, len(body), 100):
            await stream.write(body[start : start + 100])
        await stream.write_eof()
        return stream

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    return TestServer(app)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_over_the_cap_is_malformed_response(
    chunked: bool, make_transport: TransportFactory
) -> None:
    body = b'{"items":[' + b'"x",' * 500 + b'"x"]}'
    async with await _body_server(body, chunked=chunked) as server:
        transport = make_transport(str(server.make_url("")), max_body_bytes=1024)
        with pytest.raises(MalformedResponseError) as info:
            await transport.send(_request())
        await transport.aclose()
    assert "1024" in str(info.value)
    assert info.value.status == 200
    _assert_clean(info.value)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_body_within_the_cap_is_returned_whole(
    chunked: bool, make_transport: TransportFactory
) -> None:
    body = b'{"items":[' + b'"x",' * 200 + b'"x"]}'
    async with await _body_server(body, chunked=chunked) as server:
        transport = make_transport(str(server.make_url("")), max_body_bytes=len(body))
        response = await transport.send(_request())
        await transport.aclose()
    assert response.body == body


async def test_fake_oversized_body_is_refused_by_the_default_cap(fake_lensmor: FakeLensmor) -> None:
    fake_lensmor.inject(FaultKind.OVERSIZED_BODY)
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.events.list()
    _assert_clean(info.value, fake_lensmor.api_key)


async def test_truncated_body_is_malformed_response(fake_lensmor: FakeLensmor) -> None:
    fake_lensmor.inject(FaultKind.TRUNCATED_BODY)
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, retry=ONE_ATTEMPT
    ) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.events.list()
    assert "truncated" in str(info.value)
    _assert_clean(info.value, fake_lensmor.api_key)


async def test_non_json_success_body_is_malformed_response(fake_lensmor: FakeLensmor) -> None:
    fake_lensmor.inject(FaultKind.MALFORMED_BODY)
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
        with pytest.raises(MalformedResponseError) as info:
            await client.credits.balance()
    assert info.value.status == 200
    # The body (an HTML page) is not quoted back.
    assert "Bad Gateway" not in str(info.value)
    _assert_clean(info.value, fake_lensmor.api_key)


# ----------------------------------------------------------------------------- no leaks


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.RESET_BEFORE,
        FaultKind.COMMIT_THEN_DROP,
        FaultKind.MALFORMED_BODY,
        FaultKind.TRUNCATED_BODY,
        FaultKind.OVERSIZED_BODY,
        FaultKind.REDIRECT_CROSS_ORIGIN,
        FaultKind.HTTP_500_BEFORE,
        FaultKind.RATE_LIMIT_GARBAGE,
    ],
)
async def test_no_third_party_exception_type_ever_escapes(
    fake_lensmor: FakeLensmor, kind: FaultKind
) -> None:
    fake_lensmor.inject(kind)
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, retry=ONE_ATTEMPT
    ) as client:
        with pytest.raises(LensmorError) as info:
            await client.events.fit_score("101")
    assert not isinstance(info.value, aiohttp.ClientError | orjson.JSONDecodeError | OSError)
    _assert_clean(info.value, fake_lensmor.api_key)


async def test_a_closed_transport_refuses_to_send_without_io(
    echo: tuple[EchoServer, str], make_transport: TransportFactory
) -> None:
    server, url = echo
    transport = make_transport(url)
    await transport.send(_request())
    await transport.aclose()
    await transport.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        await transport.send(_request())
    assert len(server.seen) == 1


async def test_caller_owned_session_is_used_and_never_closed(
    echo: tuple[EchoServer, str],
) -> None:
    server, url = echo
    async with aiohttp.ClientSession() as session:
        transport = SessionTransport(load_config(KEY, url), session)
        await transport.send(_request())
        await transport.aclose()
        assert session.closed is False
    assert len(server.seen) == 1


# ----------------------------------------------------------------------------- pooled connections

_OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'
Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Any]


class ScriptedServer:
    """A raw socket server: each connection runs ``script``; counts connections."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Script], Any]]:
    servers: list[asyncio.Server] = []

    async def start(script: Script) -> tuple[ScriptedServer, str]:
        state = ScriptedServer(script)
        server = await asyncio.start_server(state._handle, "127.0.0.1", 0)
        servers.append(server)
        return state, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


async def _each_request(reader: asyncio.StreamReader, answer: bytes, *, limit: int = 100) -> Any:
    """Yield once per request head read from the connection (bodies are not expected)."""
    for _ in range(limit):
        await reader.readuntil(b"\r\n\r\n")
        yield answer


def _answering(answer: bytes) -> Script:
    """A keep-alive script: ``answer`` to every request on the connection."""

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for reply in _each_request(reader, answer):
            writer.write(reply)

    return script


def _pooled(url: str, **options: Any) -> PooledTransport:
    return PooledTransport(load_config(KEY, url, **options))


async def test_pooled_requests_reuse_one_keep_alive_connection(
    scripted: Callable[[Script], Any],
) -> None:
    server, url = await scripted(_answering(_OK))
    transport = _pooled(url)
    bodies = [(await transport.send(_request())).body for _ in range(5)]
    await transport.aclose()
    assert bodies == [b'{"ok":true}'] * 5
    assert server.connections == 1


async def test_a_connection_the_server_closes_is_not_reused(
    scripted: Callable[[Script], Any],
) -> None:
    async def one_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_OK)
        await writer.drain()  # then the handler returns and the server closes the socket

    server, url = await scripted(one_per_connection)
    transport = _pooled(url)
    first = await transport.send(_request())
    await asyncio.sleep(0.05)  # let the FIN arrive while the connection is idle
    second = await transport.send(_request())
    await transport.aclose()
    assert first.status == second.status == 200
    assert server.connections == 2


async def test_connection_close_responses_are_not_kept_for_reuse(
    scripted: Callable[[Script], Any],
) -> None:
    closing = _OK.replace(b"Content-Length", b"Connection: close\r\nContent-Length")

    server, url = await scripted(_answering(closing))
    transport = _pooled(url)
    for _ in range(3):
        assert (await transport.send(_request())).status == 200
    await transport.aclose()
    assert server.connections == 3


async def test_an_unasked_for_answer_on_an_idle_connection_is_never_taken_as_a_response(
    scripted: Callable[[Script], Any],
) -> None:
    stale = _OK.replace(b'{"ok":true}', b'{"no":true}')

    async def chatty(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async for answer in _each_request(reader, _OK):
            writer.write(answer)
            await writer.drain()
            await asyncio.sleep(0.02)  # after the client has put the connection back
            writer.write(stale)  # nobody asked for this one

    server, url = await scripted(chatty)
    transport = _pooled(url)
    first = await transport.send(_request())
    await asyncio.sleep(0.1)  # the stray answer arrives while the connection is idle
    second = await transport.send(_request())
    await transport.aclose()
    assert first.body == second.body == b'{"ok":true}'
    assert server.connections == 2


async def test_interim_1xx_answers_are_skipped(scripted: Callable[[Script], Any]) -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n"

    _, url = await scripted(_answering(hints + _OK))
    transport = _pooled(url)
    response = await transport.send(_request())
    await transport.aclose()
    assert (response.status, response.body) == (200, b'{"ok":true}')


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_large_body_arriving_in_pieces_is_returned_whole(chunked: bool) -> None:
    body = b'{"items":[' + b'"xxxxxxxx",' * 200_000 + b'"x"]}'  # about 2 MiB
    async with await _body_server(body, chunked=chunked) as server:
        transport = _pooled(str(server.make_url("")))
        response = await transport.send(_request())
        again = await transport.send(_request())  # and the connection is fit to reuse
        await transport.aclose()
    assert response.body == body
    assert again.body == body


async def test_gzip_bodies_are_decompressed() -> None:
    async def gzipped(_: web.Request) -> web.Response:
        response = web.json_response({"ok": True, "pad": "x" * 5000})
        response.enable_compression(web.ContentCoding.gzip)
        return response

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", gzipped)
    async with TestServer(app) as server:
        transport = _pooled(str(server.make_url("")))
        response = await transport.send(_request())
        await transport.aclose()
    assert response.headers["Content-Encoding"] == "gzip"
    assert orjson.loads(response.body) == {"ok": True, "pad": "x" * 5000}


async def test_a_body_that_stalls_midway_times_out_as_sent(
    scripted: Callable[[Script], Any],
) -> None:
    async def stall_in_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial":')
        await asyncio.sleep(5)

    _, url = await scripted(stall_in_body)
    await _assert_times_out_after_sending(_pooled(url))


async def test_a_cancelled_request_closes_its_connection_and_stays_cancelled(
    stalling: str,
) -> None:
    transport = _pooled(stalling)
    task = asyncio.create_task(transport.send(_request()))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(transport._pool) == 0
    await transport.aclose()


async def test_closing_the_transport_fails_requests_in_flight_as_sent(stalling: str) -> None:
    transport = _pooled(stalling)
    task = asyncio.create_task(transport.send(_request()))
    await asyncio.sleep(0.1)
    await transport.aclose()
    with pytest.raises(APIConnectionError) as info:
        await task
    assert info.value.request_sent is True
    assert len(transport._pool) == 0


async def test_concurrent_requests_each_get_a_connection_and_all_return_to_the_pool(
    echo: tuple[EchoServer, str],
) -> None:
    server, url = echo
    transport = _pooled(url)
    responses = await asyncio.gather(*(transport.send(_request()) for _ in range(40)))
    open_after = len(transport._pool)
    await transport.aclose()
    assert [r.status for r in responses] == [200] * 40
    assert len(server.seen) == 40
    assert 1 <= open_after <= 40


# ----------------------------------------------------------------------------- TLS (pooled)


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@asynccontextmanager
async def _tls_echo_server(
    authority: trustme.CA, cert_host: str
) -> AsyncIterator[tuple[EchoServer, str]]:
    """The echo server over TLS, with a certificate for ``cert_host`` signed by ``authority``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(cert_host).configure_cert(context)
    server = EchoServer()
    test_server = TestServer(server.app)
    await test_server.start_server(ssl=context)  # `async with` would start it without TLS
    try:
        yield server, f"https://127.0.0.1:{test_server.port}"
    finally:
        await test_server.close()


@pytest.fixture
async def tls_echo(authority: trustme.CA) -> AsyncIterator[tuple[EchoServer, str]]:
    async with _tls_echo_server(authority, "127.0.0.1") as served:
        yield served


def _trusting(authority: trustme.CA | None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if authority is not None:
        authority.configure_trust(context)
    return context


async def test_tls_connections_are_verified_and_reused(
    tls_echo: tuple[EchoServer, str], authority: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_connections, "default_ssl_context", lambda: _trusting(authority))
    server, url = tls_echo
    transport = _pooled(url)
    responses = [await transport.send(_request()) for _ in range(3)]
    assert len(transport._pool) == 1
    await transport.aclose()
    assert [orjson.loads(r.body) for r in responses] == [{"ok": True}] * 3
    assert server.seen[0]["headers"]["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("trusted", "cert_host"),
    [(False, "127.0.0.1"), (True, "api.example.test")],
    ids=["untrusted-authority", "other-host-name"],
)
async def test_a_certificate_that_fails_verification_is_refused_before_anything_is_sent(
    authority: trustme.CA, monkeypatch: pytest.MonkeyPatch, trusted: bool, cert_host: str
) -> None:
    trust = authority if trusted else None
    monkeypatch.setattr(_connections, "default_ssl_context", lambda: _trusting(trust))
    async with _tls_echo_server(authority, cert_host) as (server, url):
        transport = _pooled(url)
        with pytest.raises(APIConnectionError) as info:
            await transport.send(_request())
        await transport.aclose()
    assert info.value.request_sent is False
    assert server.seen == []
    _assert_clean(info.value)


def test_the_default_tls_context_verifies_certificates_and_host_names() -> None:
    context = _connections.default_ssl_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True
    assert _connections.default_ssl_context() is context  # built once per process
