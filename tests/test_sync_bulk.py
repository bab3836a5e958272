"""The sync client's bulk runs, checkpoints and ledger view: the async runner on its loop.

Signatures are the async ones (checked here, so they cannot drift); sync ``work`` may
call the client; Ctrl-C in the sync caller cancels the run the way cancelling the async
one does, leaving every charge recorded.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_twins import assert_sync_twin

from lensmor_async import CreditGuard, SqliteLedger, always_confirm
from lensmor_async.bulk import BulkCheckpoint, BulkProgress, run_bulk
from lensmor_async.guard import Ledger
from lensmor_async.models import EventUnlockResult
from lensmor_async.sync import Lensmor, SyncBulkCheckpoint, SyncLedger
from lensmor_async.testing import FakeLensmor


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeLensmor]:
    with FakeLensmor(task_step_seconds=0.0) as server:
        yield server


def _unbound(method: Callable[..., Any]) -> Callable[..., Any]:
    """The signature without ``self``, as a bound method shows it."""
    return method.__get__(object())  # type: ignore[no-any-return]


# --- the surface ----------------------------------------------------------------------


def test_run_bulk_takes_the_async_runners_arguments_with_sync_work() -> None:
    assert_sync_twin(_unbound(Lensmor.run_bulk), run_bulk)


def test_bulk_checkpoint_takes_the_checkpoints_arguments_and_mirrors_its_methods() -> None:
    assert_sync_twin(_unbound(Lensmor.bulk_checkpoint), BulkCheckpoint)
    renamed = {"aclose": "close"}
    for name, member in vars(BulkCheckpoint).items():
        if name.startswith("_"):
            continue
        twin = getattr(SyncBulkCheckpoint, renamed.get(name, name))
        if isinstance(member, property):
            assert isinstance(twin, property), name
        else:
            assert_sync_twin(_unbound(twin), _unbound(member))


def test_the_ledger_view_mirrors_the_ledgers_snapshot_and_close() -> None:
    assert isinstance(SyncLedger.budget, property)
    assert_sync_twin(_unbound(SyncLedger.snapshot), _unbound(Ledger.snapshot))
    assert_sync_twin(_unbound(SyncLedger.close), _unbound(Ledger.aclose))


# --- runs -----------------------------------------------------------------------------


def _paid_events(fake: FakeLensmor, count: int, prefix: str) -> list[str]:
    events = [fake.add_event(f"{prefix} {n}").id for n in range(count)]
    for event in events:
        fake.add_personnel(event, 2)
    return events


def test_sync_work_calls_the_client_and_the_budget_stops_the_run(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    events = _paid_events(fake, 5, "Budget Expo")
    guard = CreditGuard(confirm=always_confirm, budget=6000)  # three unlocks of 2000
    progress: list[BulkProgress] = []
    with (
        Lensmor(fake.api_key, base_url=fake.url, guard=guard) as client,
        client.bulk_checkpoint(tmp_path / "job.db", summarize=lambda r: r.credits_used) as done,
    ):
        report = client.run_bulk(
            events,
            client.events.unlock,
            concurrency=2,
            guard=guard,
            on_progress=progress.append,
            resume=done,
        )
        assert (report.ok, report.skipped_budget, report.spent) == (3, 2, 6000)
        assert progress[-1].done == len(events)
        assert sorted(done.completed().values()) == [2000, 2000, 2000]
        assert client.ledger.snapshot().spent == 6000
        assert client.ledger.budget == 6000


def test_a_rerun_resumes_from_the_sync_checkpoint(fake: FakeLensmor, tmp_path: Path) -> None:
    events = _paid_events(fake, 3, "Resume Expo")
    guard = CreditGuard(always_confirm)
    with (
        Lensmor(fake.api_key, base_url=fake.url, guard=guard) as client,
        client.bulk_checkpoint(tmp_path / "job.db") as done,
    ):
        done.mark_done(events[0])
        report = client.run_bulk(events, client.events.unlock, resume=done)
        assert [r.status for r in report.results] == ["skipped_done", "ok", "ok"]
        assert done.forget(events[1]) == 1
        assert sorted(done.completed()) == sorted([events[0], events[2]])


def test_more_workers_than_anyios_thread_pool_still_reach_a_sqlite_ledger(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    # 48 items blocked in the client at once must not starve the threads the SQLite
    # ledger needs (anyio's default pool has 40).
    ledger = SqliteLedger(tmp_path / "ledger.db")
    guard = CreditGuard(confirm=always_confirm, ledger=ledger, own_ledger=True)
    with Lensmor(fake.api_key, base_url=fake.url, guard=guard) as client:
        report = client.run_bulk(range(48), lambda n: client.events.get("101"), concurrency=48)
        assert report.ok == 48


def test_ctrl_c_cancels_a_sync_run_and_leaves_no_charge_unrecorded(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    assert threading.current_thread() is threading.main_thread(), "signals reach the main thread"
    events = _paid_events(fake, 12, "Interrupted Expo")
    started: list[str] = []

    def make_guard() -> CreditGuard:
        ledger = SqliteLedger(tmp_path / "ledger.db", budget=100_000)
        journal = str(tmp_path / "journal.db")
        return CreditGuard(confirm=always_confirm, ledger=ledger, journal=journal, own_ledger=True)

    charged_before = fake.truth.net()
    with Lensmor(fake.api_key, base_url=fake.url, guard=make_guard()) as client:

        def unlock(event: str) -> EventUnlockResult:
            started.append(event)
            if len(started) == 3:  # Ctrl-C, while items are in flight
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)
            return client.events.unlock(event)

        with pytest.raises(KeyboardInterrupt):
            client.run_bulk(events, unlock, concurrency=2, guard=client.guard)
        assert len(started) < len(events), "the run went on after Ctrl-C"
        assert client.guard.reserved == 0
        charged = fake.truth.net() - charged_before
        assert charged > 0
        assert client.ledger.snapshot().spent == charged
    with Lensmor(fake.api_key, base_url=fake.url, guard=make_guard()) as client:
        report = client.recover()
        assert (report.actions, report.skipped_live) == ((), ())
        assert client.ledger.snapshot().spent == charged
    assert not fake.truth.duplicate_intents()
