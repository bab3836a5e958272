"""Observability hooks: exactly the documented events, in order, for each kind of call.

A request event per HTTP attempt (route template, never an id); a spend event per step
of a paid call (quoted, confirmed, settled; declined; in doubt). A failing hook never
fails the call, and a client without hooks builds no events at all.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest
from chaos_support import secret_fragments

from lensmor_async import (
    APIConnectionError,
    AsyncLensmor,
    CreditGuard,
    NotFoundError,
    RequestEvent,
    SpendDeclinedError,
    SpendEvent,
    SpendEventKind,
    SpendInDoubtError,
    always_confirm,
)
from lensmor_async.guard import SpendOutcome
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio
Event = RequestEvent | SpendEvent


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(task_step_seconds=0.01) as server:
        yield server


def _client(
    fake: FakeLensmor, events: list[Event], guard: CreditGuard | None = None
) -> AsyncLensmor:
    return AsyncLensmor(
        fake.api_key,
        base_url=fake.url,
        guard=guard or CreditGuard(always_confirm),
        testing=True,
        hooks=[events.append],
    )


def _shape(event: Event) -> tuple[object, ...]:
    """What the docs promise about an event, without its timings and trace ids."""
    if isinstance(event, RequestEvent):
        return ("request", event.operation, event.route, event.status, event.attempt, event.error)
    return ("spend", event.kind, event.operation, event.credits, event.outcome)


async def test_a_paid_call_reports_its_requests_and_quoted_confirmed_settled(
    fake: FakeLensmor,
) -> None:
    events: list[Event] = []
    async with _client(fake, events) as client:
        await client.events.unlock("101")
    assert [_shape(e) for e in events] == [
        ("request", "actions.precheck", "/external/actions/precheck", 200, 1, None),
        ("spend", SpendEventKind.QUOTED, "events.unlock", 2000, None),
        ("request", "credits.balance", "/external/credits/balance", 200, 1, None),
        ("spend", SpendEventKind.CONFIRMED, "events.unlock", 2000, None),
        ("request", "events.unlock", "/external/events/{id}/unlock", 201, 1, None),
        ("spend", SpendEventKind.SETTLED, "events.unlock", 2000, SpendOutcome.SUCCEEDED),
    ]
    paid, settled = events[4], events[5]
    assert isinstance(paid, RequestEvent)
    assert paid.paid
    assert isinstance(settled, SpendEvent)
    assert settled.trace_id == paid.trace_id == fake.requests[-1].trace_id


async def test_a_retried_read_reports_each_attempt_with_its_number(fake: FakeLensmor) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, route="/external/events/{id}")
    events: list[Event] = []
    async with _client(fake, events) as client:
        await client.events.get("101")
    assert [_shape(e) for e in events] == [
        ("request", "events.get", "/external/events/{id}", 503, 1, "503"),
        ("request", "events.get", "/external/events/{id}", 200, 2, None),
    ]
    assert all(isinstance(e, RequestEvent) and e.duration >= 0 for e in events)


async def test_a_failed_call_reports_its_status_and_never_the_real_id(fake: FakeLensmor) -> None:
    events: list[Event] = []
    async with _client(fake, events) as client:
        with pytest.raises(NotFoundError):
            await client.events.get("987654")
    assert [_shape(e) for e in events] == [
        ("request", "events.get", "/external/events/{id}", 404, 1, "404"),
    ]
    assert "987654" not in repr(events)


async def test_a_connection_failure_reports_no_status_and_the_error_type(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.RESET_BEFORE, count=10, route="/external/events/{id}")
    events: list[Event] = []
    async with _client(fake, events) as client:
        with pytest.raises(APIConnectionError):
            await client.events.get("101")
    assert events
    for attempt, event in enumerate(events, start=1):
        assert isinstance(event, RequestEvent)
        assert (event.status, event.trace_id, event.attempt) == (None, None, attempt)
        assert event.error == "APIConnectionError"


async def test_a_declined_spend_reports_quoted_then_declined_and_sends_nothing(
    fake: FakeLensmor,
) -> None:
    events: list[Event] = []
    async with _client(fake, events, CreditGuard(lambda request: False)) as client:
        with pytest.raises(SpendDeclinedError):
            await client.events.unlock("101")
    spends = [_shape(e) for e in events if isinstance(e, SpendEvent)]
    assert spends == [
        ("spend", SpendEventKind.QUOTED, "events.unlock", 2000, None),
        ("spend", SpendEventKind.DECLINED, "events.unlock", 2000, SpendOutcome.DECLINED),
    ]
    assert not any(isinstance(e, RequestEvent) and e.paid for e in events)


async def test_a_lost_paid_answer_reconciled_as_charged_reports_settled(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_DROP, route="/external/events/{id}/unlock")
    events: list[Event] = []
    async with _client(fake, events) as client:
        with pytest.raises(SpendInDoubtError):
            await client.events.unlock("101")
    lost = [e for e in events if isinstance(e, RequestEvent) and e.paid]
    assert [(e.status, e.error) for e in lost] == [(None, "APIConnectionError")]
    assert _shape(events[-1]) == (
        "spend",
        SpendEventKind.SETTLED,
        "events.unlock",
        2000,
        SpendOutcome.SUCCEEDED,
    )


async def test_a_paid_answer_that_cannot_be_reconciled_reports_in_doubt(
    fake: FakeLensmor,
) -> None:
    fake.inject(FaultKind.COMMIT_THEN_DROP, route="/external/events/{id}/unlock")
    events: list[Event] = []

    def cut_the_line_after_the_lost_answer(event: Event) -> None:
        # Every request after the lost paid answer fails: reconciliation cannot tell.
        events.append(event)
        if isinstance(event, RequestEvent) and event.paid and event.status is None:
            fake.inject(FaultKind.RESET_BEFORE, count=1000)

    async with AsyncLensmor(
        fake.api_key,
        base_url=fake.url,
        guard=CreditGuard(always_confirm),
        testing=True,
        hooks=[cut_the_line_after_the_lost_answer],
    ) as client:
        with pytest.raises(SpendInDoubtError):
            await client.events.unlock("101")
        held = client.guard.in_doubt[-1].estimate
    spends = [_shape(e) for e in events if isinstance(e, SpendEvent)]
    assert spends[-1] == (
        "spend",
        SpendEventKind.IN_DOUBT,
        "events.unlock",
        held,
        SpendOutcome.IN_DOUBT,
    )


async def test_a_failing_hook_is_logged_and_never_fails_the_call(
    fake: FakeLensmor, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("hook bug")

    async with AsyncLensmor(
        fake.api_key,
        base_url=fake.url,
        guard=CreditGuard(always_confirm),
        testing=True,
        hooks=[broken, seen.append],
    ) as client:
        await client.events.unlock("101")
        assert client.guard.history[-1].outcome is SpendOutcome.SUCCEEDED
    assert seen  # the next hook still ran
    assert any("hook" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)


async def test_events_never_carry_the_key(fake: FakeLensmor) -> None:
    events: list[Event] = []
    async with _client(fake, events) as client:
        await client.events.unlock("101")
        await client.personnel.list("101", page_size=5)
    text = repr(events)
    for fragment in secret_fragments(fake.api_key):
        assert fragment not in text


async def test_a_client_without_hooks_builds_no_events(fake: FakeLensmor) -> None:
    async with AsyncLensmor(fake.api_key, base_url=fake.url, testing=True) as client:
        assert client._pipeline.hook is None
        copy = client.with_options(timeout=5)
        assert copy._pipeline.hook is None
