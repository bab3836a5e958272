"""The exception tree, status → class mapping and message sanitising."""

from __future__ import annotations

import inspect
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async import errors
from lensmor_async.errors import (
    ActionNotAllowedError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    CreditError,
    InsufficientCreditsError,
    InvalidRequestError,
    LensmorError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RedirectRefusedError,
    ResponseValidationError,
    ServerError,
    SpendInDoubtError,
    TransportError,
    UnprocessableError,
    sanitize_message,
    status_error_class,
)

EXCEPTION_CLASSES = [
    obj
    for name in errors.__all__
    if inspect.isclass(obj := getattr(errors, name)) and issubclass(obj, BaseException)
]


# --- the tree ---------------------------------------------------------------------------


def test_all_lists_every_public_exception_class_sorted() -> None:
    public = {
        name
        for name, obj in vars(errors).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not name.startswith("_")
    }
    assert public <= set(errors.__all__)
    assert list(errors.__all__) == sorted(errors.__all__)


@pytest.mark.parametrize("cls", EXCEPTION_CLASSES, ids=lambda c: c.__name__)
def test_every_exception_class_derives_from_lensmor_error(cls: type[BaseException]) -> None:
    assert issubclass(cls, LensmorError)


def test_invalid_request_error_is_also_a_value_error() -> None:
    assert issubclass(InvalidRequestError, ValueError)
    assert issubclass(ConfigurationError, InvalidRequestError)


def test_insufficient_credits_is_both_a_status_error_and_a_credit_error() -> None:
    assert issubclass(InsufficientCreditsError, APIStatusError)
    assert issubclass(InsufficientCreditsError, CreditError)


def test_budget_exceeded_is_an_insufficient_credits_error() -> None:
    err = BudgetExceededError("cap reached", required=60, available=10, preflight=True)
    assert isinstance(err, InsufficientCreditsError)
    assert isinstance(err, CreditError)
    assert (err.required, err.available, err.preflight) == (60, 10, True)
    assert err.status == 402


def test_insufficient_credits_defaults_its_error_key() -> None:
    err = InsufficientCreditsError("no money")
    assert err.error_key == "INSUFFICIENT_CREDITS"
    assert err.status == 402
    assert err.preflight is False


def test_insufficient_credits_keeps_an_explicit_error_key() -> None:
    assert InsufficientCreditsError("x", error_key="OTHER").error_key == "OTHER"


def test_transport_error_records_whether_the_request_was_sent() -> None:
    assert TransportError("x").request_sent is True
    assert TransportError("x", request_sent=False).request_sent is False


def test_redirect_refused_always_counts_as_sent() -> None:
    err = RedirectRefusedError("moved", status=302)
    assert err.request_sent is True
    assert err.status == 302
    assert isinstance(err, TransportError)


def test_response_validation_error_prefixes_its_path() -> None:
    err = ResponseValidationError("expected str", path="$.items[3].id", status=200)
    assert err.path == "$.items[3].id"
    assert str(err) == "$.items[3].id: expected str"
    assert err.status == 200


def test_action_not_allowed_and_in_doubt_keep_their_fields() -> None:
    refused = ActionNotAllowedError("no", reason_code="unlock_in_progress", detail={"a": 1})
    assert (refused.reason_code, refused.detail) == ("unlock_in_progress", {"a": 1})
    doubt = SpendInDoubtError("maybe", intent="intent-1", reason="timeout")
    assert (doubt.intent, doubt.reason) == ("intent-1", "timeout")


# --- status_error_class -----------------------------------------------------------------


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
        (599, ServerError),
    ],
)
def test_status_error_class_maps_documented_statuses(
    status: int, cls: type[APIStatusError]
) -> None:
    assert status_error_class(status) is cls


@pytest.mark.parametrize("status", [405, 410, 418, 451])
def test_status_error_class_falls_back_to_the_base_class(status: int) -> None:
    assert status_error_class(status) is APIStatusError


@pytest.mark.parametrize(
    ("cls", "status"),
    [
        (BadRequestError, 400),
        (AuthenticationError, 401),
        (PermissionDeniedError, 403),
        (NotFoundError, 404),
        (ConflictError, 409),
        (UnprocessableError, 422),
        (RateLimitError, 429),
        (ServerError, 500),
    ],
)
def test_status_error_uses_its_default_status(cls: type[APIStatusError], status: int) -> None:
    assert cls("boom").status == status


def test_status_error_text_has_status_key_message_and_trace() -> None:
    err = NotFoundError("Event not found", error_key="NOT_FOUND", trace_id="t-1")
    assert str(err) == "404 NOT_FOUND: Event not found (trace_id=t-1)"


def test_status_error_without_key_says_error() -> None:
    assert str(ServerError("down", status=503)) == "503 ERROR: down"


def test_status_error_sanitises_its_message_and_trace_id() -> None:
    err = BadRequestError("line1\r\nFAKE LOG LINE", trace_id="t\n" + "x" * 200)
    assert "\n" not in str(err)
    assert "\r" not in str(err)
    assert err.message == "line1  FAKE LOG LINE"
    assert len(str(err)) < 200


def test_rate_limit_error_keeps_retry_after() -> None:
    assert RateLimitError("slow down", retry_after=32.0).retry_after == 32.0
    assert RateLimitError("slow down").retry_after is None


# --- sanitize_message -------------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\n", "\r", "\x1b", "\x7f", "\x85", "\u2028", "\u2029"])
def test_sanitize_replaces_control_characters_with_spaces(char: str) -> None:
    assert sanitize_message(f"a{char}b") == "a b"


def test_sanitize_keeps_ordinary_unicode() -> None:
    assert sanitize_message("Café – 東京 ✓") == "Café – 東京 ✓"


def test_sanitize_truncates_long_text_with_an_ellipsis() -> None:
    out = sanitize_message("x" * 1000)
    assert len(out) == 300
    assert out.endswith("…")


def test_sanitize_leaves_text_at_the_limit_alone() -> None:
    assert sanitize_message("y" * 300) == "y" * 300


def test_sanitize_accepts_non_string_values() -> None:
    assert sanitize_message({"a": 1}) == "{'a': 1}"
    assert sanitize_message(None) == "None"


@given(st.text(), st.integers(min_value=2, max_value=500))
def test_sanitize_never_returns_control_characters_or_exceeds_the_limit(
    text: str, limit: int
) -> None:
    out = sanitize_message(text, limit)
    assert len(out) <= limit
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in out)


# --- pickling (exceptions cross process boundaries in workers and test runners) ---------


def test_transport_error_survives_a_pickle_round_trip() -> None:
    copy = pickle.loads(pickle.dumps(TransportError("x", request_sent=False)))
    assert type(copy) is TransportError
    assert (str(copy), copy.request_sent) == ("x", False)


PICKLE_CASES = [
    NotFoundError("nf", error_key="NOT_FOUND", trace_id="t"),
    RateLimitError("rl", retry_after=3.0),
    InsufficientCreditsError("ic", required=5, available=1),
    RedirectRefusedError("moved", status=302),
    ResponseValidationError("bad", path="$.a"),
    ActionNotAllowedError("no", reason_code="forbidden"),
    SpendInDoubtError("maybe", intent="k", reason="timeout"),
]


@pytest.mark.parametrize("err", PICKLE_CASES, ids=lambda e: type(e).__name__)
def test_errors_survive_a_pickle_round_trip(err: LensmorError) -> None:
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is type(err)
    assert str(copy) == str(err)
    assert vars(copy) == vars(err)
