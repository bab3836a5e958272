"""Cold start: a fresh process from ``import`` to its first typed result.

What a CLI call, a serverless handler or a new notebook pays every time. Each sample
is a fresh interpreter that times, with ``time.perf_counter``, the imports, building a
client and awaiting the first ``credits.balance()`` against the static server
(interpreter start-up is excluded, as in the import-time section). The reference does
the same with aiohttp + ``json``: one ``ClientSession``, one GET, ``json.loads``.

``lensmor balance`` is timed as a whole process (wall clock, interpreter start-up
included) against the aiohttp + json script run the same way, since that is what a
shell user waits for. The SDK and the reference alternate sample by sample; bytecode
is cached in a private directory and warmed first, as an installed wheel would be.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time

import attrs

from benchmarks._system import ROOT, child_env

SDK = """
import time
t = time.perf_counter()
import asyncio
from lensmor_async import AsyncLensmor

async def main():
    async with AsyncLensmor({key!r}, base_url={url!r}) as client:
        return await client.credits.balance()

balance = asyncio.run(main())
assert balance.total_balance >= 0
print((time.perf_counter() - t) * 1000.0)
"""
AIOHTTP_JSON = """
import time
t = time.perf_counter()
import asyncio, json
import aiohttp

async def main():
    headers = {{"Authorization": "Bearer " + {key!r}, "Accept": "application/json"}}
    async with aiohttp.ClientSession(headers=headers) as session:
        async with session.get({url!r} + "/external/credits/balance") as resp:
            return json.loads(await resp.read())

balance = asyncio.run(main())
assert balance["totalBalance"] >= 0
print((time.perf_counter() - t) * 1000.0)
"""
SCRIPTS = {"sdk": SDK, "aiohttp+json": AIOHTTP_JSON}


@attrs.frozen
class ColdStartResult:
    """Median milliseconds of each way, over alternating fresh-process samples."""

    median_ms: dict[str, float]
    """In-process: imports + client + first typed result (``sdk``, ``aiohttp+json``)."""
    wall_ms: dict[str, float]
    """Whole process, interpreter start-up included (``lensmor balance``, ``aiohttp+json``)."""
    samples: int

    @property
    def ratio(self) -> float:
        return self.median_ms["sdk"] / self.median_ms["aiohttp+json"]

    @property
    def cli_ratio(self) -> float:
        return self.wall_ms["lensmor balance"] / self.wall_ms["aiohttp+json"]


def _run(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall milliseconds, last stdout line) of one fresh process."""
    start = time.perf_counter()
    done = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    wall = (time.perf_counter() - start) * 1000.0
    if done.returncode != 0:
        raise RuntimeError(f"{argv[1:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    lines = done.stdout.strip().splitlines()
    return wall, lines[-1] if lines else ""


def measure_cold_start(base_url: str, api_key: str, rounds: int) -> ColdStartResult:
    """Alternate the SDK, the reference and the CLI in fresh processes, ``rounds`` times."""
    env = child_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["LENSMOR_API_KEY"] = api_key
    scripts = {name: text.format(key=api_key, url=base_url) for name, text in SCRIPTS.items()}
    cli = [sys.executable, "-m", "lensmor_async", "--base-url", base_url, "balance"]
    in_process: dict[str, list[float]] = {name: [] for name in scripts}
    wall: dict[str, list[float]] = {"lensmor balance": [], "aiohttp+json": []}
    with tempfile.TemporaryDirectory(prefix="lensmor-pycache-") as cache_dir:
        env["PYTHONPYCACHEPREFIX"] = cache_dir
        for _ in range(2):  # compile and cache bytecode, warm the page cache; not measured
            for text in scripts.values():
                _run([sys.executable, "-c", text], env)
            _run(cli, env)
        for _ in range(rounds):
            for name, text in scripts.items():
                elapsed, line = _run([sys.executable, "-c", text], env)
                in_process[name].append(float(line))
                if name == "aiohttp+json":
                    wall[name].append(elapsed)
            wall["lensmor balance"].append(_run(cli, env)[0])
    return ColdStartResult(
        median_ms={name: statistics.median(v) for name, v in in_process.items()},
        wall_ms={name: statistics.median(v) for name, v in wall.items()},
        samples=rounds,
    )
