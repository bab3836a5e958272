"""Redis stopped and restarted mid-run (with AOF): refused while down, nothing paid twice.

The guard's ledger and journal live on a redis-server these tests start themselves,
with an append-only file, and stop and restart on the same port and folder.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from guard_helpers import connect
from ledger_backends import redis_executable, start_redis, stop_redis

from lensmor_async.errors import LedgerUnavailableError
from lensmor_async.guard import CreditGuard, JournalState, RedisJournal, always_confirm
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning

pytestmark = pytest.mark.anyio
EVENT_ROUTE = "/external/events/{id}/unlock"
PRICE = 2000
RECONNECTS = 10
"""Paid calls that may fail closed after the restart while pooled connections are renewed."""


@attrs.define
class RestartableRedis:
    """One redis-server with an append-only file that a test can stop and start again."""

    folder: Path
    port: int
    proc: subprocess.Popen[bytes] | None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        assert self.proc is not None
        stop_redis(self.proc)  # SIGTERM: Redis flushes its AOF and exits
        self.proc = None

    def start(self) -> None:
        self.proc, _ = start_redis(redis_executable(), self.folder, aof=True, port=self.port)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RestartableRedis]:
    proc, port = start_redis(redis_executable(), tmp_path, aof=True)
    server = RestartableRedis(tmp_path, port, proc)
    try:
        yield server
    finally:
        if server.proc is not None:
            stop_redis(server.proc)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=0, fault_tuning=FaultTuning(late_seconds=0.5)) as server:
        yield server


def _posts(fake: FakeLensmor) -> int:
    return fake.request_count(EVENT_ROUTE, method="POST")


async def _once_reconnected(call: Callable[[], Awaitable[Any]]) -> Any:
    """Run a paid call; right after a restart, stale pooled connections fail it closed."""
    for _ in range(RECONNECTS):
        try:
            return await call()
        except LedgerUnavailableError:
            await anyio.sleep(0.05)
    return await call()


async def test_paid_calls_are_refused_while_redis_is_down_and_nothing_is_paid_twice_after(
    fake: FakeLensmor, redis: RestartableRedis
) -> None:
    key = f"lensmor-test:{uuid.uuid4().hex}"

    def guard(host: str) -> CreditGuard:
        return CreditGuard.for_redis(
            redis.url, budget=3 * PRICE, key=key, host_id=host, confirm=always_confirm
        )

    async with connect(fake, guard("host-a")) as client:
        await client.events.unlock("106")
        redis.stop()
        with pytest.raises(LedgerUnavailableError):
            await client.events.unlock("101")
        posts_while_down = _posts(fake)
        redis.start()
        await _once_reconnected(lambda: client.events.unlock("101"))
        await client.events.unlock("106")  # done before the restart: not bought again
    async with connect(fake, guard("host-b")) as other:
        repeat = await _once_reconnected(lambda: other.events.unlock("101"))
        snapshot = await _once_reconnected(other.guard.ledger.snapshot)

    assert posts_while_down == 1  # only the unlock of 106, before the stop
    charged = [entry.intent for entry in fake.truth.entries if entry.amount > 0]
    assert charged == [("events.unlock", "106"), ("events.unlock", "101")]
    assert fake.truth.duplicate_intents() == {}
    assert fake.truth.net() == 2 * PRICE
    assert repeat.credits_used == 0
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (2 * PRICE, 0, 0)


async def test_a_charge_whose_settlement_met_a_stopped_redis_is_recorded_once_after_restart(
    fake: FakeLensmor, redis: RestartableRedis
) -> None:
    key = f"lensmor-test:{uuid.uuid4().hex}"
    guard = CreditGuard.for_redis(
        redis.url, budget=3 * PRICE, key=key, host_id="host-a", confirm=always_confirm
    )
    async with connect(fake, guard) as client:
        fake.inject(FaultKind.LATE_COMMIT, route=EVENT_ROUTE)
        async with anyio.create_task_group() as group:

            async def unlock() -> None:
                with pytest.raises(LedgerUnavailableError):
                    await client.events.unlock("106")

            group.start_soon(unlock)
            with anyio.fail_after(5):
                while _posts(fake) == 0:  # noqa: ASYNC110 - the fake's request log
                    await anyio.sleep(0.01)
            redis.stop()  # the server charges; the guard cannot settle
        redis.start()
        # The charge waits in memory and is replayed before the next paid call; the row
        # left "sending" is concluded by recover() without re-sending.
        report = await _once_reconnected(lambda: client.recover(deadline=10))
        snapshot = await guard.ledger.snapshot()
    journal = RedisJournal(redis.url, key=f"{key}:journal")
    try:
        rows = await journal.entries()
    finally:
        await journal.aclose()

    assert _posts(fake) == 1
    assert fake.truth.net() == PRICE
    assert [a.after for a in report.actions] == ["succeeded"]
    assert [row.state for row in rows] == [JournalState.SUCCEEDED]
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (PRICE, 0, 0)
