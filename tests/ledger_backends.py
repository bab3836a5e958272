"""Shared pytest fixtures for the ledger tests (a plugin: ``pytest_plugins = ["ledger_backends"]``).

* ``redis_url`` (session): a real ``redis-server`` on a free 127.0.0.1 port, without
  persistence, stopped after the session. Missing binary: a failure when ``CI`` is
  set (CI must not silently skip Redis), a skip otherwise, with the install hint.
* ``closed_port()``: a local port nothing listens on (an unreachable server);
* ``rate_limit_store``: a ``RedisRateLimitStore`` on that server, under a fresh key;
* ``ledger_backend`` / ``ledger_factory``: parametrized over memory, sqlite and redis;
  the factory makes fresh, isolated ledgers and closes them after the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest

from benchmarks._redis_server import free_port, pings
from lensmor_async import RedisRateLimitStore
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Ledger
from lensmor_async.guard._ledger_redis import RedisLedger
from lensmor_async.guard._ledger_sqlite import SqliteLedger

BACKENDS = ("memory", "sqlite", "redis")
REDIS_HINT = "redis-server is not installed; run scripts/ensure-redis.sh (as root) to install it"
_START_ATTEMPTS = 3
_START_TIMEOUT = 15.0


def unique_redis_key() -> str:
    """A key prefix no other test uses, so tests sharing one server never interfere."""
    return f"lensmor-test:{uuid.uuid4().hex}"


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (to reach an "unreachable" Redis)."""
    return free_port()


def stop_redis(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_redis(
    exe: str, workdir: Path, *, aof: bool = False, port: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start redis-server on a free port (or ``port``); a lost race for the port tries another.

    ``aof``: with an append-only file (``appendfsync always``) in ``workdir``, so a restart
    on the same port and folder finds everything it acknowledged.
    """
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
    )
    for _ in range(_START_ATTEMPTS):
        chosen = port or free_port()
        command = [
            exe,
            "--bind", "127.0.0.1",
            "--port", str(chosen),
            "--save", "",
            *persistence,
            "--dir", str(workdir),
            "--logfile", str(workdir / f"redis-{chosen}.log"),
            "--daemonize", "no",
        ]  # fmt: skip
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + _START_TIMEOUT
        while proc.poll() is None and time.monotonic() < deadline:
            if pings(chosen):
                return proc, chosen
            time.sleep(0.05)
        stop_redis(proc)
    pytest.fail(f"redis-server did not answer PING; see the logs in {workdir}")


def redis_executable() -> str:
    """The redis-server binary (a failure on CI, a skip elsewhere, when it is missing)."""
    exe = shutil.which("redis-server")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI needs a real Redis: {REDIS_HINT}")
        pytest.skip(REDIS_HINT)
    return exe


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real redis-server started for this test session."""
    proc, port = start_redis(redis_executable(), tmp_path_factory.mktemp("redis"))
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_redis(proc)


@pytest.fixture
def redis_key() -> str:
    """A fresh key prefix for one test."""
    return unique_redis_key()


@pytest.fixture
async def rate_limit_store(
    redis_url: str, redis_key: str, anyio_backend: str
) -> AsyncIterator[RedisRateLimitStore]:
    """A shared rate-limit store on the session's redis-server, under a fresh key."""
    store = RedisRateLimitStore(redis_url, key=redis_key)
    yield store
    await store.aclose()


@attrs.frozen
class BackendSpec:
    """Which backend a parametrized test runs on, and where its stores go."""

    name: str
    tmp_path: Path
    redis_url: str | None


@attrs.define
class LedgerFactory:
    """Makes fresh, isolated ledgers of one backend and closes them all afterwards."""

    spec: BackendSpec
    made: list[Ledger] = attrs.field(factory=list)

    @property
    def backend(self) -> str:
        return self.spec.name

    def __call__(self, budget: int | None = None) -> Ledger:
        ledger = self._make(budget)
        self.made.append(ledger)
        return ledger

    def _make(self, budget: int | None) -> Ledger:
        if self.spec.name == "memory":
            return InMemoryLedger(budget)
        if self.spec.name == "sqlite":
            path = self.spec.tmp_path / f"ledger-{uuid.uuid4().hex}.db"
            return SqliteLedger(path, budget=budget)
        assert self.spec.redis_url is not None
        return RedisLedger(self.spec.redis_url, key=unique_redis_key(), budget=budget)

    async def aclose_all(self) -> None:
        for ledger in self.made:
            await ledger.aclose()


@pytest.fixture(params=BACKENDS)
def ledger_backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendSpec:
    """One backend per parametrization; the redis one starts (or skips for) Redis."""
    name: str = request.param
    url = request.getfixturevalue("redis_url") if name == "redis" else None
    return BackendSpec(name, tmp_path, url)


@pytest.fixture
async def ledger_factory(
    ledger_backend: BackendSpec, anyio_backend: str
) -> AsyncIterator[LedgerFactory]:
    """``factory(budget)`` → a fresh ledger of the parametrized backend."""
    factory = LedgerFactory(ledger_backend)
    try:
        yield factory
    finally:
        await factory.aclose_all()
