"""The pytest plugin (entry point ``lensmor_async``): FakeLensmor fixtures for your tests.

Fixtures (use with ``@pytest.mark.anyio``):

* ``fake_lensmor`` — a running :class:`FakeLensmor` on 127.0.0.1 (seed 0), stopped afterwards.
  Seed data, set balances, inject faults and read the truth ledger through it.
* ``lensmor_client`` — an :class:`AsyncLensmor` wired to it in testing mode (no backoff
  sleeps, near-zero poll intervals), with a guard that confirms every spend.
* ``lensmor_guard`` — that guard, to inspect ``history``/``spent`` or swap the callback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from lensmor_async._client import AsyncLensmor
from lensmor_async.guard import CreditGuard, always_confirm
from lensmor_async.testing import FakeLensmor


@pytest.fixture
async def fake_lensmor() -> AsyncIterator[FakeLensmor]:
    """A running fake Lensmor server with seeded data and a truth ledger."""
    async with FakeLensmor(task_step_seconds=0.01) as fake:
        yield fake


@pytest.fixture
def lensmor_guard() -> CreditGuard:
    """A guard that approves every spend (override this fixture to test declines)."""
    return CreditGuard(confirm=always_confirm)


@pytest.fixture
async def lensmor_client(
    fake_lensmor: FakeLensmor, lensmor_guard: CreditGuard
) -> AsyncIterator[AsyncLensmor]:
    """A client in testing mode talking to ``fake_lensmor``."""
    async with AsyncLensmor(
        fake_lensmor.api_key, base_url=fake_lensmor.url, guard=lensmor_guard, testing=True
    ) as client:
        yield client
