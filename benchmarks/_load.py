"""Closed-loop load: C workers call one endpoint back to back; throughput and latency.

Four clients are compared on the same two routes:

* ``sdk`` — ``AsyncLensmor`` with typed models, a ``CreditGuard(confirm=always_confirm)``
  attached and the default ``RetryPolicy`` (not testing mode);
* ``aiohttp+json`` — one ``aiohttp.ClientSession``, ``json.loads(await resp.read())``;
* ``aiohttp+orjson`` — the same with ``orjson.loads``;
* ``httpx`` — one ``httpx.AsyncClient``, ``resp.json()``;
* ``pyreqwest`` — the Rust-backed client (``_pyreqwest.py``) + orjson + the SDK's own
  models, typed results like the SDK's; left out, saying why, where not installed.

``typed-minimum`` (``_minimum.py``, its own section) is the floor under the SDK: a
hand-rolled keep-alive client building the same typed models from the same bytes.

Every client gets the same connection-pool size, ``max(100, C)``, so none of them
is throttled below the offered concurrency (the SDK's limiter gets ``max(64, C)``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import attrs
import httpx
import orjson

from benchmarks._minimum import typed_minimum
from benchmarks._payloads import BALANCE_PATH, EVENT_ID, PAGE_SIZE, PERSONNEL_PATH, personnel_query
from benchmarks._pyreqwest import missing_reason, pyreqwest_client
from benchmarks._system import cpu_seconds
from lensmor_async import (
    AsyncLensmor,
    CreditGuard,
    Hook,
    RequestEvent,
    SpendEvent,
    always_confirm,
)

VARIANTS = ("sdk", "aiohttp+json", "aiohttp+orjson", "httpx", "pyreqwest")
ENDPOINTS = ("balance", "personnel")
CallFn = Callable[[], Awaitable[Any]]


@attrs.frozen
class Cell:
    """One measured window of one client on one route at one concurrency."""

    variant: str
    endpoint: str
    concurrency: int
    round: int
    completed: int
    errors: int
    seconds: float
    latencies_ms: tuple[float, ...] = attrs.field(repr=False)
    client_cpu: float
    """Fraction of one CPU the client process used during the window."""
    server_cpu: float | None
    """Fraction of one CPU the server process used (None where unknown)."""

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def pool_size(concurrency: int) -> int:
    return max(100, concurrency)


def _url(base_url: str, endpoint: str) -> str:
    if endpoint == "balance":
        return base_url + BALANCE_PATH
    query = "&".join(f"{k}={v}" for k, v in personnel_query().items())
    return f"{base_url}{PERSONNEL_PATH}?{query}"


def _raw_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}


@asynccontextmanager
async def _sdk(
    base_url: str, api_key: str, endpoint: str, concurrency: int, hooks: Sequence[Hook] = ()
) -> AsyncIterator[CallFn]:
    guard = CreditGuard(confirm=always_confirm)
    async with AsyncLensmor(
        api_key,
        base_url=base_url,
        guard=guard,
        max_concurrency=max(64, concurrency),
        hooks=hooks,
    ) as client:
        if endpoint == "balance":
            yield client.credits.balance
        else:
            personnel = client.personnel

            async def page() -> Any:
                return await personnel.list(EVENT_ID, page_size=PAGE_SIZE)

            yield page


@asynccontextmanager
async def _aiohttp(
    base_url: str, api_key: str, endpoint: str, concurrency: int, loads: Callable[[bytes], Any]
) -> AsyncIterator[CallFn]:
    url = _url(base_url, endpoint)
    connector = aiohttp.TCPConnector(limit=pool_size(concurrency))
    async with aiohttp.ClientSession(headers=_raw_headers(api_key), connector=connector) as session:

        async def call() -> Any:
            async with session.get(url) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                return loads(await resp.read())

        yield call


@asynccontextmanager
async def _httpx(
    base_url: str, api_key: str, endpoint: str, concurrency: int
) -> AsyncIterator[CallFn]:
    url = _url(base_url, endpoint)
    size = pool_size(concurrency)
    limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
    async with httpx.AsyncClient(headers=_raw_headers(api_key), limits=limits) as client:

        async def call() -> Any:
            resp = await client.get(url)
            if resp.status_code != 200:
                raise RuntimeError(f"HTTP {resp.status_code}")
            return resp.json()

        yield call


def available_variants(variants: Sequence[str]) -> tuple[tuple[str, ...], dict[str, str]]:
    """The ``variants`` this environment can run, and why any other is left out."""
    reason = missing_reason() if "pyreqwest" in variants else None
    if reason is None:
        return tuple(variants), {}
    return tuple(v for v in variants if v != "pyreqwest"), {"pyreqwest": reason}


def _discard(event: RequestEvent | SpendEvent) -> None:
    """A hook that does nothing: what remains is the cost of building and passing events."""


def open_variant(variant: str, base_url: str, api_key: str, endpoint: str, concurrency: int) -> Any:
    """An async context manager that yields a zero-argument coroutine function."""
    if variant == "sdk":
        return _sdk(base_url, api_key, endpoint, concurrency)
    if variant == "sdk+hook":
        return _sdk(base_url, api_key, endpoint, concurrency, hooks=(_discard,))
    if variant == "aiohttp+json":
        return _aiohttp(base_url, api_key, endpoint, concurrency, json.loads)
    if variant == "aiohttp+orjson":
        return _aiohttp(base_url, api_key, endpoint, concurrency, orjson.loads)
    if variant == "httpx":
        return _httpx(base_url, api_key, endpoint, concurrency)
    if variant == "pyreqwest":
        url, headers = _url(base_url, endpoint), _raw_headers(api_key)
        return pyreqwest_client(url, headers, endpoint, pool_size(concurrency))
    if variant == "typed-minimum":
        return typed_minimum(base_url, api_key, endpoint)
    raise ValueError(f"unknown variant {variant!r}")


@attrs.define
class _Window:
    """Shared state of one window: 0 warming up, 1 measuring, 2 stopping."""

    phase: int = 0
    completed: int = 0
    errors: int = 0
    latencies: list[float] = attrs.Factory(list)


async def _worker(call: CallFn, window: _Window) -> None:
    perf = time.perf_counter
    latencies = window.latencies
    while window.phase != 2:
        started = perf()
        try:
            await call()
        except Exception:
            window.errors += 1
            # Back off a little so a dead server cannot spin the loop at 100% CPU.
            await asyncio.sleep(0.001)
            continue
        # Completions are counted by when they end: that is a closed loop's throughput.
        if window.phase == 1:
            latencies.append((perf() - started) * 1000.0)
            window.completed += 1


@attrs.frozen
class _Measured:
    window: _Window
    elapsed: float
    client_cpu: float
    server_cpu: float | None


async def drive(
    call: CallFn, concurrency: int, *, warmup: float, duration: float, server_pid: int | None
) -> _Measured:
    """Run ``concurrency`` workers through a warm-up and one measured window."""
    window = _Window()
    tasks = [asyncio.create_task(_worker(call, window)) for _ in range(concurrency)]
    try:
        await asyncio.sleep(warmup)
        window.phase = 1
        server0 = None if server_pid is None else cpu_seconds(server_pid)
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        window.phase = 2
        elapsed = time.perf_counter() - t0
        client_cpu = (time.process_time() - cpu0) / elapsed
        server1 = None if server_pid is None else cpu_seconds(server_pid)
    finally:
        window.phase = 2
        await _drain(tasks)
    server_cpu = None
    if server0 is not None and server1 is not None:
        server_cpu = (server1 - server0) / elapsed
    return _Measured(window, elapsed, client_cpu, server_cpu)


DRAIN_SECONDS = 10.0
"""How long the requests in flight at the end of a window may take to finish."""


async def _drain(tasks: list[asyncio.Task[None]]) -> None:
    """Let the workers finish the requests they have in flight, then stop them.

    Requests still in flight are not counted (the window is over), but they are let
    finish rather than cancelled: cancelling requests inside httpx's connection pool
    hung the run on some anyio releases (its pool lock never released). Only workers
    that overrun ``DRAIN_SECONDS`` are cancelled.
    """
    _, overrunning = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)
    for task in overrunning:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def measure_cell(
    variant: str,
    endpoint: str,
    concurrency: int,
    *,
    base_url: str,
    api_key: str,
    server_pid: int | None,
    round_no: int,
    warmup: float,
    duration: float,
) -> Cell:
    """Open a fresh client, warm it up (connections, caches), then measure one window."""
    gc.collect()
    async with open_variant(variant, base_url, api_key, endpoint, concurrency) as call:
        measured = await drive(
            call, concurrency, warmup=warmup, duration=duration, server_pid=server_pid
        )
    window = measured.window
    return Cell(
        variant=variant,
        endpoint=endpoint,
        concurrency=concurrency,
        round=round_no,
        completed=window.completed,
        errors=window.errors,
        seconds=measured.elapsed,
        latencies_ms=tuple(window.latencies),
        client_cpu=measured.client_cpu,
        server_cpu=measured.server_cpu,
    )
