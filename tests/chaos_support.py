"""Plain helpers shared by the reliability tests (chaos, cancellation, hardening, logging).

Imported as a normal module (``tests/`` is on ``sys.path``); it defines no fixtures.
Everything here observes the SDK from the outside: server truth, sockets, file
descriptors, log records and exception text.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType

import anyio
import orjson
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


@dataclass(frozen=True, slots=True)
class Seen:
    """One request a :class:`StubServer` received."""

    method: str
    path_qs: str
    headers: dict[str, str]
    at: float
    """``time.monotonic()`` when it arrived."""


class StubServer:
    """A tiny loopback server that answers every request with ``responder`` and logs it.

    Used where FakeLensmor cannot misbehave the right way (deep JSON, odd Retry-After
    values, hostile error messages) and as the "other origin" of redirect tests.
    ``responders`` are used in turn for successive requests; the last one repeats.
    """

    def __init__(self, *responders: Responder) -> None:
        self.seen: list[Seen] = []
        self.responders = responders or (_ok,)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        await request.read()
        self.seen.append(Seen(request.method, request.path_qs, dict(request.headers), at))
        turn = min(len(self.seen), len(self.responders)) - 1
        return await self.responders[turn](request)

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
    return web.Response(body=EMPTY_PAGE, content_type="application/json")


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
    return orjson.dumps(
        {"code": status, "message": message, "errorKey": error_key, "traceId": "t-1"}
    )


EMPTY_PAGE = orjson.dumps(
    {"items": [], "total": 0, "page": 1, "pageSize": 20, "totalPages": 0, "hasMore": False}
)
"""A valid, empty list page (what ``events.list`` decodes)."""


class RawServer:
    """A loopback TCP server that answers each request with fixed raw bytes.

    aiohttp's own server refuses to send broken or hostile HTTP; this one sends
    whatever it is given (garbage status lines, control characters in headers).
    """

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            self.requests += 1
            writer.write(self.raw)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def raw_response(body: bytes, *, status: str = "200 OK", headers: bytes = b"") -> bytes:
    """A complete raw HTTP/1.1 response (``headers`` are extra raw header lines)."""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode()
        + headers
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
