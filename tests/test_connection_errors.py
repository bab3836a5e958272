"""Connection failures say what failed: the server (host:port), the route template and the
cause in words (refused, DNS, TLS, timeout), for both transports; never the key."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from lensmor_async import APIConnectionError, APITimeoutError, AsyncLensmor
from lensmor_async.testing import FakeLensmor
from lensmor_async.transport import Request
from lensmor_async.transport._errors import translate

pytestmark = pytest.mark.anyio
KEY = "uak_live_connection_errors_SECRET_0123"
REQUEST = Request(method="GET", path="/external/credits/balance", route="/external/credits/balance")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["pooled", "session"])
async def make_client(
    request: pytest.FixtureRequest,
) -> AsyncIterator[Callable[[str], AsyncLensmor]]:
    """Build clients over our pooled transport or over a caller's aiohttp session."""
    session = aiohttp.ClientSession() if request.param == "session" else None

    def build(base_url: str) -> AsyncLensmor:
        return AsyncLensmor(KEY, base_url=base_url, testing=True, session=session)

    yield build
    if session is not None:
        await session.close()


async def _failure(client: AsyncLensmor) -> APIConnectionError:
    async with client:
        with pytest.raises(APIConnectionError) as caught:
            await client.credits.balance()
    assert KEY not in str(caught.value)
    return caught.value


async def test_a_refused_connection_names_the_server_and_the_cause(
    make_client: Callable[[str], AsyncLensmor],
) -> None:
    port = _free_port()
    error = await _failure(make_client(f"http://127.0.0.1:{port}"))
    assert str(error) == (
        f"could not connect to 127.0.0.1:{port} for GET /external/credits/balance: "
        "connection refused"
    )
    assert error.request_sent is False


async def test_an_unknown_host_is_a_dns_failure(make_client: Callable[[str], AsyncLensmor]) -> None:
    error = await _failure(make_client("https://lensmor-sdk-test.invalid"))
    assert "lensmor-sdk-test.invalid:443" in str(error)
    assert str(error).endswith("DNS lookup failed")


async def test_tls_to_a_plain_http_server_is_a_tls_failure(
    make_client: Callable[[str], AsyncLensmor],
) -> None:
    async with FakeLensmor() as fake:
        url = fake.url.replace("http://", "https://")
        error = await _failure(make_client(url))
    assert str(error).endswith("TLS handshake failed")
    assert url.removeprefix("https://") in str(error)


@pytest.mark.parametrize(
    ("raised", "cause"),
    [
        (ssl.SSLCertVerificationError("certificate verify failed"), "TLS certificate"),
        (socket.gaierror(-2, "Name or service not known"), "DNS lookup failed"),
        (ConnectionRefusedError(111, "refused"), "connection refused"),
    ],
)
def test_each_connect_cause_is_named(raised: OSError, cause: str) -> None:
    error = translate(raised, REQUEST, server="api.example:443", sent=False)
    assert isinstance(error, APIConnectionError)
    assert "api.example:443" in str(error)
    assert cause in str(error)


def test_a_connect_timeout_is_a_timeout_naming_the_server() -> None:
    error = translate(TimeoutError(), REQUEST, server="api.example:443", sent=False)
    assert isinstance(error, APITimeoutError)
    assert str(error) == "connecting to api.example:443 timed out for GET /external/credits/balance"
    assert error.request_sent is False


def test_aiohttp_wrapped_os_errors_are_unwrapped_for_their_cause() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 443, True, True, None, None, None)
    wrapped = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))
    error = translate(wrapped, REQUEST, server="h:443")
    assert str(error).endswith("connection refused")
