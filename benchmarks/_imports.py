"""Import time of ``lensmor_async`` against importing its dependencies alone.

Every sample is a fresh interpreter that times one ``import`` statement with
``time.perf_counter`` (interpreter start-up is excluded). Bytecode is cached in a
private directory (``PYTHONPYCACHEPREFIX``) and warmed once first, so both sides
load compiled modules as an installed wheel would, even where
``PYTHONDONTWRITEBYTECODE`` is set.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile

import attrs

from benchmarks._system import ROOT, child_env

TARGETS = {
    "lensmor_async": "import lensmor_async",
    "aiohttp+attrs+cattrs+anyio": "import aiohttp, attrs, cattrs, anyio",
}
_TIMER = "import time; t = time.perf_counter(); {stmt}; print((time.perf_counter() - t) * 1000.0)"


@attrs.frozen
class ImportResult:
    """Median milliseconds per target over the rounds, and every sample."""

    median_ms: dict[str, float]
    samples_ms: dict[str, list[float]]

    @property
    def ratio(self) -> float:
        return self.median_ms["lensmor_async"] / self.median_ms["aiohttp+attrs+cattrs+anyio"]


def _sample(stmt: str, cache_dir: str) -> float:
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = cache_dir
    done = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=stmt)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def measure_imports(rounds: int) -> ImportResult:
    """Interleave fresh-interpreter imports of both targets over ``rounds`` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in TARGETS}
    with tempfile.TemporaryDirectory(prefix="lensmor-pycache-") as cache_dir:
        for stmt in TARGETS.values():
            _sample(stmt, cache_dir)  # compile and cache bytecode; not measured
        for _ in range(rounds):
            for name, stmt in TARGETS.items():
                samples[name].append(_sample(stmt, cache_dir))
    return ImportResult(
        median_ms={name: statistics.median(values) for name, values in samples.items()},
        samples_ms=samples,
    )
