"""Rendering one run: ``RESULTS.md`` for people, an optional JSON file for tools."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs

from benchmarks._bulk import NAIVE_REQUESTS_PER_ACTION
from benchmarks._load import VARIANTS
from benchmarks._results import Results
from benchmarks._targets import Verdict, judge, page_ratio
from benchmarks._throughput import BASELINES, Ratio, ThroughputResult

_MET = {True: "met", False: "**missed**", None: "n/a"}


def _num(value: float | None, fmt: str = ".2f") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, fmt)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


def _targets_section(verdicts: list[Verdict]) -> list[str]:
    rows = [
        [v.target, v.measured, _MET[v.met], "" if v.cpu_met is None else _MET[v.cpu_met]]
        for v in verdicts
    ]
    header = ["target", "measured", "verdict (throughput)", "by CPU efficiency"]
    return [
        "## Targets",
        "",
        "The verdict applies each goal to the median throughput ratio, as the issue defines",
        "it. On a shared machine single rounds swing widely, so the same goal is also applied",
        "to the CPU-efficiency ratio (client CPU per request), the steadier signal.",
        "",
        *_table(header, rows),
    ]


def _ratio_rows(results: Results, cell: Callable[[Ratio], str]) -> list[list[str]]:
    grid = results.throughput
    assert grid is not None
    rows = []
    for endpoint in ("balance", "personnel"):
        for conc in results.mode.concurrencies:
            row = [f"`{_route(endpoint)}`", str(conc)]
            for baseline in BASELINES:
                r = grid.ratio(endpoint, conc, baseline)
                row.append("–" if r is None else cell(r))
            rows.append(row)
    return rows


def _ratio_section(results: Results) -> list[str]:
    if results.throughput is None:
        return []
    header = ["route", "C", *(f"SDK ÷ {b}" for b in BASELINES)]
    speed = _ratio_rows(results, lambda r: f"**{r.median:.2f}×** ({r.low:.2f}–{r.high:.2f})")
    cpu = _ratio_rows(results, lambda r: f"{_num(r.cpu_median)}×")
    return [
        "## Throughput ratios (the result)",
        "",
        "SDK throughput divided by each baseline's, computed inside each round and then",
        "the median over rounds (min–max over rounds in brackets). Above 1 means the SDK",
        "(typed models, CreditGuard attached, default retries) is faster. The aiohttp and",
        "httpx baselines return dicts; *pyreqwest* (a Rust-backed client) builds the SDK's",
        "own typed models from its bytes, as the typed minimum does.",
        "",
        *_skipped_lines(results),
        *_table(header, speed),
        "CPU efficiency in the same windows: the baseline's client CPU time per request",
        "divided by the SDK's (median over rounds). It is far less sensitive to other",
        "processes on the machine than throughput; above 1 means the SDK spends less CPU.",
        "",
        *_table(header, cpu),
    ]


def _skipped_lines(results: Results) -> list[str]:
    lines = [f"- *{name}* not measured: {why}" for name, why in results.skipped.items()]
    return [*lines, ""] if lines else []


def _route(endpoint: str) -> str:
    return "credits.balance()" if endpoint == "balance" else "personnel.list() (20 items)"


def _absolute_section(results: Results) -> list[str]:
    grid = results.throughput
    if grid is None:
        return []
    order = {v: i for i, v in enumerate(VARIANTS)}
    summaries = sorted(grid.summaries, key=lambda s: (s.endpoint, s.concurrency, order[s.variant]))
    rows = [
        [
            s.endpoint,
            str(s.concurrency),
            s.variant,
            _num(s.rps, ",.0f"),
            _num(s.p50_ms),
            _num(s.p99_ms),
            _num(s.cpu_us_per_request, ".0f"),
            _num(None if s.server_cpu is None else s.server_cpu * 100, ".0f"),
            str(s.errors),
        ]
        for s in summaries
    ]
    header = [
        "route",
        "C",
        "client",
        "req/s",
        "p50 ms",
        "p99 ms",
        "client CPU µs/req",
        "server CPU %",
        "errors",
    ]
    return [
        "## Absolute numbers",
        "",
        f"Medians over {results.mode.rounds} rounds of {results.mode.duration:g} s windows "
        f"(after {results.mode.warmup:g} s warm-up each). *client CPU µs/req* is the",
        "client process's CPU time per completed request (kernel time of the loopback",
        "sends included); *server CPU %* shows whether the static server was saturated.",
        "",
        *_table(header, rows),
    ]


def _overhead_section(results: Results) -> list[str]:
    overhead = results.overhead
    if overhead is None:
        return []
    rows = []
    for endpoint, by_client in overhead.items():
        sdk = by_client["sdk"]["best_us"]
        for client, values in by_client.items():
            ratio = "" if client == "sdk" else f"{values['best_us'] / sdk:.2f}×"
            rows.append(
                [
                    endpoint,
                    client,
                    _num(values["best_us"], ".1f"),
                    _num(values["median_us"], ".1f"),
                    ratio,
                ]
            )
    header = ["route", "client", "CPU µs/request (best)", "median", "client ÷ SDK (best)"]
    return [
        "## Client CPU per request without the network",
        "",
        "aiohttp over in-memory connections that answer with the captured bytes (the HTTP",
        "writer and parser still run; the kernel does not), C=16, interleaved rounds. This",
        "is the SDK's own cost next to hand-written aiohttp, free of loopback noise. Other",
        "processes can only add time, so the best round is the estimate; *client ÷ SDK*",
        "above 1 means the SDK is cheaper. *sdk+hook* is the SDK with one do-nothing",
        "observability hook: its ratio is what building and passing events costs (with no",
        "hook, the default, none is built).",
        "",
        *_table(header, rows),
    ]


def _decode_section(results: Results) -> list[str]:
    decode = results.decode
    if decode is None:
        return []
    rows = [
        [name, _num(decode.personnel_us[name], ".1f"), _num(decode.balance_us[name], ".2f")]
        for name in decode.personnel_us
    ]
    header = ["decoder", f"personnel page ({decode.items} items), µs", "balance, µs"]
    return ["## Decode cost", "", *_table(header, rows)]


def _bulk_section(results: Results) -> list[str]:
    if not results.bulk:
        return []
    rows = [
        [
            b.name,
            str(b.actions),
            str(b.paid),
            str(b.refused),
            str(b.requests),
            str(b.prechecks),
            _num(b.requests_per_paid, ".3f"),
            _num(b.prechecks_per_paid, ".2f"),
            _num(b.requests / b.actions if b.actions else None, ".3f"),
            str(NAIVE_REQUESTS_PER_ACTION),
            f"{b.charged:,} / {b.budget:,}",
            str(b.overspend),
            str(b.duplicates),
        ]
        for b in results.bulk
    ]
    header = [
        "mix",
        "actions",
        "paid",
        "refused",
        "requests",
        "prechecks",
        "requests/paid (excl. prechecks)",
        "prechecks/paid",
        "requests/action",
        "naive requests/action",
        "charged / budget",
        "overspend",
        "double charges",
    ]
    routes = [
        f"- {b.name}: " + ", ".join(f"`{k}` {v}" for k, v in sorted(b.by_route.items()))
        for b in results.bulk
    ]
    return [
        "## Requests per paid action (guarded bulk run, FakeLensmor truth ledger)",
        "",
        *_table(header, rows),
        "Requests by route:",
        "",
        *routes,
        "",
    ]


def _memory_section(results: Results) -> list[str]:
    lines = []
    if results.stream is not None:
        s = results.stream
        lines += [
            f"- `personnel.iterate()` streamed **{int(s['records']):,}** records "
            f"(pages of 50): RSS {s['baseline_mib']:.1f} → peak {s['peak_mib']:.1f} MiB, "
            f"growth **{s['growth_mib']:.1f} MiB**.",
        ]
    for run in results.load_memory:
        lines.append(
            f"- {run['requests']:,} `personnel.list()` requests at C={run['concurrency']} with "
            f"{run['variant']}: peak RSS **{run['peak_mib']:.1f} MiB** "
            f"(growth {run['growth_mib']:.1f} MiB after warm-up; errors {run['errors']})."
        )
    return ["## Memory", "", *lines, ""] if lines else []


def _imports_section(results: Results) -> list[str]:
    imports = results.imports
    if imports is None:
        return []
    rows = [[name, _num(ms, ".1f")] for name, ms in imports.median_ms.items()]
    return [
        "## Import time",
        "",
        f"Fresh interpreter per sample, {results.mode.import_rounds} interleaved rounds, median.",
        "",
        *_table(["import", "ms"], rows),
        f"Ratio: **{imports.ratio:.2f}×**.",
        "",
    ]


def _coldstart_section(results: Results) -> list[str]:
    cold = results.coldstart
    if cold is None:
        return []
    rows = [[f"in-process: {name}", _num(ms, ".0f")] for name, ms in cold.median_ms.items()]
    rows += [[f"whole process: {name}", _num(ms, ".0f")] for name, ms in cold.wall_ms.items()]
    return [
        "## Cold start",
        "",
        f"Fresh interpreter per sample, {cold.samples} alternating rounds, median ms.",
        "*In-process*: imports + client + first `credits.balance()` (typed) against the",
        "static server, timed inside the process. *Whole process*: the `lensmor balance`",
        "command and the aiohttp + json script timed from outside (interpreter start-up in).",
        "",
        *_table(["what", "ms"], rows),
        f"SDK ÷ aiohttp+json: **{cold.ratio:.2f}×**; `lensmor balance` ÷ the aiohttp+json "
        f"script: **{cold.cli_ratio:.2f}×**.",
        "",
    ]


def _minimum_section(results: Results) -> list[str]:
    grid = results.minimum
    if grid is None:
        return []
    rows = []
    for r in grid.ratios:
        sdk = _summary(grid, "sdk", r.endpoint, r.concurrency)
        floor = _summary(grid, "typed-minimum", r.endpoint, r.concurrency)
        rows.append(
            [
                f"`{_route(r.endpoint)}`",
                str(r.concurrency),
                f"**{r.median:.2f}×** ({r.low:.2f}–{r.high:.2f})",
                f"{_num(r.cpu_median)}×",
                _num(sdk, ",.0f"),
                _num(floor, ",.0f"),
            ]
        )
    header = ["route", "C", "SDK ÷ typed minimum", "CPU efficiency", "SDK req/s", "minimum req/s"]
    return [
        "## Against the typed minimum",
        "",
        "A hand-rolled asyncio.Protocol keep-alive client + orjson + the SDK's own models",
        "(benchmarks/_minimum.py): the least code that yields the same typed results. Same",
        "interleaved grid and static server as the throughput ratios.",
        "",
        *_table(header, rows),
    ]


def _summary(grid: ThroughputResult, variant: str, endpoint: str, conc: int) -> float | None:
    for s in grid.summaries:
        if (s.variant, s.endpoint, s.concurrency) == (variant, endpoint, conc):
            return float(s.rps)
    return None


def _pages_section(results: Results) -> list[str]:
    pages = results.pages
    if pages is None:
        return []
    rows = [
        [
            size,
            *(_num(by_client[c]["best_us"], ".0f") for c in by_client),
            f"**{page_ratio(by_client, 'aiohttp+orjson'):.2f}×**",
            f"{page_ratio(by_client, 'aiohttp+json'):.2f}×",
        ]
        for size, by_client in pages.items()
    ]
    clients = list(next(iter(pages.values())))
    header = [
        "items",
        *(f"{c} CPU µs/req" for c in clients),
        "aiohttp+orjson ÷ SDK",
        "aiohttp+json ÷ SDK",
    ]
    return [
        "## Page size growth",
        "",
        "Client CPU per request (best round) for personnel pages of 1–500 items over",
        "in-memory connections, C=16, interleaved (benchmarks/_pages.py). Above 1× the SDK,",
        "typed models included, spends less CPU than raw aiohttp returning dicts.",
        "",
        *_table(header, rows),
    ]


def _goodput_section(results: Results) -> list[str]:
    goodput = results.goodput
    if goodput is None:
        return []
    s = goodput.settings
    rows = [
        [
            run.policy,
            run.variant,
            str(run.round + 1),
            f"**{run.ratio:.2f}×**",
            f"{run.refused} ({run.refused / max(run.calls, 1):.1%})",
            str(run.early),
            str(run.errors),
            " ".join(map(str, run.arrivals_per_second)),
            " ".join(map(str, run.refused_per_second)) or "–",
        ]
        for run in sorted(goodput.runs, key=lambda r: (r.policy, r.variant, r.round))
    ]
    header = ["limit", "client", "round", "time ÷ ideal", "429s", "early", "errors"]
    header += ["arrivals/s", "429s/s"]
    return [
        "## Goodput at a rate limit",
        "",
        f"{s.calls:,} `credits.balance()` calls from {s.callers} callers per process against a",
        f"loopback server allowing {s.limit} requests per {s.window:g} s (ideal "
        f"{s.ideal:.1f} s). *early*: requests that arrived before a `Retry-After` the server",
        "had given had passed; *arrivals/s* and *429s/s*: requests the server saw and",
        "refused in each second from the first.",
        "",
        *_table(header, rows),
    ]


def render_markdown(results: Results) -> str:
    """The whole ``RESULTS.md``."""
    load = ", ".join(f"{x:.2f}" for x in results.load_before)
    load_after = ", ".join(f"{x:.2f}" for x in results.load_after)
    machine = [[k, f"`{v}`" if k != "cpu" else v] for k, v in results.machine.items()]
    lines = [
        "# lensmor-async benchmark results",
        "",
        f"Command: `{results.command}` — mode **{results.mode.name}**, started "
        f"{results.started}, took {results.elapsed:.0f} s.",
        "",
        f"Load average before the run: {load}; after: {load_after} (other processes on the",
        "machine add noise to absolute numbers; ratios are measured moments apart).",
        "",
        *_table(["machine", ""], machine),
        *_targets_section(judge(results)),
        *_ratio_section(results),
        *_absolute_section(results),
        *_overhead_section(results),
        *_decode_section(results),
        *_bulk_section(results),
        *_memory_section(results),
        *_imports_section(results),
        *_coldstart_section(results),
        *_minimum_section(results),
        *_pages_section(results),
        *_goodput_section(results),
    ]
    return "\n".join(lines).rstrip() + "\n"


def to_json(results: Results) -> dict[str, Any]:
    """A machine-readable copy of the run (ratios, summaries, targets, every section)."""
    grid = results.throughput
    return {
        "mode": results.mode.name,
        "command": results.command,
        "machine": results.machine,
        "elapsed_seconds": results.elapsed,
        "ratios": [attrs.asdict(r) for r in grid.ratios] if grid else [],
        "throughput": [attrs.asdict(s) for s in grid.summaries] if grid else [],
        "decode": attrs.asdict(results.decode) if results.decode else None,
        "bulk": [
            {
                **attrs.asdict(b),
                "requests_per_paid": b.requests_per_paid,
                "prechecks_per_paid": b.prechecks_per_paid,
                "overspend": b.overspend,
            }
            for b in results.bulk
        ],
        "memory": {"stream": results.stream, "load": results.load_memory},
        "overhead": results.overhead,
        "imports": (
            {"median_ms": results.imports.median_ms, "ratio": results.imports.ratio}
            if results.imports
            else None
        ),
        "coldstart": (
            {**attrs.asdict(results.coldstart), "ratio": results.coldstart.ratio}
            if results.coldstart
            else None
        ),
        "minimum": (
            {
                "ratios": [attrs.asdict(r) for r in results.minimum.ratios],
                "throughput": [attrs.asdict(s) for s in results.minimum.summaries],
            }
            if results.minimum
            else None
        ),
        "pages": results.pages,
        "goodput": (
            [{**attrs.asdict(r), "ratio": r.ratio} for r in results.goodput.runs]
            if results.goodput
            else None
        ),
        "targets": [attrs.asdict(v) for v in judge(results)],
        "skipped": results.skipped,
    }
