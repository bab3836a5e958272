"""FakeLensmor's seeded faults: schedule determinism and every fault kind, observed on the wire."""

from __future__ import annotations

import email.utils
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import orjson
import pytest

from lensmor_async.errors import ConfigurationError
from lensmor_async.testing import FakeLensmor, FaultKind, FaultSchedule, FaultTuning, InjectedFault

pytestmark = pytest.mark.anyio

UNLOCK_ROUTE = "/external/events/{id}/unlock"
BALANCE_ROUTE = "/external/credits/balance"
TASK_ROUTE = "/external/contacts/unlock-tasks/{taskId}"
SUBMIT_ROUTE = "/external/contacts/unlock"
TUNING = FaultTuning(
    stall_seconds=30.0,
    slow_body_seconds=0.2,
    retry_after_seconds=3,
    oversized_bytes=3 * 1024 * 1024,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=9, task_step_seconds=0.01, fault_tuning=TUNING) as server:
        yield server


async def unlock(http: aiohttp.ClientSession, **kwargs: Any) -> tuple[int, bytes, Any]:
    async with http.post("/external/events/101/unlock", **kwargs) as response:
        return response.status, await response.read(), response.headers


# --------------------------------------------------------------------------- schedule


def test_schedule_is_a_pure_function_of_seed_and_request_number() -> None:
    rates = {FaultKind.HTTP_500_BEFORE: 0.2, FaultKind.RESET_BEFORE: 0.1, FaultKind.SLOW_BODY: 0.1}
    first = [FaultSchedule(42, rates).decide(n) for n in range(1, 400)]
    again = [
        FaultSchedule(42, dict(reversed(list(rates.items())))).decide(n) for n in range(1, 400)
    ]
    other = [FaultSchedule(43, rates).decide(n) for n in range(1, 400)]
    assert first == again
    assert first != other
    hits = [kind for kind in first if kind is not None]
    assert 0.25 < len(hits) / len(first) < 0.55
    assert set(hits) == set(rates)


def test_schedule_without_rates_never_faults() -> None:
    assert {FaultSchedule(1).decide(n) for n in range(1, 50)} == {None}


@pytest.mark.parametrize(
    "rates",
    [{FaultKind.HTTP_500_BEFORE: 1.5}, {FaultKind.HTTP_500_BEFORE: 0.7, FaultKind.SLOW_BODY: 0.4}],
)
def test_schedule_refuses_impossible_rates(rates: dict[FaultKind, float]) -> None:
    with pytest.raises(ConfigurationError):
        FaultSchedule(1, rates)


def test_explicit_schedule_and_route_filter() -> None:
    schedule = FaultSchedule.explicit(
        {2: FaultKind.HTTP_503_BEFORE, 3: FaultKind.TASK_404}, routes={BALANCE_ROUTE}
    )
    assert schedule.fault_for(2, BALANCE_ROUTE) is FaultKind.HTTP_503_BEFORE
    assert schedule.fault_for(2, UNLOCK_ROUTE) is None
    assert schedule.fault_for(1, BALANCE_ROUTE) is None
    assert schedule.fault_for(3, BALANCE_ROUTE) is None  # TASK_404 only applies to task polls
    assert (
        FaultSchedule.explicit({1: FaultKind.STUCK_TASK}).fault_for(1, SUBMIT_ROUTE)
        is FaultKind.STUCK_TASK
    )


async def test_seeded_schedule_is_replayed_by_the_server() -> None:
    rates = {FaultKind.HTTP_500_BEFORE: 0.25, FaultKind.HTTP_503_BEFORE: 0.25}
    schedule = FaultSchedule(7, rates)
    async with FakeLensmor(faults=schedule) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession(fake.url, headers=headers) as http:
            statuses = []
            for _ in range(30):
                async with http.get("/external/credits/balance") as response:
                    statuses.append(response.status)
    expected = [schedule.fault_for(n, BALANCE_ROUTE) for n in range(1, 31)]
    assert statuses == [
        {None: 200, FaultKind.HTTP_500_BEFORE: 500, FaultKind.HTTP_503_BEFORE: 503}[k]
        for k in expected
    ]
    assert fake.faults_injected == [
        InjectedFault(n, kind, BALANCE_ROUTE)
        for n, kind in enumerate(expected, start=1)
        if kind is not None
    ]
    assert [r.fault for r in fake.requests] == expected


async def test_injection_targets_only_matching_route_and_count(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, count=2, route=BALANCE_ROUTE)
    statuses = []
    for path in ["/external/events/list", BALANCE_ROUTE, BALANCE_ROUTE, BALANCE_ROUTE]:
        async with http.get(path) as response:
            statuses.append(response.status)
    assert statuses == [200, 503, 503, 200]
    assert [f.request_no for f in fake.faults_injected] == [2, 3]
    with pytest.raises(ConfigurationError):
        fake.inject(FaultKind.HTTP_503_BEFORE, count=0)


# --------------------------------------------------------------------------- before the handler


async def test_reset_before_drops_the_connection_without_committing(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.RESET_BEFORE, route=UNLOCK_ROUTE)
    with pytest.raises(aiohttp.ClientConnectionError):
        await unlock(http)
    assert fake.truth.entries == []
    assert fake.requests[0].status is None
    assert not fake.state.is_unlocked("101")


@pytest.mark.parametrize(
    ("kind", "status", "key"),
    [
        (FaultKind.HTTP_500_BEFORE, 500, "INTERNAL_ERROR"),
        (FaultKind.HTTP_503_BEFORE, 503, "SERVICE_UNAVAILABLE"),
    ],
)
async def test_error_before_handler_charges_nothing(
    fake: FakeLensmor, http: aiohttp.ClientSession, kind: FaultKind, status: int, key: str
) -> None:
    fake.inject(kind)
    got, raw, headers = await unlock(http)
    body = orjson.loads(raw)
    assert (got, body["errorKey"], body["code"]) == (status, key, status)
    assert headers["X-Request-ID"] == body["traceId"]
    assert fake.truth.entries == []


@pytest.mark.parametrize(
    ("kind", "check"),
    [
        (FaultKind.RATE_LIMIT_SECONDS, lambda v: v == "3"),
        (
            FaultKind.RATE_LIMIT_DATE,
            lambda v: email.utils.parsedate_to_datetime(v).tzinfo is not None,
        ),
        (FaultKind.RATE_LIMIT_NEGATIVE, lambda v: v == "-5"),
        (FaultKind.RATE_LIMIT_HUGE, lambda v: v == "999999999"),
        (FaultKind.RATE_LIMIT_GARBAGE, lambda v: not v.lstrip("-").isdigit()),
    ],
)
async def test_rate_limit_faults_send_429_with_each_retry_after_form(
    fake: FakeLensmor, http: aiohttp.ClientSession, kind: FaultKind, check: Any
) -> None:
    fake.inject(kind)
    status, raw, headers = await unlock(http)
    assert status == 429
    assert orjson.loads(raw)["errorKey"] == "RATE_LIMIT_EXCEEDED"
    assert check(headers["Retry-After"])
    assert fake.truth.entries == []


async def test_redirect_points_cross_origin_and_commits_nothing(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.REDIRECT_CROSS_ORIGIN)
    status, _, headers = await unlock(http, allow_redirects=False)
    assert status == 302
    assert headers["Location"] == "http://127.0.0.2:1/steal"
    assert fake.truth.entries == []


# --------------------------------------------------------------------------- after commit


async def test_commit_then_drop_charges_but_never_answers(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_DROP, route=UNLOCK_ROUTE)
    with pytest.raises(aiohttp.ClientConnectionError):
        await unlock(http)
    assert fake.truth.total_charged() == 2000
    assert fake.state.is_unlocked("101")
    assert fake.faults_injected == [InjectedFault(1, FaultKind.COMMIT_THEN_DROP, UNLOCK_ROUTE)]


async def test_commit_then_timeout_charges_and_stalls_past_the_client_timeout(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT)
    with pytest.raises(TimeoutError):
        await unlock(http, timeout=aiohttp.ClientTimeout(total=0.3))
    assert fake.truth.total_charged() == 2000


async def test_http_500_after_commit_still_charges(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.HTTP_500_AFTER)
    status, raw, _ = await unlock(http)
    assert (status, orjson.loads(raw)["errorKey"]) == (500, "INTERNAL_ERROR")
    assert fake.truth.total_charged() == 2000


async def test_malformed_body_keeps_success_status(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.MALFORMED_BODY)
    status, raw, headers = await unlock(http)
    assert status == 201
    assert headers["Content-Type"].startswith("application/json")
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    assert fake.truth.total_charged() == 2000


async def test_truncated_body_breaks_mid_payload(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.TRUNCATED_BODY)
    with pytest.raises(aiohttp.ClientPayloadError):
        await unlock(http)
    assert fake.truth.total_charged() == 2000


async def test_oversized_body_is_streamed_with_its_full_claimed_length(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.OVERSIZED_BODY)
    async with http.post("/external/events/101/unlock") as response:
        assert response.content_length == TUNING.oversized_bytes
        received = 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            received += len(chunk)
    assert received == TUNING.oversized_bytes
    assert fake.truth.total_charged() == 2000


async def test_slow_body_arrives_in_pieces_but_intact(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.SLOW_BODY, route=BALANCE_ROUTE)
    async with http.get(BALANCE_ROUTE) as response:
        chunks = [chunk async for chunk in response.content.iter_any()]
    assert len(chunks) > 1
    assert orjson.loads(b"".join(chunks))["totalBalance"] == 30050


async def test_late_commit_runs_the_request_late_even_after_the_client_gave_up(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.LATE_COMMIT, route=UNLOCK_ROUTE)
    with anyio.move_on_after(0.05) as scope:
        await unlock(http)
    assert scope.cancelled_caught
    assert fake.truth.net() == 0  # not yet: it runs late_seconds after arriving
    with anyio.fail_after(5):
        while fake.truth.net() == 0:  # noqa: ASYNC110 (state lives in the fake)
            await anyio.sleep(0.01)
    assert fake.truth.net() == 2000


# --------------------------------------------------------------------------- tasks


async def submit(http: aiohttp.ClientSession, fake: FakeLensmor) -> str:
    pid = next(iter(fake.state.rosters["101"]))
    async with http.post(
        SUBMIT_ROUTE, json={"event_id": "101", "personnel_ids": [pid]}
    ) as response:
        assert response.status == 201
        return str((await response.json())["task_id"])


async def poll(http: aiohttp.ClientSession, task_id: str) -> tuple[int, Any]:
    async with http.get(f"/external/contacts/unlock-tasks/{task_id}") as response:
        return response.status, await response.json()


async def test_stuck_task_never_completes_until_forced(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.STUCK_TASK)
    task_id = await submit(http, fake)
    statuses = []
    for _ in range(10):
        await anyio.sleep(0.02)
        statuses.append((await poll(http, task_id))[1]["taskStatus"])
    assert statuses[-1] == "processing"
    assert set(statuses) <= {"pending", "processing"}
    fake.complete_tasks()
    assert (await poll(http, task_id))[1]["taskStatus"] in ("completed", "failed")
    assert fake.faults_injected[0].route == SUBMIT_ROUTE


async def test_task_404_hides_an_existing_task_once(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.inject(FaultKind.TASK_404)
    task_id = await submit(http, fake)
    status, body = await poll(http, task_id)
    assert (status, body["errorKey"]) == (404, "NOT_FOUND")
    status, body = await poll(http, task_id)
    assert (status, body["taskId"]) == (200, task_id)
    assert [f.kind for f in fake.faults_injected] == [FaultKind.TASK_404]
    assert fake.faults_injected[0].route == TASK_ROUTE
