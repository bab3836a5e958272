"""The web app example as real worker processes (gunicorn, 4 workers, one port): a quote
sealed and rendered by one worker is confirmed by another and pays once; replaying it or
declining it on yet another worker spends nothing. Spending is judged by the fake's truth
ledger and by the unlock requests it received.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest
from webapp_workers import Connection, connection_to_another_worker, gunicorn_workers

from lensmor_async.testing import FakeLensmor

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

LOCKED = "101"  # 237 people, 50 visible in preview, 2000 credits to unlock
UNLOCK_ROUTE = "/external/events/{id}/unlock"


async def quote_on_one_worker(base_url: str) -> tuple[str, int]:
    """A quote sealed and rendered by one worker: (its page's path, that worker)."""
    first = Connection(base_url)
    try:
        status, sealer, location = await first.request("POST", f"/events/{LOCKED}/quote")
        assert (status, location.startswith("/quotes/")) == (303, True)
        status, renderer, body = await first.request("GET", location)
        assert status == 200
        assert 'data-testid="cost" data-credits="2000"' in body
        assert sealer == renderer  # one connection, one worker
        return location, renderer
    finally:
        await first.close()


async def test_a_quote_rendered_by_one_worker_process_is_confirmed_by_another_and_pays_once(
    tmp_path: Path,
) -> None:
    async with (
        FakeLensmor(task_step_seconds=0.01) as fake,
        gunicorn_workers(fake, tmp_path / "journal.db") as workers,
    ):
        assert len(workers.pids) == 4

        def elsewhere(path: str, avoid: set[int]) -> Any:
            return connection_to_another_worker(workers.base_url, path, avoid)

        # Declined on another worker: nothing spent, and the token is dead everywhere.
        declined, renderer = await quote_on_one_worker(workers.base_url)
        async with elsewhere(declined, {renderer}) as (other, decliner):
            assert await other.request("POST", f"{declined}/decline") == (
                303,
                decliner,
                "/?notice=declined",
            )
        async with elsewhere(declined, {decliner}) as (late, _):
            status, _, body = await late.request("POST", f"{declined}/confirm")
            assert (status, "not pending" in body) == (404, True)
        assert fake.request_count(UNLOCK_ROUTE) == 0

        # Confirmed on another worker process than the one that sealed and rendered it.
        quote, renderer = await quote_on_one_worker(workers.base_url)
        async with elsewhere(quote, {renderer}) as (other, confirmer):
            status, worker, location = await other.request("POST", f"{quote}/confirm")
            assert (status, worker, location) == (303, confirmer, f"/events/{LOCKED}?unlocked=2000")
        assert {renderer, confirmer} <= workers.pids
        assert renderer != confirmer

        # The same confirm replayed on yet another worker: refused, nothing paid.
        async with elsewhere("/nowhere", {confirmer}) as (third, replayer):
            status, worker, body = await third.request("POST", f"{quote}/confirm")
            assert (status, worker, "not pending" in body) == (404, replayer, True)

    assert fake.request_count(UNLOCK_ROUTE) == 1
    charges = fake.truth.entries
    assert [(e.intent, e.amount) for e in charges] == [(("events.unlock", LOCKED), 2000)]
    assert not [pid for pid in (workers.master, *workers.pids) if psutil.pid_exists(pid)]
