"""Plain helpers shared by the reliability tests (chaos, cancellation, hardening, logging).

Imported as a normal module (``tests/`` is on ``sys.path``); it defines no fixtures.
Everything here observes the SDK from the outside: server truth, sockets, file
descriptors, log records and exception text.
"""

from __future__ import annotations

import logging
import os
import pickle
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

import anyio
import psutil
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from lensmor_async.testing import FaultKind, FaultSchedule

SEEDS_ENV = "LENSMOR_CHAOS_SEEDS"

PAID_ROUTES = frozenset(
    {
        "/external/events/{id}/unlock",
        "/external/contacts/unlock",
        "/external/contacts/unlock-phone",
        "/external/exhibitors/search-events",
        "/external/exhibitors/search-by-company-name",
        "/external/personnel/unlock-linkedin-activity",
        "/external/personnel/generate-outreach-message",
    }
)
"""Route templates of every paid operation (what a fault split keys on)."""


# --------------------------------------------------------------------------- seeds & knobs


def chaos_seeds(default: Iterable[int]) -> list[int]:
    """Seeds to run: ``LENSMOR_CHAOS_SEEDS=1,5,9`` (a list) or ``=20`` (seeds 1..20)."""
    raw = os.environ.get(SEEDS_ENV, "").strip()
    if not raw:
        return list(default)
    parts = [p.strip() for p in raw.split(",") if p.strip()]
    if len(parts) == 1:
        return list(range(1, int(parts[0]) + 1))
    return [int(p) for p in parts]


def env_float(name: str, default: float) -> float:
    """A float knob from the environment (e.g. the 429-storm duration)."""
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


def emit(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Print a summary line past pytest's capture, so CI logs always show it."""
    with capsys.disabled():
        print(f"\n{line}")


def summary_line(name: str, seed: int, figures: Mapping[str, object]) -> str:
    """``name seed=N k=v k=v ...`` (one line, stable order)."""
    body = " ".join(f"{key}={value}" for key, value in figures.items())
    return f"{name} seed={seed} {body}"


# --------------------------------------------------------------------------- fault schedules


class RouteSplitSchedule(FaultSchedule):
    """Paid routes follow one seeded schedule, every other route another one.

    Both decide from ``(seed, request number)`` only, so a run replays with its seed.
    """

    def __init__(self, paid: FaultSchedule, other: FaultSchedule) -> None:
        super().__init__(seed=paid.seed)
        self.paid = paid
        self.other = other

    def fault_for(self, request_no: int, route: str) -> FaultKind | None:
        schedule = self.paid if route in PAID_ROUTES else self.other
        return schedule.fault_for(request_no, route)


# --------------------------------------------------------------------------- leaks


def client_sockets(port: int) -> int:
    """Open TCP sockets of this process connected *to* ``port`` (client side only)."""
    return sum(
        1
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.raddr and conn.raddr.port == port
    )


async def settled_client_sockets(port: int, *, attempts: int = 50) -> int:
    """``client_sockets`` after giving closing transports a few loop turns to finish."""
    count = client_sockets(port)
    for _ in range(attempts):
        if count == 0:
            return 0
        await anyio.sleep(0.02)
        count = client_sockets(port)
    return count


def fd_count() -> int:
    """File descriptors this process has open."""
    return len(os.listdir("/proc/self/fd"))


async def settled_fd_count(baseline: int, *, attempts: int = 50) -> int:
    """``fd_count`` after letting closed sockets finish closing (never below the baseline)."""
    count = fd_count()
    for _ in range(attempts):
        if count <= baseline:
            return count
        await anyio.sleep(0.02)
        count = fd_count()
    return count


def exception_texts(exc: BaseException) -> list[str]:
    """Every way an exception can be shown or shipped: str, repr, traceback, pickle."""
    texts = [str(exc), repr(exc)]
    texts.append("".join(traceback.format_exception(exc)))
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        texts.extend((str(link), repr(link), repr(getattr(link, "args", ()))))
        link = link.__cause__ or link.__context__
    try:
        texts.append(pickle.dumps(exc).decode("latin-1"))
    except (TypeError, pickle.PicklingError, AttributeError):
        texts.append("<unpicklable>")
    return texts


def secret_fragments(key: str) -> tuple[str, ...]:
    """The key and its middle part: a leak of either counts (the last 4 chars may show)."""
    return (key, key[:-4]) if len(key) > 8 else (key,)


def key_leaks(
    key: str,
    records: Iterable[logging.LogRecord] = (),
    errors: Iterable[BaseException] = (),
) -> int:
    """How many log lines and exceptions mention the API key (or most of it)."""
    fragments = secret_fragments(key)
    leaks = 0
    for record in records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        leaks += any(fragment in text for fragment in fragments)
    for exc in errors:
        leaks += any(fragment in text for text in exception_texts(exc) for fragment in fragments)
    return leaks


# --------------------------------------------------------------------------- a stub origin


Responder = Callable[[web.Request], Awaitable[web.StreamResponse]]


class StubServer:
    """A tiny loopback server that answers every request with ``responder`` and logs it.

    Used where FakeLensmor cannot misbehave the right way (deep JSON, odd Retry-After
    values, hostile error messages) and as the "other origin" of redirect tests.
    """

    def __init__(self, responder: Responder | None = None) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self.responder = responder or _ok
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.seen.append((request.method, request.path_qs, dict(request.headers)))
        return await self.responder(request)

    @property
    def url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    async def __aenter__(self) -> StubServer:
        await self._server.start_server()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._server.close()


async def _ok(request: web.Request) -> web.StreamResponse:
    del request
    return web.json_response({"ok": True})


def answer(status: int, body: bytes | str, headers: Mapping[str, str] | None = None) -> Responder:
    """A responder that always sends ``status`` with ``body`` (JSON content type)."""
    data = body.encode() if isinstance(body, str) else body

    async def respond(request: web.Request) -> web.StreamResponse:
        del request
        return web.Response(
            status=status, body=data, content_type="application/json", headers=headers
        )

    return respond


def envelope(status: int, message: str, error_key: str = "ERROR") -> bytes:
    """An API error envelope body."""
    import orjson

    return orjson.dumps(
        {"code": status, "message": message, "errorKey": error_key, "traceId": "t-1"}
    )


def first(items: Iterable[Any]) -> Any:
    """The first item (tests use it on one-element collections)."""
    return next(iter(items))
