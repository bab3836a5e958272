"""Contact-unlock tasks end to end: trimming, dedupe, 409s, deadlines, rebuilt handles.

Every submitted id must land exactly once in the :class:`ContactUnlockReport`, a
contact must never be charged twice, and the credits the guard settles must equal
what FakeLensmor's truth ledger kept after refunds.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import pytest
from guard_helpers import SEED, Recorder, assert_books_match, connect

from lensmor_async.errors import ConflictError
from lensmor_async.guard import CreditGuard, SpendRequest, UnlockTaskHandle
from lensmor_async.testing import FakeLensmor, FaultKind, UnlockOutcome, unlock_outcome

pytestmark = pytest.mark.anyio

EVENT = "106"  # 120 personnel, locked
UNLOCK_ROUTE = "/external/contacts/unlock"
POLL_ROUTE = "/external/contacts/unlock-tasks/{taskId}"
GUARD_SECONDS = 20  # deadlock guard only, never a timing assertion


def roster(fake: FakeLensmor, start: int, count: int) -> list[str]:
    return list(fake.state.rosters[EVENT])[start : start + count]


def seeded(fake: FakeLensmor, outcome: UnlockOutcome, count: int) -> list[str]:
    """People of EVENT whose seeded email outcome is ``outcome``."""
    # The first ten people are left for tests that set their state by hand.
    candidates = list(fake.state.rosters[EVENT])[10:]
    found = [p for p in candidates if unlock_outcome(SEED, p, "email") is outcome]
    assert len(found) >= count, "seed 0 no longer has enough people with this outcome"
    return found[:count]


def assert_each_id_once(report_ids: tuple[str, ...], submitted: list[str]) -> None:
    assert len(report_ids) == len(set(report_ids)), "an id appears twice in the report"
    assert set(report_ids) == set(submitted)


async def test_every_submitted_id_appears_exactly_once_in_the_report(fake: FakeLensmor) -> None:
    unlocked, unlocking = roster(fake, 0, 2)
    delivered = seeded(fake, UnlockOutcome.DELIVERED, 2)
    no_value = seeded(fake, UnlockOutcome.NO_VALUE, 1)
    failed = seeded(fake, UnlockOutcome.FAILED, 2)
    fresh = [*delivered, *no_value, *failed]
    fake.set_contact_status(unlocked, "unlocked", value="known@example.com")
    fake.set_contact_status(unlocking, "unlocking")
    submitted = [fresh[0], unlocked, *fresh, unlocking, fresh[3], fresh[0]]
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=submitted)
        report = await handle.wait()
    assert_each_id_once(report.all_ids(), submitted)
    assert {d.personnel_id for d in report.delivered} == set(delivered)
    assert set(report.unlocked_without_email) == set(no_value)
    assert {f.personnel_id for f in report.failed} == set(failed)
    assert set(report.skipped) == {unlocked, unlocking}
    assert report.unresolved == ()
    assert report.complete
    # Priced after trimming and dedupe: only the five fresh contacts, once each.
    assert recorder.requests[0].expected_credits == 15 * len(fresh)
    (sent,) = fake.requests_for(UNLOCK_ROUTE)
    assert sorted(sent.json["personnel_ids"]) == sorted(fresh)
    charged = [e.intent[-1] for e in fake.truth.entries if e.amount > 0]
    assert sorted(charged) == sorted(fresh)
    assert report.credits_spent == 15 * (len(delivered) + len(no_value))
    assert fake.truth.net() == report.credits_spent
    assert_books_match(guard, fake)


async def test_duplicate_ids_are_removed_before_pricing(fake: FakeLensmor) -> None:
    a, b = roster(fake, 2, 2)
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=[a, a, b, a, b])
        report = await handle.wait()
    assert recorder.requests[0].expected_credits == 30
    assert recorder.requests[0].targets == (a, b)
    (sent,) = fake.requests_for(UNLOCK_ROUTE)
    assert sent.json["personnel_ids"] == [a, b]
    assert_each_id_once(report.all_ids(), [a, b])
    assert_books_match(guard, fake)


async def test_contacts_already_unlocking_are_left_out_and_priced_out(fake: FakeLensmor) -> None:
    first, second = roster(fake, 20, 3), roster(fake, 23, 2)
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        running = await client.contacts.unlock(event_id=EVENT, personnel_ids=first)
        # The first task is still running: its contacts are "unlocking" now.
        overlap = await client.contacts.unlock(event_id=EVENT, personnel_ids=first + second)
        reports = [await running.wait(), await overlap.wait()]
    assert [r.expected_credits for r in recorder.requests] == [45, 30]
    assert set(reports[1].skipped) == set(first)
    assert_each_id_once(reports[1].all_ids(), first + second)
    bodies = [r.json["personnel_ids"] for r in fake.requests_for(UNLOCK_ROUTE)]
    assert [sorted(b) for b in bodies] == [sorted(first), sorted(second)]
    assert all(r.status == 201 for r in fake.requests_for(UNLOCK_ROUTE))  # no 409
    assert_books_match(guard, fake)


async def test_identical_concurrent_batches_share_one_task(fake: FakeLensmor) -> None:
    ids = roster(fake, 30, 4)
    guard = CreditGuard(Recorder())
    handles: list[UnlockTaskHandle] = []

    async def submit(order: list[str]) -> None:
        handles.append(await client.contacts.unlock(event_id=EVENT, personnel_ids=order))

    async with connect(fake, guard) as client:
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tg:
                for n in range(20):
                    tg.start_soon(submit, ids if n % 2 else list(reversed(ids)))
        reports = [await handle.wait() for handle in handles]
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert len({handle.task_id for handle in handles}) == 1
    assert len(fake.state.tasks) == 1
    for report in reports:
        assert_each_id_once(report.all_ids(), ids)
    assert_books_match(guard, fake)


async def test_a_409_for_contacts_already_unlocking_never_creates_a_second_task(
    fake: FakeLensmor,
) -> None:
    ids = roster(fake, 40, 3)
    owner = CreditGuard(Recorder())
    # A guard that cannot precheck: the server is the one to notice the conflict.
    blind = CreditGuard(Recorder(), precheck="never")
    async with connect(fake, owner) as first, connect(fake, blind) as second:
        handle = await first.contacts.unlock(event_id=EVENT, personnel_ids=ids)
        with contextlib.suppress(ConflictError):
            late = await second.contacts.unlock(event_id=EVENT, personnel_ids=ids)
            assert late.task_id in (None, handle.task_id)
        assert blind.reserved == 0
        assert blind.spent == 0
        await handle.wait()
    assert len(fake.state.tasks) == 1
    assert [r.status for r in fake.requests_for(UNLOCK_ROUTE)] == [201, 409]
    assert owner.spent == fake.truth.net()
    assert fake.truth.duplicate_intents() == {}


async def test_an_overlapping_concurrent_batch_reports_the_existing_work(
    fake: FakeLensmor,
) -> None:
    ids = roster(fake, 50, 6)
    batches = {"a": ids[:4], "b": ids[2:]}
    both_quoted = anyio.Event()
    quoted: list[SpendRequest] = []

    async def barrier(request: SpendRequest) -> bool:
        # Both batches pass precheck before either is submitted: a real race, made certain.
        quoted.append(request)
        if len(quoted) == 2:
            both_quoted.set()
        await both_quoted.wait()
        return True

    guard = CreditGuard(barrier)
    reports: dict[str, Any] = {}

    async def submit(name: str) -> None:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=batches[name])
        reports[name] = await handle.wait()

    async with connect(fake, guard) as client:
        with anyio.fail_after(GUARD_SECONDS):
            async with anyio.create_task_group() as tg:
                tg.start_soon(submit, "a")
                tg.start_soon(submit, "b")
    for name, report in reports.items():
        assert_each_id_once(report.all_ids(), batches[name])
    assert fake.truth.duplicate_intents() == {}
    assert_books_match(guard, fake)


async def test_wait_with_a_deadline_reports_a_stuck_task_as_unresolved(fake: FakeLensmor) -> None:
    ids = roster(fake, 60, 5)
    fake.inject(FaultKind.STUCK_TASK, route=UNLOCK_ROUTE)
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)
        with anyio.fail_after(GUARD_SECONDS):
            report = await handle.wait(deadline=0.2)
        assert set(report.unresolved) == set(ids)
        assert not report.complete
        assert report.credits_spent is None
        assert_each_id_once(report.all_ids(), ids)
        # The charge stays held while the outcome is unknown.
        assert guard.reserved == 75
        assert guard.spent + guard.reserved == fake.truth.net()

        fake.complete_tasks()
        assert handle.task_id is not None
        rebuilt = client.contacts.unlock_task_handle(handle.task_id)
        final = await rebuilt.wait()
    assert final.unresolved == ()
    assert_each_id_once(final.all_ids(), ids)
    assert final.credits_spent == fake.truth.net()
    assert_books_match(guard, fake)


async def test_a_slow_task_is_unresolved_until_it_ends() -> None:
    async with FakeLensmor(seed=SEED, task_step_seconds=3600) as fake:
        ids = list(fake.state.rosters[EVENT])[:3]
        guard = CreditGuard(Recorder())
        async with connect(fake, guard) as client:
            handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)
            with anyio.fail_after(GUARD_SECONDS):
                pending = await handle.wait(deadline=0.1)
            assert set(pending.unresolved) == set(ids)
            assert pending.task_status == "pending"
            fake.complete_tasks()
            done = await handle.wait()
        assert done.task_status in ("completed", "failed")
        assert_each_id_once(done.all_ids(), ids)
        assert_books_match(guard, fake)


async def test_a_handle_rebuilt_from_its_task_id_alone_reports_every_item(
    fake: FakeLensmor,
) -> None:
    ids = roster(fake, 70, 4)
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)
        assert handle.task_id is not None
        task_id = handle.task_id
    # A new process: a fresh client and guard know nothing but the task id.
    stranger = CreditGuard(Recorder())
    async with connect(fake, stranger) as client:
        rebuilt = client.contacts.unlock_task_handle(task_id)
        assert rebuilt.task_id == task_id
        report = await rebuilt.wait()
    assert report.task_id == task_id
    assert_each_id_once(report.all_ids(), ids)
    assert report.unresolved == ()
    assert stranger.spent == 0  # it paid nothing, so it settles nothing
    assert fake.request_count(UNLOCK_ROUTE) == 1


async def test_a_rebuilt_handle_in_the_paying_guard_settles_the_hold(fake: FakeLensmor) -> None:
    ids = roster(fake, 80, 4)
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)
        assert handle.task_id is not None
        assert guard.reserved == 60
        report = await client.contacts.unlock_task_handle(handle.task_id).wait()
    assert_each_id_once(report.all_ids(), ids)
    assert report.credits_spent == fake.truth.net()
    assert_books_match(guard, fake)


async def test_status_polls_the_task_once(fake: FakeLensmor) -> None:
    ids = roster(fake, 90, 2)
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        handle = await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)
        task = await handle.status()
        assert task is not None
        assert task.task_id == handle.task_id
        assert {item.personnel_id for item in task.items} == set(ids)
        assert fake.request_count(POLL_ROUTE) == 1
        await handle.wait()
    assert_books_match(guard, fake)


async def test_many_batches_settle_to_the_truth_net(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder())
    batches = [roster(fake, 100 + 4 * n, 4) for n in range(5)]
    async with connect(fake, guard) as client:
        handles = [
            await client.contacts.unlock(event_id=EVENT, personnel_ids=batch) for batch in batches
        ]
        assert guard.spent + guard.reserved == fake.truth.net()
        reports = [await handle.wait() for handle in handles]
    assert sum(r.credits_spent or 0 for r in reports) == fake.truth.net()
    assert fake.truth.total_refunded() == 15 * sum(len(r.failed) for r in reports)
    assert_books_match(guard, fake)


async def test_a_batch_with_nothing_chargeable_reports_zero_credits_spent(
    fake: FakeLensmor,
) -> None:
    ids = roster(fake, 0, 2)
    for pid in ids:
        fake.set_contact_status(pid, "unlocked", value=f"{pid}@example.com")
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        report = await (await client.contacts.unlock(event_id=EVENT, personnel_ids=ids)).wait()
    assert report.complete
    assert report.credits_spent == 0
