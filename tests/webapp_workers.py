"""The web app example under gunicorn with aiohttp's worker: real OS worker processes on one
port, sharing only the quote secret and an SQLite journal, against a FakeLensmor that the
test serves on a real loopback socket.

Each answer names its worker (``X-Webapp-Worker``); a keep-alive connection stays with the
worker that accepted it, so a test picks the worker of a request by picking a connection.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import anyio
import attrs
import psutil
from anyio.abc import Process

from lensmor_async.testing import FakeLensmor

ROOT = Path(__file__).resolve().parents[1]
WORKERS = 4
WORKER_HEADER = "X-Webapp-Worker"
START_SECONDS = 20.0
STOP_SECONDS = 5.0
MAX_CONNECTIONS_TRIED = 200


@attrs.frozen
class Workers:
    base_url: str
    master: int
    pids: frozenset[int]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gunicorn_command(port: int, workers: int = WORKERS) -> list[str]:
    """The command docs/webapp.md gives, on a loopback port (graceful stop kept short)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "examples.webapp.app:from_environment",
        "--worker-class",
        "aiohttp.GunicornWebWorker",
        "--workers",
        str(workers),
        "--bind",
        f"127.0.0.1:{port}",
        "--graceful-timeout",
        "2",
    ]


@asynccontextmanager
async def gunicorn_workers(fake: FakeLensmor, journal: Path) -> AsyncIterator[Workers]:
    """``WORKERS`` worker processes serving the app; every one of them is gone afterwards."""
    port = free_port()
    env = {
        **os.environ,
        "LENSMOR_API_KEY": fake.api_key,
        "LENSMOR_BASE_URL": fake.url,
        "LENSMOR_QUOTE_SECRET": "one-secret-for-all-workers",
        "LENSMOR_WEBAPP_JOURNAL": str(journal),
        "LENSMOR_WEBAPP_SHOW_WORKER": "1",
    }
    # A session of its own: teardown ends the whole process group, whatever is left.
    master = await anyio.open_process(
        gunicorn_command(port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        pids = await _started(master, f"http://127.0.0.1:{port}")
        yield Workers(f"http://127.0.0.1:{port}", master.pid, pids)
    finally:
        with anyio.CancelScope(shield=True):
            await _stop(master)


async def _started(master: Process, base_url: str) -> frozenset[int]:
    """Wait (without blocking the loop that serves the fake) until all workers answer."""
    with anyio.fail_after(START_SECONDS):
        while master.returncode is None:
            children = frozenset(c.pid for c in psutil.Process(master.pid).children())
            if len(children) == WORKERS and await _answers(base_url):
                return children
            await anyio.sleep(0.1)
    raise RuntimeError(f"gunicorn exited with {master.returncode} before serving")


async def _answers(base_url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{base_url}/nowhere") as r:
            return WORKER_HEADER in r.headers
    except aiohttp.ClientError:
        return False


async def _stop(master: Process) -> None:
    tree = [master.pid, *(c.pid for c in psutil.Process(master.pid).children(recursive=True))]
    master.terminate()  # SIGTERM: gunicorn stops its workers gracefully
    with anyio.move_on_after(STOP_SECONDS):
        await master.wait()
    if master.returncode is None:
        os.killpg(master.pid, signal.SIGKILL)  # its own session: the group is the master's pid
        await master.wait()
    _, alive = psutil.wait_procs([p for p in map(_process, tree) if p is not None], timeout=5)
    for process in alive:
        process.kill()


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def worker_of(response: aiohttp.ClientResponse) -> int:
    return int(response.headers[WORKER_HEADER])


class Connection:
    """One keep-alive connection, so one worker, for every request made through it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))

    async def request(self, method: str, path: str) -> tuple[int, int, str]:
        """(status, worker pid, Location or body); redirects are not followed."""
        url = f"{self.base_url}{path}"
        async with self.session.request(method, url, allow_redirects=False) as response:
            body = await response.text()
            where = response.headers.get("Location", body)
            return response.status, worker_of(response), where

    async def close(self) -> None:
        await self.session.close()


@asynccontextmanager
async def connection_to_another_worker(
    base_url: str, path: str, avoid: set[int]
) -> AsyncIterator[tuple[Connection, int]]:
    """A connection whose worker is not in ``avoid``: new connections until one lands
    elsewhere (the kernel hands each to whichever worker accepts it first), probing with
    ``GET path``."""
    for _ in range(MAX_CONNECTIONS_TRIED):
        connection = Connection(base_url)
        try:
            _, worker, _ = await connection.request("GET", path)
            if worker not in avoid:
                yield connection, worker
                return
        finally:
            await connection.close()
    raise AssertionError(f"{MAX_CONNECTIONS_TRIED} connections all reached workers {avoid}")
