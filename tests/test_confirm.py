"""The confirm extension point: ask(), always_confirm and confirm_up_to."""

from __future__ import annotations

from typing import Any

import anyio
import attrs
import pytest

from lensmor_async.guard._confirm import SpendRequest, always_confirm, ask, confirm_up_to

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def request(credits: int | None = 2000) -> SpendRequest:
    return SpendRequest(
        operation="events.unlock",
        description="events.unlock [9]",
        targets=("9",),
        expected_credits=credits,
        current_balance=5000,
        budget_remaining=None,
    )


async def test_ask_passes_the_request_to_a_sync_callback() -> None:
    seen: list[SpendRequest] = []

    def callback(req: SpendRequest, /) -> bool:
        seen.append(req)
        return True

    req = request()
    assert await ask(callback, req) is True
    assert seen == [req]


async def test_ask_awaits_an_async_callback() -> None:
    async def callback(req: SpendRequest, /) -> bool:
        await anyio.lowlevel.checkpoint()
        return req.expected_credits == 2000

    assert await ask(callback, request(2000)) is True
    assert await ask(callback, request(15)) is False


async def test_ask_reports_a_decline() -> None:
    assert await ask(lambda req: False, request()) is False


@pytest.mark.parametrize("answer", [1, "yes", "true", [True], None, object(), 1.0])
async def test_non_bool_sync_answers_count_as_decline(answer: Any) -> None:
    assert await ask(lambda req: answer, request()) is False


@pytest.mark.parametrize("answer", [1, "yes", None])
async def test_non_bool_async_answers_count_as_decline(answer: Any) -> None:
    async def callback(req: SpendRequest, /) -> Any:
        return answer

    assert await ask(callback, request()) is False


async def test_callback_errors_propagate() -> None:
    def callback(req: SpendRequest, /) -> bool:
        raise RuntimeError("prompt crashed")

    with pytest.raises(RuntimeError, match="prompt crashed"):
        await ask(callback, request())


def test_always_confirm_approves_everything() -> None:
    assert always_confirm(request(10**9)) is True
    assert always_confirm(request(None)) is True


@pytest.mark.parametrize(("credits", "approved"), [(0, True), (49, True), (50, True), (51, False)])
def test_confirm_up_to_approves_spends_at_or_under_the_limit(credits: int, approved: bool) -> None:
    assert confirm_up_to(50)(request(credits)) is approved


def test_confirm_up_to_declines_unknown_prices() -> None:
    assert confirm_up_to(10**9)(request(None)) is False


async def test_confirm_up_to_works_through_ask() -> None:
    assert await ask(confirm_up_to(2000), request(2000)) is True
    assert await ask(confirm_up_to(1999), request(2000)) is False


def test_spend_requests_are_frozen_and_default_their_optional_fields() -> None:
    req = request()
    assert req.precheck_reason is None
    assert req.requote is False
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        req.expected_credits = 0  # type: ignore[misc]
