"""Regressions of the guard review: each test pins one money promise the review found broken.

* ``recover()`` leaves this process's in-flight purchase alone (live, settled by its own call);
* a native cancel of ``reconcile()`` keeps the settlement it was recording;
* a call sent as free that was charged (impossible evidence) is booked at its list price;
* a call sent as free whose answer was lost is booked at its list price (in doubt, booked);
* contradicted charges (figure below both the quote and the balance's fall) stay in doubt;
* an unknown-price paid call is measured from the balance, not recorded as 0;
* a cancel between the journal claim and the hold closes the row: the intent is not blocked;
* a ledger outage on release in a cancelled confirm re-raises the cancel and keeps a record;
* a charge for a call the precheck called free is counted afterwards, unheld (documented).

Everything is observed through public names: the client, ``CreditGuard`` (its history,
ledger and journal) and FakeLensmor's faults and truth ledger. Native cancellations are
asyncio's own (the suite runs on asyncio only, see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from guard_helpers import CountingLedger, assert_books_match, connect

from lensmor_async.errors import (
    APIConnectionError,
    BudgetExceededError,
    LedgerUnavailableError,
)
from lensmor_async.guard import (
    CostTable,
    CreditGuard,
    Hold,
    InMemoryLedger,
    JournalEntry,
    JournalState,
    SpendOutcome,
    SpendRecord,
    SpendRequest,
    SqliteJournal,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning

pytestmark = pytest.mark.anyio

EVENT = "101"  # locked, 2000 credits to unlock
EVENT_PRICE = 2000
SEARCH_PRICE = 50
UNLOCK_ROUTE = "/external/events/{id}/unlock"
PRECHECK_ROUTE = "/external/actions/precheck"
SEARCH_ROUTE = "/external/exhibitors/search-by-company-name"
SEARCH = "exhibitors.search_by_company_name"
HANG_GUARD = 10.0  # deadlock guard only, never a timing assertion

ALREADY_UNLOCKED = {
    "allowed": False,
    "should_charge": False,
    "credits": 0,
    "reason_code": "already_unlocked",
    "biz_code": "",
}
"""A precheck answer saying the event is already unlocked (so the unlock is free)."""


# --------------------------------------------------------------------------- helpers


def _precheck_lies_free(body: Any) -> Any:
    """PATCH edit of a precheck answer: "already unlocked, nothing to pay"."""
    body.update(ALREADY_UNLOCKED)
    body.setdefault("detail", {})["access_mode"] = "full"
    return body


def _only(records: tuple[SpendRecord, ...]) -> SpendRecord:
    [record] = records
    return record


async def _until(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(HANG_GUARD):
        while not predicate():  # noqa: ASYNC110 - the state lives in the fake and the guard
            await anyio.sleep(0.005)


async def _ledger_books(guard: CreditGuard) -> tuple[int, int, int]:
    """The ledger's ``(spent, reserved, holds)``."""
    snapshot = await guard.ledger.snapshot()
    return snapshot.spent, snapshot.reserved, snapshot.holds


async def _only_row(journal: SqliteJournal) -> JournalEntry:
    [row] = await journal.entries()
    return row


# ---------------------------------------------------------------- recover() while buying


async def test_recover_leaves_this_processes_in_flight_purchase_alone(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    # The unlock is charged and answered 1 s after it arrives: recover() runs meanwhile.
    fake.fault_tuning = FaultTuning(late_seconds=1.0)
    fake.inject(FaultKind.LATE_COMMIT, count=1, route=UNLOCK_ROUTE)
    journal = SqliteJournal(tmp_path / "journal.db")
    guard = CreditGuard(always_confirm, journal=journal)
    results: list[Any] = []
    async with connect(fake, guard) as client:

        async def buy() -> None:
            results.append(await client.events.unlock(EVENT))

        async with anyio.create_task_group() as group:
            group.start_soon(buy)
            await _until(lambda: fake.request_count(UNLOCK_ROUTE) == 1)
            report = await guard.recover(deadline=3)
        row = await _only_row(journal)

    # recover() met the row still open, saw it as live and did nothing to it ...
    assert report.skipped_live == (row.intent_key,)
    assert report.actions == ()
    # ... so the purchase ended normally, settled once from its own answer.
    [result] = results
    assert result.credits_used == EVENT_PRICE
    assert (row.state, row.actual) == (JournalState.SUCCEEDED, EVENT_PRICE)
    record = _only(guard.history)
    assert (record.outcome, record.actual) == (SpendOutcome.SUCCEEDED, EVENT_PRICE)
    assert await _ledger_books(guard) == (EVENT_PRICE, 0, 0)
    assert_books_match(guard, fake)


# ------------------------------------------------------------- a native cancel of reconcile()


async def test_a_native_cancel_of_reconcile_keeps_the_settlement(fake: FakeLensmor) -> None:
    # The unlock is charged, then its answer stalls: the caller's cancel leaves it in doubt.
    fake.fault_tuning = FaultTuning(stall_seconds=5.0)
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, count=1, route=UNLOCK_ROUTE)
    ledger = CountingLedger()
    guard = CreditGuard(always_confirm, ledger=ledger)
    async with connect(fake, guard) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.events.unlock, EVENT)
            await _until(lambda: fake.truth.net() == EVENT_PRICE)
            group.cancel_scope.cancel()
        assert _only(guard.in_doubt).outcome is SpendOutcome.IN_DOUBT
        assert await _ledger_books(guard) == (0, EVENT_PRICE, 1)  # held while in doubt

        # reconcile() finds the charge; a native cancel lands while the ledger commits it.
        ledger.commit_gate = anyio.Event()
        reconciling = asyncio.create_task(guard.reconcile())
        await ledger.in_commit.wait()
        reconciling.cancel()
        await asyncio.sleep(0)  # the cancellation is delivered while the commit waits
        ledger.commit_gate.set()
        with pytest.raises(asyncio.CancelledError):
            await reconciling

        # The settlement was recorded whole: spent, no hold left, nothing in doubt.
        assert guard.in_doubt == ()
        record = _only(guard.history)
        assert (record.outcome, record.actual) == (SpendOutcome.SUCCEEDED, EVENT_PRICE)
        assert await _ledger_books(guard) == (EVENT_PRICE, 0, 0)
        assert await guard.reconcile() == ()  # nothing left to settle
    assert_books_match(guard, fake)


# ------------------------------------------------------------ free sends that were charged


def _free_send_with_negative_credits(body: Any) -> Any:
    """PATCH edit: the precheck says "already unlocked"; the unlock answers -5 credits."""
    if "reason_code" in body:
        return _precheck_lies_free(body)
    body["creditsUsed"] = -5
    return body


async def test_a_free_send_answered_with_an_impossible_charge_is_booked_at_its_list_price(
    fake: FakeLensmor,
) -> None:
    fake.fault_tuning = FaultTuning(patch=_free_send_with_negative_credits)
    fake.inject(FaultKind.PATCH, count=1, route=PRECHECK_ROUTE)
    fake.inject(FaultKind.PATCH, count=1, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        result = await client.events.unlock(EVENT)
        assert result.credits_used == -5  # the answer's figure is impossible
        books = await _ledger_books(guard)
    _assert_booked_at_list_price(guard, fake, books, reason="impossible credits figure -5")


async def test_a_free_send_whose_answer_was_lost_is_booked_at_its_list_price(
    fake: FakeLensmor,
) -> None:
    fake.fault_tuning = FaultTuning(patch=_precheck_lies_free)
    fake.inject(FaultKind.PATCH, count=1, route=PRECHECK_ROUTE)
    fake.inject(FaultKind.COMMIT_THEN_DROP, count=1, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(APIConnectionError):
            await client.events.unlock(EVENT)
        books = await _ledger_books(guard)
    _assert_booked_at_list_price(
        guard, fake, books, reason="APIConnectionError after a send the quote called free"
    )


def _assert_booked_at_list_price(
    guard: CreditGuard, fake: FakeLensmor, books: tuple[int, int, int], *, reason: str
) -> None:
    """Sent as free, charged by the server: in doubt at the list price, booked as spent."""
    assert fake.truth.net() == EVENT_PRICE  # the server charged the unlock
    record = _only(guard.history)
    assert (record.outcome, record.actual) == (SpendOutcome.IN_DOUBT, EVENT_PRICE)
    assert record.reason == reason
    assert guard.spent == EVENT_PRICE
    assert books == (EVENT_PRICE, 0, 0)  # booked, with no hold (none covered a free call)
    assert_books_match(guard, fake)


# ------------------------------------------------------------------- contradicted charges


@pytest.mark.parametrize(
    ("patch", "reported"),
    [
        pytest.param({"alreadyUnlocked": True, "creditsUsed": 0}, 0, id="already_unlocked_0"),
        pytest.param({"creditsUsed": 100}, 100, id="100_credits"),
    ],
)
async def test_a_charge_below_both_the_quote_and_the_balance_fall_stays_in_doubt(
    fake: FakeLensmor, patch: dict[str, Any], reported: int
) -> None:
    # The real handler charges 2000 and its balanceAfter shows the fall; only the
    # charge figure lies.
    fake.fault_tuning = FaultTuning(patch=patch)
    fake.inject(FaultKind.PATCH, count=1, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        result = await client.events.unlock(EVENT)
        assert result.credits_used == reported  # the answer is returned as sent
        assert fake.truth.net() == EVENT_PRICE
        doubt = _only(guard.in_doubt)
        assert doubt.estimate == EVENT_PRICE
        fell = f"while the balance fell by {EVENT_PRICE}"
        assert doubt.reason == f"{reported} credits reported {fell}"
        assert guard.spent == EVENT_PRICE  # counted at the estimate, not the figure
        assert await _ledger_books(guard) == (0, EVENT_PRICE, 1)  # the hold is kept

        # reconcile() finds the event unlocked: the charge is settled at the real 2000.
        settled = _only(await guard.reconcile())
        assert (settled.outcome, settled.actual) == (SpendOutcome.SUCCEEDED, EVENT_PRICE)
        assert await _ledger_books(guard) == (EVENT_PRICE, 0, 0)
    assert_books_match(guard, fake)


# ------------------------------------------------------------------------ unknown prices


async def test_an_unknown_price_paid_call_is_measured_not_recorded_as_zero(
    fake: FakeLensmor,
) -> None:
    costs = CostTable.default().with_price_map({SEARCH: None})
    guard = CreditGuard(always_confirm, costs=costs)
    async with connect(fake, guard) as client:
        await client.exhibitors.search_by_company_name("Acme")
        books = await _ledger_books(guard)
    assert fake.truth.net() == SEARCH_PRICE
    record = _only(guard.history)
    assert (record.outcome, record.estimate, record.actual) == (
        SpendOutcome.SUCCEEDED,
        None,
        SEARCH_PRICE,
    )
    assert record.reason == "measured from the balance"
    assert books == (SEARCH_PRICE, 0, 0)
    assert_books_match(guard, fake)


# ------------------------------------------------------------- a cancel before the hold


class StalledReserveLedger(InMemoryLedger):
    """A networked ledger whose first reserve stalls (until cancelled).

    ``took_hold``: the stall comes after the store took the hold (the answer is lost),
    else before it.
    """

    def __init__(self, *, took_hold: bool) -> None:
        super().__init__()
        self.took_hold = took_hold
        self.stalled = anyio.Event()

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        if self.stalled.is_set():
            return await super().reserve(intent_key, amount, ttl=ttl)
        if self.took_hold:
            await super().reserve(intent_key, amount, ttl=ttl)
        self.stalled.set()
        await anyio.sleep_forever()
        raise AssertionError("a stalled reserve ends only by cancellation")


@pytest.mark.parametrize("took_hold", [False, True], ids=["before_the_hold", "hold_answer_lost"])
async def test_a_cancel_between_the_claim_and_the_hold_closes_the_row_so_the_intent_is_not_blocked(
    fake: FakeLensmor, tmp_path: Path, took_hold: bool
) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    ledger = StalledReserveLedger(took_hold=took_hold)
    guard = CreditGuard(always_confirm, journal=journal, ledger=ledger)
    async with connect(fake, guard) as client:
        async with anyio.create_task_group() as group:
            group.start_soon(client.events.unlock, EVENT)
            await ledger.stalled.wait()  # claimed in the journal, reserving in the ledger
            group.cancel_scope.cancel()

        # Nothing was sent; the row is closed and no hold is left behind.
        assert fake.request_count(UNLOCK_ROUTE) == 0
        row = await _only_row(journal)
        assert row.state is JournalState.FAILED_NO_CHARGE, row
        record = _only(guard.history)
        assert (record.outcome, record.actual) == (SpendOutcome.CANCELLED, 0)
        assert record.reason == "cancelled before sending"
        assert await _ledger_books(guard) == (0, 0, 0)

        # The same intent is bought at once, not left waiting on the closed row.
        result = await client.events.unlock(EVENT)
        row = await _only_row(journal)
    assert result.credits_used == EVENT_PRICE
    assert (row.state, row.actual) == (JournalState.SUCCEEDED, EVENT_PRICE)
    assert await _ledger_books(guard) == (EVENT_PRICE, 0, 0)
    assert_books_match(guard, fake)


# --------------------------------------------------- a release outage in a cancelled confirm


class ReleaseOutageLedger(InMemoryLedger):
    """An in-memory ledger whose ``release`` fails while ``down`` is set (a store outage)."""

    down = False

    async def release(self, hold: Hold) -> None:
        if self.down:
            raise LedgerUnavailableError("the ledger store is unreachable (test outage)")
        await super().release(hold)


class StallingConfirm:
    """A confirm callback that never answers (a person away from the prompt)."""

    def __init__(self) -> None:
        self.asked = anyio.Event()

    async def __call__(self, request: SpendRequest, /) -> bool:
        self.asked.set()
        await anyio.sleep_forever()
        return True


async def test_a_release_outage_during_a_cancelled_confirm_reraises_the_cancel_and_keeps_a_record(
    fake: FakeLensmor,
) -> None:
    ledger = ReleaseOutageLedger()
    confirm = StallingConfirm()
    guard = CreditGuard(confirm, ledger=ledger)
    async with connect(fake, guard) as client:
        ledger.down = True
        buying = asyncio.create_task(client.events.unlock(EVENT))
        await confirm.asked.wait()  # the hold is taken; confirm is pending
        buying.cancel()
        # The cancellation wins over the ledger's error (not swallowed, not replaced).
        with pytest.raises(asyncio.CancelledError):
            await buying
        assert fake.request_count(UNLOCK_ROUTE) == 0
        assert fake.truth.net() == 0
        record = _only(guard.history)
        assert (record.outcome, record.actual) == (SpendOutcome.CANCELLED, 0)
        assert record.reason is not None
        assert record.reason.endswith("before sending"), record
        # The hold the ledger could not drop still counts against the budget (the safe
        # side) ...
        assert guard.reserved == 0
        assert await _ledger_books(guard) == (0, EVENT_PRICE, 1)

        # ... until the ledger is back: the release is replayed.
        ledger.down = False
        await guard.reconcile()
        assert await _ledger_books(guard) == (0, 0, 0)
    assert_books_match(guard, fake)


# ------------------------------------------------------- the budget and a "free" precheck


async def test_a_charge_for_a_call_the_precheck_called_free_is_counted_afterwards_unheld(
    fake: FakeLensmor,
) -> None:
    # Documented: the budget trusts the precheck's "free" (no hold is taken), so the
    # server's charge may exceed the budget; it is counted as soon as it is seen.
    fake.fault_tuning = FaultTuning(patch=_precheck_lies_free)
    fake.inject(FaultKind.PATCH, count=1, route=PRECHECK_ROUTE)
    ledger = CountingLedger(budget=500)
    guard = CreditGuard(always_confirm, ledger=ledger)
    async with connect(fake, guard) as client:
        result = await client.events.unlock(EVENT)
        assert result.credits_used == EVENT_PRICE
        assert ledger.reserves == 0  # sent as free: nothing was held
        assert fake.truth.net() == EVENT_PRICE
        record = _only(guard.history)
        assert (record.outcome, record.actual) == (SpendOutcome.SUCCEEDED, EVENT_PRICE)
        assert record.reason == "charged although the quote said free"
        assert await _ledger_books(guard) == (EVENT_PRICE, 0, 0)
        assert_books_match(guard, fake)

        # Counted against the budget: a 50-credit search no longer fits, and is not sent.
        with pytest.raises(BudgetExceededError):
            await client.exhibitors.search_by_company_name("Acme")
        assert fake.request_count(SEARCH_ROUTE) == 0
    assert fake.truth.net() == EVENT_PRICE
