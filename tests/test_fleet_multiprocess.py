"""A fleet: hosts as separate processes with distinct ``host_id``s, one Redis for all.

Each "host" is a ``tests/scale_worker.py`` process with its own client and guard and
a ``host_id`` of its own, sharing only a real redis-server (started by the tests):
the budget ledger and the intent journal live there, as ``CreditGuard.for_redis``
sets them up. Nothing here trusts the SDK's own view: every figure is checked against
the fake server's ``truth`` (what it actually charged) and its request log.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import pytest
from scale_worker import WorkerRun, journal_rows, ledger_snapshot, run_worker, run_workers
from test_crash_recovery import (
    Scenario,
    assert_consistent,
    audit,
    build_scenario,
    crash,
    worker_config,
)

from lensmor_async.testing import FakeLensmor, FaultTuning, Prices

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

HOSTS = 4
WORKERS_PER_HOST = 25
UNLOCK_ROUTE = "/external/contacts/unlock"
SEARCH = "exhibitors.search_by_company_name"
EVENT_PRICE = 2000
DEAD_HOST_LEASE = 6.0
"""The crashed host's lease: long enough to see another host respect it, short enough
to wait out."""


def _redis_specs(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    key = f"lensmor-fleet:{uuid.uuid4().hex}"
    return (
        {"kind": "redis", "url": url, "key": f"{key}:ledger"},
        {"kind": "redis", "url": url, "key": f"{key}:journal"},
    )


def _fleet_config(
    fake: FakeLensmor, redis_url: str, tmp_path: Path, *, budget: int, hosts: int, **work: Any
) -> dict[str, Any]:
    """What every host of one fleet is given: the fake, one Redis, a start barrier, the work."""
    ledger, journal = _redis_specs(redis_url)
    return {
        "url": fake.url,
        "api_key": fake.api_key,
        "budget": budget,
        "ledger": ledger,
        "journal": journal,
        "barrier": {"dir": str(tmp_path), "parties": hosts},
        **work,
    }


def _hosts(base: dict[str, Any], count: int) -> list[dict[str, Any]]:
    return [{**base, "host_id": f"host-{n}"} for n in range(count)]


def _results(runs: list[WorkerRun]) -> list[dict[str, Any]]:
    return [run.result for run in runs]


async def test_four_hosts_of_25_workers_unlocking_the_same_contacts_submit_once(
    tmp_path: Path, redis_url: str
) -> None:
    async with FakeLensmor(seed=5, task_step_seconds=0.05) as fake:
        event = fake.add_event("Fleet Contacts Expo")
        ids = [str(n) for n in fake.add_personnel(event.id, 5)]
        base = _fleet_config(
            fake,
            redis_url,
            tmp_path,
            budget=5000,
            hosts=HOSTS,
            mode="same_unlock",
            coroutines=WORKERS_PER_HOST,
            event_id=event.id,
            personnel_ids=ids,
        )
        results = _results(await run_workers(_hosts(base, HOSTS)))
        submissions = fake.request_count(UNLOCK_ROUTE, method="POST")
        duplicates = fake.truth.duplicate_intents()
        server_net = fake.truth.net()
    rows = await journal_rows(base["journal"])
    snapshot = await ledger_snapshot(base["ledger"], 5000)

    callers = [c for r in results for c in r["callers"]]
    complete = sum(1 for c in callers if c.get("complete"))
    task_ids = {c.get("task_id") for c in callers}
    print(
        f"fleet-same-contacts hosts={HOSTS} callers={len(callers)} submissions={submissions} "
        f"tasks={len(task_ids)} complete_reports={complete} journal_rows={len(rows)} "
        f"server_net={server_net} ledger_spent={snapshot.spent}"
    )
    assert [c for c in callers if not c["ok"]] == []
    assert submissions == 1
    assert len(task_ids) == 1
    assert None not in task_ids
    assert complete == len(callers) == HOSTS * WORKERS_PER_HOST
    assert duplicates == {}
    assert [row.state.value for row in rows] == ["succeeded"]
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (server_net, 0, 0)


async def test_the_same_event_unlock_from_four_hosts_under_a_2000_budget_charges_once(
    tmp_path: Path, redis_url: str
) -> None:
    async with FakeLensmor(seed=5, prices=Prices(event_unlock=EVENT_PRICE)) as fake:
        event = fake.add_event("Fleet Event Expo", personnel=2)
        base = _fleet_config(
            fake,
            redis_url,
            tmp_path,
            budget=EVENT_PRICE,
            hosts=HOSTS,
            prices={"events.unlock": EVENT_PRICE},
            mode="plan",
            plan=[{"op": "events.unlock", "event_id": event.id}],
        )
        results = _results(await run_workers(_hosts(base, HOSTS)))
        charges = [e for e in fake.truth.for_operation("events.unlock") if e.amount > 0]
        server_net = fake.truth.net()
    snapshot = await ledger_snapshot(base["ledger"], EVENT_PRICE)

    steps = [step for result in results for step in result["steps"]]
    refused = [s for s in steps if s.get("error") == "BudgetExceededError"]
    print(
        f"fleet-same-event hosts={HOSTS} charges={len(charges)} budget_refusals={len(refused)} "
        f"ok={sum(1 for s in steps if s['ok'])} server_net={server_net}"
    )
    assert len(charges) == 1
    assert refused == []
    assert [s for s in steps if not s["ok"]] == []
    # One host paid; the others, attached to its row, then found the event unlocked.
    assert sorted(s["credits_used"] for s in steps) == [0] * (HOSTS - 1) + [EVENT_PRICE]
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (EVENT_PRICE, 0, 0)


async def test_ten_searches_repeated_by_three_hosts_within_the_window_are_bought_ten_times(
    tmp_path: Path, redis_url: str
) -> None:
    async with FakeLensmor(seed=5) as fake:
        # Companies the fake knows: a search with matches is a paid one (0.24+ charges
        # only non-empty results), which is what this test counts.
        names = sorted({e.company_name for e in fake.state.exhibitors.values()})[:10]
        # A day-long window, so a window boundary cannot split this run's searches.
        base = _fleet_config(
            fake,
            redis_url,
            tmp_path,
            budget=5000,
            hosts=3,
            mode="search",
            searches=names,
            dedupe_window=86400,
        )
        results = _results(await run_workers(_hosts(base, 3)))
        charges = [e for e in fake.truth.for_operation(SEARCH) if e.amount > 0]
        server_net = fake.truth.net()
    snapshot = await ledger_snapshot(base["ledger"], 5000)

    grants = sum(r["grants"] for r in results)
    print(
        f"fleet-searches hosts=3 searches={3 * len(names)} grants={grants} "
        f"charges={len(charges)} server_net={server_net} ledger_spent={snapshot.spent}"
    )
    assert [e for r in results for e in r["errors"]] == []
    assert grants == 3 * len(names)  # every caller got its answer
    assert len(charges) == len(names)  # bought once per distinct search
    assert sorted(e.intent for e in charges) == sorted({e.intent for e in charges})
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (server_net, 0, 0)


async def _recover_on(base: dict[str, Any], host_id: str) -> dict[str, Any]:
    config = {**base, "host_id": host_id, "plan": [], "recover": True}
    recovery: dict[str, Any] = (await run_worker(config, seconds=60)).result["recovery"]
    return recovery


@pytest.mark.parametrize("point", ["after_reserve", "after_bytes_sent", "during_polling"])
async def test_a_host_killed_mid_purchase_is_recovered_by_another_host_once_its_lease_expires(
    point: str, tmp_path: Path, redis_url: str
) -> None:
    ledger, journal = _redis_specs(redis_url)
    async with FakeLensmor(
        seed=2,
        task_step_seconds=0.02,
        prices=Prices(event_unlock=2000, contact_email=15),
        fault_tuning=FaultTuning(stall_seconds=60.0),
    ) as fake:
        scenario: Scenario = build_scenario(fake, point, 2)
        base = {**worker_config(fake, ledger, tmp_path), "journal": journal}
        dead = {**base, "host_id": "host-dead", "lease_ttl": DEAD_HOST_LEASE}
        died = await crash(fake, point, scenario, dead)
        killed_at = time.monotonic()
        assert died.killed, died.stderr[-3000:]

        early = await _recover_on(base, "host-rescue")
        early_within_lease = time.monotonic() - killed_at < DEAD_HOST_LEASE - 0.5
        await anyio.sleep(max(0.0, killed_at + DEAD_HOST_LEASE + 0.5 - time.monotonic()))
        late = await _recover_on(base, "host-rescue")
        found = await audit(fake, ledger, journal)

    print(
        f"fleet-kill-9 point={point} server_net={found.server_net} "
        f"early_skipped={len(early['skipped_live'])} early_actions={len(early['actions'])} "
        f"late_actions={[a['before'] + '->' + a['after'] for a in late['actions']]} "
        f"ledger_spent={found.snapshot.spent} holds={found.snapshot.holds}"
    )
    if early_within_lease:  # the dead host's lease was still running: left alone
        assert early["skipped_live"] != []
        assert early["actions"] == []
    assert late["skipped_live"] == []
    assert late["actions"] != []
    assert_consistent(found, f"{point}: after recover() on another host")
