"""OpenTelemetry spans and metrics for lensmor-async (``pip install "lensmor-async[otel]"``).

>>> from lensmor_async.otel import OpenTelemetryHook
"""

from __future__ import annotations

from lensmor_async.otel._telemetry import OpenTelemetryHook

__all__ = ["OpenTelemetryHook"]
