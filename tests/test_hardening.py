"""Hardening: the API key never escapes, hostile server text is defused, refusals are typed.

Real failures are produced end to end (FakeLensmor faults, stub servers, raw sockets)
and every way an error can be shown or shipped is searched for the key: ``str``,
``repr``, ``args``, the chained causes, ``traceback.format_exception`` and pickles.
"""

from __future__ import annotations

import copy
import pickle
import re
import socket
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from chaos_support import (
    RawServer,
    StubServer,
    answer,
    envelope,
    exception_texts,
    raw_response,
    secret_fragments,
)

from lensmor_async import (
    APIConnectionError,
    AsyncLensmor,
    AuthenticationError,
    BadRequestError,
    CreditGuard,
    LensmorError,
    MalformedResponseError,
    RateLimitError,
    RedirectRefusedError,
    Secret,
    ServerError,
    SpendInDoubtError,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning

pytestmark = pytest.mark.anyio

KEY = "uak_hardening_secret_key_0123456789abcdef"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _leaks(key: str, texts: list[str]) -> list[str]:
    return [text[:160] for text in texts if any(f in text for f in secret_fragments(key))]


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    tuning = FaultTuning(stall_seconds=10.0, oversized_bytes=256 * 1024)
    async with FakeLensmor(api_key=KEY, task_step_seconds=0.01, fault_tuning=tuning) as server:
        yield server


# --------------------------------------------------------------------------- the secret


@pytest.mark.parametrize("length", [1, 4, 8, 15, 16, 17, 40, 200])
def test_secret_repr_shows_at_most_the_last_four_characters(length: int) -> None:
    key = "".join(chr(ord("a") + n % 26) for n in range(length - 4)) + "WXYZ"
    key = key[-length:]
    shown = repr(Secret(key))
    visible = shown.removeprefix("Secret('").removesuffix("')").lstrip("*")
    assert len(visible) <= 4
    assert visible == "" or key.endswith(visible)
    assert str(Secret(key)) == shown


def test_the_key_is_absent_from_the_repr_of_client_config_guard_and_copies() -> None:
    client = AsyncLensmor(KEY, base_url="https://api.example.com", guard=CreditGuard())
    copy_ = client.with_options(timeout=5.0)
    shown = [
        repr(client),
        str(client),
        repr(client.config),
        str(client.config),
        repr(client.guard),
        repr(copy_),
        repr(copy_.config),
        repr(vars(client)),
    ]
    assert _leaks(KEY, shown) == []


def test_pickling_the_client_is_refused_without_showing_the_key() -> None:
    client = AsyncLensmor(KEY, base_url="https://api.example.com")
    for attempt in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError) as caught:
            attempt(client)
        assert _leaks(KEY, exception_texts(caught.value)) == []


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_pickling_the_config_is_refused_because_the_key_never_pickles(protocol: int) -> None:
    client = AsyncLensmor(KEY, base_url="https://api.example.com")
    with pytest.raises(TypeError) as caught:
        pickle.dumps(client.config, protocol=protocol)
    assert _leaks(KEY, exception_texts(caught.value)) == []


# --------------------------------------------------------------------------- real failures


async def _error_of(client: AsyncLensmor, *, paid: bool = False) -> LensmorError:
    call = client.events.unlock("101") if paid else client.events.list()
    with pytest.raises(LensmorError) as caught:
        await call
    return caught.value


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (FaultKind.RESET_BEFORE, APIConnectionError),
        (FaultKind.COMMIT_THEN_DROP, APIConnectionError),
        (FaultKind.MALFORMED_BODY, MalformedResponseError),
        (FaultKind.TRUNCATED_BODY, MalformedResponseError),
        (FaultKind.OVERSIZED_BODY, MalformedResponseError),
        (FaultKind.REDIRECT_CROSS_ORIGIN, RedirectRefusedError),
        (FaultKind.HTTP_500_BEFORE, ServerError),
        (FaultKind.RATE_LIMIT_HUGE, RateLimitError),
    ],
    ids=lambda value: getattr(value, "value", getattr(value, "__name__", "")),
)
async def test_no_read_error_carries_the_key_anywhere(
    fake: FakeLensmor, kind: FaultKind, expected: type[LensmorError]
) -> None:
    fake.inject(kind, count=5, route="/external/events/list")
    async with AsyncLensmor(
        KEY, base_url=fake.url, testing=True, max_body_bytes=64 * 1024
    ) as client:
        error = await _error_of(client)
    assert isinstance(error, expected)
    assert _leaks(KEY, exception_texts(error)) == []


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.COMMIT_THEN_TIMEOUT,
        FaultKind.COMMIT_THEN_DROP,
        FaultKind.MALFORMED_BODY,
        FaultKind.HTTP_500_AFTER,
    ],
    ids=lambda kind: kind.value,
)
async def test_no_paid_call_error_carries_the_key_anywhere(
    fake: FakeLensmor, kind: FaultKind
) -> None:
    fake.inject(kind, route="/external/events/{id}/unlock")
    guard = CreditGuard(always_confirm)
    async with AsyncLensmor(
        KEY, base_url=fake.url, guard=guard, testing=True, timeout=0.5
    ) as client:
        error = await _error_of(client, paid=True)
    assert isinstance(error, SpendInDoubtError)
    assert _leaks(KEY, exception_texts(error)) == []
    assert _leaks(KEY, [repr(record) for record in guard.history]) == []


async def test_a_rejected_key_is_not_echoed_by_the_authentication_error(
    fake: FakeLensmor,
) -> None:
    wrong = "uak_wrong_but_secret_key_9876543210fedcba"
    async with AsyncLensmor(wrong, base_url=fake.url, testing=True) as client:
        error = await _error_of(client)
    assert isinstance(error, AuthenticationError)
    assert _leaks(wrong, exception_texts(error)) == []


async def test_a_refused_connection_error_does_not_carry_the_key() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with AsyncLensmor(KEY, base_url=f"http://127.0.0.1:{port}", testing=True) as client:
        error = await _error_of(client)
    assert isinstance(error, APIConnectionError)
    assert _leaks(KEY, exception_texts(error)) == []


@pytest.mark.parametrize(
    "raw",
    [b"HTTP/1.1 abc OK\r\n\r\n", b"garbage\r\n\r\n"],
    ids=["bad-status-line", "not-http"],
)
async def test_an_invalid_http_answer_is_a_malformed_response(raw: bytes) -> None:
    async with (
        RawServer(raw) as server,
        AsyncLensmor(KEY, base_url=server.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert isinstance(error, MalformedResponseError)
    assert _leaks(KEY, ["".join(traceback.format_exception(error)), str(error)]) == []


@pytest.mark.parametrize(
    "raw",
    [b"HTTP/1.1 abc OK\r\n\r\n", b"garbage\r\n\r\n"],
    ids=["bad-status-line", "not-http"],
)
async def test_an_invalid_http_answer_leaves_no_key_in_the_exception_chain(raw: bytes) -> None:
    async with (
        RawServer(raw) as server,
        AsyncLensmor(KEY, base_url=server.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert _leaks(KEY, exception_texts(error)) == []


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
async def test_errors_pickle_round_trip_without_the_key(fake: FakeLensmor, protocol: int) -> None:
    fake.inject(FaultKind.HTTP_500_BEFORE, count=5, route="/external/events/list")
    fake.inject(FaultKind.COMMIT_THEN_DROP, route="/external/events/{id}/unlock")
    guard = CreditGuard(always_confirm)
    async with AsyncLensmor(KEY, base_url=fake.url, guard=guard, testing=True) as client:
        errors = [await _error_of(client), await _error_of(client, paid=True)]
    for error in errors:
        data = pickle.dumps(error, protocol=protocol)
        assert _leaks(KEY, [data.decode("latin-1")]) == []
        again = pickle.loads(data)
        assert type(again) is type(error)
        assert str(again) == str(error)


# --------------------------------------------------------------------------- hostile server text

HOSTILE = "evil\r\nX-Injected: yes\x1b[31m\u202e\x00" + "A" * 5000


async def test_server_error_messages_are_truncated_and_stripped_of_control_characters() -> None:
    body = envelope(400, HOSTILE, "BAD\nKEY")
    async with (
        StubServer(answer(400, body)) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert isinstance(error, BadRequestError)
    assert len(error.message) <= 300
    for text in (error.message, str(error), error.error_key or ""):
        assert not CONTROL.search(text), repr(text)
        assert "\u202e" not in text
    assert "X-Injected: yes" in error.message  # kept readable, only neutralised


async def test_a_non_json_error_body_is_never_quoted_into_the_error() -> None:
    async with (
        StubServer(answer(502, "<html>" + HOSTILE + "</html>")) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert isinstance(error, ServerError)
    assert "A" * 100 not in str(error)
    assert not CONTROL.search(str(error))


async def test_a_rate_limit_message_is_sanitised_too() -> None:
    async def limited(request: web.Request) -> web.StreamResponse:
        del request
        return web.Response(
            status=429,
            body=envelope(429, HOSTILE, "RATE_LIMIT_EXCEEDED"),
            content_type="application/json",
            headers={"Retry-After": "600"},
        )

    async with (
        StubServer(limited) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 600.0
    assert len(str(error)) <= 400
    assert not CONTROL.search(str(error))


async def test_hostile_trace_ids_in_error_text_are_truncated_and_stripped() -> None:
    raw = raw_response(
        envelope(404, "missing").replace(b'"t-1"', b'"' + b"T" * 2000 + b'\\u001b[31m"'),
        status="404 Not Found",
        headers=b"X-Request-ID: x\x1b[31m" + b"Y" * 3000 + b"\r\n",
    )
    async with (
        RawServer(raw) as server,
        AsyncLensmor(KEY, base_url=server.url, testing=True) as client,
    ):
        error = await _error_of(client)
    assert not CONTROL.search(str(error))
    assert len(str(error)) <= 500
    trace_id: Any = getattr(error, "trace_id", "")
    assert len(trace_id or "") <= 120
