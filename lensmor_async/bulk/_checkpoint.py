"""``BulkCheckpoint``: which items of a bulk job already finished, in a small SQLite file.

A rerun with the same checkpoint reports those items ``skipped_done`` and never calls
``work`` for them again, so paid work already done is not paid for twice.

An item is written the moment its ``work`` returns, before it counts as done. The file
is private (mode 0600) and uses WAL with ``synchronous = NORMAL``: a committed row
survives a crash or ``kill -9`` of the process (what resuming is for); only a power cut
can lose the last few rows, and then those items run again. Busy handling and
threading are :class:`~lensmor_async._sqlite_store.SqliteStore`'s, as for the
spend journal and the SQLite ledger.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import orjson

from lensmor_async._sqlite_store import SqliteStore
from lensmor_async.errors import InvalidRequestError

__all__ = ["BulkCheckpoint"]

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS lensmor_bulk_done (
        item_key TEXT PRIMARY KEY,
        summary TEXT,
        done_at REAL NOT NULL
    )""",
)


def _encode(summary: Any) -> str | None:
    if summary is None:
        return None
    try:
        return orjson.dumps(summary).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidRequestError(f"a checkpoint summary must be JSON-serialisable: {exc}") from exc


class BulkCheckpoint:
    """The keys of items that finished ``ok``, with an optional JSON summary of each value.

    ``summarize(value)`` turns an item's result into what is kept (JSON-serialisable;
    default: nothing). Several processes may share one checkpoint file. Use it as an
    async context manager, or call :meth:`aclose`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        summarize: Callable[[Any], Any] | None = None,
        busy_timeout: float = 5.0,
    ) -> None:
        self._store = SqliteStore(
            path,
            schema=_SCHEMA,
            what="the bulk checkpoint",
            busy_timeout=busy_timeout,
            synchronous="NORMAL",
        )
        self._summarize = summarize

    @property
    def path(self) -> str:
        """The checkpoint file."""
        return self._store.path

    def summary_of(self, value: Any) -> Any:
        """What would be kept for ``value`` (None without a summarizer)."""
        return None if self._summarize is None else self._summarize(value)

    async def completed(self) -> dict[str, Any]:
        """Every finished item key with its summary (None when none was kept), by key.

        By key, not in the order items finished: workers finish in any order, and an
        export of the same checkpoint should read the same every time.
        """

        def op(conn: sqlite3.Connection) -> list[tuple[str, str | None]]:
            query = "SELECT item_key, summary FROM lensmor_bulk_done ORDER BY item_key"
            return conn.execute(query).fetchall()

        rows = await self._store.run(op, "DEFERRED")
        return {key: None if raw is None else orjson.loads(raw) for key, raw in rows}

    async def mark_done(self, key: str, summary: Any = None) -> None:
        """Record that item ``key`` finished (again: the newer summary wins)."""
        if not isinstance(key, str):
            raise InvalidRequestError(f"an item key must be a str, got {type(key).__name__}")
        encoded = _encode(summary)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO lensmor_bulk_done (item_key, summary, done_at) VALUES (?, ?, ?)"
                " ON CONFLICT (item_key) DO UPDATE SET summary = excluded.summary,"
                " done_at = excluded.done_at",
                (key, encoded, time.time()),
            )

        await self._store.run(op, "IMMEDIATE")

    async def forget(self, *keys: str) -> int:
        """Forget the given keys (all of them when none are given); returns how many went."""

        def op(conn: sqlite3.Connection) -> int:
            if not keys:
                return conn.execute("DELETE FROM lensmor_bulk_done").rowcount
            return sum(
                conn.execute("DELETE FROM lensmor_bulk_done WHERE item_key = ?", (key,)).rowcount
                for key in keys
            )

        return await self._store.run(op, "IMMEDIATE")

    async def aclose(self) -> None:
        """Close the file (idempotent)."""
        await self._store.aclose()

    async def __aenter__(self) -> BulkCheckpoint:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
