"""Turning raw responses into payloads or typed errors."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.decoding import (
    decode_payload,
    error_from_envelope,
    is_business_error,
    parse_json,
)
from lensmor_async.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InsufficientCreditsError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectRefusedError,
    ServerError,
    UnprocessableError,
)

NOW = 1_714_521_600.0  # Wed, 01 May 2024 00:00:00 GMT


def envelope(code: int, key: str = "SOME_KEY", message: str = "boom", **extra: Any) -> bytes:
    return orjson.dumps(
        {"code": code, "message": message, "errorKey": key, "traceId": "trace-1", **extra}
    )


def decode(status: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return decode_payload(status, headers or {}, body, now=NOW)


# --- parse_json ---------------------------------------------------------------------------


def test_parse_json_decodes_a_document() -> None:
    assert parse_json(b'{"a": [1, 2]}', status=200) == {"a": [1, 2]}


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b'{"a": ', b"\xff\xfe", b"", b"NaN", b"{'a': 1}"],
)
def test_parse_json_turns_garbage_into_malformed_response(body: bytes) -> None:
    with pytest.raises(MalformedResponseError) as info:
        parse_json(body, status=200)
    assert info.value.status == 200
    assert isinstance(info.value.__cause__, ValueError)


def test_parse_json_error_text_does_not_quote_the_body() -> None:
    with pytest.raises(MalformedResponseError) as info:
        parse_json(b"secret-token-xyz", status=200)
    assert "secret" not in str(info.value)
    assert "16 bytes" in str(info.value)


def test_parse_json_refuses_nesting_deeper_than_orjson_allows() -> None:
    deep = b"[" * 2000 + b"]" * 2000
    with pytest.raises(MalformedResponseError):
        parse_json(deep, status=200)


def test_parse_json_accepts_ordinary_nesting() -> None:
    assert parse_json(b"[" * 500 + b"]" * 500, status=200) is not None


# --- is_business_error --------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        {"code": 400, "errorKey": "USER_HAS_NO_FEATURE", "message": "x"},
        {"errorKey": "CONCURRENCY_LIMIT"},
        {"error": "missing input"},
    ],
)
def test_business_error_bodies_are_recognised(payload: Any) -> None:
    assert is_business_error(payload) is True


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        [{"errorKey": "X"}],
        "errorKey",
        {"items": [], "total": 0},
        {"error": "x", "data": 1},
        {"error": None},
        {"error": {"nested": True}},
    ],
)
def test_ordinary_bodies_are_not_business_errors(payload: Any) -> None:
    assert is_business_error(payload) is False


# --- decode_payload: success --------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 202])
def test_decode_returns_the_payload_of_a_success(status: int) -> None:
    assert decode(status, b'{"success": true}') == {"success": True}


def test_decode_of_an_empty_success_body_is_none() -> None:
    assert decode(204, b"") is None


def test_decode_of_a_garbage_success_body_is_malformed() -> None:
    with pytest.raises(MalformedResponseError) as info:
        decode(200, b"<html>oops</html>")
    assert info.value.status == 200


# --- decode_payload: HTTP error statuses --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableError),
        (429, RateLimitError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, APIStatusError),
    ],
)
def test_each_error_status_becomes_its_class(status: int, cls: type[APIStatusError]) -> None:
    with pytest.raises(cls) as info:
        decode(status, envelope(status, "KEY"))
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.error_key == "KEY"
    assert err.trace_id == "trace-1"
    assert err.message == "boom"


def test_envelope_details_are_kept() -> None:
    with pytest.raises(BadRequestError) as info:
        decode(400, envelope(400, details={"field": "page"}))
    assert info.value.details == {"field": "page"}


def test_trace_id_falls_back_to_the_request_id_header() -> None:
    body = orjson.dumps({"code": 404, "message": "nope"})
    with pytest.raises(NotFoundError) as info:
        decode(404, body, {"X-Request-ID": "req-9"})
    assert info.value.trace_id == "req-9"


@pytest.mark.parametrize("body", [b"", b"<html>Bad Gateway</html>", b"[1, 2]", b'"text"', b"null"])
def test_error_status_with_a_non_envelope_body_still_maps_by_status(body: bytes) -> None:
    with pytest.raises(ServerError) as info:
        decode(502, body)
    assert info.value.status == 502
    assert info.value.message == "HTTP 502"
    assert info.value.error_key is None


def test_error_status_with_a_deeply_nested_body_maps_by_status() -> None:
    with pytest.raises(ServerError):
        decode(500, b"[" * 2000 + b"]" * 2000)


def test_body_code_overrides_the_http_status_class() -> None:
    with pytest.raises(InsufficientCreditsError) as info:
        decode(400, envelope(402, "INSUFFICIENT_CREDITS"))
    assert info.value.status == 402


@pytest.mark.parametrize("code", [200, 999, "402", True, None, 402.0])
def test_an_unusable_body_code_falls_back_to_the_http_status(code: Any) -> None:
    body = orjson.dumps({"code": code, "message": "x", "errorKey": "K"})
    with pytest.raises(NotFoundError) as info:
        decode(404, body)
    assert info.value.status == 404


def test_lone_error_string_is_used_as_the_message() -> None:
    with pytest.raises(BadRequestError) as info:
        decode(400, orjson.dumps({"error": "bad input"}))
    assert info.value.message == "bad input"


# --- decode_payload: HTTP-200 business errors ---------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (400, BadRequestError),
        (402, InsufficientCreditsError),
        (403, PermissionDeniedError),
        (409, ConflictError),
        (429, RateLimitError),
        (500, ServerError),
    ],
)
def test_http_200_error_envelopes_map_by_their_body_code(
    code: int, cls: type[APIStatusError]
) -> None:
    with pytest.raises(cls) as info:
        decode(200, envelope(code, "SOME_BUSINESS_ERROR"))
    assert type(info.value) is cls
    assert info.value.status == code
    assert info.value.error_key == "SOME_BUSINESS_ERROR"


def test_http_200_error_envelope_without_a_code_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError) as info:
        decode(200, orjson.dumps({"errorKey": "CONCURRENCY_LIMIT", "message": "busy"}))
    assert info.value.status == 400
    assert info.value.error_key == "CONCURRENCY_LIMIT"


def test_http_201_lone_error_string_is_an_error() -> None:
    with pytest.raises(BadRequestError) as info:
        decode(201, orjson.dumps({"error": "file is required"}))
    assert info.value.message == "file is required"


# --- Retry-After --------------------------------------------------------------------------


def test_rate_limit_reads_retry_after_seconds() -> None:
    with pytest.raises(RateLimitError) as info:
        decode(429, envelope(429, "RATE_LIMIT_EXCEEDED"), {"Retry-After": "32"})
    assert info.value.retry_after == 32.0


def test_rate_limit_reads_a_retry_after_http_date() -> None:
    headers = {"Retry-After": "Wed, 01 May 2024 00:01:00 GMT"}
    with pytest.raises(RateLimitError) as info:
        decode(429, envelope(429), headers)
    assert info.value.retry_after == 60.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "inf"])
def test_rate_limit_with_missing_or_garbage_retry_after_has_none(value: str | None) -> None:
    headers = {} if value is None else {"Retry-After": value}
    with pytest.raises(RateLimitError) as info:
        decode(429, envelope(429), headers)
    assert info.value.retry_after is None


def test_http_200_rate_limit_envelope_reads_retry_after() -> None:
    with pytest.raises(RateLimitError) as info:
        decode(200, envelope(429), {"Retry-After": "5"})
    assert info.value.retry_after == 5.0


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_refused(status: int) -> None:
    with pytest.raises(RedirectRefusedError) as info:
        decode(status, b"", {"Location": "https://evil.example/steal"})
    assert info.value.status == status
    assert info.value.request_sent is True
    assert "evil" not in str(info.value)


# --- message sanitising -------------------------------------------------------------------


def test_server_messages_lose_control_characters() -> None:
    body = envelope(400, "BAD\r\nKEY", message="bad\r\n[ERROR] forged log line\x1b[31m")
    with pytest.raises(BadRequestError) as info:
        decode(400, body)
    text = str(info.value)
    assert not any(c in text for c in "\r\n\x1b")
    assert "forged log line" in text


def test_server_messages_are_truncated() -> None:
    with pytest.raises(BadRequestError) as info:
        decode(400, envelope(400, "K" * 500, message="m" * 10_000))
    assert len(info.value.message) <= 300
    assert info.value.error_key is not None
    assert len(info.value.error_key) <= 120
    assert len(str(info.value)) < 600


def test_non_string_messages_are_stringified_safely() -> None:
    body = orjson.dumps({"code": 400, "message": {"nested": "a\nb"}})
    with pytest.raises(BadRequestError) as info:
        decode(400, body)
    assert "\n" not in info.value.message


def test_non_string_error_keys_and_trace_ids_are_dropped() -> None:
    body = orjson.dumps({"code": 404, "message": "x", "errorKey": 7, "traceId": ["t"]})
    with pytest.raises(NotFoundError) as info:
        decode(404, body)
    assert info.value.error_key is None
    assert info.value.trace_id is None


# --- error_from_envelope directly ---------------------------------------------------------


def test_error_from_envelope_tolerates_a_non_mapping_payload() -> None:
    err = error_from_envelope([1, 2], http_status=503, headers={}, now=NOW)
    assert isinstance(err, ServerError)
    assert err.message == "HTTP 503"


def test_error_from_envelope_for_a_2xx_without_code_is_a_bad_request() -> None:
    err = error_from_envelope({"errorKey": "X"}, http_status=200, headers={}, now=NOW)
    assert type(err) is BadRequestError


@given(st.binary(max_size=200), st.integers(100, 599).filter(lambda s: not 200 <= s < 300))
def test_a_non_2xx_answer_always_raises_a_typed_error(body: bytes, status: int) -> None:
    with pytest.raises((APIStatusError, RedirectRefusedError)):
        decode(status, body)


@given(
    st.binary(max_size=200)
    | st.builds(
        orjson.dumps,
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
            max_leaves=10,
        ),
    )
)
def test_a_2xx_answer_returns_its_json_or_raises_a_lensmor_error(body: bytes) -> None:
    try:
        result = decode(200, body)
    except (MalformedResponseError, APIStatusError):
        return
    assert result == (orjson.loads(body) if body else None)
