"""Decode cost of one captured answer: stdlib json, orjson, and the SDK's typed models.

All decoders run in this process on the same bytes, interleaved over rounds; each
number is the median over rounds of the best-of-three per-call time in microseconds.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import attrs
import orjson

from benchmarks._payloads import Payloads
from lensmor_async.models import CreditBalance, Person
from lensmor_async.models.converter import structure, structure_page


@attrs.frozen
class DecodeResult:
    """Median microseconds per call of each decoder, per payload."""

    personnel_us: dict[str, float]
    balance_us: dict[str, float]
    items: int


def _per_call_us(fn: Callable[[], Any], number: int) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / number * 1e6


def _decoders(body: bytes, cls: type[Any], page: bool) -> dict[str, Callable[[], Any]]:
    parsed = orjson.loads(body)

    def typed(data: Any) -> Any:
        return structure_page(data, cls) if page else structure(data, cls)

    return {
        "json.loads": lambda: json.loads(body),
        "orjson.loads": lambda: orjson.loads(body),
        "SDK models only (parsed dict → typed)": lambda: typed(parsed),
        "SDK full decode (orjson.loads + models)": lambda: typed(orjson.loads(body)),
    }


def _run(decoders: dict[str, Callable[[], Any]], rounds: int, number: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(rounds):
        for name, fn in decoders.items():
            samples[name].append(_per_call_us(fn, number))
    return {name: statistics.median(values) for name, values in samples.items()}


def measure_decode(payloads: Payloads, *, rounds: int, number: int) -> DecodeResult:
    """Time every decoder on the personnel page and on the balance answer."""
    personnel = _decoders(payloads.personnel.body, Person, page=True)
    balance = _decoders(payloads.balance.body, CreditBalance, page=False)
    for fn in (*personnel.values(), *balance.values()):
        fn()  # build the converter's per-class functions before timing
    items = len(orjson.loads(payloads.personnel.body)["items"])
    return DecodeResult(
        personnel_us=_run(personnel, rounds, number),
        balance_us=_run(balance, rounds, number * 10),
        items=items,
    )
