"""The guard in a fleet: one Redis (``CreditGuard.for_redis``), leases, outages, search dedupe.

In-process: two guards with distinct ``host_id``s stand for two hosts sharing one
real redis-server (or one journal). The multi-process fleet tests are in
``test_fleet_multiprocess``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest
from guard_helpers import connect
from ledger_backends import closed_port

from lensmor_async import AsyncLensmor
from lensmor_async.errors import (
    ConfigurationError,
    LeaseLostError,
    LedgerUnavailableError,
    SpendInDoubtError,
)
from lensmor_async.guard import (
    CreditGuard,
    JournalState,
    RedisJournal,
    SpendRequest,
    SqliteJournal,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning

pytestmark = pytest.mark.anyio


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=0, task_step_seconds=0.01) as server:
        yield server


def _unlock_posts(fake: FakeLensmor) -> int:
    return sum(
        1
        for request in fake.requests
        if request.method == "POST" and request.path.endswith("/unlock")
    )


async def test_two_hosts_on_one_redis_buy_the_same_event_unlock_once(
    fake: FakeLensmor, redis_url: str
) -> None:
    key = f"lensmor-test:{uuid.uuid4().hex}"
    guards = [
        CreditGuard.for_redis(
            redis_url, budget=2000, key=key, host_id=f"host-{n}", confirm=always_confirm
        )
        for n in range(2)
    ]
    async with connect(fake, guards[0]) as first, connect(fake, guards[1]) as second:
        async with anyio.create_task_group() as group:
            group.start_soon(first.events.unlock, "106")
            group.start_soon(second.events.unlock, "106")
        snapshot = await guards[0].ledger.snapshot()
    assert [entry.intent for entry in fake.truth.entries] == [("events.unlock", "106")]
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (2000, 0, 0)


async def test_an_owner_that_lost_its_lease_sends_nothing_and_raises_lease_lost(
    fake: FakeLensmor, redis_url: str
) -> None:
    key = f"lensmor-test:{uuid.uuid4().hex}"
    asked, resume = anyio.Event(), anyio.Event()

    async def slow_confirm(request: SpendRequest) -> bool:
        asked.set()
        await resume.wait()
        return True

    guard = CreditGuard.for_redis(
        redis_url, budget=5000, key=key, host_id="host-a", confirm=slow_confirm
    )
    rescuer = RedisJournal(redis_url, key=f"{key}:journal", host_id="host-b")
    try:
        async with connect(fake, guard) as client:
            async with anyio.create_task_group() as group:

                async def unlock() -> None:
                    with pytest.raises(LeaseLostError):
                        await client.events.unlock("106")

                group.start_soon(unlock)
                await asked.wait()
                # Host B decides host A is gone (as after a long pause) and takes over.
                (row,) = await rescuer.entries()
                taken = await rescuer.take_over(row.intent_key, force=True)
                assert taken is not None
                resume.set()
            snapshot = await guard.ledger.snapshot()
        (row,) = await rescuer.entries()
    finally:
        await rescuer.aclose()
    assert _unlock_posts(fake) == 0  # the stale owner never sent
    assert fake.truth.net() == 0
    assert (snapshot.reserved, snapshot.holds) == (0, 0)  # its unsent hold was released
    assert (row.state, row.fence, row.owner.partition(":")[0]) == (
        JournalState.RESERVED,
        2,
        "host-b",
    )  # left for host B to conclude; host A wrote nothing more


async def _sending(journal: RedisJournal) -> bool:
    return any(row.state is JournalState.SENDING for row in await journal.entries())


async def test_a_charge_answered_after_the_lease_was_lost_is_still_recorded_once(
    redis_url: str,
) -> None:
    key = f"lensmor-test:{uuid.uuid4().hex}"
    async with FakeLensmor(seed=0, fault_tuning=FaultTuning(late_seconds=0.5)) as fake:
        owner = CreditGuard.for_redis(
            redis_url, budget=5000, key=key, host_id="host-a", confirm=always_confirm
        )
        rescuer = CreditGuard.for_redis(
            redis_url, budget=5000, key=key, host_id="host-b", confirm=always_confirm
        )
        peek = RedisJournal(redis_url, key=f"{key}:journal", host_id="host-b")
        try:
            async with connect(fake, owner) as first, connect(fake, rescuer) as second:
                fake.inject(FaultKind.LATE_COMMIT, route="/external/events/{id}/unlock")
                async with anyio.create_task_group() as group:

                    async def unlock() -> None:
                        with pytest.raises(LeaseLostError, match="charged 2000 credits"):
                            await first.events.unlock("106")

                    group.start_soon(unlock)
                    with anyio.fail_after(5):
                        while not await _sending(peek):  # noqa: ASYNC110 - polling Redis
                            await anyio.sleep(0.01)
                    (row,) = await peek.entries()
                    assert await peek.take_over(row.intent_key, force=True) is not None
                report = await second.recover(deadline=10)
                snapshot = await owner.ledger.snapshot()
            (row,) = await peek.entries()
        finally:
            await peek.aclose()
        server_net = fake.truth.net()
    assert server_net == 2000
    assert [a.after for a in report.actions] == ["succeeded"]
    assert row.state is JournalState.SUCCEEDED
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (2000, 0, 0)


async def test_an_unreachable_redis_fails_paid_calls_closed_before_any_send(
    fake: FakeLensmor,
) -> None:
    url = f"redis://127.0.0.1:{closed_port()}/0"
    guard = CreditGuard.for_redis(url, budget=5000, confirm=always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(LedgerUnavailableError):
            await client.events.unlock("106")
    assert _unlock_posts(fake) == 0
    assert fake.truth.net() == 0


# --------------------------------------------------------------------------- search dedupe

SEARCH = "exhibitors.search_by_company_name"
SEARCH_ROUTE = "/external/exhibitors/search-by-company-name"


def _search_charges(fake: FakeLensmor) -> int:
    return sum(1 for e in fake.truth.for_operation(SEARCH) if e.amount > 0)


@pytest.mark.parametrize(("window", "charges"), [(300.0, 1), (0.0, 2)])
async def test_an_identical_search_within_the_window_shares_the_first_answer(
    fake: FakeLensmor, tmp_path: Path, window: float, charges: int
) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        # Two guards on one journal: two processes (or hosts) of one fleet.
        guards = [
            CreditGuard(always_confirm, journal=journal, dedupe_window=window) for _ in range(2)
        ]
        async with connect(fake, guards[0]) as first, connect(fake, guards[1]) as second:
            bought = await first.exhibitors.search_by_company_name("Acme Analytics")
            shared = await second.exhibitors.search_by_company_name("Acme Analytics")
        rows = await journal.entries()
    finally:
        await journal.aclose()
    assert _search_charges(fake) == charges
    assert shared == bought  # the same answer, decoded from the row or bought again
    assert len(rows) == charges
    assert rows[0].result is not None  # the answer is kept with the row


async def test_a_lost_search_answer_stays_in_doubt_and_is_not_bought_again_in_the_window(
    tmp_path: Path,
) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    async with FakeLensmor(seed=0, fault_tuning=FaultTuning(stall_seconds=5.0)) as fake:
        try:
            guard = CreditGuard(always_confirm, journal=journal)
            other = CreditGuard(always_confirm, journal=journal)
            async with (
                AsyncLensmor(
                    fake.api_key, base_url=fake.url, guard=guard, testing=True, timeout=0.5
                ) as first,
                connect(fake, other) as second,
            ):
                fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=SEARCH_ROUTE)
                with pytest.raises(SpendInDoubtError):
                    await first.exhibitors.search_by_company_name("Acme Analytics")
                with pytest.raises(SpendInDoubtError, match="in doubt"):
                    await second.exhibitors.search_by_company_name("Acme Analytics")
            (row,) = await journal.entries()
        finally:
            await journal.aclose()
        charges = _search_charges(fake)
    assert charges == 1
    assert row.state is JournalState.IN_DOUBT
    assert row.result is None


def test_a_negative_dedupe_window_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="dedupe_window"):
        CreditGuard(always_confirm, dedupe_window=-1)
