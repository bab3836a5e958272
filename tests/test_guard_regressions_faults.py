"""Regression tests of issue 11 (items 1, 2, 3, 7 and 8): money stays right under faults.

Each test reproduces one way the credit guard lost track of money on the code before
the rebuild, and pins the behaviour the rebuilt guard promises:

1. a native asyncio cancellation (``asyncio.wait_for``) that arrives while the guard
   cleans up after a lost answer still leaves the charge recorded, never an orphaned hold;
2. ``recover()`` concludes an in-doubt paid search instead of raising on every restart;
3. a ledger outage between send and settle tells the caller the truth (charged), keeps
   the spend pending, fails the next paid calls closed and replays it once it is back;
7. a call with ``deadline=1.0`` whose paid answer is lost ends at its deadline, in doubt;
8. a caller of an intent whose owner process died does not wait out the attach limit.

Everything is observed through public names only: the client, ``CreditGuard`` and its
history, ledgers and journals, and FakeLensmor's faults and truth ledger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from scale_worker import run_worker

from lensmor_async import AsyncLensmor, RetryPolicy
from lensmor_async.errors import (
    BudgetExceededError,
    LedgerUnavailableError,
    LensmorError,
    SpendInDoubtError,
)
from lensmor_async.guard import (
    CreditGuard,
    Hold,
    InMemoryLedger,
    JournalEntry,
    JournalState,
    LedgerSnapshot,
    SpendOutcome,
    SpendRecord,
    SqliteJournal,
    SqliteLedger,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultSchedule, FaultTuning

pytestmark = pytest.mark.anyio

EVENT_PRICE = 2000
SEARCH_PRICE = 50
UNLOCK_ROUTE = "/external/events/{id}/unlock"
PRECHECK_ROUTE = "/external/actions/precheck"
SEARCH_ROUTE = "/external/exhibitors/search-by-company-name"
SETTLED_OR_IN_DOUBT = frozenset({SpendOutcome.SUCCEEDED, SpendOutcome.IN_DOUBT})


def _client(fake: FakeLensmor, guard: CreditGuard, **options: Any) -> AsyncLensmor:
    options.setdefault("testing", True)
    return AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard, **options)


def _records_for(guard: CreditGuard, event_id: str) -> list[SpendRecord]:
    """The guard's records of ``events.unlock`` for one event."""
    return [
        record
        for record in guard.history
        if record.intent.operation == "events.unlock"
        and event_id in (record.intent.event_id, *record.intent.targets)
    ]


def _unlocked_event_of(path: str) -> str:
    """``/external/events/{id}/unlock`` → the event id."""
    return path.rstrip("/").split("/")[-2]


async def _eventually(predicate: Callable[[], bool], *, seconds: float) -> bool:
    """Whether ``predicate`` holds within ``seconds`` (polled; never raises on timeout)."""
    with anyio.move_on_after(seconds):
        while not predicate():  # noqa: ASYNC110 - the state lives in the guard and the fake
            await anyio.sleep(0.01)
        return True
    return predicate()


# --------------------------------------------------------------------------- 1. native cancel


class SlowReconcilePrechecks(FaultSchedule):
    """Each unlock commits, then stalls; the first precheck after it is answered late.

    The precheck that quotes an event is answered at once; the first one made after the
    event's unlock request arrived (the guard's reconciliation) is answered
    ``late_seconds`` late. Later prechecks (``reconcile()``) are answered at once again.
    """

    def __init__(self, fake: FakeLensmor) -> None:
        super().__init__()
        self.fake = fake
        self.delayed: set[str] = set()

    def fault_for(self, request_no: int, route: str) -> FaultKind | None:
        if route == UNLOCK_ROUTE:
            return FaultKind.COMMIT_THEN_TIMEOUT
        if route != PRECHECK_ROUTE:
            return None
        [request] = [r for r in self.fake.requests if r.request_no == request_no]
        body = request.json if isinstance(request.json, dict) else {}
        params = body.get("params")
        event_id = str(params.get("event_id")) if isinstance(params, dict) else ""
        sent = {_unlocked_event_of(r.path) for r in self.fake.requests_for(UNLOCK_ROUTE)}
        if event_id not in sent or event_id in self.delayed:
            return None
        self.delayed.add(event_id)
        return FaultKind.LATE_COMMIT


ATTEMPT_TIMEOUT = 0.3
"""The client's per-attempt timeout: the stalled unlock's attempt ends at ~0.3 s."""
CALLER_TIMEOUT = 0.45
"""``asyncio.wait_for``'s limit: it cancels natively while the guard cleans up.

The guard's reconciling precheck leaves at ~0.3 s and its attempt ends at ~0.6 s (the
answer would come at ~1.1 s); the cancellation lands in the middle of that window. (The
issue's repro used 0.6 s, which is only ~20 ms before that attempt's own timeout.)
"""


def _native_cancel_fake(**options: Any) -> FakeLensmor:
    # The unlock commits and then stalls 2 s; a reconciling precheck answers 0.8 s late.
    return FakeLensmor(
        task_step_seconds=0.01,
        fault_tuning=FaultTuning(stall_seconds=2.0, late_seconds=0.8),
        **options,
    )


async def test_native_wait_for_cancel_during_cleanup_still_records_the_charge() -> None:
    async with _native_cancel_fake() as fake:
        fake.faults = SlowReconcilePrechecks(fake)
        event = fake.add_event("Native Cancel Expo", personnel=2).id
        guard = CreditGuard(always_confirm)
        async with _client(fake, guard, timeout=ATTEMPT_TIMEOUT) as client:
            with pytest.raises(TimeoutError):
                # The attempt times out at 0.3 s; wait_for cancels the guard's cleanup
                # (its reconciling precheck is in flight) natively at 0.45 s.
                await asyncio.wait_for(client.events.unlock(event), CALLER_TIMEOUT)
            assert fake.truth.net() == EVENT_PRICE  # the server charged

            # The money is on record: settled, or in doubt at its estimate.
            def recorded() -> bool:
                return any(r.outcome in SETTLED_OR_IN_DOUBT for r in _records_for(guard, event))

            assert await _eventually(recorded, seconds=2.0), guard.history
            [record] = _records_for(guard, event)
            assert record.outcome in SETTLED_OR_IN_DOUBT, record
            if record.outcome is SpendOutcome.SUCCEEDED:
                assert record.actual == EVENT_PRICE, record
            assert guard.spent == EVENT_PRICE  # in-doubt intents count at their estimate
            snapshot = await guard.ledger.snapshot()
            assert snapshot.spent + snapshot.reserved >= fake.truth.net()

            await guard.reconcile()
            snapshot = await guard.ledger.snapshot()
            [record] = _records_for(guard, event)
        if record.outcome is SpendOutcome.SUCCEEDED:
            assert (snapshot.spent, snapshot.reserved) == (EVENT_PRICE, 0)
        else:  # still in doubt: its 2000 stays counted (held or booked)
            assert record.outcome is SpendOutcome.IN_DOUBT
            assert snapshot.spent + snapshot.reserved == EVENT_PRICE
        assert snapshot.spent + snapshot.reserved >= fake.truth.net()


STORM_CALLS = 20


async def test_a_storm_of_native_wait_for_cancellations_leaves_no_charge_unrecorded() -> None:
    async with _native_cancel_fake(subscription_balance=1_000_000) as fake:
        fake.faults = SlowReconcilePrechecks(fake)
        events = [fake.add_event(f"Storm Expo {n}", personnel=2).id for n in range(STORM_CALLS)]
        guard = CreditGuard(always_confirm)
        outcomes: list[BaseException | object] = []
        async with _client(fake, guard, timeout=ATTEMPT_TIMEOUT) as client:

            async def call(event_id: str) -> None:
                try:
                    outcomes.append(
                        await asyncio.wait_for(client.events.unlock(event_id), CALLER_TIMEOUT)
                    )
                except Exception as exc:
                    outcomes.append(exc)

            async with anyio.create_task_group() as group:
                for event_id in events:
                    group.start_soon(call, event_id)
            assert len(outcomes) == STORM_CALLS
            charged = {entry.intent[1] for entry in fake.truth.entries if entry.amount > 0}
            assert charged, "the storm charged nothing: the repro did not run"

            def all_recorded() -> bool:
                return all(
                    any(r.outcome in SETTLED_OR_IN_DOUBT for r in _records_for(guard, e))
                    for e in charged
                )

            await _eventually(all_recorded, seconds=2.0)
            snapshot = await guard.ledger.snapshot()
            missing = sorted(e for e in charged if not _records_for(guard, e))
            # Every server charge is in the history as spent or in doubt ...
            assert missing == [], f"{len(missing)} charged events have no record"
            for event_id in charged:
                outcomes_seen = [r.outcome for r in _records_for(guard, event_id)]
                assert set(outcomes_seen) & SETTLED_OR_IN_DOUBT, (event_id, outcomes_seen)
            # ... and the ledger never counts less than the server took.
            assert snapshot.spent + snapshot.reserved >= fake.truth.net()
            # No orphaned hold: whatever is still held belongs to a recorded in-doubt intent.
            in_doubt_estimates = sum(
                r.estimate or 0 for r in guard.history if r.outcome is SpendOutcome.IN_DOUBT
            )
            assert snapshot.reserved <= in_doubt_estimates, (snapshot, guard.history)
        assert fake.truth.duplicate_intents() == {}


# --------------------------------------------------------------------------- 2. recover()


def _row(rows: list[JournalEntry], operation: str) -> JournalEntry:
    [row] = [r for r in rows if r.operation == operation]
    return row


async def _cancel_after_charge(
    fake: FakeLensmor, call: Callable[[], Any], *, charged_total: int
) -> None:
    """Run ``call``, cancel it (anyio) once the server's net charge reached the total."""
    async with anyio.create_task_group() as group:

        async def run() -> None:
            await call()

        group.start_soon(run)
        with anyio.fail_after(5):
            while fake.truth.net() < charged_total:  # noqa: ASYNC110 - the fake's ledger
                await anyio.sleep(0.005)
        group.cancel_scope.cancel()


async def test_recover_concludes_an_in_doubt_paid_search_and_reaches_the_rows_after_it(
    tmp_path: Path,
) -> None:
    journal_path, ledger_path = tmp_path / "journal.db", tmp_path / "ledger.db"
    async with FakeLensmor(
        task_step_seconds=0.01, fault_tuning=FaultTuning(stall_seconds=30.0)
    ) as fake:
        event = fake.add_event("Recover Expo", personnel=2).id
        # A first worker: a paid search, then an event unlock, each cancelled after the
        # server charged it (their answers stall), so both rows end in doubt with a hold.
        ledger = SqliteLedger(ledger_path, budget=100_000)
        journal = SqliteJournal(journal_path)
        try:
            guard = CreditGuard(always_confirm, ledger=ledger, journal=journal)
            async with _client(fake, guard, timeout=30.0) as client:
                fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=SEARCH_ROUTE)
                await _cancel_after_charge(
                    fake,
                    lambda: client.exhibitors.search_by_company_name("Acme Analytics"),
                    charged_total=SEARCH_PRICE,
                )
                fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
                await _cancel_after_charge(
                    fake,
                    lambda: client.events.unlock(event),
                    charged_total=SEARCH_PRICE + EVENT_PRICE,
                )
        finally:
            await journal.aclose()
            await ledger.aclose()
        rows = await _journal_rows(journal_path)
        assert _row(rows, "exhibitors.search_by_company_name").state is JournalState.IN_DOUBT

        # A restarted worker: a new client and guard on the same journal and ledger.
        ledger = SqliteLedger(ledger_path, budget=100_000)
        journal = SqliteJournal(journal_path)
        try:
            guard = CreditGuard(always_confirm, ledger=ledger, journal=journal)
            async with _client(fake, guard) as client:
                first = await client.guard.recover(deadline=10)
                rows_after_first = await journal.entries()
                second = await client.guard.recover(deadline=10)
                snapshot = await ledger.snapshot()
                rows = await journal.entries()
        finally:
            await journal.aclose()
            await ledger.aclose()

    search = _row(rows, "exhibitors.search_by_company_name")
    unlock = _row(rows, "events.unlock")
    # The in-doubt search is concluded: booked at its estimate (with its reason) ...
    assert search.state.terminal, search
    assert search.actual == SEARCH_PRICE, search
    assert search.reason, search
    # ... and the row after it was reached too: concluded with the event's price (the
    # event is unlocked, so it was charged; settled, or booked at its estimate).
    assert unlock.state in (JournalState.SUCCEEDED, JournalState.IN_DOUBT), unlock
    assert unlock.actual == EVENT_PRICE, unlock
    # Their holds are released: nothing stays merely held; the ledger books it all.
    assert (snapshot.reserved, snapshot.holds) == (0, 0), snapshot
    assert snapshot.spent == SEARCH_PRICE + EVENT_PRICE == fake.truth.net(), snapshot
    # The first recover() did the work; the second has nothing more to do for these rows.
    assert {a.intent_key for a in first.actions} >= {search.intent_key, unlock.intent_key}
    assert {a.intent_key for a in second.actions} & {search.intent_key, unlock.intent_key} == set()
    assert second.unreached == ()
    assert rows_after_first == rows  # (nor rewrote them)


async def _journal_rows(path: Path) -> list[JournalEntry]:
    journal = SqliteJournal(path)
    try:
        return await journal.entries()
    finally:
        await journal.aclose()


# --------------------------------------------------------------------------- 3. ledger outage


class FlakyCommitLedger:
    """An in-memory ledger whose ``commit`` fails while ``outage`` is set (a store outage)."""

    def __init__(self, budget: int | None) -> None:
        self.inner = InMemoryLedger(budget)
        self.outage = False
        self.failed_commits = 0

    @property
    def budget(self) -> int | None:
        return self.inner.budget

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        return await self.inner.reserve(intent_key, amount, ttl=ttl)

    async def commit(self, hold: Hold, actual: int) -> None:
        if self.outage:
            self.failed_commits += 1
            raise LedgerUnavailableError("the ledger store is unreachable (test outage)")
        await self.inner.commit(hold, actual)

    async def release(self, hold: Hold) -> None:
        await self.inner.release(hold)

    async def release_intent(self, intent_key: str) -> int:
        return await self.inner.release_intent(intent_key)

    async def committed(self, hold_id: str) -> int | None:
        return await self.inner.committed(hold_id)

    async def record_unheld(self, intent_key: str, actual: int) -> None:
        await self.inner.record_unheld(intent_key, actual)

    async def release_expired(self) -> int:
        return await self.inner.release_expired()

    async def snapshot(self) -> LedgerSnapshot:
        return await self.inner.snapshot()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_ledger_outage_after_the_send_reports_success_and_replays_the_spend() -> None:
    budget = 5000  # two event unlocks fit, a third does not
    async with FakeLensmor(task_step_seconds=0.01) as fake:
        first, second, third = (
            fake.add_event(f"Outage Expo {n}", personnel=2).id for n in range(3)
        )
        ledger = FlakyCommitLedger(budget)
        guard = CreditGuard(always_confirm, ledger=ledger)
        async with _client(fake, guard) as client:
            ledger.outage = True
            # The server charges; only recording the spend fails. The caller is told the
            # truth: the unlock succeeded.
            result = await client.events.unlock(first)
            assert result.credits_used == EVENT_PRICE
            assert ledger.failed_commits >= 1  # the outage really hit the settlement
            [record] = _records_for(guard, first)
            assert record.outcome is SpendOutcome.SUCCEEDED, record
            assert record.actual == EVENT_PRICE, record
            assert record.reason is not None, record
            assert "ledger" in record.reason.lower(), record

            # While the ledger is down, the next paid call fails closed, sending nothing.
            unlocks_before = fake.request_count(UNLOCK_ROUTE)
            with pytest.raises(LedgerUnavailableError):
                await client.events.unlock(second)
            assert fake.request_count(UNLOCK_ROUTE) == unlocks_before
            assert fake.truth.net() == EVENT_PRICE  # charged once

            # Back up: the next paid call replays the pending spend before its own.
            ledger.outage = False
            await client.events.unlock(second)
            snapshot = await ledger.snapshot()
            assert snapshot.spent == 2 * EVENT_PRICE, snapshot
            assert snapshot.reserved == 0, snapshot

            # The first spend is counted again, so the budget stops the third unlock.
            with pytest.raises(BudgetExceededError):
                await client.events.unlock(third)
        assert fake.truth.for_intent(("events.unlock", third)) == []
        assert fake.truth.net() == 2 * EVENT_PRICE <= budget
        assert guard.spent == 2 * EVENT_PRICE
        assert fake.truth.duplicate_intents() == {}


async def test_after_a_ledger_outage_reconcile_replays_the_pending_spend() -> None:
    async with FakeLensmor(task_step_seconds=0.01) as fake:
        event = fake.add_event("Outage Replay Expo", personnel=2).id
        ledger = FlakyCommitLedger(10_000)
        guard = CreditGuard(always_confirm, ledger=ledger)
        async with _client(fake, guard) as client:
            ledger.outage = True
            await client.events.unlock(event)
            ledger.outage = False
            await guard.reconcile()
            snapshot = await ledger.snapshot()
    assert fake.truth.net() == EVENT_PRICE
    assert (snapshot.spent, snapshot.reserved) == (EVENT_PRICE, 0), snapshot
    assert guard.spent == EVENT_PRICE


# --------------------------------------------------------------------------- 7. deadline


@pytest.mark.parametrize(
    "fault",
    [FaultKind.HTTP_503_BEFORE, FaultKind.RESET_BEFORE],
    ids=["503", "connection-reset"],
)
async def test_a_lost_paid_answer_ends_at_the_call_deadline_in_doubt_with_its_hold(
    fault: FaultKind,
) -> None:
    deadline = 1.0
    async with FakeLensmor(task_step_seconds=0.01) as fake:
        event = fake.add_event("Deadline Expo", personnel=2).id
        fake.inject(fault, route=UNLOCK_ROUTE)
        guard = CreditGuard(always_confirm)
        # Not testing mode: the real 5 s "not executed" grace applies to reconciliation
        # (testing mode shortens it to 0.5 s). No backoff sleeps, fast task polls.
        async with _client(
            fake,
            guard,
            testing=False,
            deadline=deadline,
            retry=RetryPolicy.testing(),
            poll_intervals=(0.01,),
        ) as client:
            started = anyio.current_time()
            with anyio.fail_after(10), pytest.raises(LensmorError) as raised:
                await client.events.unlock(event)
            elapsed = anyio.current_time() - started
            snapshot = await guard.ledger.snapshot()
    # Checked first: how long the call took is the bug (it waited out a 5 s grace).
    assert elapsed <= deadline + 0.5, f"the call took {elapsed:.2f}s with deadline={deadline}"
    assert isinstance(raised.value, SpendInDoubtError), raised.value
    [record] = _records_for(guard, event)
    assert record.outcome is SpendOutcome.IN_DOUBT, record
    assert record.reason, record
    # In doubt: its estimate keeps counting (held in the ledger, spent for the guard).
    assert guard.spent == EVENT_PRICE
    assert snapshot.spent + snapshot.reserved == EVENT_PRICE, snapshot


# --------------------------------------------------------------------------- 8. dead owner

DEAD_OWNER_BUDGET = 10_000


@pytest.mark.slow
@pytest.mark.parametrize("crash", ["before_send", "after_charge"])
async def test_a_caller_behind_a_dead_owner_reconciles_its_row_and_proceeds_without_waiting(
    crash: str, tmp_path: Path
) -> None:
    journal_path, ledger_path = tmp_path / "journal.db", tmp_path / "ledger.db"
    async with FakeLensmor(
        task_step_seconds=0.01, fault_tuning=FaultTuning(stall_seconds=60.0)
    ) as fake:
        event = fake.add_event("Dead Owner Expo", personnel=2).id
        # A worker process claims the unlock, writes its row ("sending") and dies:
        # before its request left, or once the server has charged it.
        config: dict[str, Any] = {
            "url": fake.url,
            "api_key": fake.api_key,
            "budget": DEAD_OWNER_BUDGET,
            "ledger": {"kind": "sqlite", "path": str(ledger_path)},
            "journal": str(journal_path),
            "mode": "plan",
            "plan": [{"op": "events.unlock", "event_id": event}],
        }
        if crash == "before_send":
            config["crash"] = {"point": "after_journal_write", "call": 1}
            died = await run_worker(config, seconds=30)
        else:
            fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
            died = await run_worker(
                config, seconds=30, kill_when=lambda: fake.truth.net() >= EVENT_PRICE
            )
        assert died.killed, died.stderr[-3000:]
        [row] = await _journal_rows(journal_path)
        assert row.state is JournalState.SENDING, row
        charged_at_crash = fake.truth.net()
        assert charged_at_crash == (0 if crash == "before_send" else EVENT_PRICE)

        # A live client asks for the same intent (same account, same event).
        ledger = SqliteLedger(ledger_path, budget=DEAD_OWNER_BUDGET)
        journal = SqliteJournal(journal_path)
        try:
            guard = CreditGuard(always_confirm, ledger=ledger, journal=journal)
            async with _client(fake, guard) as client:
                # Not the 60 s attach limit: the owner is dead, which is seen at once.
                with anyio.fail_after(10):
                    result = await client.events.unlock(event)
            snapshot = await ledger.snapshot()
            rows = await journal.entries()
        finally:
            await journal.aclose()
            await ledger.aclose()

    charges = [e for e in fake.truth.for_intent(("events.unlock", event)) if e.amount > 0]
    assert len(charges) == 1, charges  # charged exactly once in total
    assert fake.truth.net() == EVENT_PRICE
    if crash == "before_send":
        assert result.credits_used == EVENT_PRICE  # not charged before: bought now
    else:
        assert result.credits_used == 0 or result.already_unlocked  # answered free
    assert all(r.state.terminal for r in rows), rows
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (EVENT_PRICE, 0, 0), snapshot
