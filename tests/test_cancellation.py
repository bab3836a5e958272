"""Cancellation safety: CancelledError always propagates, holds never leak, nothing is paid twice.

Each test parks a request at a known point (the fake stalls a route after it was
received, or a confirm callback blocks), cancels, and then judges the guard and the
ledger against the fake's truth ledger. No timing is asserted: the tests wait for
the server to have seen a request, never for a duration.
"""

from __future__ import annotations

import asyncio
import gc
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from chaos_support import settled_client_sockets

from lensmor_async import (
    AsyncLensmor,
    CreditGuard,
    LensmorError,
    SpendOutcome,
    SpendRequest,
    always_confirm,
)
from lensmor_async.guard._journal_sqlite import SqliteJournal
from lensmor_async.testing import FakeLensmor, FaultKind, FaultSchedule, FaultTuning

pytestmark = pytest.mark.anyio

EVENT = "101"
UNLOCK_ROUTE = "/external/events/{id}/unlock"
PRECHECK_ROUTE = "/external/actions/precheck"
BALANCE_ROUTE = "/external/credits/balance"
LIST_ROUTE = "/external/events/list"
TASK_ROUTE = "/external/contacts/unlock-tasks/{taskId}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    """A fake whose stalls outlast any test (they end when the server stops)."""
    async with FakeLensmor(
        task_step_seconds=0.01, fault_tuning=FaultTuning(stall_seconds=60.0)
    ) as server:
        yield server


def _client(fake: FakeLensmor, guard: CreditGuard, **options: Any) -> AsyncLensmor:
    # A long attempt timeout: only our cancellation may end a stalled request.
    options.setdefault("timeout", 30.0)
    return AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard, testing=True, **options)


async def _until(predicate: Callable[[], bool]) -> None:
    """Wait (bounded) until ``predicate`` holds; the bound only guards against hangs."""
    with anyio.fail_after(10):
        # The condition lives in the fake server's records: there is no event to await.
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def _cancel_when(
    call: Callable[[], Awaitable[object]], ready: Callable[[], bool]
) -> list[type[BaseException]]:
    """Run ``call``, cancel it once ``ready()``; return the exception types it raised."""
    raised: list[type[BaseException]] = []

    async def run() -> None:
        try:
            await call()
        except BaseException as exc:
            raised.append(type(exc))
            raise

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await _until(ready)
        tg.cancel_scope.cancel()
    return raised


async def _assert_no_hold(guard: CreditGuard) -> None:
    snapshot = await guard.ledger.snapshot()
    assert guard.reserved == 0
    assert snapshot.holds == 0
    assert snapshot.reserved == 0


# --------------------------------------------------------------------------- CancelledError


@pytest.mark.parametrize(
    "route",
    [PRECHECK_ROUTE, BALANCE_ROUTE, UNLOCK_ROUTE],
    ids=["during-precheck", "during-balance", "after-send"],
)
async def test_cancelling_a_paid_call_at_any_request_reraises_cancelled_error(
    fake: FakeLensmor, route: str
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=route)
    async with _client(fake, CreditGuard(always_confirm)) as client:
        raised = await _cancel_when(
            lambda: client.events.unlock(EVENT), lambda: fake.request_count(route) == 1
        )
    assert raised == [asyncio.CancelledError]


async def test_cancelling_a_read_in_flight_reraises_cancelled_error(fake: FakeLensmor) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=LIST_ROUTE)
    async with _client(fake, CreditGuard()) as client:
        raised = await _cancel_when(client.events.list, lambda: fake.request_count(LIST_ROUTE) == 1)
    assert raised == [asyncio.CancelledError]


async def test_cancelling_a_task_wait_reraises_cancelled_error_and_keeps_the_hold(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client:
        fake.faults = FaultSchedule.explicit(
            dict.fromkeys(range(1, 50), FaultKind.STUCK_TASK), routes=["/external/contacts/unlock"]
        )
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=["700004"])
        raised = await _cancel_when(handle.wait, lambda: fake.request_count(TASK_ROUTE) >= 2)
        assert raised == [asyncio.CancelledError]
        # The task still runs on the server: its credits stay held, not released.
        assert guard.reserved == 15
        fake.complete_tasks()
        assert handle.task_id is not None
        report = await client.contacts.unlock_task_handle(handle.task_id).wait(deadline=10)
    assert report.complete
    await _assert_no_hold(guard)
    assert guard.spent == fake.truth.net()


# --------------------------------------------------------------------------- before send


async def test_cancel_during_confirmation_releases_the_hold_and_sends_nothing(
    fake: FakeLensmor,
) -> None:
    confirming = anyio.Event()

    async def slow_confirm(request: SpendRequest) -> bool:
        del request
        confirming.set()
        await anyio.sleep_forever()
        return True

    guard = CreditGuard(slow_confirm)
    async with _client(fake, guard) as client:
        raised = await _cancel_when(lambda: client.events.unlock(EVENT), confirming.is_set)
    assert raised == [asyncio.CancelledError]
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert fake.truth.net() == 0
    assert guard.spent == 0
    await _assert_no_hold(guard)


async def test_cancel_during_confirmation_is_recorded_as_cancelled(fake: FakeLensmor) -> None:
    confirming = anyio.Event()

    async def slow_confirm(request: SpendRequest) -> bool:
        del request
        confirming.set()
        await anyio.sleep_forever()
        return True

    guard = CreditGuard(slow_confirm)
    async with _client(fake, guard) as client:
        await _cancel_when(lambda: client.events.unlock(EVENT), confirming.is_set)
    assert [r.outcome for r in guard.history] == [SpendOutcome.CANCELLED]


async def test_cancel_while_queued_for_a_connection_slot_releases_the_hold_and_sends_nothing(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=LIST_ROUTE)
    blockers: list[Any] = []

    async with anyio.create_task_group() as background:

        async def occupy_the_only_slot(request: SpendRequest) -> bool:
            # Approve, but first park a read in the client's single slot, so the paid
            # send must queue in the limiter, where it is then cancelled.
            del request
            background.start_soon(client.events.list)
            await _until(lambda: fake.request_count(LIST_ROUTE) == 1)
            blockers.append(True)
            return True

        guard = CreditGuard(occupy_the_only_slot)
        async with _client(fake, guard, max_concurrency=1) as client:

            def queued() -> bool:
                # Approved; the paid send needs a few loop turns to reach the limiter.
                if blockers:
                    blockers.append(True)
                return len(blockers) > 20

            raised = await _cancel_when(lambda: client.events.unlock(EVENT), queued)
            background.cancel_scope.cancel()
    assert raised == [asyncio.CancelledError]
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert [r.outcome for r in guard.history] == [SpendOutcome.CANCELLED]
    await _assert_no_hold(guard)
    assert guard.spent == 0


# --------------------------------------------------------------------------- after send


async def test_cancel_after_send_marks_the_intent_in_doubt_and_counts_it(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client:
        raised = await _cancel_when(
            lambda: client.events.unlock(EVENT), lambda: fake.truth.net() == 2000
        )
        assert raised == [asyncio.CancelledError]
        [record] = guard.in_doubt
        assert record.outcome is SpendOutcome.IN_DOUBT
        assert record.reason is not None
        assert "cancelled" in record.reason
        # Spent at its estimate and still held, so a budget can never be crossed by an
        # unknown outcome ...
        assert (guard.spent, guard.reserved) == (2000, 0)
        assert (await guard.ledger.snapshot()).reserved == 2000
        # ... until reconcile() establishes it (the event is now unlocked: charged).
        settled = await guard.reconcile()
    assert [r.outcome for r in settled] == [SpendOutcome.SUCCEEDED]
    assert guard.in_doubt == ()
    assert guard.spent == 2000
    assert (await guard.ledger.snapshot()).spent == 2000
    await _assert_no_hold(guard)


async def test_cancel_after_send_then_same_intent_again_is_not_paid_twice(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client:
        await _cancel_when(lambda: client.events.unlock(EVENT), lambda: fake.truth.net() == 2000)
        result = await client.events.unlock(EVENT)
    assert result.credits_used == 0 or result.already_unlocked
    assert fake.truth.duplicate_intents() == {}
    assert fake.truth.net() == 2000
    # The repeat first settled the in-doubt intent (charged), then ran for free.
    assert guard.spent == 2000
    assert guard.in_doubt == ()


def _unlock_requests(fake: FakeLensmor) -> Callable[[], bool]:
    return lambda: bool(fake.requests_for(UNLOCK_ROUTE))


async def test_a_cancelled_unlock_the_server_runs_late_is_not_taken_for_unsent(
    fake: FakeLensmor,
) -> None:
    # The server runs the request 0.2 s after it arrived, after our cancellation: a check
    # made at once sees the event still locked, which must not mean "not executed".
    fake.inject(FaultKind.LATE_COMMIT, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client:
        await _cancel_when(lambda: client.events.unlock(EVENT), _unlock_requests(fake))
        assert fake.truth.net() == 0  # not run yet
        settled = await guard.reconcile()
    assert [r.outcome for r in settled] == [SpendOutcome.SUCCEEDED]
    assert guard.spent == fake.truth.net() == 2000
    await _assert_no_hold(guard)


async def test_a_follower_taking_over_from_a_cancelled_leader_settles_its_send_first(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.LATE_COMMIT, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client, anyio.create_task_group() as tg:
        leader = anyio.CancelScope()
        results: list[object] = []

        async def lead() -> None:
            with leader:
                await client.events.unlock(EVENT)

        async def follow() -> None:
            results.append(await client.events.unlock(EVENT))

        tg.start_soon(lead)
        await _until(_unlock_requests(fake))
        tg.start_soon(follow)  # joins the leader's flight
        await anyio.sleep(0.02)
        leader.cancel()
    # The follower settled the leader's (charged, late) send before its own, which then
    # found the event unlocked: free. The SDK counts exactly what was charged.
    [result] = results
    assert result.credits_used == 0  # type: ignore[attr-defined]
    assert fake.truth.duplicate_intents() == {}
    assert guard.spent == fake.truth.net() == 2000
    assert guard.in_doubt == ()
    await _assert_no_hold(guard)


async def test_cancel_after_send_is_reconciled_later_by_recover(
    fake: FakeLensmor, tmp_path: Path
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=UNLOCK_ROUTE)
    journal = SqliteJournal(tmp_path / "journal.db")
    guard = CreditGuard(always_confirm, journal=journal)
    try:
        async with _client(fake, guard) as client:
            await _cancel_when(
                lambda: client.events.unlock(EVENT), lambda: fake.truth.net() == 2000
            )
            await client.recover()
    finally:
        await journal.aclose()
    assert guard.in_doubt == ()
    assert guard.history[-1].outcome is SpendOutcome.SUCCEEDED


async def test_cancel_after_an_email_batch_was_sent_never_leaks_its_hold(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route="/external/contacts/unlock")
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard) as client:
        raised = await _cancel_when(
            lambda: client.contacts.unlock(event_id=EVENT, personnel_ids=["700004", "700005"]),
            lambda: fake.truth.net() > 0,
        )
        await guard.reconcile()  # waits (bounded) for the task, then settles what was kept
    assert raised == [asyncio.CancelledError]
    await _assert_no_hold(guard)
    assert guard.spent == fake.truth.net()
    assert fake.truth.duplicate_intents() == {}


# --------------------------------------------------------------------------- aclose


async def test_aclose_leaves_no_connections_no_tasks_and_no_unclosed_warnings() -> None:
    baseline = asyncio.all_tasks()
    schedule = FaultSchedule(
        3,
        {
            FaultKind.RESET_BEFORE: 0.1,
            FaultKind.HTTP_503_BEFORE: 0.1,
            FaultKind.COMMIT_THEN_DROP: 0.1,
            FaultKind.TRUNCATED_BODY: 0.05,
        },
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with FakeLensmor(faults=schedule, task_step_seconds=0.01) as fake:
            port = int(fake.url.rsplit(":", 1)[1])
            client = _client(fake, CreditGuard(always_confirm), timeout=2.0)

            async def work(index: int) -> None:
                try:
                    if index % 5 == 0:
                        await client.exhibitors.search_events(f"close co {index}")
                    else:
                        await client.events.list(page=1 + index % 3)
                except LensmorError:
                    return

            async with anyio.create_task_group() as tg:
                for index in range(60):
                    tg.start_soon(work, index)
            await client.aclose()
            open_sockets = await settled_client_sockets(port)
        gc.collect()
        for _ in range(5):
            await anyio.lowlevel.checkpoint()
        leftover = asyncio.all_tasks() - baseline
    assert open_sockets == 0
    assert leftover == set()
    assert [str(w.message) for w in caught] == []


async def test_aclose_during_calls_in_flight_fails_them_with_sdk_errors_and_leaks_nothing(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, count=5, route=LIST_ROUTE)
    port = int(fake.url.rsplit(":", 1)[1])
    errors: list[BaseException] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client = _client(fake, CreditGuard())

        async def call() -> None:
            try:
                await client.events.list()
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
            await _until(lambda: fake.request_count(LIST_ROUTE) == 5)
            await client.aclose()
        open_sockets = await settled_client_sockets(port)
        gc.collect()
    assert len(errors) == 5
    assert all(isinstance(exc, LensmorError) for exc in errors), errors
    assert open_sockets == 0
    assert [str(w.message) for w in caught] == []
