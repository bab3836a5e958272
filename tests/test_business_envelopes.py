"""HTTP-200 business envelopes (0.24+/0.27) against FakeLensmor: typed, never resent when paid."""

from __future__ import annotations

import anyio
import pytest
from guard_helpers import assert_books_match, connect

from lensmor_async import (
    AsyncLensmor,
    BadRequestError,
    ConcurrencyLimitError,
    FeatureNotAvailableError,
    RateLimitError,
)
from lensmor_async.guard import CreditGuard, SpendOutcome, always_confirm
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

SEARCH_EVENTS = "/external/exhibitors/search-events"


def test_business_refusals_are_not_input_or_rate_limit_errors() -> None:
    assert not issubclass(FeatureNotAvailableError, BadRequestError)
    assert not issubclass(ConcurrencyLimitError, RateLimitError | BadRequestError)


async def test_paid_search_over_the_concurrency_limit_is_typed_released_and_not_resent() -> None:
    async with FakeLensmor(concurrency_limit=1, limited_route_seconds=0.3) as fake:
        guard = CreditGuard(always_confirm)
        errors: list[BaseException] = []

        async def search(client: AsyncLensmor, name: str) -> None:
            try:
                await client.exhibitors.search_events(name)
            except ConcurrencyLimitError as exc:
                errors.append(exc)

        async with connect(fake, guard) as client, anyio.create_task_group() as group:
            group.start_soon(search, client, "Acme Analytics")
            await anyio.sleep(0.1)  # the first holds the server's only slot
            group.start_soon(search, client, "Globex")
    (error,) = errors
    assert (error.status, error.error_key) == (429, "USER_CONCURRENCY_LIMIT_EXCEEDED")
    assert fake.request_count(SEARCH_EVENTS) == 2  # the refused one was not re-sent
    assert fake.max_in_flight[SEARCH_EVENTS] == 1
    assert [r.outcome for r in guard.history].count(SpendOutcome.FAILED_NO_CHARGE) == 1
    assert_books_match(guard, fake)


async def test_concurrency_envelope_is_answered_with_http_200_by_the_fake() -> None:
    guard = CreditGuard(always_confirm)
    async with FakeLensmor(concurrency_limit=0) as fake, connect(fake, guard) as client:
        with pytest.raises(ConcurrencyLimitError):
            await client.exhibitors.search_events("Acme Analytics")
    (recorded,) = fake.requests_for(SEARCH_EVENTS)
    assert recorded.status == 200
    assert len(fake.truth) == 0


async def test_fifty_concurrent_paid_searches_queue_at_the_routes_limit_instead_of_failing() -> (
    None
):
    async with FakeLensmor(limited_route_seconds=0.02) as fake:
        guard = CreditGuard(always_confirm)
        async with connect(fake, guard) as client, anyio.create_task_group() as group:
            for n in range(50):
                group.start_soon(client.exhibitors.search_events, f"Company {n}")
    assert fake.request_count(SEARCH_EVENTS) == 50
    assert fake.max_in_flight[SEARCH_EVENTS] == 10
    assert all(r.status == 201 for r in fake.requests_for(SEARCH_EVENTS))
    assert_books_match(guard, fake)
