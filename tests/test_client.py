"""AsyncLensmor: construction, env loading, URL policy, secrecy, session ownership, copies.

Every network test talks to FakeLensmor (or a tiny aiohttp app) on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import pickle
import warnings
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest
import trio
from aiohttp import web
from aiohttp.test_utils import TestServer

from lensmor_async import (
    APIConnectionError,
    AsyncLensmor,
    ConfigurationError,
    CreditGuard,
    RateLimitInfo,
    RetryPolicy,
    Secret,
    always_confirm,
)
from lensmor_async.models import CreditBalance
from lensmor_async.testing import FakeLensmor
from lensmor_async.transport import Request, Response

pytestmark = pytest.mark.anyio

KEY = "uak_live_0123456789abcdefSECRET"
BALANCE = "/external/credits/balance"


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests must not depend on the developer's LENSMOR_* variables."""
    monkeypatch.delenv("LENSMOR_API_KEY", raising=False)
    monkeypatch.delenv("LENSMOR_BASE_URL", raising=False)


class _CountingSession:
    """A caller-owned aiohttp session whose requests are counted by a TraceConfig."""

    def __init__(self) -> None:
        self.started = 0
        trace = aiohttp.TraceConfig()
        trace.on_request_start.append(self._on_start)
        self.session = aiohttp.ClientSession(trace_configs=[trace])

    async def _on_start(self, *_: Any) -> None:
        self.started += 1


@pytest.fixture
async def counting_session() -> AsyncIterator[_CountingSession]:
    counting = _CountingSession()
    try:
        yield counting
    finally:
        await counting.session.close()


# ----------------------------------------------------------------------------- construction


def test_client_can_be_built_without_a_running_loop(no_env: None) -> None:
    # The pooled session is created lazily inside the loop, so construction needs none.
    client = AsyncLensmor(KEY)
    assert client.config.base_url == "https://platform.lensmor.com"
    assert client.config.call_source == "api"
    assert client.config.timeout == 30.0
    assert client.config.testing is False


def test_client_exposes_every_resource_group(no_env: None) -> None:
    client = AsyncLensmor(KEY)
    for name in (
        "credits",
        "actions",
        "events",
        "exhibitors",
        "personnel",
        "contacts",
        "profile_matching",
    ):
        assert getattr(client, name) is not None


def test_testing_mode_shortens_polls_and_disables_backoff_sleeps(no_env: None) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1", testing=True)
    assert client.config.testing is True
    assert max(client.config.poll_intervals) < 0.1
    assert client.config.retry.no_sleep is True


def test_client_accepts_a_secret_as_the_key(no_env: None) -> None:
    client = AsyncLensmor(Secret(KEY))
    assert client.config.api_key.get_secret_value() == KEY


def test_missing_key_without_environment_is_a_configuration_error(no_env: None) -> None:
    with pytest.raises(ConfigurationError, match="LENSMOR_API_KEY"):
        AsyncLensmor()


def test_empty_key_is_a_configuration_error(no_env: None) -> None:
    with pytest.raises(ConfigurationError):
        AsyncLensmor("")


@pytest.mark.parametrize("bad", ["abc\r\nX-Evil: 1", "abc\ndef", "abc\x00"])
def test_key_with_control_characters_is_refused_before_any_io(no_env: None, bad: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncLensmor(bad)
    assert bad not in str(info.value)


@pytest.mark.parametrize(
    ("option", "value"),
    [("call_source", "robot"), ("timeout", 0), ("timeout", -1.0), ("max_concurrency", 0)],
)
def test_bad_options_are_configuration_errors(no_env: None, option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError):
        AsyncLensmor(KEY, **{option: value})


# ----------------------------------------------------------------------------- environment


async def test_key_and_base_url_are_read_from_the_environment(
    fake_lensmor: FakeLensmor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", fake_lensmor.api_key)
    monkeypatch.setenv("LENSMOR_BASE_URL", fake_lensmor.url)
    async with AsyncLensmor(testing=True) as client:
        balance = await client.credits.balance()
    assert isinstance(balance, CreditBalance)
    (request,) = fake_lensmor.requests
    assert request.authorization_valid
    assert request.path == BALANCE


async def test_explicit_arguments_beat_the_environment(
    fake_lensmor: FakeLensmor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "uak_wrong_key_from_env")
    monkeypatch.setenv("LENSMOR_BASE_URL", "https://platform.lensmor.com")
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url, testing=True) as c:
        await c.credits.balance()
    (request,) = fake_lensmor.requests
    assert request.authorization_valid


def test_default_base_url_is_the_production_platform(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", KEY)
    monkeypatch.delenv("LENSMOR_BASE_URL", raising=False)
    assert AsyncLensmor().config.base_url == "https://platform.lensmor.com"


def test_insecure_base_url_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", KEY)
    monkeypatch.setenv("LENSMOR_BASE_URL", "http://api.example.com")
    with pytest.raises(ConfigurationError, match="loopback"):
        AsyncLensmor()


# ----------------------------------------------------------------------------- URL policy


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.0.0.2",
        "http://localhost:9000",
        "http://LOCALHOST",
        "http://[::1]:8080",
        "https://platform.lensmor.com",
        "https://api.example.com/base/",
    ],
)
def test_https_anywhere_and_http_on_loopback_are_accepted(no_env: None, url: str) -> None:
    client = AsyncLensmor(KEY, base_url=url)
    assert client.config.base_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    [
        "http://platform.lensmor.com",
        "http://example.com",
        "http://10.0.0.1",
        "http://192.168.1.20:8080",
        "http://127.0.0.1.nip.io",
        "http://localhost.evil.com",
        "http://[::2]",
        "http://0.0.0.0",
    ],
)
def test_plain_http_to_a_non_loopback_host_is_refused(no_env: None, url: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        AsyncLensmor(KEY, base_url=url)


@pytest.mark.parametrize(
    "url",
    ["ftp://127.0.0.1", "127.0.0.1:8080", "https://user:pw@api.example.com", "https://x.com/?a=1"],
)
def test_unusable_base_urls_are_refused(no_env: None, url: str) -> None:
    with pytest.raises(ConfigurationError):
        AsyncLensmor(KEY, base_url=url)


# ----------------------------------------------------------------------------- secrecy


def test_repr_and_str_never_show_the_key(no_env: None) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1")
    copy = client.with_options(call_source="agent")
    for text in (repr(client), str(client), repr(client.config), repr(copy), str(copy)):
        assert KEY not in text
        assert "SECRET" not in text
    assert "127.0.0.1" in repr(client)


def test_client_cannot_be_pickled_and_the_error_hides_the_key(no_env: None) -> None:
    client = AsyncLensmor(KEY)
    with pytest.raises(TypeError) as info:
        pickle.dumps(client)
    assert KEY not in str(info.value)


def test_configuration_errors_never_echo_the_key(no_env: None) -> None:
    with pytest.raises(ConfigurationError) as info:
        AsyncLensmor(KEY, base_url="http://example.com")
    assert KEY not in str(info.value)


# ----------------------------------------------------------------------------- sessions


async def test_caller_owned_session_carries_the_requests_and_stays_open(
    fake_lensmor: FakeLensmor, counting_session: _CountingSession
) -> None:
    session = counting_session.session
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, session=session, testing=True
    ) as client:
        await client.credits.balance()
        await client.events.list(page_size=1)
    assert counting_session.started == 2
    assert session.closed is False
    # The session still works for its owner after the client is gone.
    async with session.get(f"{fake_lensmor.url}{BALANCE}") as response:
        assert response.status == 401


async def test_aclose_is_idempotent_and_refuses_later_calls_without_io(
    fake_lensmor: FakeLensmor,
) -> None:
    client = AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url, testing=True)
    await client.credits.balance()
    await client.aclose()
    await client.aclose()
    fake_lensmor.reset_requests()
    with pytest.raises(ConfigurationError, match="closed"):
        await client.credits.balance()
    assert fake_lensmor.requests == []


async def test_a_call_on_a_closed_client_fails_at_once_without_retries(
    no_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1", testing=True)
    await client.aclose()
    with (
        caplog.at_level(logging.INFO, logger="lensmor_async"),
        pytest.raises(ConfigurationError, match="closed"),
    ):
        await client.credits.balance()
    attempts = [r for r in caplog.records if "attempt" in r.getMessage()]
    assert attempts == []


async def test_context_manager_closes_and_a_later_aclose_is_harmless(
    fake_lensmor: FakeLensmor,
) -> None:
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, testing=True
    ) as client:
        await client.credits.balance()
    await client.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        await client.credits.balance()


async def test_closing_an_unused_client_is_fine(no_env: None) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1")
    await client.aclose()
    await client.aclose()


async def test_used_and_closed_client_leaves_no_unclosed_session_warning(
    fake_lensmor: FakeLensmor,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
            await client.credits.balance()
            await client.with_options(timeout=5).events.list(page_size=1)
        del client
        gc.collect()
    leaks = [w for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []


async def test_client_that_never_sent_leaves_no_warning_even_unclosed(no_env: None) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1")
        del client
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


async def test_a_used_client_dropped_without_closing_warns_like_an_aiohttp_session(
    fake_lensmor: FakeLensmor,
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url)
        await client.credits.balance()
        del client
        gc.collect()
    ours = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any("dropped without being closed" in message for message in ours), ours


def test_a_client_used_from_a_second_event_loop_says_how_to_fix_it(no_env: None) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1", testing=True)
    with pytest.raises(APIConnectionError):  # binds the client to this first loop
        asyncio.run(client.credits.balance())
    with pytest.raises(ConfigurationError, match="one client per event loop") as caught:
        asyncio.run(client.credits.balance())
    assert KEY not in str(caught.value)
    asyncio.run(client.aclose())


async def test_with_options_copies_belong_to_the_same_loop(fake_lensmor: FakeLensmor) -> None:
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
        await client.credits.balance()
        await client.with_options(timeout=5).credits.balance()  # same loop: fine


# ----------------------------------------------------------------------------- with_options


async def test_with_options_copy_shares_the_session_and_guard(
    fake_lensmor: FakeLensmor, counting_session: _CountingSession
) -> None:
    guard = CreditGuard()
    async with AsyncLensmor(
        fake_lensmor.api_key,
        base_url=fake_lensmor.url,
        session=counting_session.session,
        guard=guard,
        testing=True,
    ) as client:
        copy = client.with_options(call_source="agent", timeout=5.0)
        assert copy is not client
        assert copy.guard is guard
        await client.credits.balance()
        await copy.credits.balance()
    assert counting_session.started == 2
    assert len(fake_lensmor.requests) == 2


async def test_with_options_changes_only_the_copy(no_env: None) -> None:
    client = AsyncLensmor(KEY, base_url="http://127.0.0.1:1", timeout=10.0)
    copy = client.with_options(call_source="agent", timeout=2.5, deadline=7.0)
    assert (copy.config.call_source, copy.config.timeout, copy.config.deadline) == (
        "agent",
        2.5,
        7.0,
    )
    assert (client.config.call_source, client.config.timeout, client.config.deadline) == (
        "api",
        10.0,
        None,
    )
    assert copy.config.api_key == client.config.api_key
    assert copy.config.base_url == client.config.base_url
    await client.aclose()


def test_with_options_validates_its_arguments(no_env: None) -> None:
    client = AsyncLensmor(KEY)
    with pytest.raises(ConfigurationError):
        client.with_options(call_source="robot")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        client.with_options(timeout=-1.0)


async def test_closing_the_copy_leaves_the_shared_session_open(
    fake_lensmor: FakeLensmor,
) -> None:
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
        copy = client.with_options(retry=RetryPolicy(max_attempts=1))
        await copy.credits.balance()
        await copy.aclose()
        await client.credits.balance()
        await copy.credits.balance()
    assert len(fake_lensmor.requests) == 3


async def test_closing_the_original_closes_the_copies_too(fake_lensmor: FakeLensmor) -> None:
    client = AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url, testing=True)
    copy = client.with_options(timeout=5.0)
    await copy.credits.balance()
    await client.aclose()
    with pytest.raises(ConfigurationError, match="closed"):
        await copy.credits.balance()
    assert len(fake_lensmor.requests) == 1


async def test_with_options_copy_reuses_the_pooled_connection() -> None:
    peers: list[object] = []

    async def handler(request: web.Request) -> web.Response:
        peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        return web.json_response(_balance_body())

    app = web.Application()
    app.router.add_get("/external/credits/balance", handler)
    async with TestServer(app) as server:
        base = str(server.make_url(""))
        async with AsyncLensmor(KEY, base_url=base, testing=True) as client:
            copy = client.with_options(call_source="agent")
            await client.credits.balance()
            await copy.credits.balance()
    assert len(peers) == 2
    assert peers[0] == peers[1]


# ----------------------------------------------------------------------------- rate limit


async def test_rate_limit_is_none_before_any_response(no_env: None) -> None:
    client = AsyncLensmor(KEY)
    assert client.rate_limit is None
    await client.aclose()


async def test_rate_limit_reflects_the_last_response_headers() -> None:
    async with (
        FakeLensmor(rate_limit=500, rate_limit_window=3600) as fake,
        AsyncLensmor(fake.api_key, base_url=fake.url, testing=True) as client,
    ):
        await client.credits.balance()
        first = client.rate_limit
        await client.events.list(page_size=1)
        second = client.rate_limit
    assert isinstance(first, RateLimitInfo)
    assert isinstance(second, RateLimitInfo)
    assert (first.limit, first.remaining) == (500, 499)
    assert (second.limit, second.remaining) == (500, 498)
    assert isinstance(first.reset, int)
    assert first.reset > 1_700_000_000


async def test_rate_limit_is_shared_with_with_options_copies(fake_lensmor: FakeLensmor) -> None:
    async with AsyncLensmor(fake_lensmor.api_key, base_url=fake_lensmor.url) as client:
        copy = client.with_options(call_source="agent")
        await copy.credits.balance()
        assert client.rate_limit is not None
        assert client.rate_limit == copy.rate_limit
        assert client.rate_limit.limit == fake_lensmor.rate_limit


async def test_rate_limit_keeps_the_last_known_values_when_headers_are_absent() -> None:
    async def with_headers(_: web.Request) -> web.Response:
        return web.json_response(
            _balance_body(),
            headers={
                "X-RateLimit-Limit": "120",
                "X-RateLimit-Remaining": "119",
                "X-RateLimit-Reset": "1714521600",
            },
        )

    async def without_headers(_: web.Request) -> web.Response:
        return web.json_response({"items": [], "total": 0, "page": 1, "pageSize": 20,
                                  "totalPages": 0, "hasMore": False})  # fmt: skip

    app = web.Application()
    app.router.add_get("/external/credits/balance", with_headers)
    app.router.add_get("/external/events/list", without_headers)
    async with (
        TestServer(app) as server,
        AsyncLensmor(KEY, base_url=str(server.make_url(""))) as client,
    ):
        await client.credits.balance()
        await client.events.list()
        assert client.rate_limit == RateLimitInfo(limit=120, remaining=119, reset=1714521600)


# ----------------------------------------------------------------------------- transport


class _RecordingTransport:
    """A Transport that answers every request with one canned balance."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.closed = 0

    async def send(self, request: Request) -> Response:
        self.requests.append(request)
        return Response(status=200, headers={}, body=orjson.dumps(_balance_body()))

    async def aclose(self) -> None:
        self.closed += 1


async def test_a_custom_transport_receives_prepared_requests(no_env: None) -> None:
    transport = _RecordingTransport()
    async with AsyncLensmor(KEY, transport=transport) as client:
        balance = await client.credits.balance()
    assert balance.total_balance == 1050
    (request,) = transport.requests
    assert (request.method, request.path, request.route) == ("GET", BALANCE, BALANCE)
    assert request.body is None
    assert request.credit_relevant is False
    # A transport passed in is the caller's: the client does not close it.
    assert transport.closed == 0


def _balance_body() -> dict[str, Any]:
    return {
        "totalAmount": 1100,
        "totalBalance": 1050,
        "subscriptionAmount": 1000,
        "subscriptionBalance": 1000,
        "giftAmount": 100,
        "giftBalance": 50,
        "resetAt": None,
    }


# ----------------------------------------------------------------------------- event loop


def test_under_trio_a_free_call_is_a_configuration_error_before_any_request(
    no_env: None,
) -> None:
    transport = _RecordingTransport()

    async def main() -> None:
        client = AsyncLensmor(KEY, transport=transport)
        with pytest.raises(ConfigurationError, match="asyncio"):
            await client.credits.balance()
        with pytest.raises(ConfigurationError, match="asyncio"):
            await client.__aenter__()

    trio.run(main)
    assert transport.requests == []


def test_under_trio_a_paid_call_holds_no_credit_and_sends_nothing(no_env: None) -> None:
    transport = _RecordingTransport()
    guard = CreditGuard(confirm=always_confirm, budget=10_000)

    async def main() -> None:
        client = AsyncLensmor(KEY, transport=transport, guard=guard)
        with pytest.raises(ConfigurationError, match="not trio"):
            await client.events.unlock("101")

    trio.run(main)
    assert transport.requests == []
    assert (guard.reserved, guard.spent, guard.history) == (0, 0, ())
