"""What one run measured (every section optional), and the settings it ran with."""

from __future__ import annotations

from typing import Any

import attrs

from benchmarks._bulk import BulkResult
from benchmarks._decode import DecodeResult
from benchmarks._imports import ImportResult
from benchmarks._throughput import ThroughputResult

SECTIONS = ("throughput", "decode", "bulk", "memory", "imports")


@attrs.frozen
class Mode:
    """How big each measurement is; ``full`` is the documented run."""

    name: str
    rounds: int
    warmup: float
    duration: float
    concurrencies: tuple[int, ...]
    decode_rounds: int
    decode_number: int
    bulk_actions: int
    bulk_events: int
    bulk_affordable_events: int
    stream_records: int
    load_requests: int
    load_concurrency: int
    import_rounds: int


MODES = {
    "full": Mode(
        "full", 5, 0.25, 1.0, (1, 16, 128), 7, 1000, 1000, 150, 100, 100_000, 10_000, 128, 9
    ),
    "quick": Mode(
        "quick", 2, 0.15, 0.4, (1, 16, 128), 3, 300, 1000, 150, 100, 20_000, 10_000, 128, 3
    ),
    "smoke": Mode("smoke", 1, 0.05, 0.1, (1, 16, 128), 1, 20, 40, 12, 8, 500, 300, 16, 1),
}


@attrs.define
class Results:
    """Everything one run measured; sections that were skipped stay None/empty."""

    mode: Mode
    command: str
    machine: dict[str, str]
    started: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    elapsed: float = 0.0
    throughput: ThroughputResult | None = None
    decode: DecodeResult | None = None
    bulk: list[BulkResult] = attrs.Factory(list)
    stream: dict[str, Any] | None = None
    load_memory: list[dict[str, Any]] = attrs.Factory(list)
    imports: ImportResult | None = None
