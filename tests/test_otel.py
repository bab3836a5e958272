"""The ``[otel]`` extra: spans and metrics checked with the OpenTelemetry SDK's in-memory
exporters. A span per HTTP attempt with HTTP semantic-convention attributes and the route
template; request duration, credits spent by operation, credits held and in-doubt intents;
no key and no real id in any attribute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import attrs
import pytest
from chaos_support import secret_fragments
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from lensmor_async import (
    AsyncLensmor,
    CreditGuard,
    NotFoundError,
    SpendEvent,
    SpendEventKind,
    always_confirm,
)
from lensmor_async.otel import OpenTelemetryHook
from lensmor_async.testing import FakeLensmor, FaultKind

pytestmark = pytest.mark.anyio
SCOPE = "lensmor_async"  # the instrumentation scope of the SDK's tracer and meter


@attrs.frozen
class Telemetry:
    hook: OpenTelemetryHook
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader

    def finished(self) -> tuple[ReadableSpan, ...]:
        return tuple(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            if scope.scope.name == SCOPE
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]

    def total(self, name: str, **attributes: object) -> float:
        return sum(
            p.value for p in self.points(name) if attributes.items() <= dict(p.attributes).items()
        )


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider=tracer_provider, meter_provider=meter_provider)
    yield Telemetry(hook, spans, reader)
    tracer_provider.shutdown()
    meter_provider.shutdown()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(task_step_seconds=0.01) as server:
        yield server


def _client(fake: FakeLensmor, telemetry: Telemetry) -> AsyncLensmor:
    return AsyncLensmor(
        fake.api_key,
        base_url=fake.url,
        guard=CreditGuard(always_confirm),
        testing=True,
        hooks=[telemetry.hook],
    )


async def test_each_attempt_is_a_client_span_named_by_method_and_route_template(
    fake: FakeLensmor, telemetry: Telemetry
) -> None:
    fake.inject(FaultKind.HTTP_503_BEFORE, route="/external/events/{id}")
    async with _client(fake, telemetry) as client:
        await client.events.get("101")
    first, second = telemetry.finished()
    assert first.name == second.name == "GET /external/events/{id}"
    assert first.kind is SpanKind.CLIENT
    assert dict(first.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": "/external/events/{id}",
        "server.address": "127.0.0.1",
        "server.port": int(fake.url.rsplit(":", 1)[1]),
        "http.response.status_code": 503,
        "error.type": "503",
        "lensmor.operation": "events.get",
        "lensmor.paid": False,
        "lensmor.trace_id": fake.requests[0].trace_id,
    }
    assert first.status.status_code is StatusCode.ERROR
    assert (second.attributes or {})["http.request.resend_count"] == 1
    assert second.status.status_code is StatusCode.UNSET
    assert first.end_time is not None
    assert first.start_time is not None
    assert first.end_time >= first.start_time


async def test_request_durations_are_recorded_per_route_without_trace_ids(
    fake: FakeLensmor, telemetry: Telemetry
) -> None:
    async with _client(fake, telemetry) as client:
        await client.events.get("101")
        with pytest.raises(NotFoundError):
            await client.events.get("987654")
    points = telemetry.points("http.client.request.duration")
    by_status = {dict(p.attributes)["http.response.status_code"]: p.count for p in points}
    assert by_status == {200: 1, 404: 1}
    for point in points:
        assert "lensmor.trace_id" not in point.attributes
        assert point.attributes["url.template"] == "/external/events/{id}"


async def test_a_paid_call_counts_credits_spent_by_operation_and_releases_its_hold(
    fake: FakeLensmor, telemetry: Telemetry
) -> None:
    async with _client(fake, telemetry) as client:
        await client.events.unlock("101")
    assert telemetry.total("lensmor.credits.spent", **{"lensmor.operation": "events.unlock"}) == (
        2000
    )
    assert telemetry.total("lensmor.credits.held") == 0
    assert telemetry.total("lensmor.intents.in_doubt") == 0
    paid = [s for s in telemetry.finished() if (s.attributes or {}).get("lensmor.paid")]
    assert [s.name for s in paid] == ["POST /external/events/{id}/unlock"]


async def test_a_running_unlock_task_holds_credits_until_it_settles(
    fake: FakeLensmor, telemetry: Telemetry
) -> None:
    async with _client(fake, telemetry) as client:
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700001", "700002"])
        held_while_running = telemetry.total("lensmor.credits.held")
        await handle.wait(deadline=10)
    assert held_while_running > 0
    assert telemetry.total("lensmor.credits.held") == 0
    assert telemetry.total("lensmor.credits.spent", **{"lensmor.operation": "contacts.unlock"}) > 0


def test_in_doubt_intents_are_counted_until_reconciled(telemetry: Telemetry) -> None:
    hook = telemetry.hook

    def spend(kind: SpendEventKind, credits: int) -> None:
        hook(SpendEvent(kind, "events.unlock", "intent-1", credits))

    spend(SpendEventKind.CONFIRMED, 2000)
    spend(SpendEventKind.IN_DOUBT, 2000)
    assert telemetry.total("lensmor.intents.in_doubt") == 1
    assert telemetry.total("lensmor.credits.held") == 2000  # an in-doubt intent keeps its hold
    spend(SpendEventKind.SETTLED, 2000)  # reconciled as charged
    assert telemetry.total("lensmor.intents.in_doubt") == 0
    assert telemetry.total("lensmor.credits.held") == 0
    assert telemetry.total("lensmor.credits.spent") == 2000


async def test_no_attribute_carries_the_key_a_real_id_or_a_paid_body(
    fake: FakeLensmor, telemetry: Telemetry
) -> None:
    company = "zebraquantumwidgets"
    async with _client(fake, telemetry) as client:
        await client.events.get("101")
        await client.personnel.profile("700001")
        await client.exhibitors.search_events(company)
        result = await client.events.unlock("102")
        handle = await client.contacts.unlock(event_id="101", personnel_ids=["700004"])
        report = await handle.wait(deadline=10)
    values = [str(v) for s in telemetry.finished() for v in (s.attributes or {}).values()]
    values += [s.name for s in telemetry.finished()]
    for name in ("http.client.request.duration", "lensmor.credits.spent"):
        # Attributes only: a float duration may contain any run of digits.
        values += [str(v) for p in telemetry.points(name) for v in p.attributes.values()]
    text = "\n".join(values)
    for fragment in secret_fragments(fake.api_key):
        assert fragment not in text
    paid_body = [company, "personnel_ids", "creditsUsed", result.event.name or "?"]
    paid_body += [contact.value for contact in report.delivered]
    assert report.delivered
    for real in ("/101", "/102", "700001", "700004", *paid_body):
        assert real not in text, real
