"""The durable spend journal in a SQLite file, shared by every process on one host.

One row per intent key (``UNIQUE``), so the same intent claimed by many processes
yields one owner and therefore one send. Why it stays atomic across processes:
``claim`` and ``advance`` each run in one ``BEGIN IMMEDIATE`` transaction, which
takes SQLite's single write lock before reading the row, so read-check-write never
interleaves with another writer. WAL lets readers work while a writer commits;
``synchronous = FULL`` makes a committed row survive a power cut (the journal is
the record of money that may have been spent).

Why it never blocks the event loop: every transaction runs in a worker thread
(``anyio.to_thread.run_sync``); an ``anyio.Lock`` serialises this object's use of
its one connection, so waiting coroutines park on the loop, not in threads.

``SQLITE_BUSY`` never reaches the caller: a busy answer is retried with jittered
backoff until ``busy_timeout`` seconds have passed; then a
:class:`~lensmor_async.errors.LedgerUnavailableError` (chained to the SQLite error)
fails the paid call closed.

Leases and shared results live in a second table (``lensmor_journal_ext``: intent key,
fence, lease expiry in this host's wall-clock time, a search's answer), so journal
files written before they existed open unchanged; a row without a lease counts as
expired (its owner is gone or predates leases).

The file is created with mode 0600 before SQLite opens it. That machinery (threads,
WAL, busy retries, the private file) is
:class:`~lensmor_async._sqlite_store.SqliteStore`, shared with the SQLite
ledger and the bulk checkpoint.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from lensmor_async._sqlite_store import SqliteStore
from lensmor_async.errors import CreditError
from lensmor_async.guard._journal_common import (
    DEFAULT_LEASE_TTL,
    RANK,
    TAKEOVER,
    check_fence,
    check_host_id,
    check_lease_ttl,
    check_operation,
    check_state,
    encode_fields,
    encode_request,
    illegal_move,
    lease_lost,
    legal_transition,
    optional_amount,
    owner_of,
)
from lensmor_async.guard._journal_protocol import Claim, JournalEntry, JournalState
from lensmor_async.guard._ledger_common import check_intent_key

__all__ = ["SqliteJournal", "legal_transition"]

_STATES_SQL = ", ".join(f"'{state.value}'" for state in JournalState)
_SCHEMA = (
    f"""CREATE TABLE IF NOT EXISTS lensmor_journal (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        intent_key TEXT NOT NULL UNIQUE,
        operation TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ({_STATES_SQL})),
        request TEXT NOT NULL,
        owner TEXT NOT NULL,
        estimate INTEGER,
        actual INTEGER,
        hold TEXT,
        task_id TEXT,
        reason TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS lensmor_journal_state ON lensmor_journal (state)",
    """CREATE TABLE IF NOT EXISTS lensmor_journal_ext (
        intent_key TEXT PRIMARY KEY,
        fence INTEGER NOT NULL,
        expires_at REAL NOT NULL,
        result TEXT
    )""",
)
_COLUMNS = (
    "j.intent_key, operation, state, request, owner, estimate, actual, hold, task_id, reason,"
    " updated_at, COALESCE(x.fence, 0), COALESCE(x.expires_at, 0), x.result"
)
_SELECT = (
    f"SELECT {_COLUMNS} FROM lensmor_journal j"
    " LEFT JOIN lensmor_journal_ext x ON x.intent_key = j.intent_key"
)


def _entry(row: Sequence[Any]) -> JournalEntry:
    key, operation, state, request, owner, estimate, actual, hold, task_id, reason, *rest = row
    updated, fence, lease, result = rest
    return JournalEntry(
        intent_key=key,
        operation=operation,
        state=JournalState(state),
        request=orjson.loads(request),
        owner=owner,
        estimate=estimate,
        actual=actual,
        hold=None if hold is None else orjson.loads(hold),
        task_id=task_id,
        reason=reason,
        updated_at=updated,
        fence=fence,
        lease_expires_at=lease,
        result=None if result is None else orjson.loads(result),
    )


def _fetch(conn: sqlite3.Connection, intent_key: str) -> JournalEntry | None:
    row = conn.execute(f"{_SELECT} WHERE j.intent_key = ?", (intent_key,)).fetchone()
    return None if row is None else _entry(row)


def _lease(conn: sqlite3.Connection, key: str, fence: int, expires_at: float) -> None:
    conn.execute(
        "INSERT INTO lensmor_journal_ext (intent_key, fence, expires_at) VALUES (?, ?, ?)"
        " ON CONFLICT (intent_key) DO UPDATE SET fence = excluded.fence,"
        " expires_at = excluded.expires_at",
        (key, fence, expires_at),
    )


def _keep_result(conn: sqlite3.Connection, key: str, result: str) -> None:
    conn.execute(
        "INSERT INTO lensmor_journal_ext (intent_key, fence, expires_at, result)"
        " VALUES (?, 0, 0, ?) ON CONFLICT (intent_key) DO UPDATE SET result = excluded.result",
        (key, result),
    )


class SqliteJournal:
    """A :class:`~lensmor_async.guard._journal_protocol.Journal` in a SQLite file.

    Safe across the processes of one host. ``request`` and ``hold`` are stored as
    JSON, so tuples come back as lists. Never store secrets in ``request``.
    ``lease_ttl``: seconds an owner's lease lasts unless renewed (default 10);
    ``host_id``: this host's name in owner ids (default: the machine's host name).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        host_id: str | None = None,
    ) -> None:
        self._lease_ttl = check_lease_ttl(lease_ttl)
        self._host_id = check_host_id(host_id)
        self._store = SqliteStore(
            path, schema=_SCHEMA, what="the SQLite spend journal", busy_timeout=busy_timeout
        )

    @property
    def path(self) -> str:
        """The database file."""
        return self._store.path

    @property
    def owner(self) -> str:
        """``host_id:pid`` of this process."""
        return owner_of(self._host_id)

    @property
    def lease_ttl(self) -> float:
        return self._lease_ttl

    async def claim(
        self, intent_key: str, operation: str, request: Mapping[str, Any], *, estimate: int | None
    ) -> Claim:
        """Create the row in ``planned`` (owned), or return the existing row (not owned).

        A row that ended without a charge (failed_no_charge, rejected_402) is taken
        over: reset to ``planned`` with this process as owner. An owned claim carries a
        fence one higher than the row's last one and a fresh lease.
        """
        key = check_intent_key(intent_key)
        name = check_operation(operation)
        body = encode_request(request)
        quoted = optional_amount("estimate", estimate)
        owner = self.owner

        def op(conn: sqlite3.Connection) -> Claim:
            now = time.time()
            existing = _fetch(conn, key)
            if existing is not None and existing.state not in TAKEOVER:
                return Claim(existing, owned=False)
            conn.execute(
                "INSERT INTO lensmor_journal (intent_key, operation, state, request, owner,"
                " estimate, created_at, updated_at) VALUES (?, ?, 'planned', ?, ?, ?, ?, ?)"
                " ON CONFLICT (intent_key) DO UPDATE SET operation = excluded.operation,"
                " state = 'planned', request = excluded.request, owner = excluded.owner,"
                " estimate = excluded.estimate, actual = NULL, hold = NULL, task_id = NULL,"
                " reason = NULL, updated_at = excluded.updated_at",
                (key, name, body, owner, quoted, now, now),
            )
            fence = 1 if existing is None else existing.fence + 1
            _lease(conn, key, fence, now + self._lease_ttl)
            conn.execute(
                "UPDATE lensmor_journal_ext SET result = NULL WHERE intent_key = ?", (key,)
            )
            entry = _fetch(conn, key)
            assert entry is not None, "the row was written in this transaction"
            return Claim(entry, owned=True)

        return await self._store.run(op, "IMMEDIATE")

    async def advance(
        self, intent_key: str, state: JournalState, *, fence: int | None = None, **fields: Any
    ) -> JournalEntry:
        """Move a row forward (see :func:`legal_transition`) and update the given fields.

        Fields: ``hold`` (a Hold, a mapping or None to clear it), ``task_id``,
        ``actual``, ``estimate``, ``reason``, ``result`` (a JSON-able answer to share);
        fields not given keep their value.
        ``in_doubt`` and ``unresolved`` need a ``reason``. An illegal move raises
        :class:`~lensmor_async.errors.CreditError` naming both states; a ``fence`` that
        is no longer the row's raises :class:`~lensmor_async.errors.LeaseLostError`.
        """
        key = check_intent_key(intent_key)
        state = check_state(state)
        fenced = check_fence(fence)
        columns = encode_fields(state, fields)
        shared = columns.pop("result", None)

        def op(conn: sqlite3.Connection) -> JournalEntry:
            current = _fetch(conn, key)
            if current is None:
                raise CreditError(f"the spend journal has no intent {key}")
            if fenced is not None and current.fence != fenced:
                raise lease_lost(key, fenced)
            if not legal_transition(current.state, state):
                raise CreditError(illegal_move(key, current.state, state))
            now = time.time()
            updates = {**columns, "state": state.value, "updated_at": now}
            assignments = ", ".join(f"{column} = ?" for column in updates)
            conn.execute(
                f"UPDATE lensmor_journal SET {assignments} WHERE intent_key = ?",
                (*updates.values(), key),
            )
            if fenced is not None:
                _lease(conn, key, fenced, now + self._lease_ttl)
            if shared is not None:
                _keep_result(conn, key, shared)
            entry = _fetch(conn, key)
            assert entry is not None, "the row was read in this transaction"
            return entry

        return await self._store.run(op, "IMMEDIATE")

    async def renew(self, intent_key: str, fence: int) -> bool:
        """Extend the lease held under ``fence``; False once another owner took the row."""
        key = check_intent_key(intent_key)
        fenced = check_fence(fence)

        def op(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(
                "UPDATE lensmor_journal_ext SET expires_at = ? WHERE intent_key = ? AND fence = ?",
                (time.time() + self._lease_ttl, key, fenced),
            )
            return cursor.rowcount == 1

        return await self._store.run(op, "IMMEDIATE")

    async def take_over(self, intent_key: str, *, force: bool = False) -> JournalEntry | None:
        """Own the row if its lease expired (or ``force``); None while the lease is held."""
        key = check_intent_key(intent_key)
        owner = self.owner

        def op(conn: sqlite3.Connection) -> JournalEntry | None:
            now = time.time()
            current = _fetch(conn, key)
            if current is None or (not force and current.lease_expires_at > now):
                return None
            conn.execute("UPDATE lensmor_journal SET owner = ? WHERE intent_key = ?", (owner, key))
            _lease(conn, key, current.fence + 1, now + self._lease_ttl)
            return _fetch(conn, key)

        return await self._store.run(op, "IMMEDIATE")

    async def get(self, intent_key: str) -> JournalEntry | None:
        """The row for ``intent_key``, or None."""
        key = check_intent_key(intent_key)
        return await self._store.run(lambda conn: _fetch(conn, key), "DEFERRED")

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not in a terminal state, oldest first (what ``recover()`` works through)."""
        live = ", ".join(f"'{state.value}'" for state in RANK)
        return await self._select(f"{_SELECT} WHERE state IN ({live}) ORDER BY j.seq")

    async def entries(self) -> list[JournalEntry]:
        """Every row, oldest first (a taken-over row keeps its place)."""
        return await self._select(f"{_SELECT} ORDER BY j.seq")

    async def stats(self) -> dict[JournalState, int]:
        """How many rows are in each state (every state present, zeros included)."""

        def op(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            query = "SELECT state, COUNT(*) FROM lensmor_journal GROUP BY state"
            return conn.execute(query).fetchall()

        counts = dict.fromkeys(JournalState, 0)
        for state, count in await self._store.run(op, "DEFERRED"):
            counts[JournalState(state)] = int(count)
        return counts

    async def aclose(self) -> None:
        """Close the connection (idempotent)."""
        await self._store.aclose()

    async def _select(self, query: str) -> list[JournalEntry]:
        def op(conn: sqlite3.Connection) -> list[JournalEntry]:
            return [_entry(row) for row in conn.execute(query).fetchall()]

        return await self._store.run(op, "DEFERRED")
