"""Requests per paid action: a guarded bulk run against a real FakeLensmor.

Two 1000-action mixes, each with a budget smaller than the demand, so the guard has
to refuse part of the work without ever overspending:

* **searches** — 1000 ``exhibitors.search_events`` calls for distinct company names
  (50 credits each, budget for 600);
* **event unlocks** — 1000 ``events.unlock`` calls spread over 150 locked events
  (2000 credits each, budget for 100); repeats of an unlocked event must cost nothing.

Requests are counted from the fake's own request log, money from its truth ledger.
The naive pattern a user would hand-write is balance → precheck → act → balance:
4 requests for every action attempted.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs

from lensmor_async import AsyncLensmor, CreditGuard, always_confirm
from lensmor_async.errors import LensmorError
from lensmor_async.testing import FakeLensmor

NAIVE_REQUESTS_PER_ACTION = 4
SEARCH_PRICE = 50
UNLOCK_PRICE = 2000
_PRECHECK_ROUTE = "/external/actions/precheck"
_BALANCE_ROUTE = "/external/credits/balance"


@attrs.frozen
class BulkResult:
    """One guarded bulk run, judged by the server."""

    name: str
    actions: int
    """Calls the user made."""
    paid: int
    """Charges the server recorded (truth ledger)."""
    refused: int
    """Calls the guard refused before sending the paid request."""
    requests: int
    """Every HTTP request the server received during the run."""
    prechecks: int
    balance_reads: int
    budget: int
    charged: int
    """Credits the server charged, net of refunds."""
    duplicates: int
    """Non-repeatable intents the server charged more than once."""
    by_route: dict[str, int]

    @property
    def overspend(self) -> int:
        return max(0, self.charged - self.budget)

    @property
    def requests_per_paid(self) -> float:
        """Requests per paid action, prechecks left out (they are reported on their own)."""
        return (self.requests - self.prechecks) / self.paid if self.paid else float("inf")

    @property
    def prechecks_per_paid(self) -> float:
        return self.prechecks / self.paid if self.paid else float("inf")

    @property
    def all_requests_per_paid(self) -> float:
        return self.requests / self.paid if self.paid else float("inf")

    @property
    def naive_requests(self) -> int:
        return NAIVE_REQUESTS_PER_ACTION * self.actions


async def _run_workers(
    jobs: Sequence[Callable[[], Awaitable[Any]]], concurrency: int
) -> tuple[int, int]:
    """Run every job with ``concurrency`` workers; returns (succeeded, refused)."""
    queue = iter(jobs)
    outcome: Counter[str] = Counter()

    async def worker() -> None:
        for job in queue:
            try:
                await job()
            except LensmorError:
                outcome["refused"] += 1
            else:
                outcome["ok"] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcome["ok"], outcome["refused"]


def _result(name: str, fake: FakeLensmor, actions: int, refused: int, budget: int) -> BulkResult:
    routes = Counter(r.route for r in fake.requests)
    return BulkResult(
        name=name,
        actions=actions,
        paid=sum(1 for e in fake.truth.entries if e.amount > 0),
        refused=refused,
        requests=len(fake.requests),
        prechecks=routes[_PRECHECK_ROUTE],
        balance_reads=routes[_BALANCE_ROUTE],
        budget=budget,
        charged=fake.truth.net(),
        duplicates=len(fake.truth.duplicate_intents()),
        by_route=dict(routes),
    )


async def run_searches(actions: int, *, concurrency: int = 16) -> BulkResult:
    """``actions`` paid searches for distinct companies, budget for 60% of them."""
    budget = SEARCH_PRICE * (actions * 3 // 5)
    async with FakeLensmor(seed=11, subscription_balance=SEARCH_PRICE * actions * 2) as fake:
        # Each company exhibits at an event, so its search finds something and is paid
        # (0.24+ charges nothing for an empty result).
        venue = next(iter(fake.state.events))
        for n in range(actions):
            fake.state.add_exhibitor(f"Bench Company {n}", event_ids=[venue])
        guard = CreditGuard(confirm=always_confirm, budget=budget)
        async with AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard) as client:
            search = client.exhibitors.search_events
            jobs = [(lambda n=n: search(f"Bench Company {n}")) for n in range(actions)]
            _ok, refused = await _run_workers(jobs, concurrency)
        return _result("searches (50 credits each)", fake, actions, refused, budget)


async def run_event_unlocks(
    actions: int, *, events: int = 150, affordable: int = 100, concurrency: int = 16
) -> BulkResult:
    """``actions`` unlock calls over ``events`` locked events; budget for ``affordable``."""
    budget = UNLOCK_PRICE * affordable
    async with FakeLensmor(seed=11, subscription_balance=UNLOCK_PRICE * events * 2) as fake:
        ids = [fake.add_event(f"Bench Event {n}", personnel=10).id for n in range(events)]
        targets = [ids[n % events] for n in range(actions)]
        random.Random(6).shuffle(targets)
        guard = CreditGuard(confirm=always_confirm, budget=budget)
        async with AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard) as client:
            unlock = client.events.unlock
            jobs = [(lambda e=e: unlock(e)) for e in targets]
            _ok, refused = await _run_workers(jobs, concurrency)
        return _result(
            f"event unlocks (2000 credits; {events} events, repeats)",
            fake,
            actions,
            refused,
            budget,
        )
