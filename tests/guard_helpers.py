"""Shared helpers of the CreditGuard tests (a plugin, registered in ``conftest.py``).

* ``fake`` fixture: a FakeLensmor with seed :data:`SEED` and fast unlock tasks (a test
  module that needs another fake defines its own ``fake``, which wins);
* :func:`connect`: an ``AsyncLensmor`` on that fake, in testing mode;
* :class:`Recorder`: a confirm callback that records every request;
* :class:`CountingLedger`: the default ledger, counting reserves, able to pause commits;
* :func:`assert_books_match`: the guard's accounting equals the fake's truth ledger;
* :func:`exhibit`: give search queries a matching exhibitor, so their searches are charged.

Being a plugin, this module gets pytest's assertion rewriting.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Any

import anyio
import pytest

from lensmor_async import AsyncLensmor
from lensmor_async.guard import CreditGuard, Hold, InMemoryLedger, SpendOutcome, SpendRequest
from lensmor_async.testing import FakeLensmor

SEED = 0


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=SEED, task_step_seconds=0.01) as server:
        yield server


@contextlib.asynccontextmanager
async def connect(fake: FakeLensmor, guard: CreditGuard | None) -> AsyncIterator[AsyncLensmor]:
    async with AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard, testing=True) as client:
        yield client


class Recorder:
    """A confirm callback that records each request and answers ``answer``.

    ``requote_answer`` (default: ``answer``) is the answer to a re-asked quote
    (``request.requote``). ``answer`` need not be a bool: the guard must treat
    anything but ``True`` as a decline.
    """

    def __init__(self, answer: Any = True, *, requote_answer: Any = None) -> None:
        self.answer = answer
        self.requote_answer = answer if requote_answer is None else requote_answer
        self.requests: list[SpendRequest] = []

    def __call__(self, request: SpendRequest, /) -> Any:
        self.requests.append(request)
        return self.requote_answer if request.requote else self.answer


class CountingLedger(InMemoryLedger):
    """The default ledger, counting reserves (to prove that free calls hold nothing).

    Setting ``commit_gate`` pauses every ``commit`` until the gate is set (``in_commit``
    tells that one is waiting), like a SQLite/Redis ledger awaiting its store.
    """

    def __init__(self, budget: int | None = None) -> None:
        super().__init__(budget)
        self.reserves = 0
        self.commit_gate: anyio.Event | None = None
        self.in_commit = anyio.Event()

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        self.reserves += 1
        return await super().reserve(intent_key, amount, ttl=ttl)

    async def commit(self, hold: Hold, actual: int) -> None:
        if self.commit_gate is not None:
            self.in_commit.set()
            await self.commit_gate.wait()
        await super().commit(hold, actual)


def exhibit(fake: FakeLensmor, names: Iterable[str], *, event_id: str = "101") -> FakeLensmor:
    """Add an exhibitor (at ``event_id``) named after each query, so each search finds
    something: 0.24+ charges a paid search only when its result is not empty."""
    for name in names:
        fake.state.add_exhibitor(name.title(), event_ids=[event_id])
    return fake


def assert_books_match(guard: CreditGuard, fake: FakeLensmor) -> None:
    """The guard's accounting equals the fake's truth ledger, with nothing left held."""
    truth = fake.truth
    assert guard.reserved == 0
    assert guard.spent == truth.net()
    assert sum(record.actual or 0 for record in guard.history) == truth.net()
    for record in guard.history:
        if record.task_id is not None and record.outcome is SpendOutcome.SUCCEEDED:
            # A settled task spends what the server kept after its refunds.
            assert record.actual == sum(e.amount for e in truth.for_task(record.task_id)), record
    assert truth.duplicate_intents() == {}
