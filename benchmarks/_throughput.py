"""The interleaved throughput/latency grid and its ratios.

Each round visits every (route, concurrency) pair and, within it, every client in
an order rotated by the round number, so no client is always first or last. A
ratio is computed inside each round (SDK ÷ baseline measured moments apart) and
the reported ratio is the median over rounds.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence

import attrs

from benchmarks._load import ENDPOINTS, VARIANTS, Cell, measure_cell

BASELINES = ("aiohttp+json", "aiohttp+orjson", "httpx", "pyreqwest")


@attrs.frozen
class Summary:
    """Medians over rounds for one client on one route at one concurrency."""

    variant: str
    endpoint: str
    concurrency: int
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    server_cpu: float | None
    errors: int
    rounds: int


@attrs.frozen
class Ratio:
    """SDK ÷ baseline throughput: median over rounds, with the spread."""

    endpoint: str
    concurrency: int
    baseline: str
    median: float
    low: float
    high: float
    cpu_median: float | None
    """Baseline ÷ SDK client CPU per request (above 1: the SDK spends less CPU)."""


@attrs.frozen
class ThroughputResult:
    cells: tuple[Cell, ...]
    summaries: tuple[Summary, ...]
    ratios: tuple[Ratio, ...]

    def ratio(self, endpoint: str, concurrency: int, baseline: str) -> Ratio | None:
        for r in self.ratios:
            if (r.endpoint, r.concurrency, r.baseline) == (endpoint, concurrency, baseline):
                return r
        return None


def _median_or_nan(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _summarize(cells: Sequence[Cell]) -> Summary:
    first = cells[0]
    cpu = [c.client_cpu * c.seconds / c.completed * 1e6 for c in cells if c.completed]
    server = [c.server_cpu for c in cells if c.server_cpu is not None]
    return Summary(
        variant=first.variant,
        endpoint=first.endpoint,
        concurrency=first.concurrency,
        rps=statistics.median(c.throughput for c in cells),
        p50_ms=_median_or_nan([c.percentile(0.50) for c in cells if c.completed]),
        p99_ms=_median_or_nan([c.percentile(0.99) for c in cells if c.completed]),
        cpu_us_per_request=_median_or_nan(cpu),
        server_cpu=statistics.median(server) if server else None,
        errors=sum(c.errors for c in cells),
        rounds=len(cells),
    )


def _cpu_per_request(cell: Cell) -> float | None:
    return cell.client_cpu * cell.seconds / cell.completed if cell.completed else None


def _pair_ratios(sdk: Cell, base: Cell) -> tuple[float | None, float | None]:
    """(throughput ratio, CPU-efficiency ratio) of one round, None where undefined."""
    throughput = sdk.throughput / base.throughput if base.throughput > 0 else None
    sdk_cpu, base_cpu = _cpu_per_request(sdk), _cpu_per_request(base)
    cpu = base_cpu / sdk_cpu if sdk_cpu and base_cpu else None
    return throughput, cpu


def _ratios(
    cells: Sequence[Cell], concurrencies: Sequence[int], baselines: Sequence[str]
) -> list[Ratio]:
    by_key = {(c.variant, c.endpoint, c.concurrency, c.round): c for c in cells}
    rounds = sorted({c.round for c in cells})
    ratios = []
    for endpoint in ENDPOINTS:
        for conc in concurrencies:
            for baseline in baselines:
                speed: list[float] = []
                cpu: list[float] = []
                for r in rounds:
                    sdk = by_key.get(("sdk", endpoint, conc, r))
                    base = by_key.get((baseline, endpoint, conc, r))
                    if sdk is None or base is None:
                        continue
                    pair = _pair_ratios(sdk, base)
                    if pair[0] is not None:
                        speed.append(pair[0])
                    if pair[1] is not None:
                        cpu.append(pair[1])
                if speed:
                    ratios.append(
                        Ratio(
                            endpoint=endpoint,
                            concurrency=conc,
                            baseline=baseline,
                            median=statistics.median(speed),
                            low=min(speed),
                            high=max(speed),
                            cpu_median=statistics.median(cpu) if cpu else None,
                        )
                    )
    return ratios


async def measure_grid(
    *,
    base_url: str,
    api_key: str,
    server_pid: int | None,
    rounds: int,
    concurrencies: Sequence[int],
    warmup: float,
    duration: float,
    progress: Callable[[str], None],
    variants: Sequence[str] = VARIANTS,
    baselines: Sequence[str] = BASELINES,
) -> ThroughputResult:
    """Run the whole grid ``rounds`` times, interleaved; summarize and compute ratios.

    ``variants`` are the clients measured (the SDK first), ``baselines`` those the SDK
    is divided by.
    """
    variants = tuple(variants)
    cells: list[Cell] = []
    for round_no in range(rounds):
        for endpoint in ENDPOINTS:
            for conc in concurrencies:
                shift = round_no % len(variants)
                order = variants[shift:] + variants[:shift]
                for variant in order:
                    cell = await measure_cell(
                        variant,
                        endpoint,
                        conc,
                        base_url=base_url,
                        api_key=api_key,
                        server_pid=server_pid,
                        round_no=round_no,
                        warmup=warmup,
                        duration=duration,
                    )
                    cells.append(cell)
        progress(f"throughput round {round_no + 1}/{rounds} done")
    groups: dict[tuple[str, str, int], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.variant, cell.endpoint, cell.concurrency), []).append(cell)
    summaries = tuple(_summarize(group) for group in groups.values())
    ratios = _ratios(cells, concurrencies, baselines)
    return ThroughputResult(tuple(cells), summaries, tuple(ratios))
