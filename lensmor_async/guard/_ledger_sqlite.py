"""A ledger in a SQLite file, shared by every process on one host.

Why it stays atomic across processes: every write runs in a ``BEGIN IMMEDIATE``
transaction, which takes SQLite's single write lock before reading the totals, so
the budget check and the update can never interleave with another writer. WAL
mode lets snapshots read while a writer works, and the busy timeout makes writers
queue for the lock instead of failing at once.

The file, its threads and its locking are
:class:`~lensmor_async._sqlite_store.SqliteStore`'s (shared with the spend
journal): transactions run in a worker thread, never blocking the event loop, and
``SQLITE_BUSY`` never reaches the caller: a busy transaction is retried with a short,
jittered backoff until ``busy_timeout`` seconds have passed, then the caller gets a
:class:`~lensmor_async.errors.LedgerUnavailableError` (chained to the SQLite error),
which fails the paid call closed. ``synchronous = FULL``: a committed spend survives
a power cut, so the budget cannot be re-spent.

Commits are idempotent per hold: the commit that drops a hold also inserts its id,
fence and actual into ``lensmor_committed_holds`` in the same transaction, so a
repeated commit (crash recovery) finds the marker and changes nothing. Markers older
than ``commit_retention`` are deleted by later commits, keeping the table bounded.

``release_intent`` deletes an intent's live holds in one ``BEGIN IMMEDIATE``
transaction through the ``lensmor_holds_intent`` index. Opening a file runs the
whole (``IF NOT EXISTS``) schema, so files made by older versions gain new tables
and indexes on their next open.

The budget lives in the file: the first opener stores it, and every later opener
must pass the same ``budget`` (``None`` included) or gets a ``ConfigurationError``.
Expiry uses this host's wall clock (``time.time()``), shared by all its processes.
The file is created with mode 0600 (SQLite gives its ``-wal``/``-shm`` files the
same mode).
"""

from __future__ import annotations

import os
import sqlite3
import time

from lensmor_async._sqlite_store import SqliteStore
from lensmor_async.errors import ConfigurationError
from lensmor_async.guard._ledger_common import (
    DEFAULT_COMMIT_RETENTION,
    DEFAULT_HOLD_TTL,
    budget_exceeded,
    check_amount,
    check_budget,
    check_hold,
    check_hold_id,
    check_intent_key,
    check_reserve,
    check_retention,
    check_settle,
    check_ttl,
    new_hold_id,
)
from lensmor_async.guard._ledger_protocol import Hold, LedgerSnapshot, StaleHoldError

__all__ = ["SqliteLedger"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lensmor_ledger (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        budget INTEGER,
        spent INTEGER NOT NULL,
        fence INTEGER NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS lensmor_holds (
        hold_id TEXT PRIMARY KEY,
        intent_key TEXT NOT NULL,
        amount INTEGER NOT NULL,
        fence INTEGER NOT NULL,
        expires_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS lensmor_holds_expiry ON lensmor_holds (expires_at)",
    # release_intent looks holds up by intent key; files created before it gain the
    # index on their next open (every statement here is IF NOT EXISTS).
    "CREATE INDEX IF NOT EXISTS lensmor_holds_intent ON lensmor_holds (intent_key)",
    """CREATE TABLE IF NOT EXISTS lensmor_committed_holds (
        hold_id TEXT PRIMARY KEY,
        fence INTEGER NOT NULL,
        actual INTEGER NOT NULL,
        committed_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS lensmor_committed_holds_age"
    " ON lensmor_committed_holds (committed_at)",
)


class _Refused:
    """A reserve that would cross the budget (raised on the loop side, not in the thread)."""

    __slots__ = ("available", "budget")

    def __init__(self, budget: int, available: int) -> None:
        self.budget = budget
        self.available = available


def _purge(conn: sqlite3.Connection, now: float) -> int:
    return conn.execute("DELETE FROM lensmor_holds WHERE expires_at <= ?", (now,)).rowcount


def _forget_commits(conn: sqlite3.Connection, cutoff: float) -> None:
    conn.execute("DELETE FROM lensmor_committed_holds WHERE committed_at <= ?", (cutoff,))


def _reserved(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM lensmor_holds").fetchone()
    return int(row[0])


class SqliteLedger:
    """A budget ledger in a SQLite file, safe across the processes of one host."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        budget: int | None = None,
        busy_timeout: float = 5.0,
        hold_ttl: float = DEFAULT_HOLD_TTL,
        commit_retention: float = DEFAULT_COMMIT_RETENTION,
    ) -> None:
        self._budget = check_budget(budget)
        self._hold_ttl = check_ttl(hold_ttl, DEFAULT_HOLD_TTL)
        self._retention = check_retention(commit_retention)
        self._store = SqliteStore(
            path,
            schema=_SCHEMA,
            what="the SQLite ledger",
            busy_timeout=busy_timeout,
            on_open=self._settle_budget,
        )

    @property
    def budget(self) -> int | None:
        """The spending cap, or None for no cap (equal to the one stored in the file)."""
        return self._budget

    @property
    def path(self) -> str:
        """The database file."""
        return self._store.path

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        """Hold ``amount`` credits, or raise ``BudgetExceededError(required, available)``."""
        intent_key, amount, seconds = check_reserve(intent_key, amount, ttl, self._hold_ttl)
        hold_id = new_hold_id()

        def op(conn: sqlite3.Connection) -> Hold | _Refused:
            now = time.time()
            _purge(conn, now)
            budget, spent, fence = conn.execute(
                "SELECT budget, spent, fence FROM lensmor_ledger WHERE id = 1"
            ).fetchone()
            if budget is not None:
                available = max(0, budget - spent - _reserved(conn))
                if amount > available:
                    return _Refused(budget, available)
            fence += 1
            conn.execute("UPDATE lensmor_ledger SET fence = ? WHERE id = 1", (fence,))
            hold = Hold(hold_id, intent_key, amount, fence, now + seconds)
            conn.execute(
                "INSERT INTO lensmor_holds VALUES (?, ?, ?, ?, ?)",
                (hold.hold_id, hold.intent_key, hold.amount, hold.fence, hold.expires_at),
            )
            return hold

        result = await self._store.run(op, "IMMEDIATE")
        if isinstance(result, _Refused):
            raise budget_exceeded(amount, result.budget, result.available)
        return result

    async def commit(self, hold: Hold, actual: int) -> None:
        """Spend ``actual`` and drop the hold; a repeated commit of it is a no-op.

        StaleHoldError if the hold expired or was released without a commit.
        """
        hold, actual = check_settle(hold, actual)

        def op(conn: sqlite3.Connection) -> bool:
            now = time.time()
            _purge(conn, now)
            _forget_commits(conn, now - self._retention)
            if self._delete_hold(conn, hold):
                conn.execute("UPDATE lensmor_ledger SET spent = spent + ? WHERE id = 1", (actual,))
                # REPLACE: a marker with this id can only be a forged reuse; the live hold wins.
                conn.execute(
                    "INSERT OR REPLACE INTO lensmor_committed_holds VALUES (?, ?, ?, ?)",
                    (hold.hold_id, hold.fence, actual, now),
                )
                return True
            row = conn.execute(
                "SELECT 1 FROM lensmor_committed_holds WHERE hold_id = ? AND fence = ?",
                (hold.hold_id, hold.fence),
            ).fetchone()
            return row is not None

        if not await self._store.run(op, "IMMEDIATE"):
            raise StaleHoldError(f"hold {hold.hold_id} expired or was released")

    async def committed(self, hold_id: str) -> int | None:
        """The actual committed for ``hold_id`` within the retention, or None (a read)."""
        hold_id = check_hold_id(hold_id)

        def op(conn: sqlite3.Connection) -> int | None:
            row = conn.execute(
                "SELECT actual FROM lensmor_committed_holds WHERE hold_id = ? AND committed_at > ?",
                (hold_id, time.time() - self._retention),
            ).fetchone()
            return None if row is None else int(row[0])

        return await self._store.run(op, "DEFERRED")

    async def release(self, hold: Hold) -> None:
        """Drop the hold without spending; a missing or committed hold is left alone."""
        hold = check_hold(hold)
        await self._store.run(lambda conn: self._delete_hold(conn, hold), "IMMEDIATE")

    async def release_intent(self, intent_key: str) -> int:
        """Drop every live hold filed under ``intent_key`` in one transaction; count them.

        Committed holds are no longer in ``lensmor_holds``, so they cannot be touched.
        """
        intent_key = check_intent_key(intent_key)

        def op(conn: sqlite3.Connection) -> int:
            # Purge first so expired holds of this intent are not counted as released.
            _purge(conn, time.time())
            cursor = conn.execute("DELETE FROM lensmor_holds WHERE intent_key = ?", (intent_key,))
            return cursor.rowcount

        return await self._store.run(op, "IMMEDIATE")

    async def record_unheld(self, intent_key: str, actual: int) -> None:
        """Record a spend whose hold expired, so ``spent`` stays truthful."""
        check_intent_key(intent_key)
        actual = check_amount("actual", actual)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute("UPDATE lensmor_ledger SET spent = spent + ? WHERE id = 1", (actual,))

        await self._store.run(op, "IMMEDIATE")

    async def release_expired(self) -> int:
        """Drop every expired hold (and commit markers past retention); count the holds."""

        def op(conn: sqlite3.Connection) -> int:
            now = time.time()
            _forget_commits(conn, now - self._retention)
            return _purge(conn, now)

        return await self._store.run(op, "IMMEDIATE")

    async def snapshot(self) -> LedgerSnapshot:
        """Current totals, counting live holds only (a read; takes no write lock)."""

        def op(conn: sqlite3.Connection) -> LedgerSnapshot:
            budget, spent = conn.execute(
                "SELECT budget, spent FROM lensmor_ledger WHERE id = 1"
            ).fetchone()
            count, reserved = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM lensmor_holds WHERE expires_at > ?",
                (time.time(),),
            ).fetchone()
            return LedgerSnapshot(budget, int(spent), int(reserved), int(count))

        return await self._store.run(op, "DEFERRED")

    async def aclose(self) -> None:
        """Close the connection (idempotent); later calls raise ``InvalidRequestError``."""
        await self._store.aclose()

    @staticmethod
    def _delete_hold(conn: sqlite3.Connection, hold: Hold) -> bool:
        # Matching the fence too makes a forged Hold with a reused id a no-op.
        cursor = conn.execute(
            "DELETE FROM lensmor_holds WHERE hold_id = ? AND fence = ?",
            (hold.hold_id, hold.fence),
        )
        return cursor.rowcount == 1

    def _settle_budget(self, conn: sqlite3.Connection) -> None:
        """Store the budget on first open; refuse an opener that passes another one."""
        conn.execute(
            "INSERT OR IGNORE INTO lensmor_ledger (id, budget, spent, fence) VALUES (1, ?, 0, 0)",
            (self._budget,),
        )
        (stored,) = conn.execute("SELECT budget FROM lensmor_ledger WHERE id = 1").fetchone()
        if stored != self._budget:
            raise ConfigurationError(
                f"the SQLite ledger was created with budget={stored!r}; "
                f"this opener passed budget={self._budget!r} (they must match)"
            )
