"""FakeLensmor's PATCH fault: the handler commits, then its JSON answer lies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning

pytestmark = pytest.mark.anyio

UNLOCK_ROUTE = "/external/events/{id}/unlock"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=9, task_step_seconds=0.01) as server:
        yield server


async def unlock(http: aiohttp.ClientSession, event_id: str = "101") -> tuple[int, Any]:
    async with http.post(f"/external/events/{event_id}/unlock") as response:
        return response.status, orjson.loads(await response.read())


async def test_patch_replaces_dotted_paths_after_the_handler_charged(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.fault_tuning = FaultTuning(
        patch={"creditsUsed": -2000, "balanceAfter.totalBalance": 1, "event.extra.x": [1]}
    )
    fake.inject(FaultKind.PATCH, route=UNLOCK_ROUTE)
    status, body = await unlock(http)
    assert status == 201
    assert body["creditsUsed"] == -2000
    assert body["balanceAfter"]["totalBalance"] == 1
    assert body["event"]["extra"] == {"x": [1]}
    assert body["alreadyUnlocked"] is False  # untouched fields stay as the handler sent them
    assert fake.truth.total_charged() == 2000
    assert fake.requests[0].fault is FaultKind.PATCH
    # The injection is consumed: the next answer is the honest one.
    _, again = await unlock(http)
    assert (again["alreadyUnlocked"], again["creditsUsed"]) == (True, 0)


async def test_patch_accepts_a_callable_and_indexes_lists(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    def lie(body: Any) -> Any:
        body["alreadyUnlocked"] = True
        return body

    fake.fault_tuning = FaultTuning(patch=lie)
    fake.inject(FaultKind.PATCH, route=UNLOCK_ROUTE)
    _, body = await unlock(http)
    assert (body["alreadyUnlocked"], body["creditsUsed"]) == (True, 2000)

    fake.fault_tuning = FaultTuning(patch={"items.0.name": "patched"})
    fake.inject(FaultKind.PATCH, route="/external/events/list")
    async with http.get("/external/events/list") as response:
        listed = orjson.loads(await response.read())
    assert listed["items"][0]["name"] == "patched"


async def test_patch_leaves_error_answers_and_unpatched_tuning_alone(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.fault_tuning = FaultTuning(patch={"code": 201})
    fake.inject(FaultKind.PATCH, route=UNLOCK_ROUTE)
    status, body = await unlock(http, "999999999")
    assert (status, body["code"]) == (404, 404)

    fake.fault_tuning = FaultTuning()
    fake.inject(FaultKind.PATCH, route=UNLOCK_ROUTE)
    status, body = await unlock(http)
    assert (status, body["creditsUsed"]) == (201, 2000)
