"""Many worker processes, one budget and one journal, judged by the fake server's truth.

The fake runs in this (pytest) process; the workers are ``tests/scale_worker.py``
subprocesses, each with its own client, guard, shared ledger and shared SQLite
journal. Nothing here trusts the SDK's own view: every figure is checked against
``fake.truth`` (what the server actually charged) and ``fake.requests``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import anyio
import pytest
from scale_worker import WorkerRun, journal_rows, ledger_snapshot, run_workers

from lensmor_async import AsyncLensmor
from lensmor_async.guard import CreditGuard, SqliteLedger, always_confirm
from lensmor_async.testing import FakeLensmor, Prices

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

PROCS = 8
INTENTS = 60
COST = 60  # a plan dearer than the documented 50 (a table may raise a price)
BUDGET = 8000
EXPECTED_GRANTS = BUDGET // COST  # 133: the 134th would cross the budget
SEARCH = "exhibitors.search_by_company_name"

SAME_PROCS = 4
SAME_COROUTINES = 25
UNLOCK_ROUTE = "/external/contacts/unlock"
UNLOCK_BATCH = 5


def _ledger_spec(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, Any]:
    if backend == "sqlite":
        return {"kind": "sqlite", "path": str(tmp_path / "ledger.db")}
    url = request.getfixturevalue("redis_url")
    return {"kind": "redis", "url": url, "key": f"lensmor-scale:{uuid.uuid4().hex}"}


def _base_config(fake: FakeLensmor, ledger: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    return {
        "url": fake.url,
        "api_key": fake.api_key,
        "budget": BUDGET,
        "ledger": ledger,
        "journal": str(tmp_path / "journal.db"),
        "barrier": {"dir": str(tmp_path), "parties": PROCS},
    }


def _results(runs: list[WorkerRun]) -> list[dict[str, Any]]:
    return [run.result for run in runs]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_eight_processes_sharing_a_budget_grant_exactly_what_fits_and_never_overspend(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    ledger = _ledger_spec(backend, tmp_path, request)
    async with FakeLensmor(seed=11, prices=Prices(search_by_company_name=COST)) as fake:
        for p in range(PROCS):  # every search finds its company, so every one is paid
            for i in range(INTENTS):
                fake.state.add_exhibitor(f"Scale Company P{p} I{i}")
        base = _base_config(fake, ledger, tmp_path)
        configs = [
            {
                **base,
                "mode": "search",
                "prices": {SEARCH: COST},
                "searches": [f"scale company p{p} i{i}" for i in range(INTENTS)],
                "concurrency": 4,
            }
            for p in range(PROCS)
        ]
        results = _results(await run_workers(configs))
        charges = [e for e in fake.truth.for_operation(SEARCH) if e.amount > 0]
        server_net = fake.truth.net()
    snapshot = await ledger_snapshot(ledger, BUDGET)
    states = Counter(row.state.value for row in await journal_rows(tmp_path / "journal.db"))

    grants = sum(r["grants"] for r in results)
    refused = sum(r["refused"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    slowest = max(r["seconds"] for r in results)
    print(
        f"scale-budget backend={backend} procs={PROCS} intents={PROCS * INTENTS} "
        f"grants={len(charges)} server_net={server_net} budget={BUDGET} "
        f"overspend={max(0, server_net - BUDGET)} refused={refused} slowest_worker_s={slowest}"
    )
    assert errors == []
    assert len(charges) == EXPECTED_GRANTS  # server truth is the judge
    assert grants == EXPECTED_GRANTS  # and every worker's view agrees with it
    assert refused == PROCS * INTENTS - EXPECTED_GRANTS
    assert server_net == EXPECTED_GRANTS * COST == 7980
    assert server_net <= BUDGET
    assert len({e.intent for e in charges}) == EXPECTED_GRANTS  # distinct searches
    # The shared ledger and the shared journal tell the same story as the server.
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (server_net, 0, 0)
    assert states == {"succeeded": EXPECTED_GRANTS, "failed_no_charge": refused}


async def test_same_unlock_intent_from_a_hundred_workers_in_four_processes_sends_one_task(
    tmp_path: Path,
) -> None:
    async with FakeLensmor(seed=5, task_step_seconds=0.05) as fake:
        event = fake.add_event("Same Intent Expo")
        ids = [str(n) for n in fake.add_personnel(event.id, UNLOCK_BATCH)]
        base = _base_config(fake, {"kind": "sqlite", "path": str(tmp_path / "ledger.db")}, tmp_path)
        base["barrier"]["parties"] = SAME_PROCS
        configs = [
            {
                **base,
                "mode": "same_unlock",
                "coroutines": SAME_COROUTINES,
                "event_id": event.id,
                "personnel_ids": ids,
            }
            for _ in range(SAME_PROCS)
        ]
        results = _results(await run_workers(configs))
        submissions = fake.request_count(UNLOCK_ROUTE, method="POST")
        charges = [e for e in fake.truth.for_operation("contacts.unlock") if e.amount > 0]
        duplicates = fake.truth.duplicate_intents()
        server_net = fake.truth.net()
    rows = await journal_rows(tmp_path / "journal.db")
    snapshot = await ledger_snapshot(
        {"kind": "sqlite", "path": str(tmp_path / "ledger.db")}, BUDGET
    )

    callers = [c for r in results for c in r["callers"]]
    task_ids = {c.get("task_id") for c in callers}
    complete = sum(1 for c in callers if c.get("complete"))
    print(
        f"scale-same-intent procs={SAME_PROCS} callers={len(callers)} "
        f"unlock_requests={submissions} tasks={len(task_ids)} charges={len(charges)} "
        f"complete_reports={complete} journal_rows={len(rows)} server_net={server_net} "
        f"duplicates={len(duplicates)}"
    )
    assert len(callers) == SAME_PROCS * SAME_COROUTINES
    assert [c for c in callers if not c["ok"]] == []
    assert submissions == 1  # the server saw exactly one submission
    assert len(task_ids) == 1  # every caller got the one task
    assert None not in task_ids
    assert complete == len(callers)
    assert sorted(e.intent[-1] for e in charges) == sorted(ids)  # one charge per contact
    assert duplicates == {}
    assert [row.state.value for row in rows] == ["succeeded"]
    # The owner settled the task once; refunded (failed) contacts are not counted.
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (server_net, 0, 0)


class _DelayFirstPrecheck:
    """An aiohttp trace hook that stalls this session's first precheck (a descheduled worker)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.delayed = False
        self.config = aiohttp.TraceConfig()
        self.config.on_request_start.append(self._on_start)

    async def _on_start(
        self,
        session: aiohttp.ClientSession,
        context: SimpleNamespace,
        params: aiohttp.TraceRequestStartParams,
    ) -> None:
        del session, context
        if not self.delayed and params.url.path.endswith("/actions/precheck"):
            self.delayed = True
            await anyio.sleep(self.seconds)


async def test_a_worker_whose_precheck_lands_after_the_owners_submit_still_gets_the_task(
    tmp_path: Path,
) -> None:
    delay = _DelayFirstPrecheck(1.0)
    async with FakeLensmor(seed=5, task_step_seconds=0.5) as fake:
        event = fake.add_event("Late Worker Expo")
        ids = [str(n) for n in fake.add_personnel(event.id, UNLOCK_BATCH)]
        session = aiohttp.ClientSession(trace_configs=[delay.config])
        ledger = SqliteLedger(tmp_path / "ledger.db", budget=BUDGET)
        handles: dict[str, Any] = {}

        def client(with_session: aiohttp.ClientSession | None) -> AsyncLensmor:
            guard = CreditGuard(
                confirm=always_confirm, ledger=ledger, journal=tmp_path / "journal.db"
            )
            return AsyncLensmor(
                fake.api_key, base_url=fake.url, guard=guard, session=with_session, testing=True
            )

        async def unlock(name: str, who: AsyncLensmor, start_after: float) -> None:
            await anyio.sleep(start_after)
            handles[name] = await who.contacts.unlock(event_id=event.id, personnel_ids=ids)

        late, owner = client(session), client(None)
        try:
            with anyio.fail_after(30):
                async with anyio.create_task_group() as group:
                    group.start_soon(unlock, "late", late, 0.0)
                    group.start_soon(unlock, "owner", owner, 0.1)
        finally:
            await owner.aclose()
            await late.aclose()
            await session.close()
            await ledger.aclose()
        submissions = fake.request_count(UNLOCK_ROUTE, method="POST")
    assert delay.delayed
    assert submissions == 1
    assert handles["late"].task_id == handles["owner"].task_id
