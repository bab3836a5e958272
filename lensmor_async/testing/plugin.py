"""The pytest plugin (entry point ``lensmor_async``): FakeLensmor fixtures for your tests.

Installed with the package; pytest loads it automatically. Fixtures (use them in
``@pytest.mark.anyio`` tests; the SDK runs on asyncio, anyio's default backend):

* ``fake_lensmor`` — a running :class:`~lensmor_async.testing.FakeLensmor` on 127.0.0.1
  (seed 0, unlock tasks finish in a few milliseconds), stopped afterwards. Seed data, set
  balances and inject faults through it.
* ``lensmor_truth`` — its :class:`~lensmor_async.testing.TruthLedger`: every credit the server
  charged or refunded. Judge your code by it.
* ``lensmor_guard`` — a :class:`~lensmor_async.guard.CreditGuard` that approves every spend;
  override this fixture to test declines, budgets or your own confirm callback.
* ``lensmor_client`` — an :class:`~lensmor_async.AsyncLensmor` wired to ``fake_lensmor`` and
  ``lensmor_guard`` in testing mode (no backoff sleeps, near-zero poll intervals).

The marker ``@pytest.mark.lensmor_fake(**options)`` passes options to the fake's constructor,
e.g. ``@pytest.mark.lensmor_fake(seed=3, subscription_balance=100, gift_balance=0)``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from lensmor_async._client import AsyncLensmor
from lensmor_async.guard import CreditGuard, always_confirm
from lensmor_async.testing import FakeLensmor, TruthLedger

MARKER = "lensmor_fake"
DEFAULT_FAKE_OPTIONS: dict[str, Any] = {"task_step_seconds": 0.01}
"""What ``fake_lensmor`` passes to :class:`FakeLensmor` unless the marker says otherwise."""


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so ``--strict-markers`` suites accept it."""
    config.addinivalue_line(
        "markers", f"{MARKER}(**options): FakeLensmor options for the fake_lensmor fixture"
    )


def fake_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The defaults, overridden by the closest ``lensmor_fake`` marker's keyword arguments."""
    options = dict(DEFAULT_FAKE_OPTIONS)
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.{MARKER} takes keyword arguments only")
        options.update(marker.kwargs)
    return options


@pytest.fixture
async def fake_lensmor(request: pytest.FixtureRequest) -> AsyncIterator[FakeLensmor]:
    """A running fake Lensmor server with seeded data and a truth ledger."""
    async with FakeLensmor(**fake_options(request)) as fake:
        yield fake


@pytest.fixture
def lensmor_truth(fake_lensmor: FakeLensmor) -> TruthLedger:
    """The fake server's record of every charge and refund (judge spending by it)."""
    return fake_lensmor.truth


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
