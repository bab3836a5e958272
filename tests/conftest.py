"""Shared fixtures: the anyio backend, plus plugins (which pytest assert-rewrites).

* ``ledger_backends``: ledger backends (a real redis-server);
* ``guard_helpers``: the ``fake`` FakeLensmor fixture and the guard tests' helpers;
* ``fake_http``: the ``http`` fixture, a raw aiohttp session on the test's ``fake``.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["ledger_backends", "guard_helpers", "fake_http"]


@pytest.fixture
def anyio_backend() -> str:
    """All async tests run on asyncio (the SDK is built on aiohttp)."""
    return "asyncio"
