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

The file is created with mode 0600 before SQLite opens it. That machinery (threads,
WAL, busy retries, the private file) is
:class:`~lensmor_async._sqlite_store.SqliteStore`, shared with the SQLite
ledger and the bulk checkpoint.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import orjson

from lensmor_async._sqlite_store import SqliteStore
from lensmor_async.errors import CreditError, InvalidRequestError
from lensmor_async.guard._journal_protocol import Claim, JournalEntry, JournalState
from lensmor_async.guard._ledger_common import check_amount, check_intent_key
from lensmor_async.guard._ledger_protocol import Hold

__all__ = ["SqliteJournal", "legal_transition"]

# --------------------------------------------------------------------------- transitions

_RANK: Final = {
    JournalState.PLANNED: 0,
    JournalState.RESERVED: 1,
    JournalState.SENDING: 2,
    JournalState.ACKNOWLEDGED: 3,
    JournalState.POLLING: 4,
}
_DOUBT_RESOLUTIONS: Final = frozenset(
    {JournalState.SUCCEEDED, JournalState.FAILED_NO_CHARGE, JournalState.UNRESOLVED}
)
_FIELD_UPDATES: Final = frozenset({JournalState.SUCCEEDED, JournalState.IN_DOUBT})
"""Terminal states whose row may still be updated in place: a settled spend drops its
hold once the ledger took it, and recovery books an in-doubt row at its estimate."""
_TAKEOVER: Final = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})
_NEEDS_REASON: Final = frozenset({JournalState.IN_DOUBT, JournalState.UNRESOLVED})


def legal_transition(current: JournalState, new: JournalState) -> bool:
    """Whether a row in ``current`` may move to ``new`` (states only move forward).

    * a live state may stay put (a field update) or move to any later live state;
    * any live state may end in any terminal state (e.g. planned → failed_no_charge
      when the budget refuses the hold, so nothing was ever sent);
    * ``in_doubt`` may still be resolved by reconciliation: → succeeded,
      failed_no_charge or unresolved;
    * ``succeeded`` and ``in_doubt`` may stay put (a field update: the hold is dropped
      once the ledger took the spend);
    * every other terminal state is final.
    """
    if current in _RANK:
        return new.terminal or _RANK[new] >= _RANK[current]
    if current is new:
        return current in _FIELD_UPDATES
    return current is JournalState.IN_DOUBT and new in _DOUBT_RESOLUTIONS


# --------------------------------------------------------------------------- the journal

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
)
_COLUMNS = "intent_key, operation, state, request, owner, estimate, actual, hold, task_id, reason"
_SELECT = f"SELECT {_COLUMNS}, updated_at FROM lensmor_journal"
_FIELDS: Final = frozenset({"hold", "task_id", "actual", "reason", "estimate"})


def _owner() -> str:
    # Computed per claim: a forked worker has a new pid.
    return f"{socket.gethostname()}:{os.getpid()}"


def _dumps(value: Any, name: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidRequestError(f"{name} must be JSON-serialisable: {exc}") from exc


def _encode_request(request: object) -> str:
    if not isinstance(request, Mapping):
        raise InvalidRequestError(f"request must be a mapping, got {type(request).__name__}")
    return _dumps(dict(request), "request")


def _encode_hold(hold: object) -> str | None:
    if hold is None:
        return None
    if isinstance(hold, Hold):
        return _dumps(attrs.asdict(hold), "hold")
    if isinstance(hold, Mapping):
        return _dumps(dict(hold), "hold")
    raise InvalidRequestError(f"hold must be a Hold, a mapping or None, got {type(hold).__name__}")


def _optional_text(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidRequestError(f"{name} must be a non-empty str or None, got {value!r}")
    return value


def _optional_amount(name: str, value: object) -> int | None:
    return None if value is None else check_amount(name, value)


def _encode_fields(state: JournalState, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``advance`` fields on the loop side and turn them into column values."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise InvalidRequestError(
            f"unknown journal fields {sorted(unknown)}; allowed: {sorted(_FIELDS)}"
        )
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "hold":
            columns[name] = _encode_hold(value)
        elif name in ("actual", "estimate"):
            columns[name] = _optional_amount(name, value)
        else:
            columns[name] = _optional_text(name, value)
    if state in _NEEDS_REASON and not columns.get("reason"):
        raise InvalidRequestError(f"a journal row moving to {state.value} needs a reason")
    return columns


def _entry(row: Sequence[Any]) -> JournalEntry:
    key, operation, state, request, owner, estimate, actual, hold, task_id, reason, updated = row
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
    )


def _fetch(conn: sqlite3.Connection, intent_key: str) -> JournalEntry | None:
    row = conn.execute(f"{_SELECT} WHERE intent_key = ?", (intent_key,)).fetchone()
    return None if row is None else _entry(row)


class SqliteJournal:
    """A :class:`~lensmor_async.guard._journal_protocol.Journal` in a SQLite file.

    Safe across the processes of one host. ``request`` and ``hold`` are stored as
    JSON, so tuples come back as lists. Never store secrets in ``request``.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 5.0) -> None:
        self._store = SqliteStore(
            path, schema=_SCHEMA, what="the SQLite spend journal", busy_timeout=busy_timeout
        )

    @property
    def path(self) -> str:
        """The database file."""
        return self._store.path

    async def claim(
        self, intent_key: str, operation: str, request: Mapping[str, Any], *, estimate: int | None
    ) -> Claim:
        """Create the row in ``planned`` (owned), or return the existing row (not owned).

        A row that ended without a charge (failed_no_charge, rejected_402) is taken
        over: reset to ``planned`` with this process as owner.
        """
        key = check_intent_key(intent_key)
        name = _optional_text("operation", operation)
        if name is None:
            raise InvalidRequestError("operation must be a non-empty str")
        body = _encode_request(request)
        quoted = _optional_amount("estimate", estimate)
        owner = _owner()

        def op(conn: sqlite3.Connection) -> Claim:
            now = time.time()
            existing = _fetch(conn, key)
            if existing is not None and existing.state not in _TAKEOVER:
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
            entry = _fetch(conn, key)
            assert entry is not None, "the row was written in this transaction"
            return Claim(entry, owned=True)

        return await self._store.run(op, "IMMEDIATE")

    async def advance(self, intent_key: str, state: JournalState, **fields: Any) -> JournalEntry:
        """Move a row forward (see :func:`legal_transition`) and update the given fields.

        Fields: ``hold`` (a Hold, a mapping or None to clear it), ``task_id``,
        ``actual``, ``estimate``, ``reason``; fields not given keep their value.
        ``in_doubt`` and ``unresolved`` need a ``reason``. An illegal move raises
        :class:`~lensmor_async.errors.CreditError` naming both states.
        """
        key = check_intent_key(intent_key)
        if not isinstance(state, JournalState):
            raise InvalidRequestError(f"state must be a JournalState, got {state!r}")
        columns = _encode_fields(state, fields)

        def op(conn: sqlite3.Connection) -> JournalEntry:
            current = _fetch(conn, key)
            if current is None:
                raise CreditError(f"the spend journal has no intent {key}")
            if not legal_transition(current.state, state):
                raise CreditError(
                    f"journal intent {key} cannot move from {current.state.value} "
                    f"to {state.value} (states only move forward)"
                )
            updates = {**columns, "state": state.value, "updated_at": time.time()}
            assignments = ", ".join(f"{column} = ?" for column in updates)
            conn.execute(
                f"UPDATE lensmor_journal SET {assignments} WHERE intent_key = ?",
                (*updates.values(), key),
            )
            entry = _fetch(conn, key)
            assert entry is not None, "the row was read in this transaction"
            return entry

        return await self._store.run(op, "IMMEDIATE")

    async def get(self, intent_key: str) -> JournalEntry | None:
        """The row for ``intent_key``, or None."""
        key = check_intent_key(intent_key)
        return await self._store.run(lambda conn: _fetch(conn, key), "DEFERRED")

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not in a terminal state, oldest first (what ``recover()`` works through)."""
        live = ", ".join(f"'{state.value}'" for state in _RANK)
        return await self._select(f"{_SELECT} WHERE state IN ({live}) ORDER BY seq")

    async def entries(self) -> list[JournalEntry]:
        """Every row, oldest first (a taken-over row keeps its place)."""
        return await self._select(f"{_SELECT} ORDER BY seq")

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
