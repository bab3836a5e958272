"""SqliteLedger specifics: file mode, WAL, the stored budget, busy handling, threads."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import anyio
import anyio.abc
import anyio.to_thread
import pytest
from store_helpers import file_mode, query, store_modes, umask, write_locked

from lensmor_async import AsyncLensmor, CreditGuard
from lensmor_async.errors import (
    BudgetExceededError,
    ConfigurationError,
    CreditError,
    InvalidRequestError,
)
from lensmor_async.guard._ledger_protocol import LedgerSnapshot
from lensmor_async.guard._ledger_sqlite import SqliteLedger

pytestmark = pytest.mark.anyio

LONG = 60.0


async def test_database_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with umask(0o022):
        ledger = SqliteLedger(path, budget=100)
        await ledger.commit(await ledger.reserve("a", 5, ttl=LONG), 5)
    try:
        # The connection is still open, so WAL's sidecar files exist; SQLite copies the mode.
        assert store_modes(path) == (0o600, 0o600, 0o600)
    finally:
        await ledger.aclose()


async def test_an_existing_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.touch(mode=0o640)
    path.chmod(0o640)
    ledger = SqliteLedger(path, budget=None)
    try:
        await ledger.snapshot()
        assert file_mode(path) == 0o640
    finally:
        await ledger.aclose()


async def test_database_uses_write_ahead_logging(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=10)
    await ledger.snapshot()
    await ledger.aclose()
    assert query(path, "PRAGMA journal_mode") == [("wal",)]


async def test_two_ledgers_on_one_file_share_the_budget(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    first = SqliteLedger(path, budget=30)
    second = SqliteLedger(path, budget=30)
    try:
        hold = await first.reserve("a", 20, ttl=LONG)
        with pytest.raises(BudgetExceededError):
            await second.reserve("b", 20, ttl=LONG)
        await second.commit(hold, 20)
        assert await first.snapshot() == LedgerSnapshot(30, 20, 0, 0)
    finally:
        await first.aclose()
        await second.aclose()


async def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100)
    hold = await ledger.reserve("a", 40, ttl=LONG)
    await ledger.record_unheld("b", 7)
    await ledger.aclose()
    reopened = SqliteLedger(path, budget=100)
    try:
        assert await reopened.snapshot() == LedgerSnapshot(100, 7, 40, 1)
        await reopened.commit(hold, 40)
        assert await reopened.snapshot() == LedgerSnapshot(100, 47, 0, 0)
    finally:
        await reopened.aclose()


async def test_recovery_after_reopening_commits_a_committed_hold_once(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    crashed = SqliteLedger(path, budget=100)
    hold = await crashed.reserve("a", 40, ttl=LONG)
    await crashed.commit(hold, 35)
    await crashed.aclose()
    recovered = SqliteLedger(path, budget=100)
    try:
        assert await recovered.committed(hold.hold_id) == 35
        await recovered.commit(hold, 35)
        assert await recovered.snapshot() == LedgerSnapshot(100, 35, 0, 0)
    finally:
        await recovered.aclose()


async def test_commit_markers_past_the_retention_are_deleted_by_later_commits(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=None, commit_retention=0.05)
    try:
        for n in range(5):
            await ledger.commit(await ledger.reserve(f"old-{n}", 1, ttl=LONG), 1)
        await anyio.sleep(0.2)
        fresh = await ledger.reserve("fresh", 1, ttl=LONG)
        await ledger.commit(fresh, 1)
        rows = query(path, "SELECT hold_id, actual FROM lensmor_committed_holds")
        assert rows == [(fresh.hold_id, 1)]
        assert (await ledger.snapshot()).spent == 6
    finally:
        await ledger.aclose()


async def test_a_file_from_before_commit_markers_gains_the_table(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100)
    hold = await ledger.reserve("a", 10, ttl=LONG)
    await ledger.aclose()
    query(path, "DROP TABLE lensmor_committed_holds")
    reopened = SqliteLedger(path, budget=100)
    try:
        await reopened.commit(hold, 10)
        await reopened.commit(hold, 10)
        assert await reopened.snapshot() == LedgerSnapshot(100, 10, 0, 0)
    finally:
        await reopened.aclose()


def _indexes(path: Path) -> set[str]:
    rows = query(
        path, "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'lensmor_holds'"
    )
    return {name for (name,) in rows}


async def test_release_intent_finds_holds_through_the_intent_index(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=None)
    await ledger.reserve("a", 1, ttl=LONG)
    await ledger.aclose()
    plan = query(path, "EXPLAIN QUERY PLAN DELETE FROM lensmor_holds WHERE intent_key = ?", "a")
    assert any("lensmor_holds_intent" in row[-1] for row in plan)


async def test_a_file_from_before_the_intent_index_gains_it_on_open(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100)
    await ledger.reserve("crashed", 10, ttl=LONG)
    await ledger.reserve("other", 20, ttl=LONG)
    await ledger.aclose()
    query(path, "DROP INDEX lensmor_holds_intent")
    assert "lensmor_holds_intent" not in _indexes(path)
    reopened = SqliteLedger(path, budget=100)
    try:
        assert await reopened.release_intent("crashed") == 1
        assert "lensmor_holds_intent" in _indexes(path)
        assert await reopened.snapshot() == LedgerSnapshot(100, 0, 20, 1)
    finally:
        await reopened.aclose()


async def test_release_intent_from_another_opener_sees_every_process_holds(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.db"
    crashed = SqliteLedger(path, budget=30)
    recovering = SqliteLedger(path, budget=30)
    try:
        await crashed.reserve("journal-key", 20, ttl=LONG)
        await crashed.reserve("journal-key", 10, ttl=LONG)
        await crashed.aclose()
        assert await recovering.release_intent("journal-key") == 2
        assert await recovering.snapshot() == LedgerSnapshot(30, 0, 0, 0)
    finally:
        await recovering.aclose()


async def test_release_intent_refuses_a_bad_key_before_touching_the_file(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100)
    try:
        with pytest.raises(InvalidRequestError) as info:
            await ledger.release_intent("")
        assert not isinstance(info.value, ConfigurationError)
        assert not path.exists()
    finally:
        await ledger.aclose()


@pytest.mark.parametrize("retention", [0, -1, float("inf"), "7", True])
def test_bad_commit_retentions_are_refused(tmp_path: Path, retention: object) -> None:
    with pytest.raises(ConfigurationError):
        SqliteLedger(tmp_path / "ledger.db", commit_retention=retention)  # type: ignore[arg-type]


@pytest.mark.parametrize(("created", "reopened"), [(100, 200), (100, None), (None, 5)])
async def test_reopening_with_a_different_budget_is_a_configuration_error(
    tmp_path: Path, created: int | None, reopened: int | None
) -> None:
    path = tmp_path / "ledger.db"
    first = SqliteLedger(path, budget=created)
    await first.snapshot()
    await first.aclose()
    second = SqliteLedger(path, budget=reopened)
    try:
        with pytest.raises(ConfigurationError, match="must match"):
            await second.reserve("a", 1, ttl=LONG)
    finally:
        await second.aclose()


@pytest.mark.parametrize("path", ["", ":memory:", "file:ledger.db?mode=memory"])
def test_non_file_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError):
        SqliteLedger(path)


@pytest.mark.parametrize("budget", [-1, 2.5, True])
def test_bad_budgets_are_refused(tmp_path: Path, budget: object) -> None:
    with pytest.raises(ConfigurationError):
        SqliteLedger(tmp_path / "ledger.db", budget=budget)  # type: ignore[arg-type]


@pytest.mark.parametrize("busy_timeout", [-1, float("nan"), "1"])
def test_bad_busy_timeouts_are_refused(tmp_path: Path, busy_timeout: object) -> None:
    with pytest.raises(ConfigurationError):
        SqliteLedger(tmp_path / "ledger.db", busy_timeout=busy_timeout)  # type: ignore[arg-type]


async def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "absent" / "ledger.db", budget=1)
    try:
        with pytest.raises(ConfigurationError):
            await ledger.snapshot()
    finally:
        await ledger.aclose()


async def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    path.write_bytes(b"this is not sqlite" * 100)
    ledger = SqliteLedger(path, budget=1)
    try:
        with pytest.raises(ConfigurationError):
            await ledger.snapshot()
    finally:
        await ledger.aclose()


async def test_persistent_lock_surfaces_as_credit_error_not_sqlite_busy(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100, busy_timeout=0.01)
    await ledger.snapshot()
    async with write_locked(path):
        with pytest.raises(CreditError, match="locked") as info:
            await ledger.reserve("a", 1, ttl=LONG)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    try:
        await ledger.reserve("a", 1, ttl=LONG)
        assert (await ledger.snapshot()).holds == 1
    finally:
        await ledger.aclose()


async def test_waiting_for_the_lock_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100, busy_timeout=20)
    await ledger.snapshot()
    ticks = 0

    async def reserve_then_stop(tg: anyio.abc.TaskGroup) -> None:
        await ledger.reserve("a", 1, ttl=LONG)
        tg.cancel_scope.cancel()

    async def tick_until_released(release: threading.Event) -> None:
        # Runs only if the loop stays free while reserve waits on SQLite's lock.
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1
            if ticks == 5:
                release.set()

    try:
        async with write_locked(path) as release, anyio.create_task_group() as tg:
            tg.start_soon(reserve_then_stop, tg)
            tg.start_soon(tick_until_released, release)
        assert ticks >= 5
        assert (await ledger.snapshot()).holds == 1
    finally:
        await ledger.aclose()


async def test_short_lock_is_waited_out_by_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    ledger = SqliteLedger(path, budget=100, busy_timeout=20)
    await ledger.snapshot()
    try:
        async with write_locked(path) as release:
            timer = threading.Timer(0.1, release.set)
            timer.start()
            hold = await ledger.reserve("a", 10, ttl=LONG)
            timer.join(10)
        assert hold.amount == 10
    finally:
        await ledger.aclose()


async def test_a_guard_given_its_ledger_closes_it_with_the_client(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db", budget=100)
    guard = CreditGuard(ledger=ledger, own_ledger=True)
    async with AsyncLensmor("key", base_url="http://127.0.0.1:9", guard=guard):
        pass
    with pytest.raises(InvalidRequestError):
        await ledger.snapshot()


async def test_a_guard_leaves_a_ledger_it_was_only_lent_open(tmp_path: Path) -> None:
    ledger = SqliteLedger(tmp_path / "ledger.db", budget=100)
    try:
        await CreditGuard(ledger=ledger).aclose()
        assert (await ledger.snapshot()).budget == 100
    finally:
        await ledger.aclose()
