"""The issue's targets, judged against one run's results (reported, never asserted)."""

from __future__ import annotations

import math

import attrs

from benchmarks._goodput import POLICIES, GoodputResult
from benchmarks._results import Results
from benchmarks._throughput import ThroughputResult


@attrs.frozen
class Verdict:
    """One target: what was asked, what was measured, whether it was met."""

    target: str
    measured: str
    met: bool | None
    """None when the run did not measure it."""
    cpu_met: bool | None = None
    """For throughput targets: the same goal applied to the CPU-efficiency ratio, which
    other processes on the machine disturb far less than throughput."""


def _ratio_verdict(
    results: Results,
    endpoint: str,
    conc: int,
    baseline: str,
    goal: float,
    label: str,
    grid: ThroughputResult | None = None,
) -> Verdict:
    grid = grid or results.throughput
    ratio = grid.ratio(endpoint, conc, baseline) if grid else None
    if ratio is None:
        why = results.skipped.get(baseline)
        return Verdict(label, f"not measured: {why}" if why else "not measured", None)
    measured = f"{ratio.median:.2f}× (rounds {ratio.low:.2f}–{ratio.high:.2f})"
    if ratio.cpu_median is not None:
        measured += f"; CPU efficiency {ratio.cpu_median:.2f}×"
    overhead = (results.overhead or {}).get(endpoint, {}) if conc == 16 else {}
    if baseline in overhead and "sdk" in overhead:
        in_memory = overhead[baseline]["best_us"] / overhead["sdk"]["best_us"]
        measured += f"; in-memory {in_memory:.2f}×"
    cpu_met = None if ratio.cpu_median is None else ratio.cpu_median >= goal
    return Verdict(label, measured, ratio.median >= goal, cpu_met)


def judge(results: Results) -> list[Verdict]:
    """Every target of issue 6 with its measured value."""
    verdicts: list[Verdict] = []
    for conc in (16, 128):
        verdicts += [
            _ratio_verdict(
                results,
                "balance",
                conc,
                "aiohttp+json",
                1.0,
                f"balance C={conc}: SDK ≥ 1.0× aiohttp+json",
            ),
            _ratio_verdict(
                results,
                "balance",
                conc,
                "aiohttp+orjson",
                0.85,
                f"balance C={conc}: SDK ≥ 0.85× aiohttp+orjson",
            ),
            _ratio_verdict(
                results,
                "personnel",
                conc,
                "aiohttp+json",
                0.9,
                f"personnel.list C={conc}: SDK ≥ 0.9× aiohttp+json (stretch 1.0)",
            ),
            _ratio_verdict(
                results,
                "personnel",
                conc,
                "aiohttp+orjson",
                0.75,
                f"personnel.list C={conc}: SDK ≥ 0.75× aiohttp+orjson",
            ),
        ]
    for endpoint in ("balance", "personnel"):
        verdicts.append(
            _ratio_verdict(results, endpoint, 16, "httpx", 8.0, f"{endpoint} C=16: SDK ≥ 8× httpx")
        )
    verdicts += _pyreqwest_verdicts(results)
    for bulk in results.bulk:
        measured = (
            f"{bulk.requests_per_paid:.3f} requests + {bulk.prechecks_per_paid:.2f} prechecks "
            f"per paid action; overspend {bulk.overspend}"
        )
        met = bulk.requests_per_paid <= 1.1 and bulk.overspend == 0 and bulk.duplicates == 0
        verdicts.append(Verdict(f"bulk {bulk.name}: ≤ 1.1 requests per paid action", measured, met))
    if results.stream is not None:
        growth = float(results.stream["growth_mib"])
        records = int(results.stream["records"])
        verdicts.append(
            Verdict(
                f"RSS growth while streaming {records:,} records < 20 MiB",
                f"{growth:.1f} MiB",
                growth < 20,
            )
        )
    if results.imports is not None:
        ratio = results.imports.ratio
        verdicts.append(
            Verdict(
                "import lensmor_async ≤ 1.15× aiohttp+attrs+cattrs+anyio",
                f"{ratio:.2f}×",
                None if math.isnan(ratio) else ratio <= 1.15,
            )
        )
    if results.goodput is not None:
        verdicts += _goodput_verdicts(results.goodput)
    return verdicts + reference_verdicts(results)


def _pyreqwest_verdicts(results: Results) -> list[Verdict]:
    """Issue 17: the SDK ahead of pyreqwest (typed models both sides) at C=16 and 128."""
    return [
        _ratio_verdict(
            results,
            endpoint,
            conc,
            "pyreqwest",
            1.0,
            f"{name} C={conc}: SDK ahead of pyreqwest (≥ 1.0×)",
        )
        for endpoint, name in (("balance", "balance"), ("personnel", "personnel.list"))
        for conc in (16, 128)
    ]


def reference_verdicts(results: Results) -> list[Verdict]:
    """Issue 17's targets: cold start, the typed minimum, page size growth."""
    verdicts: list[Verdict] = []
    if results.coldstart is not None:
        cold = results.coldstart
        verdicts.append(
            Verdict(
                "cold start to first typed result ≤ 1.2× aiohttp+json",
                f"{cold.ratio:.2f}× ({cold.median_ms['sdk']:.0f} vs "
                f"{cold.median_ms['aiohttp+json']:.0f} ms)",
                cold.ratio <= 1.2,
            )
        )
    for endpoint in ("balance", "personnel"):
        for conc in (16, 128):
            label = f"{endpoint} C={conc}: SDK ≥ 0.9× the typed minimum"
            if results.minimum is None:
                verdicts.append(Verdict(label, "not measured", None))
                continue
            verdicts.append(
                _ratio_verdict(
                    results, endpoint, conc, "typed-minimum", 0.9, label, grid=results.minimum
                )
            )
    for size, by_client in (results.pages or {}).items():
        ratio = page_ratio(by_client, "aiohttp+orjson")
        verdicts.append(
            Verdict(
                f"{size}-item page: SDK ≥ 1.0× aiohttp+orjson (client CPU per request)",
                f"{ratio:.2f}×",
                ratio >= 1.0,
            )
        )
    return verdicts


def _goodput_verdicts(goodput: GoodputResult) -> list[Verdict]:
    """Per limiter and SDK variant: ≤ 1.10× the ideal time, ≤ 2% 429s, nothing early."""
    verdicts = []
    for policy in POLICIES:
        for variant in goodput.variants():
            runs = goodput.of(policy, variant)
            if not variant.startswith("sdk") or not runs:
                continue
            worst = max(r.ratio for r in runs)
            refused = max(r.refused / r.calls if r.calls else 1.0 for r in runs)
            early = max(r.early for r in runs)
            errors = max(r.errors for r in runs)
            measured = (
                f"{goodput.median_ratio(policy, variant):.2f}× ideal (worst {worst:.2f}×); "
                f"429s {refused:.1%}; early {early}; errors {errors}"
            )
            met = worst <= 1.10 and refused <= 0.02 and early == 0 and errors == 0
            target = f"goodput, {policy} limit, {variant}: ≤ 1.10× ideal, ≤ 2% 429s, 0 early"
            verdicts.append(Verdict(target, measured, met))
    return verdicts


def page_ratio(by_client: dict[str, dict[str, float]], baseline: str) -> float:
    """Baseline ÷ SDK best CPU per request (above 1: the SDK is cheaper)."""
    return by_client[baseline]["best_us"] / by_client["sdk"]["best_us"]
