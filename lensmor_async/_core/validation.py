"""Argument validation, done before any I/O. Every failure is an ``InvalidRequestError``."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import TypeGuard

from lensmor_async.errors import InvalidRequestError

# Ids are numeric strings in practice, but event ids may be either ``id`` or ``eventId``;
# the allow-list keeps anything that could change the URL path (/, %, ., whitespace) out.
_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,100}")
_TASK_ID_PATTERN = re.compile(r"[0-9]{1,40}")
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

DEFAULT_MAX_PAGE_SIZE = 100
PERSONNEL_MAX_PAGE_SIZE = 50
MAX_UNLOCK_BATCH = 2000
"""0.24+: personnel_ids 1–2,000 per unlock or generation request (the server answers 422
``LEAD_SELECTION_LIMIT_EXCEEDED`` above it; the SDK refuses before sending)."""


def check_id(name: str, value: object, *, max_length: int = 100) -> str:
    """An id for a path or query: allow-listed characters only, never ``.`` or ``..``.

    ``max_length`` may only tighten the 100-character ceiling of the API.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string id, got {type(value).__name__}")
    if len(value) > max_length or not _ID_PATTERN.fullmatch(value):
        raise InvalidRequestError(
            f"{name} must be 1-{max_length} characters of letters, digits, '_' or '-'"
        )
    return value


def check_task_id(value: object) -> str:
    """Task ids are digit strings (``^[0-9]+$`` in the spec)."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not _TASK_ID_PATTERN.fullmatch(text):
        raise InvalidRequestError("task_id must be a string of digits")
    return text


def check_ids(
    name: str, values: Iterable[object], *, max_items: int = MAX_UNLOCK_BATCH
) -> tuple[str, ...]:
    """A batch of ids: validated, de-duplicated (order kept), within the API's maximum size."""
    if isinstance(values, str | bytes):
        raise InvalidRequestError(f"{name} must be a list of ids, not a single string")
    if not isinstance(values, Iterable):
        raise InvalidRequestError(f"{name} must be a list of ids")
    unique = tuple(dict.fromkeys(check_id(name, v) for v in values))
    if not unique:
        raise InvalidRequestError(f"{name} must contain at least one id")
    if len(unique) > max_items:
        raise InvalidRequestError(
            f"{name} holds {len(unique)} ids; the API accepts at most {max_items}"
        )
    return unique


def check_page(
    page: int, page_size: int | None, *, max_page_size: int = DEFAULT_MAX_PAGE_SIZE
) -> None:
    """``page`` ≥ 1 and ``page_size`` within the route's range."""
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise InvalidRequestError(f"page must be an integer >= 1, got {page!r}")
    if page_size is None:
        return
    if (
        isinstance(page_size, bool)
        or not isinstance(page_size, int)
        or not 1 <= page_size <= max_page_size
    ):
        raise InvalidRequestError(
            f"page_size must be an integer from 1 to {max_page_size}, got {page_size!r}"
        )


def check_date(name: str, value: str | date | None) -> str | None:
    """A ``YYYY-MM-DD`` date (a ``datetime.date`` is formatted)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if not isinstance(value, str) or not _DATE_PATTERN.fullmatch(value):
        raise InvalidRequestError(f"{name} must be a date formatted YYYY-MM-DD, got {value!r}")
    try:
        date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequestError(f"{name} is not a real calendar date: {value!r}") from exc
    return value


def check_text(
    name: str, value: str | None, *, max_length: int = 200, required: bool = False
) -> str | None:
    """Free text within the documented length; no control characters."""
    if value is None:
        if required:
            raise InvalidRequestError(f"{name} is required")
        return None
    if not isinstance(value, str):
        raise InvalidRequestError(f"{name} must be a string")
    if required and not value.strip():
        raise InvalidRequestError(f"{name} must not be blank")
    if len(value) > max_length or _CONTROL.search(value):
        raise InvalidRequestError(
            f"{name} must be at most {max_length} characters without control characters"
        )
    return value


def check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    """One of a documented set of values."""
    if value is not None and value not in choices:
        raise InvalidRequestError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def check_flag(name: str, value: bool | None) -> bool | None:
    """An optional yes/no filter (sent as 1/0)."""
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(f"{name} must be True, False or None; got {value!r}")
    return value


def check_non_negative(name: str, value: int | None) -> int | None:
    """An optional integer ≥ 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequestError(f"{name} must be an integer >= 0")
    return value


def check_string_list(
    name: str, values: Iterable[str] | str | None, *, max_length: int = 200
) -> tuple[str, ...] | None:
    """An optional list of short strings (a single string is accepted as a one-item list)."""
    if values is None:
        return None
    items = (values,) if isinstance(values, str) else tuple(values)
    return tuple(check_text(name, v, max_length=max_length, required=True) or "" for v in items)


def is_seconds(value: object, *, allow_zero: bool = False) -> TypeGuard[int | float]:
    """Whether ``value`` is a finite number of seconds > 0 (>= 0 with ``allow_zero``)."""
    # bool is an int subclass, but True seconds is always a caller bug.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0
