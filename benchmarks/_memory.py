"""Memory: RSS growth while ``personnel.iterate`` streams records, and peak RSS of a load run.

Each measurement runs in a fresh child process pinned to CPU 0 (so earlier work in
the harness cannot hide or inflate anything) and prints one JSON line:

* ``stream``: the baseline is taken after the client is built and the first page is
  decoded (imports, session, converter functions exist); RSS is then sampled every
  1000 records. Growth = highest sample − baseline.
* ``load``: N requests at concurrency C against the static server; RSS is sampled
  every 100 requests. Reports the peak sample and its growth over the RSS measured
  after warm-up (``ru_maxrss`` would report the import-time high-water mark).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
from typing import Any

from benchmarks._load import open_variant
from benchmarks._system import CLIENT_CPU, pin, rss_bytes
from lensmor_async import AsyncLensmor, CreditGuard, always_confirm

MIB = 1024 * 1024
STREAM_PAGE_SIZE = 50
"""The largest page ``personnel/list`` allows: fewest requests per record."""


async def stream(url: str, api_key: str, event_id: str, records: int) -> dict[str, Any]:
    guard = CreditGuard(confirm=always_confirm)
    async with AsyncLensmor(api_key, base_url=url, guard=guard) as client:
        await client.personnel.list(event_id, page_size=STREAM_PAGE_SIZE)
        gc.collect()
        baseline = peak = rss_bytes()
        seen = 0
        iterator = client.personnel.iterate(event_id, page_size=STREAM_PAGE_SIZE)
        async for _person in iterator:
            seen += 1
            if seen % 1000 == 0:
                peak = max(peak, rss_bytes())
        peak = max(peak, rss_bytes())
    return {
        "records": seen,
        "expected": records,
        "baseline_mib": baseline / MIB,
        "peak_mib": peak / MIB,
        "growth_mib": (peak - baseline) / MIB,
    }


async def load(
    variant: str, base_url: str, api_key: str, endpoint: str, requests: int, concurrency: int
) -> dict[str, Any]:
    async with open_variant(variant, base_url, api_key, endpoint, concurrency) as call:
        # Warm-up: open the connections and build per-class decoders first.
        await asyncio.gather(*(call() for _ in range(concurrency)))
        gc.collect()
        # ru_maxrss would report the import-time high-water mark; sample RSS instead.
        baseline = peak = rss_bytes()
        remaining = iter(range(requests))
        errors = 0

        async def worker() -> None:
            nonlocal errors, peak
            for n in remaining:
                try:
                    await call()
                except Exception:
                    errors += 1
                if n % 100 == 0:
                    peak = max(peak, rss_bytes())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        peak = max(peak, rss_bytes())
    return {
        "variant": variant,
        "requests": requests,
        "concurrency": concurrency,
        "errors": errors,
        "baseline_mib": baseline / MIB,
        "peak_mib": peak / MIB,
        "growth_mib": (peak - baseline) / MIB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("stream")
    s.add_argument("--url", required=True)
    s.add_argument("--api-key", required=True)
    s.add_argument("--event-id", required=True)
    s.add_argument("--records", type=int, required=True)
    ld = sub.add_parser("load")
    ld.add_argument("--variant", required=True)
    ld.add_argument("--url", required=True)
    ld.add_argument("--api-key", required=True)
    ld.add_argument("--endpoint", default="personnel")
    ld.add_argument("--requests", type=int, required=True)
    ld.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args()
    pin(CLIENT_CPU)
    if args.mode == "stream":
        result = asyncio.run(stream(args.url, args.api_key, args.event_id, args.records))
    else:
        result = asyncio.run(
            load(
                args.variant, args.url, args.api_key, args.endpoint, args.requests, args.concurrency
            )
        )
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
