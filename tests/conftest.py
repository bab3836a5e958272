"""Shared fixtures: the anyio backend, ledger backends (real redis-server)."""

from __future__ import annotations

import pytest

pytest_plugins = ["ledger_backends"]


@pytest.fixture
def anyio_backend() -> str:
    """All async tests run on asyncio (the SDK is built on aiohttp)."""
    return "asyncio"
