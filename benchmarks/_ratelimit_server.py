"""A loopback server that enforces a real rate limit, for the goodput benchmark.

Run as a child process (``python -m benchmarks._ratelimit_server PAYLOADS``): it pins
itself to CPU 1, binds 127.0.0.1 on a free port and prints ``READY {"port": N}``.
Every request to any API path spends from one shared limit (the callers share one
key) and is answered with the captured ``credits.balance()`` body, or with a 429:

* ``fixed`` — ``limit`` requests per ``window`` seconds, windows aligned to the Unix
  clock (so ``X-RateLimit-Reset`` is a whole second when the window is);
* ``bucket`` — a token bucket of ``limit`` tokens refilled at ``limit / window`` per
  second; ``X-RateLimit-Reset`` is when the bucket would be full again.

Both send ``X-RateLimit-Limit/Remaining/Reset`` on every answer, and
``Retry-After`` (whole seconds, at least 1, as HTTP allows) on a 429. Arrivals are
logged so the harness can count 429s and *early* requests: those that arrive before
the end of a ``Retry-After`` the server had already given (one key, so any 429
counts for every caller). ``POST /_bench/reset`` with ``{"policy", "limit", "window"}``
starts a fresh measurement; ``GET /_bench/stats`` returns what it saw.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from benchmarks._payloads import Payloads
from benchmarks._server import serve_handler
from benchmarks._system import SERVER_CPU, pin

Decision = tuple[bool, int, int, int]
"""(allowed, remaining, reset as Unix seconds, Retry-After seconds if refused)."""


class FixedWindow:
    """``limit`` requests per window; windows start at multiples of ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.window = limit, window
        self.index, self.used = -1, 0

    def admit(self, now: float) -> Decision:
        index = math.floor(now / self.window)
        if index != self.index:
            self.index, self.used = index, 0
        ends = (index + 1) * self.window
        reset = math.ceil(ends)
        if self.used >= self.limit:
            return False, 0, reset, max(1, math.ceil(ends - now))
        self.used += 1
        return True, self.limit - self.used, reset, 0


class TokenBucket:
    """``limit`` tokens, refilled continuously at ``limit / window`` tokens per second."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit, self.rate = limit, limit / window
        self.tokens, self.at = float(limit), time.time()

    def admit(self, now: float) -> Decision:
        self.tokens = min(float(self.limit), self.tokens + (now - self.at) * self.rate)
        self.at = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        reset = math.ceil(now + (self.limit - self.tokens) / self.rate)
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - self.tokens) / self.rate))
        return allowed, math.floor(self.tokens), reset, retry_after


POLICIES: dict[str, Callable[[int, float], FixedWindow | TokenBucket]] = {
    "fixed": FixedWindow,
    "bucket": TokenBucket,
}


class Ledger:
    """One measurement: the limiter in force and what arrived."""

    def __init__(self, policy: str, limit: int, window: float) -> None:
        self.policy = POLICIES[policy](limit, window)
        self.limit = limit
        self.arrivals: list[float] = []
        self.refusals: list[float] = []
        self.early = 0
        self.horizon = -math.inf
        """No request should arrive before this instant (the latest Retry-After's end)."""

    def admit(self, now: float) -> Decision:
        self.arrivals.append(now)
        if now < self.horizon:
            self.early += 1
        decision = self.policy.admit(now)
        if not decision[0]:
            self.refusals.append(now)
            self.horizon = max(self.horizon, now + decision[3])
        return decision

    def stats(self) -> dict[str, Any]:
        first = self.arrivals[0] if self.arrivals else 0.0
        return {
            "requests": len(self.arrivals),
            "refused": len(self.refusals),
            "early": self.early,
            "arrivals_per_second": _per_second(self.arrivals, first),
            "refused_per_second": _per_second(self.refusals, first),
        }


def _per_second(instants: list[float], first: float) -> list[int]:
    """How many of ``instants`` fell in each second after ``first``."""
    counts = [0] * (math.floor(instants[-1] - first) + 1 if instants else 0)
    for t in instants:
        counts[math.floor(t - first)] += 1
    return counts


def _handler(payloads: Payloads) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    body = payloads.balance.body
    ledger = Ledger("fixed", 200, 1.0)

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        nonlocal ledger
        if request.path == "/_bench/reset":
            spec = await request.json()
            ledger = Ledger(spec["policy"], int(spec["limit"]), float(spec["window"]))
            return web.json_response({"ok": True})
        if request.path == "/_bench/stats":
            return web.json_response(ledger.stats())
        allowed, remaining, reset, retry_after = ledger.admit(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-RateLimit-Limit": str(ledger.limit),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }
        if allowed:
            return web.Response(body=body, headers=headers)
        headers["Retry-After"] = str(retry_after)
        refusal = b'{"code":429,"message":"Too many requests"}'
        return web.Response(status=429, body=refusal, headers=headers)

    return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("payloads", type=Path)
    args = parser.parse_args()
    pinned = pin(SERVER_CPU)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve_handler(_handler(Payloads.load(args.payloads)), 0, pinned=pinned))


if __name__ == "__main__":
    main()
