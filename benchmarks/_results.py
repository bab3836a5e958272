"""What one run measured (every section optional), and the settings it ran with."""

from __future__ import annotations

from typing import Any

import attrs

from benchmarks._bulk import BulkResult
from benchmarks._coldstart import ColdStartResult
from benchmarks._decode import DecodeResult
from benchmarks._goodput import GoodputResult, GoodputSettings
from benchmarks._imports import ImportResult
from benchmarks._throughput import ThroughputResult

SECTIONS = (
    "throughput",
    "overhead",
    "decode",
    "bulk",
    "memory",
    "imports",
    "coldstart",
    "minimum",
    "pages",
    "goodput",
)


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
    overhead_rounds: int
    overhead_requests: int
    coldstart_rounds: int
    minimum_rounds: int
    pages_rounds: int
    pages_requests: int
    goodput: GoodputSettings


MODES = {
    "full": Mode(
        name="full",
        rounds=12,
        warmup=0.15,
        duration=0.4,
        concurrencies=(1, 16, 128),
        decode_rounds=7,
        decode_number=1000,
        bulk_actions=1000,
        bulk_events=150,
        bulk_affordable_events=100,
        stream_records=100_000,
        load_requests=10_000,
        load_concurrency=128,
        import_rounds=9,
        overhead_rounds=7,
        overhead_requests=3000,
        coldstart_rounds=15,
        minimum_rounds=8,
        pages_rounds=5,
        pages_requests=2000,
        goodput=GoodputSettings(
            limit=200, window=1.0, calls=2000, callers=64, rounds=2, processes=3
        ),
    ),
    "quick": Mode(
        name="quick",
        rounds=2,
        warmup=0.1,
        duration=0.25,
        concurrencies=(1, 16, 128),
        decode_rounds=3,
        decode_number=300,
        bulk_actions=1000,
        bulk_events=150,
        bulk_affordable_events=100,
        stream_records=10_000,
        load_requests=3000,
        load_concurrency=128,
        import_rounds=3,
        overhead_rounds=3,
        overhead_requests=1000,
        coldstart_rounds=5,
        minimum_rounds=3,
        pages_rounds=2,
        pages_requests=600,
        goodput=GoodputSettings(
            limit=200, window=1.0, calls=2000, callers=64, rounds=1, processes=3
        ),
    ),
    "smoke": Mode(
        name="smoke",
        rounds=1,
        warmup=0.05,
        duration=0.1,
        concurrencies=(1, 16, 128),
        decode_rounds=1,
        decode_number=20,
        bulk_actions=40,
        bulk_events=12,
        bulk_affordable_events=8,
        stream_records=500,
        load_requests=300,
        load_concurrency=16,
        import_rounds=1,
        overhead_rounds=1,
        overhead_requests=100,
        coldstart_rounds=1,
        minimum_rounds=1,
        pages_rounds=1,
        pages_requests=60,
        goodput=GoodputSettings(limit=50, window=1.0, calls=100, callers=64, rounds=1, processes=2),
    ),
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
    overhead: dict[str, dict[str, dict[str, float]]] | None = None
    """In-memory client CPU µs per request: endpoint → client → median_us/best_us."""
    coldstart: ColdStartResult | None = None
    minimum: ThroughputResult | None = None
    """The SDK against the typed minimum (``_minimum.py``), same grid as ``throughput``."""
    pages: dict[str, dict[str, dict[str, float]]] | None = None
    """In-memory client CPU µs per request by page size: size → client → median_us/best_us."""
    goodput: GoodputResult | None = None
    skipped: dict[str, str] = attrs.Factory(dict)
    """Clients this environment could not measure (e.g. pyreqwest not installed) → why."""
