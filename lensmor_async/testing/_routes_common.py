"""Shared plumbing of the fake's route handlers: responses, errors, parameter parsing.

Parsing follows the 0.22 contract: ``page`` >= 1 (default 1), ``pageSize`` within a
per-route range, required parameters present and non-blank, string lengths within
their documented maxima. Anything else is a 400 ``INVALID_REQUEST``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from typing import Any

import orjson
from aiohttp import web
from multidict import MultiMapping

from lensmor_async.testing._state import ApiRefusal, FakeState, RequestContext, invalid

__all__ = [
    "CONTEXT_KEY",
    "STATE_KEY",
    "Body",
    "Query",
    "context",
    "error_body",
    "error_response",
    "json_response",
    "page_envelope",
    "paginate",
    "request_key",
    "state",
]

STATE_KEY = web.AppKey("lensmor_fake_state", FakeState)


def request_key(name: str, kind: type[Any]) -> Any:
    """A typed request-storage key (``web.RequestKey`` exists from aiohttp 3.13 on)."""
    factory = getattr(web, "RequestKey", None)
    return factory(name, kind) if factory is not None else name


CONTEXT_KEY = request_key("lensmor_fake_context", RequestContext)
_NUMERIC = re.compile(r"^[0-9]+$")


def state(request: web.Request) -> FakeState:
    """The :class:`FakeState` behind this app."""
    return request.app[STATE_KEY]


def context(request: web.Request) -> RequestContext:
    """Request number, trace id and route template of the current request."""
    ctx = request.get(CONTEXT_KEY)
    assert isinstance(ctx, RequestContext), "the context middleware did not run"
    return ctx


def json_response(data: Any, status: int = 200) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_body(status: int, error_key: str, message: str, trace_id: str) -> dict[str, Any]:
    """The documented error envelope."""
    return {"code": status, "message": message, "errorKey": error_key, "traceId": trace_id}


def error_response(status: int, error_key: str, message: str, trace_id: str) -> web.Response:
    """An error envelope response with ``X-Request-ID`` equal to ``traceId``."""
    response = json_response(error_body(status, error_key, message, trace_id), status)
    response.headers["X-Request-ID"] = trace_id
    return response


def page_envelope(items: list[Any], total: int, page: int, page_size: int) -> dict[str, Any]:
    """The shared ``*Page`` envelope (``totalPages`` 0 when ``total`` is 0)."""
    total_pages = math.ceil(total / page_size) if total else 0
    return {
        "items": items,
        "total": total,
        "page": page,
        "pageSize": page_size,
        "totalPages": total_pages,
        "hasMore": page < total_pages,
    }


def paginate(rows: Sequence[Any], page: int, page_size: int) -> list[Any]:
    """The rows of one page."""
    start = (page - 1) * page_size
    return list(rows[start : start + page_size])


def _check_length(name: str, value: str, min_len: int, max_len: int | None) -> str:
    if len(value.strip()) < min_len:
        raise invalid(f"{name} is required")
    if max_len is not None and len(value) > max_len:
        raise invalid(f"{name} must be at most {max_len} characters")
    return value


def parse_date(name: str, value: str) -> dt.date:
    """A ``YYYY-MM-DD`` date or 400."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise invalid(f"{name} must be a YYYY-MM-DD date") from None


class Query:
    """Typed access to query parameters (a multi-dict; lists may repeat or use commas)."""

    def __init__(self, query: MultiMapping[str]) -> None:
        self._query = query

    def text(self, name: str, *, max_len: int | None = None) -> str | None:
        """An optional string (blank counts as absent)."""
        value = self._query.get(name)
        if value is None or not value.strip():
            return None
        return _check_length(name, value, 1, max_len)

    def required(self, name: str, *, max_len: int | None = None) -> str:
        """A required, non-blank string."""
        value = self._query.get(name)
        if value is None:
            raise invalid(f"{name} is required")
        return _check_length(name, value, 1, max_len)

    def numeric_id(self, name: str, *, max_len: int = 20) -> str:
        """A required numeric-string id."""
        return _numeric(name, self.required(name, max_len=max_len))

    def optional_numeric_id(self, name: str, *, max_len: int = 20) -> str | None:
        """An optional numeric-string id."""
        value = self.text(name, max_len=max_len)
        return None if value is None else _numeric(name, value)

    def strings(self, name: str) -> list[str]:
        """A list parameter given repeated and/or comma separated."""
        values: list[str] = []
        for raw in self._query.getall(name, []):
            values.extend(part.strip() for part in raw.split(",") if part.strip())
        return values

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An optional integer within bounds."""
        raw = self._query.get(name)
        if raw is None or raw == "":
            return None
        if not re.fullmatch(r"-?[0-9]+", raw):
            raise invalid(f"{name} must be an integer")
        return _bounded(name, int(raw), minimum, maximum)

    def date(self, name: str) -> dt.date | None:
        """An optional ``YYYY-MM-DD`` date."""
        raw = self.text(name)
        return None if raw is None else parse_date(name, raw)

    def page(self, *, default_size: int = 20, max_size: int = 100) -> tuple[int, int]:
        """``(page, pageSize)`` with the route's default and maximum."""
        page = self.integer("page", minimum=1)
        size = self.integer("pageSize", minimum=1, maximum=max_size)
        return page or 1, size or default_size


def _numeric(name: str, value: str) -> str:
    if not _NUMERIC.match(value):
        raise invalid(f"{name} must be a numeric string")
    return value


def _bounded(name: str, value: int, minimum: int | None, maximum: int | None) -> int:
    if minimum is not None and value < minimum:
        raise invalid(f"{name} must be >= {minimum}")
    if maximum is not None and value > maximum:
        raise invalid(f"{name} must be <= {maximum}")
    return value


class Body:
    """Typed access to a JSON object body."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    async def read(cls, request: web.Request) -> Body:
        """Parse the body; anything but a JSON object is a 400."""
        raw = await request.read()
        if not raw.strip():
            return cls({})
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise invalid("Request body must be valid JSON") from None
        if not isinstance(data, dict):
            raise invalid("Request body must be a JSON object")
        return cls(data)

    def text(self, name: str, *, max_len: int | None = None, required: bool = False) -> str | None:
        """A string field (blank counts as absent; ``required`` ones raise 400)."""
        value = self.data.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise invalid(f"{name} is required")
            return None
        if not isinstance(value, str):
            raise invalid(f"{name} must be a string")
        return _check_length(name, value, 1, max_len)

    def required(self, name: str, *, max_len: int | None = None) -> str:
        """A required non-blank string field."""
        value = self.text(name, max_len=max_len, required=True)
        assert value is not None
        return value

    def id_list(self, name: str, *, max_items: int, max_len: int = 20) -> list[str]:
        """A required list of 1..``max_items`` numeric-string ids."""
        value = self.data.get(name)
        if not isinstance(value, list) or not value:
            raise invalid(f"{name} must be a non-empty array")
        if len(value) > max_items:
            raise invalid(f"{name} must contain at most {max_items} items")
        for item in value:
            if not isinstance(item, str) or not _NUMERIC.match(item) or len(item) > max_len:
                raise invalid(f"{name} must contain numeric string ids")
        return list(value)

    def strings(self, name: str) -> list[str]:
        """An optional list of strings (a comma string is accepted too)."""
        value = self.data.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise invalid(f"{name} must be an array of strings")
        return list(value)

    def integer(
        self, name: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An optional integer field (booleans are refused)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(f"{name} must be an integer")
        return _bounded(name, value, minimum, maximum)

    def boolean(self, name: str) -> bool | None:
        """An optional boolean field."""
        value = self.data.get(name)
        if value is None or isinstance(value, bool):
            return value
        raise invalid(f"{name} must be a boolean")

    def date(self, name: str) -> dt.date | None:
        """An optional ``YYYY-MM-DD`` field."""
        raw = self.text(name)
        return None if raw is None else parse_date(name, raw)

    def page(self, *, default_size: int = 20, max_size: int = 100) -> tuple[int, int]:
        """``(page, pageSize)`` from the body."""
        page = self.integer("page", minimum=1)
        size = self.integer("pageSize", minimum=1, maximum=max_size)
        return page or 1, size or default_size


def refusal_response(refusal: ApiRefusal, trace_id: str) -> web.Response:
    """The envelope for a refusal raised by a handler (HTTP 200 for business envelopes)."""
    body: dict[str, Any] = error_body(refusal.status, refusal.error_key, refusal.message, trace_id)
    if refusal.http_status != refusal.status:
        body |= {"data": None, "details": None}
    if refusal.details is not None:
        body["details"] = refusal.details
    response = json_response(body, refusal.http_status)
    response.headers["X-Request-ID"] = trace_id
    return response
