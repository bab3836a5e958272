"""The pooled transport's aiohttp internals are probed; without them the client falls back."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import aiohttp.client_proto
import aiohttp.streams
import pytest

from lensmor_async import AsyncLensmor
from lensmor_async.testing import FakeLensmor
from lensmor_async.transport import (
    PooledTransport,
    SessionTransport,
    missing_pooled_internals,
    warn_falling_back,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def fresh_warning_state() -> Iterator[None]:
    """The warning is once per process; each test starts from a process that has not warned."""
    warn_falling_back.cache_clear()
    yield
    warn_falling_back.cache_clear()


def test_this_aiohttp_has_everything_the_pooled_transport_needs() -> None:
    assert missing_pooled_internals() is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client = AsyncLensmor("key", base_url="http://127.0.0.1:9")
    assert isinstance(client._transport, PooledTransport)


def test_a_missing_protocol_class_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiohttp.client_proto, "ResponseHandler")
    assert missing_pooled_internals() == "aiohttp.client_proto.ResponseHandler"


def test_a_missing_method_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(aiohttp.streams.StreamReader, "read_nowait")
    assert missing_pooled_internals() == "aiohttp.streams.StreamReader.read_nowait"


async def test_without_the_internals_requests_go_through_the_session_transport(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(aiohttp.client_proto, "ResponseHandler")
    async with FakeLensmor(seed=0) as fake:
        with pytest.warns(RuntimeWarning, match="lacks aiohttp.client_proto.ResponseHandler"):
            client = AsyncLensmor(fake.api_key, base_url=fake.url)
        async with client:
            assert isinstance(client._transport, SessionTransport)
            balance = await client.credits.balance()
        assert balance.total_balance > 0


def test_the_fallback_warns_once_per_process_not_per_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delattr(aiohttp.client_proto, "ResponseHandler")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clients = [AsyncLensmor("key", base_url="http://127.0.0.1:9") for _ in range(3)]
    assert all(isinstance(client._transport, SessionTransport) for client in clients)
    assert [warning.category for warning in caught] == [RuntimeWarning]
    assert caught[0].filename == __file__  # points at the user's line, not the SDK's
