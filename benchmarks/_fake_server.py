"""A FakeLensmor in its own process, for the streaming-memory measurement.

``python -m benchmarks._fake_server --personnel N`` adds an unlocked event with N
lazily generated people, pins itself to CPU 1, and prints
``READY {"url": ..., "api_key": ..., "event_id": ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json

from benchmarks._system import SERVER_CPU, pin
from lensmor_async.testing import FakeLensmor


async def serve(personnel: int, *, pinned: bool) -> None:
    # No request log: 100k-record streams would only grow the server's memory.
    async with FakeLensmor(seed=5, record_requests=False) as fake:
        event = fake.add_event("Benchmark Expo", unlocked=True, personnel=personnel)
        ready = {
            "url": fake.url,
            "api_key": fake.api_key,
            "event_id": event.id,
            "pinned": pinned,
        }
        print("READY " + json.dumps(ready), flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--personnel", type=int, required=True)
    args = parser.parse_args()
    pinned = pin(SERVER_CPU)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.personnel, pinned=pinned))


if __name__ == "__main__":
    main()
