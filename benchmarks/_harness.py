"""The orchestration behind ``python -m benchmarks`` (see ``run.py`` for the CLI)."""

from __future__ import annotations

import asyncio
import datetime
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks._bulk import run_event_unlocks, run_searches
from benchmarks._coldstart import measure_cold_start
from benchmarks._decode import measure_decode
from benchmarks._goodput import measure_goodput
from benchmarks._imports import measure_imports
from benchmarks._load import ENDPOINTS, VARIANTS, available_variants
from benchmarks._payloads import Payloads, capture
from benchmarks._results import Mode, Results
from benchmarks._system import CLIENT_CPU, child, machine_info, pin, run_child
from benchmarks._throughput import BASELINES, ThroughputResult, measure_grid

STATIC_SERVER_SECTIONS = frozenset(
    {"throughput", "overhead", "memory", "coldstart", "minimum", "pages"}
)


def progress(message: str) -> None:
    print(f"[benchmarks] {message}", file=sys.stderr, flush=True)


def _loadavg() -> tuple[float, float, float]:
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def _static_server_sections(
    results: Results, payloads: Payloads, sections: Sequence[str], workdir: Path
) -> None:
    mode = results.mode
    path = workdir / "payloads.json"
    payloads.save(path)
    with child("benchmarks._server", [str(path)]) as server:
        ready = json.loads(server.ready)
        base_url = f"http://127.0.0.1:{ready['port']}"
        results.machine["server pinned to CPU 1"] = "yes" if ready["pinned"] else "no"
        if "throughput" in sections:
            _throughput_section(results, base_url, payloads.api_key, server.pid)
        if "overhead" in sections:
            progress(
                f"client CPU per request over in-memory connections: {mode.overhead_rounds} rounds"
            )
            line = run_child(
                "benchmarks._inmemory",
                [
                    str(path),
                    "--rounds",
                    str(mode.overhead_rounds),
                    "--requests",
                    str(mode.overhead_requests),
                ],
                timeout=300,
            )
            results.overhead = json.loads(line)
        if "memory" in sections:
            for variant in ("sdk", "aiohttp+json"):
                progress(f"peak RSS of {mode.load_requests} requests with {variant}")
                line = run_child(
                    "benchmarks._memory",
                    [
                        "load",
                        "--variant",
                        variant,
                        "--url",
                        base_url,
                        "--api-key",
                        payloads.api_key,
                        "--requests",
                        str(mode.load_requests),
                        "--concurrency",
                        str(mode.load_concurrency),
                    ],
                    timeout=300,
                )
                results.load_memory.append(json.loads(line))
        _reference_sections(results, sections, base_url, payloads, path, server.pid)


def _throughput_section(results: Results, base_url: str, api_key: str, server_pid: int) -> None:
    """Every client in interleaved rounds; a client this environment lacks is left out."""
    mode = results.mode
    variants, skipped = available_variants(VARIANTS)
    for name, why in skipped.items():
        progress(f"{name} left out of the throughput grid: {why}")
    results.skipped.update(skipped)
    cells = len(variants) * len(ENDPOINTS) * len(mode.concurrencies)
    progress(f"throughput grid: {mode.rounds} rounds × {cells} cells")
    baselines = tuple(b for b in BASELINES if b in variants)
    server = (base_url, api_key, server_pid)
    results.throughput = _grid(mode, mode.rounds, variants, baselines, *server)


def _grid(
    mode: Mode,
    rounds: int,
    variants: Sequence[str],
    baselines: Sequence[str],
    base_url: str,
    api_key: str,
    server_pid: int,
) -> ThroughputResult:
    """One interleaved grid of ``variants`` against the static server, in this mode's sizes."""
    return asyncio.run(
        measure_grid(
            base_url=base_url,
            api_key=api_key,
            server_pid=server_pid,
            rounds=rounds,
            concurrencies=mode.concurrencies,
            warmup=mode.warmup,
            duration=mode.duration,
            progress=progress,
            variants=variants,
            baselines=baselines,
        )
    )


def _reference_sections(
    results: Results,
    sections: Sequence[str],
    base_url: str,
    payloads: Payloads,
    path: Path,
    server_pid: int,
) -> None:
    """Issue 17's harder references: cold start, the typed minimum, page size growth."""
    mode = results.mode
    if "coldstart" in sections:
        progress(f"cold start in fresh processes: {mode.coldstart_rounds} rounds")
        results.coldstart = measure_cold_start(base_url, payloads.api_key, mode.coldstart_rounds)
    if "minimum" in sections:
        progress(f"SDK against the typed minimum: {mode.minimum_rounds} rounds × 12 cells")
        variants, baselines = ("sdk", "typed-minimum"), ("typed-minimum",)
        server = (base_url, payloads.api_key, server_pid)
        results.minimum = _grid(mode, mode.minimum_rounds, variants, baselines, *server)
    if "pages" in sections:
        progress(f"page size growth over in-memory connections: {mode.pages_rounds} rounds")
        args = [str(path), "--rounds", str(mode.pages_rounds)]
        line = run_child(
            "benchmarks._pages", [*args, "--requests", str(mode.pages_requests)], timeout=600
        )
        results.pages = json.loads(line)


def _stream_section(results: Results) -> None:
    records = results.mode.stream_records
    progress(f"streaming {records} records through personnel.iterate()")
    with child("benchmarks._fake_server", ["--personnel", str(records)]) as fake:
        info = json.loads(fake.ready)
        line = run_child(
            "benchmarks._memory",
            [
                "stream",
                "--url",
                info["url"],
                "--api-key",
                info["api_key"],
                "--event-id",
                info["event_id"],
                "--records",
                str(records),
            ],
            timeout=600,
        )
    results.stream = json.loads(line)


def _bulk_section(results: Results) -> None:
    mode = results.mode
    progress(f"guarded bulk runs: {mode.bulk_actions} actions each")
    results.bulk.append(asyncio.run(run_searches(mode.bulk_actions)))
    results.bulk.append(
        asyncio.run(
            run_event_unlocks(
                mode.bulk_actions,
                events=mode.bulk_events,
                affordable=mode.bulk_affordable_events,
            )
        )
    )


def run(mode: Mode, sections: Sequence[str], command: str) -> Results:
    """Measure every requested section and return the results (nothing is written here)."""
    started = time.perf_counter()
    machine = machine_info()
    machine["client pinned to CPU 0"] = "yes" if pin(CLIENT_CPU) else "no"
    results = Results(
        mode=mode,
        command=command,
        machine=machine,
        started=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_before=_loadavg(),
    )
    payloads = asyncio.run(capture())
    with tempfile.TemporaryDirectory(prefix="lensmor-bench-") as workdir:
        if STATIC_SERVER_SECTIONS & set(sections):
            _static_server_sections(results, payloads, sections, Path(workdir))
        if "goodput" in sections:
            path = Path(workdir) / "payloads.json"
            payloads.save(path)
            results.goodput = measure_goodput(path, payloads.api_key, mode.goodput, progress)
    if "decode" in sections:
        progress("decode cost")
        results.decode = measure_decode(
            payloads, rounds=mode.decode_rounds, number=mode.decode_number
        )
    if "bulk" in sections:
        _bulk_section(results)
    if "memory" in sections:
        _stream_section(results)
    if "imports" in sections:
        progress(f"import time: {mode.import_rounds} rounds")
        results.imports = measure_imports(mode.import_rounds)
    results.load_after = _loadavg()
    results.elapsed = time.perf_counter() - started
    return results
