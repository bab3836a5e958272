"""Goodput at a rate limit: how close a bulk job gets to N calls in N ÷ rate seconds.

The server (``_ratelimit_server.py``, its own process) enforces a real limit, as a
fixed window or a token bucket, with ``X-RateLimit-*`` on every answer and 429 +
``Retry-After`` past it. Each client runs in fresh processes that warm up (one call),
report ready, and start together on a signal; every one makes ``credits.balance()``
calls from ``callers`` concurrent tasks until the job's ``calls`` are done:

* ``sdk`` — ``AsyncLensmor`` at its defaults (limiter, retries), one process;
* ``sdk ×P`` — the same job split over P processes sharing the key, each at defaults;
* ``sdk ×P +redis`` — the same, the processes sharing the limit through a
  ``RedisRateLimitStore`` on a redis-server the benchmark starts (skipped without one);
* ``aiohttp retry`` — the reference a user would hand-write: one
  ``aiohttp.ClientSession``; a 429 sleeps ``Retry-After`` and tries again.

Reported per run: completion time ÷ the ideal ``calls ÷ (limit ÷ window)``, the 429s
the server sent (as a share of calls), the requests that arrived before a
``Retry-After`` the server had given had passed, and the arrivals and 429s per second.

``python -m benchmarks._goodput --variant ... --url ... --calls N --callers C`` is one
client process (what the harness starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from benchmarks._payloads import BALANCE_PATH
from benchmarks._redis_server import redis_server
from benchmarks._system import ROOT, child, child_env

POLICIES = ("fixed", "bucket")
SDK = "sdk"
REFERENCE = "aiohttp retry"
WITH_REDIS = " +redis"
_START_TIMEOUT = 60.0


@attrs.frozen
class GoodputSettings:
    """One measurement's shape: the server's limit and the job."""

    limit: int
    window: float
    calls: int
    callers: int
    rounds: int
    processes: int
    """How many processes the shared-key variant splits the job over (0: skip it)."""

    @property
    def ideal(self) -> float:
        return self.calls * self.window / self.limit


@attrs.frozen
class GoodputRun:
    """One client finishing one job against one limiter."""

    policy: str
    variant: str
    round: int
    seconds: float
    ideal: float
    calls: int
    refused: int
    early: int
    errors: int
    arrivals_per_second: tuple[int, ...]
    refused_per_second: tuple[int, ...]

    @property
    def ratio(self) -> float:
        return self.seconds / self.ideal


@attrs.frozen
class GoodputResult:
    settings: GoodputSettings
    runs: tuple[GoodputRun, ...]

    def variants(self) -> list[str]:
        return list(dict.fromkeys(r.variant for r in self.runs))

    def of(self, policy: str, variant: str) -> list[GoodputRun]:
        return [r for r in self.runs if r.policy == policy and r.variant == variant]

    def median_ratio(self, policy: str, variant: str) -> float | None:
        runs = self.of(policy, variant)
        return statistics.median(r.ratio for r in runs) if runs else None


# --- the harness side ------------------------------------------------------------------


def _control(base_url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(base_url + path, data=data, timeout=10) as answer:
        return json.loads(answer.read())


@contextmanager
def _clients(argv: Sequence[str], count: int) -> Iterator[list[subprocess.Popen[str]]]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "benchmarks._goodput", *argv],
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)


def _one_run(
    target: tuple[str, str | None],
    api_key: str,
    policy: str,
    variant: str,
    settings: GoodputSettings,
    rnd: int,
) -> GoodputRun:
    base_url, redis_url = target
    processes = settings.processes if variant.startswith(SDK + " ×") else 1
    kind = REFERENCE if variant == REFERENCE else SDK
    share = -(-settings.calls // processes)
    argv = ["--variant", kind, "--url", base_url, "--api-key", api_key]
    argv += ["--calls", str(share), "--callers", str(settings.callers)]
    if variant.endswith(WITH_REDIS) and redis_url is not None:
        argv += ["--redis", redis_url]
    limiter = {"policy": policy, "limit": settings.limit, "window": settings.window}
    with _clients(argv, processes) as procs:
        for proc in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError(f"goodput client {variant} did not start")
        _control(base_url, "/_bench/reset", limiter)  # forget the warm-up calls
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("GO\n")
            proc.stdin.flush()
        reports = [json.loads(proc.communicate(timeout=600)[0].splitlines()[-1]) for proc in procs]
    stats = _control(base_url, "/_bench/stats")
    seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return GoodputRun(
        policy=policy,
        variant=variant,
        round=rnd,
        seconds=seconds,
        ideal=share * processes * settings.window / settings.limit,
        calls=sum(r["ok"] for r in reports),
        refused=stats["refused"],
        early=stats["early"],
        errors=sum(r["errors"] for r in reports),
        arrivals_per_second=tuple(stats["arrivals_per_second"]),
        refused_per_second=tuple(stats["refused_per_second"]),
    )


def measure_goodput(
    payloads_path: Path, api_key: str, settings: GoodputSettings, progress: Callable[[str], None]
) -> GoodputResult:
    """Every variant against both limiters, interleaved over ``settings.rounds`` rounds."""
    variants = [SDK, REFERENCE]
    runs = []
    with (
        child("benchmarks._ratelimit_server", [str(payloads_path)]) as server,
        redis_server() as redis_url,
    ):
        if settings.processes > 1:
            variants.append(f"{SDK} ×{settings.processes}")
            if redis_url is None:
                progress("goodput: no redis-server installed, skipping the +redis variant")
            else:
                variants.append(f"{SDK} ×{settings.processes}{WITH_REDIS}")
        target = (f"http://127.0.0.1:{json.loads(server.ready)['port']}", redis_url)
        for rnd in range(settings.rounds):
            for policy in POLICIES:
                for variant in variants:
                    progress(f"goodput round {rnd + 1}: {variant} against a {policy} limit")
                    runs.append(_one_run(target, api_key, policy, variant, settings, rnd))
    return GoodputResult(settings=settings, runs=tuple(runs))


# --- one client process ----------------------------------------------------------------


async def _sdk_job(
    url: str, api_key: str, redis_url: str | None
) -> tuple[Callable[[], Awaitable[Any]], Any]:
    # The reference process never imports the SDK.
    from lensmor_async import AsyncLensmor, RedisRateLimitStore

    store = None if redis_url is None else RedisRateLimitStore(redis_url)
    client = AsyncLensmor(api_key, base_url=url, rate_limit_store=store)
    return client.credits.balance, client  # closing the client closes its store


async def _reference_job(
    url: str, api_key: str, redis_url: str | None
) -> tuple[Callable[[], Awaitable[Any]], Any]:
    headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
    session = aiohttp.ClientSession(headers=headers)
    target = url + BALANCE_PATH

    async def call() -> Any:
        while True:
            async with session.get(target) as resp:
                body = await resp.read()
                if resp.status != 429:
                    resp.raise_for_status()
                    return json.loads(body)
                await asyncio.sleep(float(resp.headers.get("Retry-After", "1")))

    return call, session


async def _client(args: argparse.Namespace) -> dict[str, Any]:
    make = _sdk_job if args.variant == SDK else _reference_job
    call, closeable = await make(args.url, args.api_key, args.redis)
    async with closeable:
        await call()  # warm-up: connections, lazy imports
        print("READY", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        left, ok, errors = args.calls, 0, 0

        async def worker() -> None:
            nonlocal left, ok, errors
            while left > 0:
                left -= 1
                try:
                    await call()
                    ok += 1
                except Exception:  # counted: any failed call is a result of the run
                    errors += 1

        start = time.time()
        async with asyncio.TaskGroup() as tg:
            for _ in range(args.callers):
                tg.create_task(worker())
        return {"start": start, "end": time.time(), "ok": ok, "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variant", choices=(SDK, REFERENCE), required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--callers", type=int, required=True)
    parser.add_argument("--redis", help="share the limit through Redis at this URL")
    print(json.dumps(asyncio.run(_client(parser.parse_args()))), flush=True)


if __name__ == "__main__":
    main()
