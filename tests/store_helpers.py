"""Helpers shared by the tests of the durable stores (SQLite journal, shared ledgers).

A plain module (no asserts, so it needs no assertion rewriting):

* :func:`file_mode`, :func:`store_modes`: permission bits of a file, of a SQLite
  file and its WAL sidecars; :func:`umask`: a process umask for a block;
* :func:`query`: one SQL statement on a file, through a connection of its own;
* :func:`write_locked`: another connection holds SQLite's write lock meanwhile;
* :func:`race_processes`: spawn workers that start together and each send one result.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import sqlite3
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio.to_thread
import pytest

LOCK_WAIT = 10.0  # seconds; a deadlock guard only


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def store_modes(path: Path) -> tuple[int, int, int]:
    """Modes of a SQLite file and its ``-wal``/``-shm`` files (exist while it is open)."""
    return file_mode(path), file_mode(Path(f"{path}-wal")), file_mode(Path(f"{path}-shm"))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """The process umask is ``mask`` inside the block."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def query(path: Path, statement: str, *params: Any) -> list[Any]:
    """Run ``statement`` on the SQLite file ``path`` and commit; returns its rows."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(statement, params).fetchall()
        conn.commit()
        return rows
    finally:
        conn.close()


def _hold_write_lock(path: Path, locked: threading.Event, release: threading.Event) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(30)
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextlib.asynccontextmanager
async def write_locked(path: Path) -> AsyncIterator[threading.Event]:
    """Hold SQLite's write lock on ``path`` from a thread's own connection.

    Entered once the lock is held; the lock goes when the yielded event is set (e.g.
    by a timer) or at the latest when the block ends.
    """
    locked, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_write_lock, args=(path, locked, release))
    holder.start()
    try:
        await anyio.to_thread.run_sync(locked.wait, LOCK_WAIT)
        yield release
    finally:
        release.set()
        holder.join(LOCK_WAIT)


def race_processes(
    worker: Callable[..., None],
    args_of: Callable[[int], tuple[Any, ...]],
    count: int,
    *,
    what: str,
    result_timeout: float,
    join_timeout: float,
) -> list[Any]:
    """Run ``worker(*args_of(n), start, results)`` in ``count`` spawned processes.

    ``start`` is a barrier all of them wait on (so they race), and each puts exactly
    one result on ``results``; returns them in arrival order. Blocking: call it from
    a worker thread (``anyio.to_thread.run_sync``).
    """
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(count)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(*args_of(n), start, results), daemon=True)
        for n in range(count)
    ]
    for proc in procs:
        proc.start()
    try:
        return [results.get(timeout=result_timeout) for _ in procs]
    except queue.Empty:
        pytest.fail(f"{what}: a worker sent no result in time")
    finally:
        for proc in procs:
            proc.join(join_timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(join_timeout)
            proc.close()
        results.close()
        results.join_thread()
