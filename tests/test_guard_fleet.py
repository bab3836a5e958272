"""The guard on a fleet's Redis (``CreditGuard.for_redis``): leases, stale owners, outages.

In-process: two guards with distinct ``host_id``s stand for two hosts sharing one
real redis-server. The multi-process fleet tests are in ``test_fleet_multiprocess``.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
from guard_helpers import connect

from lensmor_async.errors import LeaseLostError, LedgerUnavailableError
from lensmor_async.guard import (
    CreditGuard,
    JournalState,
    RedisJournal,
    SpendRequest,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor

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


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_an_unreachable_redis_fails_paid_calls_closed_before_any_send(
    fake: FakeLensmor,
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    guard = CreditGuard.for_redis(url, budget=5000, confirm=always_confirm)
    async with connect(fake, guard) as client:
        with pytest.raises(LedgerUnavailableError):
            await client.events.unlock("106")
    assert _unlock_posts(fake) == 0
    assert fake.truth.net() == 0
