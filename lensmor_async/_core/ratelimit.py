"""Rate-limit headers and the pacing they imply, as pure functions.

The API sends ``X-RateLimit-Limit``, ``X-RateLimit-Remaining`` and
``X-RateLimit-Reset`` (Unix seconds) "when available", and ``Retry-After`` on a
429. These functions turn them into waits; the adaptive limiter (``_limiter.py``)
does the waiting. Times are passed in: ``now`` for anything compared with
``X-RateLimit-Reset`` or an HTTP date is wall-clock Unix seconds.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import attrs

from lensmor_async._core.retry import parse_retry_after

__all__ = [
    "NO_PACE",
    "Pace",
    "RateLimitInfo",
    "WindowUse",
    "adopt",
    "pace",
    "parse_rate_limit",
    "pause_until_after_429",
    "sharers_after_429",
    "sharers_after_window",
    "tally",
    "turn_delay",
]

_LIMIT = "X-RateLimit-Limit"
_REMAINING = "X-RateLimit-Remaining"
_RESET = "X-RateLimit-Reset"
_PREFIX = "x-ratelimit-"
# Whole numbers, optionally with a fraction (some servers send "1714521600.0"); the
# length bound keeps a hostile header from costing more than a tiny parse.
_NUMBER = re.compile(r"\d{1,20}(?:\.\d{1,9})?")


@attrs.frozen(slots=True)
class RateLimitInfo:
    """The ``X-RateLimit-*`` values of one response; None where absent or unreadable."""

    limit: int | None = None
    remaining: int | None = None
    reset: int | None = None
    """When the window resets, Unix seconds."""


def _to_int(value: str | None) -> int | None:
    if value is None:
        return None
    if len(value) <= 20 and value.isascii() and value.isdigit():
        return int(value)  # the usual case, without the regex
    text = value.strip()
    if not _NUMBER.fullmatch(text):
        return None
    return int(float(text)) if "." in text else int(text)


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """Read the rate-limit headers leniently; None when none of them is usable.

    aiohttp and httpx header mappings are case-insensitive, so the canonical
    spelling finds any case; a plain ``dict`` is searched case-insensitively
    only when the direct lookups miss.
    """
    limit = headers.get(_LIMIT)
    remaining = headers.get(_REMAINING)
    reset = headers.get(_RESET)
    if limit is None and remaining is None and reset is None and isinstance(headers, dict):
        limit, remaining, reset = _scan_plain_dict(headers)
    if limit is None and remaining is None and reset is None:
        return None
    info = RateLimitInfo(_to_int(limit), _to_int(remaining), _to_int(reset))
    if info.limit is None and info.remaining is None and info.reset is None:
        return None
    return info


def _scan_plain_dict(headers: dict[str, str]) -> tuple[str | None, str | None, str | None]:
    found: dict[str, str] = {}
    for key, value in headers.items():
        lowered = key.lower()
        if lowered.startswith(_PREFIX):
            found.setdefault(lowered, value)
    return (
        found.get(_LIMIT.lower()),
        found.get(_REMAINING.lower()),
        found.get(_RESET.lower()),
    )


@attrs.frozen(slots=True)
class Pace:
    """What the limiter should do before starting new requests.

    ``wait``: seconds during which no request may start (the window is used up).
    ``spacing``: minimum seconds between request starts (few requests remain, so
    spread them over the time left in the window).
    """

    wait: float = 0.0
    spacing: float = 0.0


NO_PACE = Pace()
"""Plenty remains: no waiting (shared, so the common case allocates nothing)."""


def pace(
    info: RateLimitInfo | None,
    now: float,
    *,
    low_fraction: float = 0.1,
    max_wait: float = 60.0,
    in_flight: int = 0,
    burst: int = 0,
    started: int = 0,
    sharers: int = 1,
) -> Pace:
    """The pacing implied by the last rate-limit headers.

    * nothing known, or the reset already past → :data:`NO_PACE`;
    * more left than ``low_fraction`` of the limit (at least 1 request), than
      ``burst`` and than twice ``in_flight`` → :data:`NO_PACE`;
    * nothing left → wait until the reset;
    * otherwise space starts ``time_to_reset / left`` apart, which spends exactly
      what is left by the reset: no idle tail, no overdraft.

    The caller could start ``burst`` requests at once (its concurrency) and has
    ``in_flight`` started or waiting now; the server may not have counted any of
    them yet. While more than ``burst`` remain, even a burst from idle cannot
    overdraw the key; while more than twice ``in_flight`` remain, the requests in
    flight leave more than ``in_flight`` for pacing to spread out, so a busy job
    hands over to pacing with room to spare (emptying the count would force a wait
    for the reset, which a token bucket does not need). ``started`` is how many paced
    requests the caller started since the answer ``info`` came in. With ``sharers``
    clients on the key each leaves ``sharers - 1`` requests unspent, so their last
    starts in a window do not all land on its last free request.

    Both waits are bounded by ``max_wait``, so a wrong clock or a hostile header can
    stall requests only that long.
    """
    if info is None or info.remaining is None or info.reset is None:
        return NO_PACE
    left = info.remaining - started - (sharers - 1)
    if left > burst and left > 2 * in_flight and left > _low_water(info.limit, low_fraction):
        return NO_PACE  # the usual answer: checked first, in as few steps as possible
    time_to_reset = info.reset - now
    if not time_to_reset > 0:
        return NO_PACE
    if left <= 0:
        return Pace(wait=min(time_to_reset, max_wait))
    return Pace(spacing=min(time_to_reset / left, max_wait))


def adopt(
    current: RateLimitInfo | None,
    info: RateLimitInfo,
    started: int = 0,
    *,
    now: float,
    max_wait: float = 60.0,
) -> RateLimitInfo:
    """The headers to pace from after an answer carrying ``info`` (``now``: Unix seconds).

    ``started``: paced requests started since ``current`` came in. Within one window
    the count only goes down: the lower of the answer's ``Remaining`` and
    ``current``'s minus those starts, because answers overtake each other and an
    answer does not count the requests started after it was sent. A later window
    starts afresh; an answer from an earlier one (late, out of order) is ignored,
    unless ``current`` resets more than ``max_wait`` from ``now``: such a reset (a
    wrong clock, a hostile header) is never waited for in full, so it must not keep
    every later answer out either.
    """
    if current is None or current.reset is None or info.reset is None:
        return info
    if info.reset != current.reset:
        keep = info.reset < current.reset and current.reset - now <= max_wait
        return current if keep else info
    if current.remaining is None or info.remaining is None:
        return info
    ours = current.remaining - started
    return info if info.remaining <= ours else attrs.evolve(info, remaining=max(0, ours))


def sharers_after_429(sharers: int, per_client: int, limit: int | None) -> int:
    """How many clients to assume spend from the key, after a 429.

    Pacing below one client's own concurrency cannot overdraw the key unless someone
    else spends from it too: other processes with the same key. A 429 is the
    evidence, so each one counts one more sharer, until the sharers' concurrency
    covers the whole limit. Each sharer counted leaves one request of every window
    unspent, so :func:`sharers_after_window` counts one fewer after a window that
    shows nobody else spent from the key.
    """
    if limit is None or sharers * per_client >= limit:
        return sharers  # without a limit there is no window to share out
    return sharers + 1


@attrs.frozen(slots=True)
class WindowUse:
    """What this client saw of one rate-limit window: the evidence for its sharers."""

    reset: int | None = None
    answers: int = 0
    """This client's answers counted in the window (each is one request the key paid)."""
    lowest: int | None = None
    """The lowest ``Remaining`` among them: ``limit - lowest`` is the key's use by then."""
    refused: bool = False
    """Whether a 429 came during the window."""


def tally(use: WindowUse, info: RateLimitInfo) -> WindowUse:
    """``use`` after one more answer: a later window starts a new tally, an older one is ignored."""
    if info.reset is None or info.remaining is None:
        return use
    if use.reset is None or info.reset > use.reset:
        return WindowUse(info.reset, 1, info.remaining)
    if info.reset < use.reset:
        return use
    lowest = info.remaining if use.lowest is None else min(use.lowest, info.remaining)
    return attrs.evolve(use, answers=use.answers + 1, lowest=lowest)


def sharers_after_window(sharers: int, use: WindowUse, limit: int | None) -> int:
    """The sharers to assume once the window ``use`` tallied is over: one fewer when
    it had no 429 and the key's use in it was no more than this client's own answers
    (nobody else spent from it); otherwise unchanged. Never below 1.

    A real sharer that spends in a window keeps the count; an idle one lets it fall by
    one a window, and its next 429 counts it again.
    """
    if sharers <= 1 or use.refused or use.lowest is None or limit is None:
        return sharers
    return sharers - 1 if limit - use.lowest <= use.answers else sharers


def turn_delay(spacing: float, since_last_start: float) -> float:
    """Seconds until the next start may go when starts are ``spacing`` apart (0: now)."""
    return max(0.0, spacing - since_last_start)


def _low_water(limit: int | None, low_fraction: float) -> float:
    """Remaining counts at or below this start pacing (compared with whole counts only)."""
    if limit is None:
        return 1
    low = limit * low_fraction  # no floor(): for a whole count, n > floor(x) iff n > x
    return low if low > 1 else 1


def pause_until_after_429(
    retry_after: str | None,
    *,
    now: float,
    wall_now: float | None = None,
    default: float = 1.0,
    cap: float = 60.0,
) -> float:
    """The instant (in ``now``'s clock) before which no request should start after a 429.

    ``Retry-After`` (seconds or an HTTP date, read against ``wall_now``, which
    defaults to ``now``) is honoured up to ``cap``; without a usable value the
    pause is ``default`` seconds, enough to stop a burst from hammering the limiter.
    """
    seconds = parse_retry_after(retry_after, now if wall_now is None else wall_now)
    if seconds is None:
        seconds = default
    return now + max(0.0, min(seconds, cap))
