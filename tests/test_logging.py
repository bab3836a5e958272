"""Log hygiene: what the ``lensmor_async`` logger says about requests, and what it never says.

Records are captured at DEBUG. They must name the method, the route *template*
(never ids), the status, the trace id and the attempt; they must never carry
headers, the API key, or the bodies of paid calls; server-supplied text in them
must be truncated and free of control characters.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import pytest
from chaos_support import RawServer, StubServer, answer, envelope, raw_response, secret_fragments

from lensmor_async import AsyncLensmor, CreditGuard, LensmorError, ServerError, always_confirm
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio

LOGGER = "lensmor_async"
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(task_step_seconds=0.01) as server:
        yield server


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    return caplog


def _sdk_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Messages of the SDK's own records (the fake logs under ``lensmor_async.testing``)."""
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(LOGGER) and not r.name.startswith(f"{LOGGER}.testing")
    ]


def _client(fake: FakeLensmor, **options: object) -> AsyncLensmor:
    guard = CreditGuard(always_confirm)
    return AsyncLensmor(
        fake.api_key,
        base_url=fake.url,
        guard=guard,
        testing=True,
        **options,  # type: ignore[arg-type]
    )


async def test_a_response_is_logged_with_method_route_template_status_and_trace_id(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    async with _client(fake) as client:
        await client.events.get("101")
    trace_id = fake.requests[-1].trace_id
    [line] = [m for m in _sdk_lines(logs) if trace_id in m]
    assert "GET" in line
    assert "/external/events/{id}" in line
    assert "200" in line
    assert "/external/events/101" not in line


async def test_every_record_goes_through_the_lensmor_async_logger(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, route="/external/events/list")
    async with _client(fake) as client:
        await client.events.list()
        await client.events.unlock("101")
    names = {r.name for r in logs.records}
    assert names
    assert all(name == LOGGER or name.startswith(f"{LOGGER}.") for name in names), names


async def test_failed_attempts_are_logged_with_their_attempt_number_and_route_template(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, count=2, route="/external/events/{id}")
    async with _client(fake) as client:
        await client.events.get("101")
    failures = [m for m in _sdk_lines(logs) if "failed" in m]
    assert len(failures) == 2
    for number, line in enumerate(failures, start=1):
        assert f"attempt {number}" in line
        assert "GET /external/events/{id}" in line
        assert "ServerError" in line


async def test_every_response_log_line_carries_its_attempt_number(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, route="/external/events/{id}")
    async with _client(fake) as client:
        await client.events.get("101")
    responses = [m for m in _sdk_lines(logs) if "->" in m]
    assert len(responses) == 2
    assert "attempt 1" in responses[0]
    assert "attempt 2" in responses[1]


async def test_paid_call_log_lines_name_the_intent_by_its_key(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    async with _client(fake) as client:
        await client.events.unlock("101")
        key = client.guard.history[-1].intent.key
    assert any(key in m for m in _sdk_lines(logs))


async def test_logs_never_contain_headers_or_the_key(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    fake.inject(FaultKind.RESET_BEFORE, route="/external/events/list")
    async with _client(fake, call_source="agent") as client:
        await client.events.list()
        await client.events.unlock("101")
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700004"])
        await handle.wait(deadline=10)
    text = "\n".join(
        r.getMessage() + repr(r.args) + (r.exc_text or "") for r in logs.records
    ).lower()
    for forbidden in ("authorization", "bearer", "x-call-source", "user-agent", "content-type"):
        assert forbidden not in text
    for fragment in secret_fragments(fake.api_key):
        assert fragment.lower() not in text


async def test_logs_never_contain_bodies_of_paid_calls(
    fake: FakeLensmor, logs: pytest.LogCaptureFixture
) -> None:
    company = "zebraquantumwidgets"
    async with _client(fake) as client:
        await client.exhibitors.search_events(company)
        result = await client.events.unlock("101")
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700004", "700005"])
        report = await handle.wait(deadline=10)
    text = "\n".join(r.getMessage() + repr(r.args) for r in logs.records)
    secrets = [company, "personnel_ids", "creditsUsed", "balanceAfter", result.event.name or "?"]
    secrets += [d.value for d in report.delivered]
    assert report.delivered
    for value in secrets:
        assert value not in text, value


async def test_hostile_server_error_text_never_reaches_the_logs(
    logs: pytest.LogCaptureFixture,
) -> None:
    hostile = "boom\r\nX-Injected: yes\x1b[31m" + "A" * 3000
    async with (
        StubServer(answer(503, envelope(503, hostile))) as stub,
        AsyncLensmor("uak_logging_key_0123456789abcdef", base_url=stub.url, testing=True) as c,
    ):
        with pytest.raises(ServerError):
            await c.events.list()
    for line in _sdk_lines(logs):
        assert "X-Injected" not in line
        assert not CONTROL.search(line), repr(line)


async def test_a_hostile_trace_id_header_is_truncated_and_stripped_in_the_logs(
    logs: pytest.LogCaptureFixture,
) -> None:
    page = b'{"items":[],"total":0,"page":1,"pageSize":20,"totalPages":0,"hasMore":false}'
    raw = raw_response(page, headers=b"X-Request-ID: a\x1b[31mred\x07" + b"Y" * 3000 + b"\r\n")
    async with (
        RawServer(raw) as server,
        AsyncLensmor("uak_logging_key_0123456789abcdef", base_url=server.url) as client,
    ):
        try:
            await client.events.list()
        except LensmorError:
            pytest.fail("the raw server's answer is a valid empty page")
    lines = _sdk_lines(logs)
    assert lines
    for line in lines:
        assert not CONTROL.search(line), repr(line[:80])
        assert len(line) <= 400
