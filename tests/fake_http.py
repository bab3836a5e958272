"""The ``http`` fixture (a plugin, registered in ``conftest.py``).

A raw aiohttp session on the test's ``fake`` fixture (whichever ``fake`` the test
module defines), authorised with the fake's API key: for tests of the wire itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from lensmor_async.testing import FakeLensmor


@pytest.fixture
async def http(fake: FakeLensmor) -> AsyncIterator[aiohttp.ClientSession]:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with aiohttp.ClientSession(fake.url, headers=headers) as session:
        yield session
