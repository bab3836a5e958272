"""The retry policy through the real pipeline: what is re-sent, how often, and when.

The pure decisions are property-tested in ``test_retry_policy.py``; here the fake's
faults (and tiny stub servers for odd answers) drive a real client, and the request
counts seen by the server show what the SDK actually did.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aiohttp import web
from chaos_support import EMPTY_PAGE, StubServer, answer, envelope

from lensmor_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncLensmor,
    BadRequestError,
    ConflictError,
    CreditGuard,
    DeadlineExceededError,
    InsufficientCreditsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RetryPolicy,
    ServerError,
    SpendInDoubtError,
    UnprocessableError,
    always_confirm,
)
from lensmor_async._config import load_config
from lensmor_async.errors import AuthenticationError
from lensmor_async.testing import FakeLensmor, FaultKind, FaultTuning, UnlockOutcome
from lensmor_async.transport import PooledTransport, Request, Response

pytestmark = pytest.mark.anyio

KEY = "uak_retry_integration_key_0123456789"
LIST_ROUTE = "/external/events/list"
UNLOCK_ROUTE = "/external/events/{id}/unlock"
EMAIL_ROUTE = "/external/contacts/unlock"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    tuning = FaultTuning(retry_after_seconds=0, stall_seconds=10.0)
    async with FakeLensmor(task_step_seconds=0.01, fault_tuning=tuning) as server:
        yield server


def _client(fake: FakeLensmor, **options: Any) -> AsyncLensmor:
    options.setdefault("testing", True)
    options.setdefault("guard", CreditGuard(always_confirm))
    return AsyncLensmor(fake.api_key, base_url=fake.url, **options)


# --------------------------------------------------------------------------- reads


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.HTTP_500_BEFORE,
        FaultKind.HTTP_500_AFTER,
        FaultKind.HTTP_503_BEFORE,
        FaultKind.RATE_LIMIT_SECONDS,
        FaultKind.RESET_BEFORE,
        FaultKind.COMMIT_THEN_DROP,
        FaultKind.COMMIT_THEN_TIMEOUT,
    ],
    ids=lambda kind: kind.value,
)
async def test_reads_are_retried_on_5xx_429_resets_and_timeouts(
    fake: FakeLensmor, kind: FaultKind
) -> None:
    fake.inject(kind, count=2, route=LIST_ROUTE)
    async with _client(fake, timeout=0.5) as client:
        page = await client.events.list()
    assert page.items
    assert fake.request_count(LIST_ROUTE) == 3


async def test_reads_give_up_after_the_default_three_attempts(fake: FakeLensmor) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, count=10, route=LIST_ROUTE)
    async with _client(fake) as client:
        with pytest.raises(ServerError):
            await client.events.list()
    assert fake.request_count(LIST_ROUTE) == 3


async def test_a_post_that_spends_nothing_is_retried_like_a_read(fake: FakeLensmor) -> None:
    route = "/external/events/rank"
    fake.inject(FaultKind.RESET_BEFORE, count=2, route=route)
    async with _client(fake) as client:
        await client.events.rank(["101", "102"])
    assert fake.request_count(route) == 3


NEVER_RETRIED = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientCreditsError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableError,
}


@pytest.mark.parametrize("status", sorted(NEVER_RETRIED))
async def test_final_statuses_are_never_retried(status: int) -> None:
    async with (
        StubServer(answer(status, envelope(status, "no"))) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True) as client,
    ):
        with pytest.raises(NEVER_RETRIED[status]):
            await client.events.list()
        with pytest.raises(NEVER_RETRIED[status]):
            await client.events.rank(["101"])
    assert len(stub.seen) == 2


async def test_an_unknown_event_is_a_404_answered_once(fake: FakeLensmor) -> None:
    async with _client(fake) as client:
        with pytest.raises(NotFoundError):
            await client.events.get("999999")
    assert fake.request_count("/external/events/{id}") == 1


# --------------------------------------------------------------------------- paid sends


@pytest.mark.parametrize(
    "kind",
    [
        FaultKind.RESET_BEFORE,
        FaultKind.COMMIT_THEN_DROP,
        FaultKind.COMMIT_THEN_TIMEOUT,
        FaultKind.HTTP_500_BEFORE,
        FaultKind.HTTP_500_AFTER,
        FaultKind.HTTP_503_BEFORE,
        FaultKind.MALFORMED_BODY,
        FaultKind.TRUNCATED_BODY,
    ],
    ids=lambda kind: kind.value,
)
async def test_a_paid_post_is_sent_once_when_bytes_may_have_left(
    fake: FakeLensmor, kind: FaultKind
) -> None:
    fake.inject(kind, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard=guard, timeout=0.5) as client:
        # Charged-but-lost answers are SpendInDoubtError; uncharged ones the original error.
        with pytest.raises((SpendInDoubtError, ServerError, APIConnectionError)):
            await client.events.unlock("101")
    assert fake.request_count(UNLOCK_ROUTE) == 1
    # Reconciled without re-sending: the guard's figure is the server's.
    assert guard.spent == fake.truth.net()
    assert guard.reserved == 0


class _RefuseFirstConnect:
    """A transport whose first paid attempt fails to connect (nothing left the process)."""

    def __init__(self, inner: PooledTransport, *, timeout: bool = False) -> None:
        self.inner = inner
        self.timeout = timeout
        self.refused = 0

    async def send(self, request: Request) -> Response:
        if request.route == UNLOCK_ROUTE and not self.refused:
            self.refused += 1
            error = APITimeoutError if self.timeout else APIConnectionError
            raise error("connect failed", request_sent=False)
        return await self.inner.send(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("connect_timeout", [False, True], ids=["refused", "connect-timeout"])
async def test_a_paid_post_is_resent_when_the_connection_failed_before_any_byte_left(
    fake: FakeLensmor, connect_timeout: bool
) -> None:
    transport = _RefuseFirstConnect(
        PooledTransport(load_config(fake.api_key, fake.url)), timeout=connect_timeout
    )
    guard = CreditGuard(always_confirm)
    try:
        async with _client(fake, guard=guard, transport=transport) as client:
            result = await client.events.unlock("101")
    finally:
        await transport.aclose()
    assert transport.refused == 1
    assert result.credits_used == 2000
    assert fake.request_count(UNLOCK_ROUTE) == 1
    assert fake.truth.net() == guard.spent == 2000


async def test_a_paid_post_answered_429_is_sent_again_and_charged_once(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.RATE_LIMIT_SECONDS, route=UNLOCK_ROUTE)
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard=guard) as client:
        result = await client.events.unlock("101")
    assert result.credits_used == 2000
    assert fake.request_count(UNLOCK_ROUTE) == 2
    assert fake.truth.net() == guard.spent == 2000


async def test_a_lost_answer_to_a_contact_unlock_settles_at_what_the_server_kept() -> None:
    async with FakeLensmor(task_step_seconds=0.3) as slow_tasks:
        slow_tasks.set_unlock_outcome("700005", UnlockOutcome.FAILED)
        slow_tasks.inject(FaultKind.MALFORMED_BODY, route=EMAIL_ROUTE)
        guard = CreditGuard(always_confirm)
        async with _client(slow_tasks, guard=guard) as client:
            with pytest.raises(SpendInDoubtError):
                await client.contacts.unlock(event_id="101", personnel_ids=["700004", "700005"])
            with anyio.fail_after(10):
                # Task state lives in the fake server: there is no event to await.
                while not all(  # noqa: ASYNC110
                    t.status in ("completed", "failed") for t in slow_tasks.state.tasks.values()
                ):
                    await anyio.sleep(0.05)
        assert slow_tasks.truth.net() == 15
        assert guard.spent == slow_tasks.truth.net()


# --------------------------------------------------------------------------- Retry-After


def _rate_limited(retry_after: str) -> web.Response:
    return web.Response(
        status=429,
        body=envelope(429, "slow down", "RATE_LIMIT_EXCEEDED"),
        content_type="application/json",
        headers={"Retry-After": retry_after},
    )


def _http_date(seconds_ahead: float) -> str:
    return email.utils.formatdate(time.time() + seconds_ahead, usegmt=True)


async def _ask_once_rate_limited(
    retry_after: str, **options: Any
) -> tuple[BaseException | None, list[float]]:
    """Call a stub that answers 429 (``retry_after``) then 200; return the error and times."""

    async def limited(request: web.Request) -> web.StreamResponse:
        del request
        return _rate_limited(retry_after)

    options.setdefault("testing", True)
    error: BaseException | None = None
    async with (
        StubServer(limited, answer(200, EMPTY_PAGE)) as stub,
        AsyncLensmor(KEY, base_url=stub.url, **options) as client,
    ):
        try:
            await client.events.list()
        except RateLimitError as exc:
            error = exc
    return error, [seen.at for seen in stub.seen]


@pytest.mark.parametrize("value", ["120", "999999999"], ids=["past-cap", "huge"])
async def test_retry_after_past_the_cap_raises_rate_limit_error_at_once(value: str) -> None:
    error, times = await _ask_once_rate_limited(value)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == float(value)
    assert len(times) == 1


async def test_retry_after_past_the_deadline_raises_rate_limit_error_at_once() -> None:
    error, times = await _ask_once_rate_limited("5", deadline=2.0)
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 5.0
    assert len(times) == 1


async def test_an_enormous_retry_after_raises_rate_limit_error_at_once() -> None:
    error, times = await _ask_once_rate_limited("99999999999999999999")
    assert isinstance(error, RateLimitError)
    assert len(times) == 1


async def test_an_http_date_retry_after_past_the_cap_raises_at_once() -> None:
    error, times = await _ask_once_rate_limited(_http_date(300))
    assert isinstance(error, RateLimitError)
    assert len(times) == 1


async def test_retry_after_in_seconds_is_waited_out_before_the_retry() -> None:
    error, times = await _ask_once_rate_limited("1")
    assert error is None
    first, second = times
    assert second - first >= 1.0 - 0.05


async def test_retry_after_as_an_http_date_is_waited_out_before_the_retry() -> None:
    error, times = await _ask_once_rate_limited(_http_date(3))
    assert error is None
    first, second = times
    # The date has whole-second precision: at least 2 s of the 3 remain when it is sent.
    assert second - first >= 2.0 - 0.05


@pytest.mark.parametrize("value", ["soon-ish", "-5", ""], ids=["garbage", "negative", "empty"])
async def test_unusable_retry_after_falls_back_to_backoff_and_is_retried(value: str) -> None:
    error, times = await _ask_once_rate_limited(value)
    assert error is None
    assert len(times) == 2


# --------------------------------------------------------------------------- budget & deadline


async def test_an_empty_retry_budget_makes_calls_fail_fast() -> None:
    async with (
        StubServer(answer(503, envelope(503, "down"))) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True) as client,
    ):
        for _ in range(60):
            with pytest.raises(ServerError):
                await client.events.list()
    # 500 tokens at 5 per retry: 50 calls get their 2 retries, the next 10 get none.
    assert len(stub.seen) == 50 * 3 + 10


async def _stall(request: web.Request) -> web.StreamResponse:
    del request
    await anyio.sleep(30)
    return web.Response(body=EMPTY_PAGE, content_type="application/json")


async def test_the_deadline_cuts_an_attempt_short_whatever_the_attempt_timeout() -> None:
    # The attempt timeout shrinks to the time left, so aiohttp's timer and the deadline
    # race: either error may win (DeadlineExceededError is an APITimeoutError).
    async with (
        StubServer(_stall) as stub,
        AsyncLensmor(KEY, base_url=stub.url, testing=True, timeout=30.0, deadline=0.3) as client,
    ):
        with anyio.fail_after(10), pytest.raises(APITimeoutError):
            await client.events.list()
    assert len(stub.seen) == 1


async def test_a_backoff_sleep_that_would_cross_the_deadline_fails_now() -> None:
    # Backoff of up to 60 s per retry, deadline 0.5 s: the call must end at the first
    # sleep that would cross it instead of sleeping through.
    policy = RetryPolicy(max_attempts=10, backoff_base=60.0, backoff_cap=60.0)
    async with (
        StubServer(answer(503, envelope(503, "down"))) as stub,
        AsyncLensmor(KEY, base_url=stub.url, retry=policy, deadline=0.5) as client,
    ):
        with anyio.fail_after(10), pytest.raises(ServerError):
            await client.events.list()
    assert 1 <= len(stub.seen) < 10


async def test_the_deadline_covers_waiting_for_a_connection_slot(fake: FakeLensmor) -> None:
    fake.inject(FaultKind.COMMIT_THEN_TIMEOUT, route=LIST_ROUTE)
    async with _client(fake, max_concurrency=1, timeout=30.0) as client:
        hurried = client.with_options(deadline=0.3)
        async with anyio.create_task_group() as tg:
            tg.start_soon(client.events.list)
            with anyio.fail_after(10):
                while fake.request_count(LIST_ROUTE) == 0:  # noqa: ASYNC110 - server-side state
                    await anyio.sleep(0.005)
            with pytest.raises(DeadlineExceededError):
                await hurried.events.get("101")
            tg.cancel_scope.cancel()
    assert fake.request_count("/external/events/{id}") == 0


# --------------------------------------------------------------------------- testing mode


@pytest.mark.parametrize("testing", [True, False], ids=["testing", "normal"])
async def test_testing_mode_retries_without_backoff_sleeps(
    fake: FakeLensmor, monkeypatch: pytest.MonkeyPatch, testing: bool
) -> None:
    slept: list[float] = []
    real_sleep = anyio.sleep

    async def spy(delay: float) -> None:
        slept.append(delay)
        await real_sleep(min(delay, 0.01))

    monkeypatch.setattr(anyio, "sleep", spy)
    fake.inject(FaultKind.HTTP_503_BEFORE, count=2, route=LIST_ROUTE)
    async with _client(fake, testing=testing) as client:
        await client.events.list()
    assert fake.request_count(LIST_ROUTE) == 3
    if testing:
        assert [d for d in slept if d > 0] == []
    else:
        assert len([d for d in slept if d > 0]) >= 1


# --------------------------------------------------------------------------- task polling


async def test_failed_polls_within_the_deadline_do_not_end_the_wait(
    fake: FakeLensmor,
) -> None:
    fake.inject(
        FaultKind.HTTP_503_BEFORE, count=3, route="/external/contacts/unlock-tasks/{taskId}"
    )
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard=guard) as client:
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700004"])
        report = await handle.wait(deadline=10)
    assert report.complete
    assert guard.reserved == 0
    assert guard.spent == fake.truth.net()


async def test_a_404_on_polling_an_existing_task_does_not_end_the_wait(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.TASK_404, route="/external/contacts/unlock-tasks/{taskId}")
    guard = CreditGuard(always_confirm)
    async with _client(fake, guard=guard) as client:
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700004"])
        report = await handle.wait(deadline=10)
    assert report.complete
    assert guard.reserved == 0
