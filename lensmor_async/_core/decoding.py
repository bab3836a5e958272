"""Turning raw responses into JSON payloads or typed errors (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from lensmor_async._core.retry import parse_retry_after
from lensmor_async.errors import (
    APIStatusError,
    MalformedResponseError,
    RateLimitError,
    RedirectRefusedError,
    error_key_class,
    sanitize_message,
    status_error_class,
)


def parse_json(body: bytes, *, status: int) -> Any:
    """Decode a JSON body; anything else becomes ``MalformedResponseError``.

    orjson refuses documents nested deeper than 1024 levels, which bounds the
    recursion a hostile body can cause.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        # The decoder message quotes body bytes; keep only its short description.
        raise MalformedResponseError(
            f"response body is not valid JSON ({len(body)} bytes)", status=status
        ) from exc


def _envelope_status(payload: Mapping[str, Any], http_status: int) -> int:
    code = payload.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599:
        return code
    return http_status if http_status >= 400 else 400


def error_from_envelope(
    payload: Any,
    *,
    http_status: int,
    headers: Mapping[str, str],
    now: float,
    where: tuple[str, str] | None = None,
) -> APIStatusError:
    """Build the typed error for an error envelope (or for a body that is not one).

    ``where``: the request's method and URL path (no query), named by a 404's message.
    """
    if not isinstance(payload, Mapping):
        payload = {}
    status = _envelope_status(payload, http_status)
    # Business refusals (0.24+ HTTP-200 envelopes) are typed by their key, not their code.
    cls = error_key_class(payload.get("errorKey")) or status_error_class(status)
    message = payload.get("message") or payload.get("error") or f"HTTP {http_status}"
    fields: dict[str, Any] = {
        "status": status,
        "error_key": _opt_str(payload.get("errorKey")),
        "trace_id": _opt_str(payload.get("traceId")) or _opt_str(headers.get("X-Request-ID")),
        "details": payload.get("details"),
    }
    if http_status == 404 and where is not None:
        fields["method"], fields["url_path"] = where
    if cls is RateLimitError:
        raw = headers.get("Retry-After")
        fields["retry_after"] = parse_retry_after(raw, now)
        fields["retry_after_header"] = raw
    return cls(sanitize_message(message), **fields)


def _opt_str(value: object) -> str | None:
    return sanitize_message(value, 120) if isinstance(value, str) and value else None


def is_business_error(payload: Any) -> bool:
    """A 2xx body that is really an error (0.24+ ``errorKey`` envelopes, lone ``error`` strings)."""
    if type(payload) is not dict:
        return False
    if "errorKey" in payload:
        return True
    return len(payload) == 1 and isinstance(payload.get("error"), str)


def decode_payload(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    where: tuple[str, str] | None = None,
) -> Any:
    """The JSON payload of a successful response, or raise the typed error it carries.

    ``where`` (method, URL path without the query) is named in a 404's message.
    """
    if 200 <= status < 300:
        payload = parse_json(body, status=status) if body else None
        if is_business_error(payload):
            raise error_from_envelope(payload, http_status=status, headers=headers, now=now)
        return payload
    if 300 <= status < 400:
        raise RedirectRefusedError(
            f"server answered {status} with a redirect; redirects are never followed", status=status
        )
    try:
        payload = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    raise error_from_envelope(payload, http_status=status, headers=headers, now=now, where=where)
