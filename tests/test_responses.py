"""The HTTP answer behind a result: ``result.response`` on every decoded result, and
``client.with_raw_response`` for the raw status, headers and body, free and paid calls."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from lensmor_async import (
    AsyncLensmor,
    ConfigurationError,
    CreditGuard,
    NotFoundError,
    RawResponse,
    always_confirm,
)
from lensmor_async.guard import SpendOutcome
from lensmor_async.models import EventDetail, Page, Person
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client() -> AsyncIterator[tuple[FakeLensmor, AsyncLensmor]]:
    async with (
        FakeLensmor(task_step_seconds=0.01) as fake,
        AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=CreditGuard(always_confirm), testing=True
        ) as lensmor,
    ):
        yield fake, lensmor


async def test_a_raw_response_carries_status_headers_trace_id_body_and_the_parsed_model(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    fake, lensmor = client
    raw = await lensmor.with_raw_response(lensmor.events.get, "101")
    assert isinstance(raw, RawResponse)
    assert raw.status == 200
    assert raw.trace_id == fake.requests[-1].trace_id
    assert raw.headers["x-request-id"] == raw.trace_id  # case-insensitive, as received
    assert orjson.loads(raw.body)["event"]["id"] == "101"
    detail = raw.parse()
    assert isinstance(detail, EventDetail)
    assert detail == await lensmor.events.get("101")


async def test_a_raw_page_parses_to_the_same_page(client: tuple[FakeLensmor, AsyncLensmor]) -> None:
    _, lensmor = client
    raw = await lensmor.with_raw_response(lensmor.personnel.list, "101", page_size=5)
    page = raw.parse()
    assert isinstance(page, Page)
    assert all(isinstance(person, Person) for person in page.items)
    assert page == await lensmor.personnel.list("101", page_size=5)


async def test_a_raw_paid_call_is_guarded_and_settled_like_the_plain_one(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    fake, lensmor = client
    raw = await lensmor.with_raw_response(lensmor.events.unlock, "101")
    assert raw.status == 201
    assert raw.trace_id == lensmor.guard.history[-1].trace_id
    assert lensmor.guard.history[-1].outcome is SpendOutcome.SUCCEEDED
    assert raw.parse().event.id == "101"
    assert fake.request_count("/external/events/{id}/unlock") == 1


async def test_a_raw_call_raises_the_same_typed_error(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    _, lensmor = client
    with pytest.raises(NotFoundError):
        await lensmor.with_raw_response(lensmor.events.get, "987654")


async def test_bad_arguments_fail_before_any_request(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    fake, lensmor = client
    with pytest.raises(ConfigurationError, match="with_raw_response"):
        await lensmor.with_raw_response(lambda: lensmor.events.get("101"))
    assert fake.request_count() == 0


async def test_the_raw_answer_stays_out_of_the_results_repr(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    _, lensmor = client
    raw = await lensmor.with_raw_response(lensmor.credits.balance)
    assert "body" not in repr(raw)
    assert "headers" not in repr(raw)


async def test_a_decoded_result_carries_its_status_headers_and_trace_id(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    fake, lensmor = client
    detail = await lensmor.events.get("101")
    assert detail.response is not None
    assert detail.response.status == 200
    assert detail.response.trace_id == fake.requests[-1].trace_id
    assert detail.response.headers["content-type"].startswith("application/json")


async def test_pages_carry_the_response_and_their_items_do_not(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    fake, lensmor = client
    page = await lensmor.personnel.list("101", page_size=2)
    assert page.response is not None
    assert page.response.trace_id == fake.requests[-1].trace_id
    assert all(person.response is None for person in page.items)


async def test_a_paid_result_carries_the_response_of_its_paid_request(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    _, lensmor = client
    result = await lensmor.events.unlock("101")
    assert result.response is not None
    assert result.response.status == 201
    assert result.response.trace_id == lensmor.guard.history[-1].trace_id


async def test_the_response_takes_no_part_in_equality_repr_or_to_dict(
    client: tuple[FakeLensmor, AsyncLensmor],
) -> None:
    _, lensmor = client
    first, second = await lensmor.events.get("101"), await lensmor.events.get("101")
    assert first.response != second.response  # two answers, two trace ids
    assert first == second
    assert first.to_json() == second.to_json()
    assert "response" not in repr(first)
    assert "response" not in first.to_dict()
    assert EventDetail.from_dict(first.to_dict()).response is None
