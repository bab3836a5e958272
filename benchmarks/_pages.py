"""Page size growth: client CPU per request for pages of 1 to 500 people.

The captured 20-person FakeLensmor page is grown (or cut) to N items — people cycled
with fresh ids, the counts in the envelope updated — so every size has the same item
shape the API sends. The personnel route caps ``pageSize`` at 50, so the request's
``page`` number picks the answer's size here (``page=N`` → N items): what is measured
is the cost of a large answer, which the client decodes as it would any page.

Runs as a child (``python -m benchmarks._pages PAYLOADS --rounds R --requests N``)
over the same in-memory connections as ``_inmemory`` (HTTP writer and parser run, the
kernel does not), SDK and aiohttp+orjson/json interleaved at C=16; prints one JSON
line: size → client → best and median CPU µs per request.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import orjson

from benchmarks._inmemory import (
    CONCURRENCY,
    child_args,
    cpu_per_request,
    install_responder,
    raw_response,
    summarize,
)
from benchmarks._load import pool_size
from benchmarks._payloads import BALANCE_PATH, EVENT_ID, PERSONNEL_PATH, Captured, Payloads
from benchmarks._system import CLIENT_CPU, pin
from lensmor_async import AsyncLensmor

SIZES = (1, 20, 50, 100, 500)
VARIANTS = ("sdk", "aiohttp+orjson", "aiohttp+json")
_BASE_URL = "http://127.0.0.1:9"


def grown_page(captured: Captured, size: int) -> Captured:
    """The captured page with ``size`` items (people cycled, ids made unique)."""
    page = orjson.loads(captured.body)
    people = page["items"]
    items = [{**people[n % len(people)], "id": str(800_000 + n)} for n in range(size)]
    page.update(items=items, total=size, page=size, pageSize=size, totalPages=1, hasMore=False)
    return Captured(status=captured.status, headers=captured.headers, body=orjson.dumps(page))


def _responder(payloads: Payloads) -> Callable[[bytes], bytes]:
    pages = {size: raw_response(grown_page(payloads.personnel, size)) for size in SIZES}
    balance = raw_response(payloads.balance)

    def respond(head: bytes) -> bytes:
        target = head.split(b" ", 2)[1]
        if target.startswith(BALANCE_PATH.encode()):
            return balance
        assert target.startswith(PERSONNEL_PATH.encode())
        query = dict(pair.split(b"=", 1) for pair in target.split(b"?", 1)[1].split(b"&"))
        return pages[int(query[b"page"])]

    return respond


def _open(variant: str, api_key: str, size: int) -> Any:
    """An async context manager yielding a call that fetches the ``size``-item page."""
    if variant == "sdk":

        @asynccontextmanager
        async def sdk() -> Any:
            async with AsyncLensmor(api_key, base_url=_BASE_URL) as client:
                personnel = client.personnel

                async def call() -> Any:
                    return await personnel.list(EVENT_ID, page=size, page_size=min(size, 50))

                yield call

        return sdk()
    loads: Callable[[bytes], Any] = orjson.loads if variant == "aiohttp+orjson" else json.loads
    url = f"{_BASE_URL}{PERSONNEL_PATH}?event_id={EVENT_ID}&page={size}&pageSize={min(size, 50)}"

    @asynccontextmanager
    async def raw() -> Any:
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        connector = aiohttp.TCPConnector(limit=pool_size(CONCURRENCY))
        async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

            async def call() -> Any:
                async with session.get(url) as resp:
                    return loads(await resp.read())

            yield call

    return raw()


async def measure(api_key: str, rounds: int, requests: int) -> dict[str, Any]:
    samples: dict[int, dict[str, list[float]]] = {}
    for round_no in range(rounds):
        for size in SIZES:
            # Fewer requests for big pages keep every size's window of similar length.
            count = max(CONCURRENCY * 4, requests * 20 // max(size, 20))
            shift = round_no % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                async with _open(variant, api_key, size) as call:
                    per_request = await cpu_per_request(call, count)
                samples.setdefault(size, {}).setdefault(variant, []).append(per_request)
    return summarize(samples)


def main() -> None:
    args = child_args(__doc__)
    pin(CLIENT_CPU)
    payloads = Payloads.load(args.payloads)
    install_responder(_responder(payloads))
    result = asyncio.run(measure(payloads.api_key, args.rounds, args.requests))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
