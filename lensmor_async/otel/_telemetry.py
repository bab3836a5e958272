"""OpenTelemetry for lensmor-async: a hook that turns events into spans and metrics.

Needs only ``opentelemetry-api`` (the ``lensmor-async[otel]`` extra); the application
brings the SDK and exporters. The standard aiohttp instrumentation cannot see the
default transport (it does not use ``ClientSession``), so the spans come from the
pipeline's own request events. Attributes follow the HTTP client semantic conventions,
with the route *template* (``url.template``), never ``url.full``: no real id, no query,
no key and no body of a paid call ever reaches a span or a metric.
"""

from __future__ import annotations

import time
from collections import Counter

from opentelemetry import metrics, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from lensmor_async import RequestEvent, SpendEvent, SpendEventKind, __version__

SCOPE = "lensmor_async"
"""The instrumentation scope name of every tracer and meter here."""
_NS = 1_000_000_000


class OpenTelemetryHook:
    """A hook (``AsyncLensmor(hooks=[OpenTelemetryHook()])``) that records spans and metrics.

    * a CLIENT span per HTTP attempt, named ``{method} {url.template}``, ended when the
      attempt ended and started ``duration`` before;
    * ``http.client.request.duration`` (histogram, seconds) per attempt;
    * ``lensmor.credits.spent`` (counter) by ``lensmor.operation``, from settled spends;
    * ``lensmor.credits.held`` (up-down counter): credits held for confirmed paid calls
      until they settle (in-doubt intents keep theirs);
    * ``lensmor.intents.in_doubt`` (up-down counter): intents in doubt, until reconciled.

    ``tracer_provider`` / ``meter_provider`` default to the global ones.
    """

    def __init__(
        self,
        *,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self._tracer = trace.get_tracer(SCOPE, __version__, tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider)
        self._duration = meter.create_histogram(
            "http.client.request.duration", unit="s", description="Duration of HTTP attempts."
        )
        self._spent = meter.create_counter(
            "lensmor.credits.spent", unit="{credit}", description="Credits spent, as settled."
        )
        self._held = meter.create_up_down_counter(
            "lensmor.credits.held", unit="{credit}", description="Credits held by paid calls."
        )
        self._in_doubt = meter.create_up_down_counter(
            "lensmor.intents.in_doubt", unit="{intent}", description="Paid intents in doubt."
        )
        self._holds: dict[str, list[int]] = {}
        self._doubts: Counter[str] = Counter()

    def __call__(self, event: RequestEvent | SpendEvent, /) -> None:
        if isinstance(event, RequestEvent):
            self._request(event)
        else:
            self._spend(event)

    # -- requests ----------------------------------------------------------------------

    def _request(self, event: RequestEvent) -> None:
        attributes = request_attributes(event)
        self._duration.record(event.duration, _metric_attributes(attributes))
        end = time.time_ns()
        span = self._tracer.start_span(
            f"{event.method} {event.route}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            start_time=end - int(event.duration * _NS),
        )
        if event.error is not None:
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=end)

    # -- spending ----------------------------------------------------------------------

    def _spend(self, event: SpendEvent) -> None:
        attributes: dict[str, AttributeValue] = {"lensmor.operation": event.operation}
        key = event.intent_key
        if event.kind is SpendEventKind.CONFIRMED and event.credits:
            self._holds.setdefault(key, []).append(event.credits)
            self._held.add(event.credits, attributes)
        elif event.kind is SpendEventKind.IN_DOUBT:
            self._doubts[key] += 1
            self._in_doubt.add(1, attributes)
        elif event.kind is SpendEventKind.SETTLED:
            self._settled(event, attributes)

    def _settled(self, event: SpendEvent, attributes: dict[str, AttributeValue]) -> None:
        key = event.intent_key
        if event.credits:
            self._spent.add(event.credits, attributes)
        holds = self._holds.get(key)
        if holds:
            self._held.add(-holds.pop(), attributes)
            if not holds:
                del self._holds[key]
        if self._doubts[key] > 0:
            self._doubts[key] -= 1
            self._in_doubt.add(-1, attributes)
        if not self._doubts[key]:
            del self._doubts[key]


def request_attributes(event: RequestEvent) -> dict[str, AttributeValue]:
    """The span attributes of one attempt (HTTP semantic conventions plus ``lensmor.*``)."""
    attributes: dict[str, AttributeValue] = {
        "http.request.method": event.method,
        "url.template": event.route,
        "server.address": event.host,
        "server.port": event.port,
        "lensmor.operation": event.operation,
        "lensmor.paid": event.paid,
    }
    if event.status is not None:
        attributes["http.response.status_code"] = event.status
    if event.attempt > 1:
        attributes["http.request.resend_count"] = event.attempt - 1
    if event.error is not None:
        attributes["error.type"] = event.error
    if event.trace_id is not None:
        attributes["lensmor.trace_id"] = event.trace_id
    return attributes


_METRIC_KEYS = (
    "http.request.method",
    "url.template",
    "server.address",
    "server.port",
    "http.response.status_code",
    "error.type",
)


def _metric_attributes(attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
    """Low-cardinality attributes only: no trace id, no attempt number on a metric."""
    return {k: attributes[k] for k in _METRIC_KEYS if k in attributes}
