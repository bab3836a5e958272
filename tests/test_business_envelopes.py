"""HTTP-200 business envelopes (0.24+/0.27) against FakeLensmor: typed, never resent when paid."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import orjson
import pytest
from guard_helpers import assert_books_match, connect

from lensmor_async import (
    AsyncLensmor,
    BadRequestError,
    ConcurrencyLimitError,
    FeatureNotAvailableError,
    RateLimitError,
)
from lensmor_async._core.decoding import decode_payload
from lensmor_async.guard import CreditGuard, SpendOutcome, always_confirm
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

SEARCH_EVENTS = "/external/exhibitors/search-events"
SPEC = Path(__file__).resolve().parents[2] / "shared" / "api" / "openapi-0.27.0.json"
TYPED = {
    "USER_HAS_NO_FEATURE": FeatureNotAvailableError,
    "USER_CONCURRENCY_LIMIT_EXCEEDED": ConcurrencyLimitError,
}


def _envelope_examples() -> list[tuple[str, dict[str, object]]]:
    """Every 2xx example in the 0.27 spec that is an error envelope (``errorKey``)."""
    if not SPEC.is_file():
        return []
    found = []
    for path, item in json.loads(SPEC.read_text())["paths"].items():
        for operation in item.values():
            for status, response in operation.get("responses", {}).items():
                media = response.get("content", {}).get("application/json", {})
                for example in media.get("examples", {}).values():
                    value = example.get("value")
                    if status.startswith("2") and isinstance(value, dict) and "errorKey" in value:
                        found.append((path, value))
    return found


@pytest.mark.skipif(not SPEC.is_file(), reason="API spec not found")
def test_every_envelope_example_of_the_spec_decodes_to_its_typed_error() -> None:
    examples = _envelope_examples()
    assert {value["errorKey"] for _, value in examples} == set(TYPED)
    for path, value in examples:
        with pytest.raises(TYPED[str(value["errorKey"])]) as caught:
            decode_payload(200, {}, orjson.dumps(value), now=0.0)
        assert caught.value.status == value["code"], path


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
