"""Every error answer, through the real client, becomes its class with all its fields.

FakeLensmor produces the statuses it can (400, 401, 404, 429, 500, 503); a tiny
``aiohttp.web`` app produces the rest (402, 403, 409, 422, other 5xx, HTTP-200
business errors, odd bodies).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lensmor_async import (
    APIStatusError,
    AsyncLensmor,
    AuthenticationError,
    BadRequestError,
    ConcurrencyLimitError,
    ConflictError,
    FeatureNotAvailableError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    UnprocessableError,
)
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio

KEY = "uak_errors_mapping_key_0123456789"
BALANCE = "/external/credits/balance"
ONE_ATTEMPT = RetryPolicy(max_attempts=1, no_sleep=True)
TRACE = "2be6d7f4-3b2d-4d11-8e2d-7a2e4c3e9a10"


def _client(fake: FakeLensmor, **options: Any) -> AsyncLensmor:
    options.setdefault("testing", True)
    return AsyncLensmor(options.pop("api_key", fake.api_key), base_url=fake.url, **options)


@pytest.fixture
async def canned() -> AsyncIterator[Callable[[int, Any, Mapping[str, str]], AsyncLensmor]]:
    """A client on a tiny server whose balance route gives one canned answer.

    Call ``canned(status, body, headers)``; ``body`` is JSON-encoded unless it is bytes.
    """
    answer: dict[str, Any] = {"value": (200, b"{}", {})}
    hits: list[int] = []

    async def handler(_: web.Request) -> web.Response:
        status, body, headers = answer["value"]
        hits.append(status)
        return web.Response(
            status=status, body=body, headers=dict(headers), content_type="application/json"
        )

    app = web.Application()
    app.router.add_get(BALANCE, handler)
    async with TestServer(app) as server:
        client = AsyncLensmor(KEY, base_url=str(server.make_url("")), retry=ONE_ATTEMPT)

        def configure(status: int, body: Any, headers: Mapping[str, str]) -> AsyncLensmor:
            raw = body if isinstance(body, bytes) else orjson.dumps(body)
            answer["value"] = (status, raw, headers)
            return client

        async with client:
            yield configure


def envelope(code: int, key: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "errorKey": key, "traceId": TRACE, **extra}


# ----------------------------------------------------------------------------- via FakeLensmor


async def test_server_side_validation_is_bad_request(fake_lensmor: FakeLensmor) -> None:
    # "abc" passes the SDK's id allow-list; the fake wants a numeric exhibitor id.
    async with _client(fake_lensmor) as client:
        with pytest.raises(BadRequestError) as info:
            await client.exhibitors.profile("abc")
    error = info.value
    (recorded,) = fake_lensmor.requests
    assert (error.status, error.error_key) == (400, "INVALID_REQUEST")
    assert error.trace_id == recorded.trace_id
    assert "numeric" in error.message
    # A server-side 400 is an API answer, not a client-side InvalidRequestError.
    assert not isinstance(error, ValueError)


async def test_wrong_key_is_authentication_error(fake_lensmor: FakeLensmor) -> None:
    async with _client(fake_lensmor, api_key="uak_not_the_right_key") as client:
        with pytest.raises(AuthenticationError) as info:
            await client.credits.balance()
    error = info.value
    assert (error.status, error.error_key, error.message) == (
        401,
        "INVALID_API_KEY",
        "Invalid API key",
    )
    assert error.trace_id == fake_lensmor.requests[0].trace_id
    assert "uak_not_the_right_key" not in str(error)
    # 401 is final: never retried.
    assert len(fake_lensmor.requests) == 1


async def test_unknown_event_is_not_found_with_its_error_key(fake_lensmor: FakeLensmor) -> None:
    async with _client(fake_lensmor) as client:
        with pytest.raises(NotFoundError) as info:
            await client.events.get("999999")
    error = info.value
    assert (error.status, error.error_key, error.message) == (
        404,
        "EVENT_NOT_FOUND",
        "Event not found",
    )
    assert error.trace_id == fake_lensmor.requests[0].trace_id
    assert len(fake_lensmor.requests) == 1


async def test_a_404_on_an_unknown_route_names_the_url_path_never_key_or_query(
    fake_lensmor: FakeLensmor,
) -> None:
    # A base URL with a wrong prefix: every route is unknown to the server.
    secret_word = "query-secret-7f3a"
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=f"{fake_lensmor.url}/v9", testing=True
    ) as client:
        with pytest.raises(NotFoundError) as info:
            await client.events.list(keyword=secret_word)
    text = str(info.value)
    assert "GET /v9/external/events/list" in text, text
    assert secret_word not in text
    assert fake_lensmor.api_key not in text
    assert info.value.url_path == "/v9/external/events/list"


async def test_unknown_exhibitor_is_not_found(fake_lensmor: FakeLensmor) -> None:
    async with _client(fake_lensmor) as client:
        with pytest.raises(NotFoundError) as info:
            await client.exhibitors.profile("999999")
    assert (info.value.status, info.value.error_key) == (404, "NOT_FOUND")


async def test_rate_limited_answer_is_rate_limit_error_with_retry_after(
    fake_lensmor: FakeLensmor,
) -> None:
    fake_lensmor.inject(FaultKind.RATE_LIMIT_SECONDS)
    async with _client(fake_lensmor, retry=ONE_ATTEMPT) as client:
        with pytest.raises(RateLimitError) as info:
            await client.events.list()
    error = info.value
    assert (error.status, error.error_key) == (429, "RATE_LIMIT_EXCEEDED")
    assert error.retry_after == 1.0
    assert error.trace_id == fake_lensmor.requests[0].trace_id


async def test_retry_after_beyond_the_cap_is_raised_at_once(fake_lensmor: FakeLensmor) -> None:
    fake_lensmor.inject(FaultKind.RATE_LIMIT_HUGE)
    async with _client(fake_lensmor) as client:
        with pytest.raises(RateLimitError) as info:
            await client.events.list()
    assert info.value.status == 429
    assert info.value.retry_after == 999999999.0
    assert len(fake_lensmor.requests) == 1


@pytest.mark.parametrize(
    ("kind", "status", "key"),
    [
        (FaultKind.HTTP_500_BEFORE, 500, "INTERNAL_ERROR"),
        (FaultKind.HTTP_503_BEFORE, 503, "SERVICE_UNAVAILABLE"),
    ],
)
async def test_server_failures_are_server_error(
    fake_lensmor: FakeLensmor, kind: FaultKind, status: int, key: str
) -> None:
    fake_lensmor.inject(kind, count=10)
    async with _client(fake_lensmor) as client:
        with pytest.raises(ServerError) as info:
            await client.credits.balance()
    error = info.value
    assert (error.status, error.error_key) == (status, key)
    assert error.trace_id == fake_lensmor.requests[-1].trace_id
    # 5xx is transient: the testing policy tries three times before giving up.
    assert len(fake_lensmor.requests) == 3


# ----------------------------------------------------------------------------- via a tiny app


@pytest.mark.parametrize(
    ("status", "key", "cls"),
    [
        (400, "INVALID_REQUEST", BadRequestError),
        (401, "INVALID_API_KEY", AuthenticationError),
        (402, "INSUFFICIENT_CREDITS", InsufficientCreditsError),
        (403, "FORBIDDEN", PermissionDeniedError),
        (404, "NOT_FOUND", NotFoundError),
        (409, "STATE_CONFLICT", ConflictError),
        (422, "LEAD_SELECTION_LIMIT_EXCEEDED", UnprocessableError),
        (429, "RATE_LIMIT_EXCEEDED", RateLimitError),
        (500, "INTERNAL_ERROR", ServerError),
        (502, "BAD_GATEWAY", ServerError),
        (503, "SERVICE_UNAVAILABLE", ServerError),
        (504, "GATEWAY_TIMEOUT", ServerError),
    ],
)
async def test_every_status_maps_to_its_class_with_all_fields(
    canned: Callable[..., AsyncLensmor], status: int, key: str, cls: type[APIStatusError]
) -> None:
    client = canned(status, envelope(status, key, f"failure {status}"), {})
    with pytest.raises(cls) as info:
        await client.credits.balance()
    error = info.value
    assert type(error) is cls
    assert (error.status, error.error_key, error.trace_id, error.message) == (
        status,
        key,
        TRACE,
        f"failure {status}",
    )
    assert str(status) in str(error)
    assert TRACE in str(error)


async def test_a_402_from_the_server_is_not_a_preflight_refusal(
    canned: Callable[..., AsyncLensmor],
) -> None:
    client = canned(402, envelope(402, "INSUFFICIENT_CREDITS", "Insufficient credits"), {})
    with pytest.raises(InsufficientCreditsError) as info:
        await client.credits.balance()
    assert info.value.preflight is False


async def test_rate_limit_retry_after_header_is_parsed(
    canned: Callable[..., AsyncLensmor],
) -> None:
    client = canned(429, envelope(429, "RATE_LIMIT_EXCEEDED", "slow down"), {"Retry-After": "32"})
    with pytest.raises(RateLimitError) as info:
        await client.credits.balance()
    assert info.value.retry_after == 32.0


async def test_rate_limit_without_retry_after_has_none(
    canned: Callable[..., AsyncLensmor],
) -> None:
    client = canned(429, envelope(429, "RATE_LIMIT_EXCEEDED", "slow down"), {})
    with pytest.raises(RateLimitError) as info:
        await client.credits.balance()
    assert info.value.retry_after is None


async def test_unlisted_4xx_is_the_base_status_error(canned: Callable[..., AsyncLensmor]) -> None:
    client = canned(418, envelope(418, "TEAPOT", "short and stout"), {})
    with pytest.raises(APIStatusError) as info:
        await client.credits.balance()
    assert type(info.value) is APIStatusError
    assert (info.value.status, info.value.error_key) == (418, "TEAPOT")


async def test_details_of_a_0_27_envelope_are_kept(canned: Callable[..., AsyncLensmor]) -> None:
    details = {"requestedCount": 2500, "limit": 2000, "selectionMode": "selected"}
    body = envelope(422, "LEAD_SELECTION_LIMIT_EXCEEDED", "too many", details=details)
    client = canned(422, body, {})
    with pytest.raises(UnprocessableError) as info:
        await client.credits.balance()
    assert info.value.details == details


async def test_trace_id_falls_back_to_the_request_id_header(
    canned: Callable[..., AsyncLensmor],
) -> None:
    body = {"code": 404, "message": "Not found", "errorKey": "NOT_FOUND"}
    client = canned(404, body, {"X-Request-ID": "req-from-header"})
    with pytest.raises(NotFoundError) as info:
        await client.credits.balance()
    assert info.value.trace_id == "req-from-header"


async def test_non_json_error_body_still_maps_by_status(
    canned: Callable[..., AsyncLensmor],
) -> None:
    client = canned(502, b"<html><body>502 Bad Gateway</body></html>", {})
    with pytest.raises(ServerError) as info:
        await client.credits.balance()
    error = info.value
    assert error.status == 502
    assert error.error_key is None
    assert error.trace_id is None
    assert "<html>" not in str(error)


async def test_empty_error_body_still_maps_by_status(canned: Callable[..., AsyncLensmor]) -> None:
    client = canned(403, b"", {})
    with pytest.raises(PermissionDeniedError) as info:
        await client.credits.balance()
    assert info.value.status == 403


async def test_server_message_is_stripped_of_control_characters(
    canned: Callable[..., AsyncLensmor],
) -> None:
    message = "bad input\r\nX-Forged: log line\x1b[31m" + "x" * 1000
    client = canned(400, envelope(400, "INVALID_REQUEST", message), {})
    with pytest.raises(BadRequestError) as info:
        await client.credits.balance()
    text = str(info.value)
    assert "\r" not in text
    assert "\n" not in text
    assert "\x1b" not in text
    assert len(info.value.message) <= 300


# ----------------------------------------------------------------------------- HTTP-200 errors


async def test_http_200_envelope_with_error_key_is_an_error(
    canned: Callable[..., AsyncLensmor],
) -> None:
    body = envelope(400, "USER_HAS_NO_FEATURE", "Upgrade to use this feature")
    client = canned(200, body, {})
    with pytest.raises(FeatureNotAvailableError) as info:
        await client.credits.balance()
    error = info.value
    # A plan refusal is not an input mistake: `except BadRequestError` must not catch it.
    assert not isinstance(error, BadRequestError)
    assert (error.status, error.error_key, error.trace_id, error.message) == (
        400,
        "USER_HAS_NO_FEATURE",
        TRACE,
        "Upgrade to use this feature",
    )


async def test_http_200_concurrency_envelope_is_a_concurrency_limit_error(
    canned: Callable[..., AsyncLensmor],
) -> None:
    body = envelope(
        429, "USER_CONCURRENCY_LIMIT_EXCEEDED", "Too many concurrent", data=None, details=None
    )
    client = canned(200, body, {})
    with pytest.raises(ConcurrencyLimitError) as info:
        await client.credits.balance()
    assert (info.value.status, info.value.error_key) == (429, "USER_CONCURRENCY_LIMIT_EXCEEDED")
    # No Retry-After and no limiter pause: it is not the rate limit.
    assert not isinstance(info.value, RateLimitError)


async def test_2xx_body_with_a_lone_error_string_is_an_error(
    canned: Callable[..., AsyncLensmor],
) -> None:
    client = canned(201, {"error": "file_id is required"}, {})
    with pytest.raises(APIStatusError) as info:
        await client.credits.balance()
    assert info.value.message == "file_id is required"
    assert 400 <= info.value.status < 500
