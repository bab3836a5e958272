"""Regressions of issue 11 (items 4, 5, 6, 9, 10): the guard trusts evidence, not a single number.

* 4: an inconsistent answer never releases budget: impossible or contradictory
  evidence keeps the intent in doubt at its estimate, with its reason;
* 5: a quote cannot lie: a quote that captured no price never reads as free and
  never spends;
* 6: the confirm callback is bounded by the call's deadline, and an error in it is a
  decline (recorded with the error), never a "cancelled";
* 9: ``guard.spent`` counts in-doubt intents at their estimate (once), and budget
  checks count them;
* 10: a caller attaching to a reused task reports already-unlocked contacts as
  skipped or delivered, never unresolved.

Lies are told by FakeLensmor's PATCH fault: the real handler runs (and charges),
then its 2xx answer is sent with fields replaced. Only the public API is used.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from guard_helpers import connect
from scale_worker import run_worker

from lensmor_async import AsyncLensmor
from lensmor_async.errors import (
    BudgetExceededError,
    LensmorError,
    SpendDeclinedError,
)
from lensmor_async.guard import (
    CreditGuard,
    SpendOutcome,
    SpendRecord,
    SpendRequest,
    SqliteJournal,
    SqliteLedger,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning, UnlockOutcome

pytestmark = pytest.mark.anyio

LOCKED_EVENT = "101"  # locked, 2000 credits to unlock
OTHER_LOCKED_EVENT = "103"
CONTACT_EVENT = "103"
EVENT_PRICE = 2000
CONTACT_PRICE = 15
UNLOCK_ROUTE = "/external/events/{id}/unlock"
PRECHECK_ROUTE = "/external/actions/precheck"
CONTACTS_ROUTE = "/external/contacts/unlock"
TASK_ROUTE = "/external/contacts/unlock-tasks/{taskId}"
DEADLINE = 1.0
HANG_GUARD = 10.0  # deadlock guard only, never a timing assertion


# --------------------------------------------------------------------------- helpers


def lie(fake: FakeLensmor, route: str, patch: Any, count: int = 1) -> None:
    """The next ``count`` answers on ``route`` are real (charged) but patched."""
    fake.fault_tuning = FaultTuning(patch=patch)
    fake.inject(FaultKind.PATCH, count=count, route=route)


def fresh_contacts(fake: FakeLensmor, count: int = 3) -> list[str]:
    """Contacts of CONTACT_EVENT that are chargeable and will be delivered."""
    ids = list(fake.state.rosters[CONTACT_EVENT])[:count]
    for pid in ids:
        fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED)
    return ids


async def quietly(call: Awaitable[Any]) -> Any:
    """The call's result, or None if it raised an SDK error (e.g. SpendInDoubtError)."""
    with contextlib.suppress(LensmorError):
        return await call
    return None


async def ledger_counts_at_least(guard: CreditGuard, server_net: int) -> None:
    snapshot = await guard.ledger.snapshot()
    assert snapshot.spent + snapshot.reserved >= server_net, snapshot


async def until(predicate: Callable[[], bool]) -> None:
    with anyio.fail_after(HANG_GUARD):
        while not predicate():  # noqa: ASYNC110 - the condition lives in the fake's records
            await anyio.sleep(0.005)


# ------------------------------------------------------------------- 4: inconsistent answers


async def test_a_negative_credits_used_keeps_the_unlock_in_doubt_at_its_estimate(
    fake: FakeLensmor,
) -> None:
    lie(fake, UNLOCK_ROUTE, {"creditsUsed": -EVENT_PRICE})
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await quietly(client.events.unlock(LOCKED_EVENT))
    assert fake.truth.net() == EVENT_PRICE  # the server really charged
    assert guard.spent >= 0
    [doubt] = guard.in_doubt
    assert doubt.outcome is SpendOutcome.IN_DOUBT
    assert doubt.reason
    assert guard.spent == EVENT_PRICE  # in doubt counts at its estimate
    await ledger_counts_at_least(guard, fake.truth.net())


async def test_zero_credits_used_contradicted_by_the_balance_drop_stays_in_doubt(
    fake: FakeLensmor,
) -> None:
    # alreadyUnlocked stays false and balanceAfter shows the real 2000 drop.
    lie(fake, UNLOCK_ROUTE, {"creditsUsed": 0})
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await quietly(client.events.unlock(LOCKED_EVENT))
    assert fake.truth.net() == EVENT_PRICE
    assert not [r for r in guard.history if r.outcome is SpendOutcome.SUCCEEDED and r.actual == 0]
    [doubt] = guard.in_doubt
    assert doubt.reason
    assert doubt.estimate == EVENT_PRICE
    assert guard.spent == EVENT_PRICE
    await ledger_counts_at_least(guard, fake.truth.net())


ALREADY_UNLOCKED_PRECHECK = {
    "allowed": False,
    "should_charge": False,
    "credits": 0,
    "reason_code": "already_unlocked",
    "biz_code": "",
    "detail.access_mode": "full",
}


async def test_a_charge_after_a_precheck_saying_already_unlocked_is_counted(
    fake: FakeLensmor,
) -> None:
    lie(fake, PRECHECK_ROUTE, ALREADY_UNLOCKED_PRECHECK)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await quietly(client.events.unlock(LOCKED_EVENT))
    assert fake.truth.net() == EVENT_PRICE  # the answer says 2000 used, and it was
    assert [r.outcome for r in guard.history if r.actual == EVENT_PRICE] in (
        [SpendOutcome.SUCCEEDED],
        [SpendOutcome.IN_DOUBT],
    ), guard.history
    assert guard.spent == EVENT_PRICE
    assert (await guard.ledger.snapshot()).spent >= EVENT_PRICE


async def test_a_contact_unlock_accepted_without_a_task_id_stays_in_doubt_at_its_estimate(
    fake: FakeLensmor,
) -> None:
    ids = fresh_contacts(fake)
    estimate = CONTACT_PRICE * len(ids)
    lie(fake, CONTACTS_ROUTE, {"task_id": None, "job_id": None})
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        await quietly(client.contacts.unlock(event_id=CONTACT_EVENT, personnel_ids=ids))
    assert fake.truth.net() == estimate
    assert not [r for r in guard.history if r.outcome is SpendOutcome.SUCCEEDED and r.actual == 0]
    [doubt] = guard.in_doubt
    assert doubt.reason
    assert doubt.estimate == estimate
    assert guard.spent == estimate
    await ledger_counts_at_least(guard, fake.truth.net())


def completed_without_items(body: Any) -> Any:
    body["taskStatus"] = "completed"
    body["items"] = []
    return body


async def test_a_task_completed_without_items_keeps_the_unresolved_contacts_counted(
    fake: FakeLensmor,
) -> None:
    ids = fresh_contacts(fake)
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=CONTACT_EVENT, personnel_ids=ids)
        lie(fake, TASK_ROUTE, completed_without_items, count=50)
        with anyio.fail_after(HANG_GUARD):
            report = await handle.wait()
    assert set(report.unresolved) == set(ids)
    assert report.delivered == ()
    assert guard.spent >= CONTACT_PRICE * len(ids)  # unresolved is not "free"
    await ledger_counts_at_least(guard, CONTACT_PRICE * len(ids))


# --------------------------------------------------------------------------- 5: quotes


async def test_a_quote_of_a_wrapper_that_swallows_sdk_errors_never_reads_free_nor_spends(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:

        async def safe(*args: Any) -> Any:
            try:
                return await client.events.unlock(*args)
            except LensmorError:
                return None

        try:
            quote = await guard.quote(safe, LOCKED_EVENT)
        except LensmorError:
            quote = None  # refusing to quote what it cannot price is fine
        if quote is not None:
            assert quote.credits != 0, "a 2000-credit unlock was quoted as free"
            with pytest.raises(LensmorError):
                await quote.execute()
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert fake.truth.net() == 0
    assert guard.spent == 0


async def test_quoting_the_sdk_method_itself_still_prices_and_executes_once(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(always_confirm)
    async with connect(fake, guard) as client:
        quote = await guard.quote(client.events.unlock, LOCKED_EVENT)
        assert quote.credits == EVENT_PRICE
        assert fake.request_count(UNLOCK_ROUTE) == 0
        result = await quote.execute()
    assert result.credits_used == EVENT_PRICE
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert fake.truth.net() == guard.spent == EVENT_PRICE


# --------------------------------------------------------------------------- 6: confirm


def deadline_client(fake: FakeLensmor, guard: CreditGuard) -> AsyncLensmor:
    return AsyncLensmor(
        fake.api_key, base_url=fake.url, guard=guard, testing=True, deadline=DEADLINE
    )


async def assert_declined_and_released(guard: CreditGuard, fake: FakeLensmor) -> SpendRecord:
    [record] = guard.history
    assert record.outcome is SpendOutcome.DECLINED, record
    assert record.reason
    assert (guard.reserved, (await guard.ledger.snapshot()).reserved) == (0, 0)
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert fake.truth.net() == 0
    return record


async def test_a_confirm_callback_that_never_answers_is_declined_at_the_deadline(
    fake: FakeLensmor,
) -> None:
    never = anyio.Event()

    async def confirm(request: SpendRequest) -> bool:
        del request
        await never.wait()
        return True

    guard = CreditGuard(confirm)
    raised: list[BaseException] = []
    async with deadline_client(fake, guard) as client:
        with anyio.move_on_after(DEADLINE + 0.5) as bound:
            try:
                await client.events.unlock(LOCKED_EVENT)
            except LensmorError as exc:
                raised.append(exc)
    assert not bound.cancelled_caught, "the confirm callback held the call past its deadline"
    assert [type(exc) for exc in raised] == [SpendDeclinedError]
    record = await assert_declined_and_released(guard, fake)
    assert re.search(r"time[sd]? ?out|deadline", record.reason or "", re.IGNORECASE), record


async def test_a_confirm_callback_that_raises_is_a_decline_recorded_with_the_error(
    fake: FakeLensmor,
) -> None:
    def confirm(request: SpendRequest) -> bool:
        del request
        raise ValueError("approval service is down")

    guard = CreditGuard(confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(SpendDeclinedError) as declined:
            await client.events.unlock(LOCKED_EVENT)
    assert isinstance(declined.value.__cause__, ValueError)
    record = await assert_declined_and_released(guard, fake)
    assert "ValueError" in (record.reason or "") or "approval service is down" in (
        record.reason or ""
    )


# --------------------------------------------------------------------------- 9: spent


async def test_an_intent_in_doubt_after_cancellation_counts_as_spent_once_and_in_the_budget(
    fake: FakeLensmor,
) -> None:
    fake.fault_tuning = FaultTuning(stall_seconds=HANG_GUARD)
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm, budget=3000)
    async with AsyncLensmor(
        fake.api_key, base_url=fake.url, guard=guard, testing=True, timeout=30.0
    ) as client:
        async with anyio.create_task_group() as tg:

            async def unlock() -> None:
                await client.events.unlock(LOCKED_EVENT)

            tg.start_soon(unlock)
            await until(lambda: fake.truth.net() == EVENT_PRICE)
            tg.cancel_scope.cancel()
        [doubt] = guard.in_doubt
        assert doubt.outcome is SpendOutcome.IN_DOUBT
        assert guard.spent == EVENT_PRICE  # may have left the account: spent
        assert guard.spent + guard.reserved == EVENT_PRICE  # counted once, not twice
        before = fake.request_count(UNLOCK_ROUTE)
        with pytest.raises(BudgetExceededError):
            await client.events.unlock(OTHER_LOCKED_EVENT)
        assert fake.request_count(UNLOCK_ROUTE) == before
    assert fake.truth.net() == EVENT_PRICE


# --------------------------------------------------------------------------- 10: reused tasks


@pytest.mark.slow  # one worker process, SIGKILLed
async def test_a_caller_attached_to_a_reused_task_reports_already_unlocked_contacts_as_skipped(
    tmp_path: Path,
) -> None:
    journal_path, ledger_path = tmp_path / "journal.db", tmp_path / "ledger.db"
    async with FakeLensmor(seed=3, task_step_seconds=0.01) as fake:
        event = fake.add_event("Reused Task Expo").id
        ids = [str(n) for n in fake.add_personnel(event, 3)]
        refunded, unlocked = ids[0], ids[1:]
        fake.set_unlock_outcome(refunded, UnlockOutcome.FAILED)  # refunded: chargeable again
        for pid in unlocked:
            fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED)

        async def unlock_all(client: AsyncLensmor) -> Any:
            handle = await client.contacts.unlock(event_id=event, personnel_ids=ids)
            with anyio.fail_after(HANG_GUARD):
                return await handle.wait()

        async def in_a_new_process(body: Callable[[AsyncLensmor], Awaitable[Any]]) -> Any:
            ledger = SqliteLedger(ledger_path, budget=10_000)
            journal = SqliteJournal(journal_path)
            guard = CreditGuard(always_confirm, ledger=ledger, journal=journal)
            try:
                async with AsyncLensmor(
                    fake.api_key, base_url=fake.url, guard=guard, testing=True
                ) as client:
                    return await body(client)
            finally:
                await ledger.aclose()
                await journal.aclose()

        # 1. Killed after the server charged the batch, before its task id was journaled.
        died = await run_worker(
            {
                "url": fake.url,
                "api_key": fake.api_key,
                "budget": 10_000,
                "ledger": {"kind": "sqlite", "path": str(ledger_path)},
                "journal": str(journal_path),
                "mode": "plan",
                "plan": [{"op": "contacts.unlock", "event_id": event, "personnel_ids": ids}],
                "crash": {"point": "after_response", "call": 1},
            },
            seconds=HANG_GUARD,
        )
        assert died.killed, died.stderr[-3000:]
        assert fake.truth.total_charged() == CONTACT_PRICE * len(ids)
        # 2. recover() concludes that row (it has no task id).
        recovery = await in_a_new_process(lambda client: client.recover(deadline=HANG_GUARD))
        assert len(recovery.actions) == 1, recovery
        # 3. The next run buys again, sending only the contact not unlocked yet.
        await in_a_new_process(unlock_all)
        assert fake.requests_for(CONTACTS_ROUTE)[-1].json["personnel_ids"] == [refunded]
        # 4. A later run attaches to that purchase's task, asking for every contact.
        report = await in_a_new_process(unlock_all)
    assert not set(report.unresolved) & set(unlocked), report
    reported = set(report.skipped) | {d.personnel_id for d in report.delivered}
    assert set(unlocked) <= reported, report
