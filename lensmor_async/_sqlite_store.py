"""One SQLite file used from an event loop, shared by every process on one host.

The machinery under the SQLite ledger, the spend journal and the bulk checkpoint.

Why it never blocks the event loop: every transaction runs in a worker thread
(``anyio.to_thread.run_sync``); an ``anyio.Lock`` serialises this store's use of its
one connection, so waiting coroutines park on the loop, not in threads.

Why a transaction is atomic across processes: a writer uses ``BEGIN IMMEDIATE``,
which takes SQLite's single write lock before reading anything, so read-check-write
never interleaves with another writer. WAL lets readers work while a writer commits.

``SQLITE_BUSY`` never reaches the caller: SQLite's own busy handler waits, and a
busy answer it does not wait out is retried with jittered backoff until
``busy_timeout`` seconds have passed; then a
:class:`~lensmor_async.errors.LedgerUnavailableError` (chained to the SQLite error)
fails the caller closed.

The file is created with mode 0600 before SQLite opens it (SQLite gives its
``-wal``/``-shm`` files the same mode); an existing file keeps its mode.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import anyio
import anyio.to_thread

from lensmor_async._core.validation import is_seconds
from lensmor_async.errors import ConfigurationError, InvalidRequestError, LedgerUnavailableError

__all__ = ["Mode", "SqliteStore"]

_T = TypeVar("_T")
Mode = Literal["IMMEDIATE", "DEFERRED"]

_MIN_ATTEMPTS = 2
_BACKOFF_START = 0.01
_BACKOFF_MAX = 0.25
_MIN_WAIT_MS = 10
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def check_store_path(path: str | os.PathLike[str], what: str) -> str:
    """A real file path: ``:memory:`` or URI names would not be shared by processes."""
    text = os.fspath(path)
    if not isinstance(text, str) or not text or text == ":memory:" or text.startswith("file:"):
        raise ConfigurationError(f"{what} needs the path of a file shared by its processes")
    return text


def check_busy_timeout(busy_timeout: object) -> float:
    """Seconds >= 0 (finite)."""
    if not is_seconds(busy_timeout, allow_zero=True):
        raise ConfigurationError(f"busy_timeout must be seconds >= 0, got {busy_timeout!r}")
    return float(busy_timeout)


def create_private_file(path: str) -> None:
    """Create ``path`` with mode 0600 unless it already exists (an existing mode is kept)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        return
    try:
        # The umask may have removed bits we want; it can never have added any.
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)


class SqliteStore:
    """One SQLite file used from an event loop: private file, WAL, schema, busy retries.

    ``what`` names the store in error messages ("the spend journal"). ``synchronous``
    is SQLite's durability level: ``FULL`` survives power loss, ``NORMAL`` (in WAL)
    survives a crash of the process. ``on_open(conn)`` runs once per connection, in
    the schema's transaction after its statements (e.g. to seed or check a settings
    row); it may raise :class:`~lensmor_async.errors.ConfigurationError` to refuse the
    file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        schema: Sequence[str],
        what: str,
        busy_timeout: float = 5.0,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        on_open: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.what = what
        self.path = check_store_path(path, what)
        self.busy_timeout = check_busy_timeout(busy_timeout)
        self._schema = tuple(schema)
        self._synchronous = synchronous
        self._on_open = on_open
        self._conn: sqlite3.Connection | None = None
        self._lock = anyio.Lock()
        self._closed = False

    async def run(self, op: Callable[[sqlite3.Connection], _T], mode: Mode) -> _T:
        """Run ``op`` in one transaction in a worker thread, retrying while SQLite is busy."""
        deadline: float | None = None
        delay = _BACKOFF_START
        attempt = 0
        while True:
            attempt += 1
            async with self._lock:
                if self._closed:
                    raise InvalidRequestError(f"{self.what} is closed")
                # The clock starts at the first attempt: queueing behind this store's
                # other callers is not time spent waiting for another process.
                if deadline is None:
                    deadline = time.monotonic() + self.busy_timeout
                try:
                    return await anyio.to_thread.run_sync(self._transaction, op, mode, deadline)
                except sqlite3.OperationalError as exc:
                    out_of_time = time.monotonic() >= deadline and attempt >= _MIN_ATTEMPTS
                    if not _is_busy(exc) or out_of_time:
                        raise self._failure(exc) from exc
                except sqlite3.Error as exc:
                    raise self._failure(exc) from exc
            # Back off outside the lock, with jitter so competing processes spread out.
            remaining = max(0.0, deadline - time.monotonic())
            await anyio.sleep(min(delay * (0.5 + random.random()), remaining))
            delay = min(delay * 2, _BACKOFF_MAX)

    async def aclose(self) -> None:
        """Close the connection (idempotent); later calls raise ``InvalidRequestError``."""
        async with self._lock:
            self._closed = True
            conn, self._conn = self._conn, None
            if conn is not None:
                await anyio.to_thread.run_sync(conn.close)

    def _failure(self, exc: sqlite3.Error) -> LedgerUnavailableError:
        if isinstance(exc, sqlite3.OperationalError) and _is_busy(exc):
            return LedgerUnavailableError(
                f"{self.what} stayed locked by another process; retry later"
            )
        return LedgerUnavailableError(f"{self.what} failed: {type(exc).__name__}")

    def _transaction(
        self, op: Callable[[sqlite3.Connection], _T], mode: Mode, deadline: float
    ) -> _T:
        conn = self._connection()
        # SQLite's own busy handler waits at most until our deadline (and a little).
        wait_ms = max(_MIN_WAIT_MS, int((deadline - time.monotonic()) * 1000))
        conn.execute(f"PRAGMA busy_timeout = {wait_ms}")
        try:
            conn.execute(f"BEGIN {mode}")
            result = op(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise
        return result

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        try:
            create_private_file(self.path)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot create the file of {self.what}: {exc.strerror or type(exc).__name__}"
            ) from exc
        conn = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()  # also rolls back an unfinished schema transaction
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            for statement in self._schema:
                conn.execute(statement)
            if self._on_open is not None:
                self._on_open(conn)
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise  # retried by ``run``
            raise ConfigurationError(f"cannot open {self.what}: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise ConfigurationError(f"the file is not a usable SQLite file: {exc}") from exc
