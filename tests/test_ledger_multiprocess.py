"""Many processes, one budget: the shared ledgers never grant more than fits.

8 spawned processes, each with its own anyio loop, run 60 reserve→commit(15)
intents at the same moment against one budget of 2000, over SQLite and over a real
Redis; exactly 133 intents may be granted and 1995 credits spent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from store_helpers import race_processes

from lensmor_async.errors import BudgetExceededError
from lensmor_async.guard._ledger_protocol import Ledger
from lensmor_async.guard._ledger_redis import RedisLedger
from lensmor_async.guard._ledger_sqlite import SqliteLedger

pytest_plugins = ["ledger_backends"]
pytestmark = pytest.mark.slow

PROCS = 8
INTENTS = 60
COST = 15
BUDGET = 2000
EXPECTED_GRANTS = BUDGET // COST
RESULT_TIMEOUT = 180.0
JOIN_TIMEOUT = 30.0


def _open(backend: str, target: str, key: str) -> Ledger:
    if backend == "sqlite":
        return SqliteLedger(target, budget=BUDGET, busy_timeout=30)
    return RedisLedger(target, key=key, budget=BUDGET)


async def _run_intents(backend: str, target: str, key: str, worker: int) -> tuple[int, int]:
    ledger = _open(backend, target, key)
    grants = refusals = 0
    try:
        for n in range(INTENTS):
            try:
                hold = await ledger.reserve(f"w{worker}-i{n}", COST, ttl=120)
            except BudgetExceededError:
                refusals += 1
                continue
            await ledger.commit(hold, COST)
            grants += 1
    finally:
        await ledger.aclose()
    return grants, refusals


def _worker(backend: str, target: str, key: str, worker: int, start: Any, results: Any) -> None:
    """Child process body: wait for every sibling, then race them for the budget."""
    try:
        start.wait(RESULT_TIMEOUT)
        results.put(("ok", *anyio.run(_run_intents, backend, target, key, worker)))
    except BaseException as exc:
        results.put(("error", f"worker {worker}: {type(exc).__name__}: {exc}", 0))


def _race(backend: str, target: str, key: str) -> list[tuple[str, Any, int]]:
    return race_processes(
        _worker,
        lambda n: (backend, target, key, n),
        PROCS,
        what=f"ledger-mp backend={backend}",
        result_timeout=RESULT_TIMEOUT,
        join_timeout=JOIN_TIMEOUT,
    )


@pytest.mark.anyio
@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_processes_sharing_a_ledger_never_overspend(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if backend == "sqlite":
        target, key = str(tmp_path / "ledger.db"), ""
    else:
        target, key = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_key")
    outcomes = await anyio.to_thread.run_sync(_race, backend, target, key)
    errors = [outcome[1] for outcome in outcomes if outcome[0] != "ok"]
    assert not errors, errors

    grants = sum(outcome[1] for outcome in outcomes)
    refusals = sum(outcome[2] for outcome in outcomes)
    ledger = _open(backend, target, key)
    try:
        snap = await ledger.snapshot()
    finally:
        await ledger.aclose()
    overspend = max(0, snap.spent - BUDGET)
    summary = (
        f"ledger-mp backend={backend} procs={PROCS} intents={PROCS * INTENTS} "
        f"grants={grants} spent={snap.spent} budget={BUDGET} overspend={overspend}"
    )
    print(summary)
    assert grants + refusals == PROCS * INTENTS, summary
    assert grants == EXPECTED_GRANTS, summary
    assert snap.spent == EXPECTED_GRANTS * COST, summary
    assert overspend == 0, summary
    assert (snap.reserved, snap.holds) == (0, 0), summary
