"""Client CPU per request with the network taken out: aiohttp over in-memory connections.

On a shared 2-core machine loopback throughput swings with whatever else runs; CPU
time spent *in the client process per request* does not. This child process swaps
aiohttp's ``TCPConnector`` for one whose connections are in-memory transports that
answer each request with the captured FakeLensmor response (same status line,
headers and body bytes), so every byte still goes through aiohttp's HTTP writer and
parser — only the kernel is gone. The SDK's own connection pool gets the same
in-memory connections (``ConnectionPool._create_connection`` is swapped alike). The
SDK and the raw aiohttp clients are measured interleaved; httpx is left out (it does
not use aiohttp's connector). ``sdk+hook`` is the SDK with one do-nothing observability
hook: next to ``sdk`` (no hook) it prices the events themselves.

Run as ``python -m benchmarks._inmemory PAYLOADS --rounds R --requests N``; prints
one JSON line: per endpoint and client, the median and best CPU µs per request.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

from benchmarks._load import CallFn, open_variant
from benchmarks._payloads import BALANCE_PATH, PERSONNEL_PATH, Captured, Payloads
from benchmarks._system import CLIENT_CPU, pin
from lensmor_async.transport._connections import ConnectionPool

VARIANTS = ("sdk", "sdk+hook", "aiohttp+json", "aiohttp+orjson")
CONCURRENCY = 16
_BASE_URL = "http://127.0.0.1:9"
"""Never connected to: the connector below answers from memory."""


def raw_response(captured: Captured) -> bytes:
    """The HTTP/1.1 bytes a server would send for ``captured`` (keep-alive, fixed length)."""
    head = [f"HTTP/1.1 {captured.status} OK", f"Content-Length: {len(captured.body)}"]
    head += [f"{name}: {value}" for name, value in captured.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + captured.body


class MemoryTransport(asyncio.Transport):
    """Answers each complete request head (GETs only: no bodies) on the next loop turn."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: asyncio.Protocol,
        respond: Callable[[bytes], bytes],
    ) -> None:
        super().__init__()
        self._loop, self._protocol, self._respond = loop, protocol, respond
        self._pending = b""
        self._closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._pending += bytes(data)
        while (end := self._pending.find(b"\r\n\r\n")) >= 0:
            head, self._pending = self._pending[:end], self._pending[end + 4 :]
            self._loop.call_soon(self._protocol.data_received, self._respond(head))

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if not self._closing:
            self._closing = True
            self._loop.call_soon(self._protocol.connection_lost, None)

    def abort(self) -> None:
        self.close()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def can_write_eof(self) -> bool:
        return False

    def is_reading(self) -> bool:
        return True

    def pause_reading(self) -> None:
        """Nothing to pause: data arrives only as answers to writes."""

    def resume_reading(self) -> None:
        """Nothing to resume (see ``pause_reading``)."""

    def get_write_buffer_size(self) -> int:
        return 0


def _responder(payloads: Payloads) -> Callable[[bytes], bytes]:
    answers = {
        BALANCE_PATH.encode(): raw_response(payloads.balance),
        PERSONNEL_PATH.encode(): raw_response(payloads.personnel),
    }

    def respond(head: bytes) -> bytes:
        target = head.split(b" ", 2)[1].split(b"?", 1)[0]
        return answers[target]

    return respond


def _connector_class(respond: Callable[[bytes], bytes]) -> type[aiohttp.TCPConnector]:
    """aiohttp's connector (the raw clients' path) over in-memory connections."""

    class MemoryConnector(aiohttp.TCPConnector):
        # aiohttp's hook that opens a socket; it returns (transport, protocol).
        async def _wrap_create_connection(  # type: ignore[override]
            self, protocol_factory: Callable[[], asyncio.Protocol], *args: Any, **kwargs: Any
        ) -> tuple[asyncio.Transport, asyncio.Protocol]:
            protocol = protocol_factory()
            transport = MemoryTransport(self._loop, protocol, respond)
            protocol.connection_made(transport)
            return transport, protocol

    return MemoryConnector


def _memory_connections(respond: Callable[[bytes], bytes]) -> Callable[..., Any]:
    """The SDK's ``ConnectionPool._create_connection`` over in-memory connections."""

    async def create_connection(
        pool: ConnectionPool, loop: asyncio.AbstractEventLoop
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        protocol = ResponseHandler(loop)
        transport = MemoryTransport(loop, protocol, respond)
        protocol.connection_made(transport)
        return transport, protocol

    return create_connection


def install(payloads: Payloads) -> None:
    """Swap both connection openers for in-memory ones (this process exists only for this)."""
    install_responder(_responder(payloads))


def install_responder(respond: Callable[[bytes], bytes]) -> None:
    """Swap both connection openers for in-memory ones answering with ``respond(head)``."""
    aiohttp.TCPConnector = _connector_class(respond)  # type: ignore[misc]
    ConnectionPool._create_connection = _memory_connections(respond)  # type: ignore[method-assign]


async def _run(call: CallFn, requests: int) -> None:
    remaining = iter(range(requests))

    async def worker() -> None:
        for _ in remaining:
            await call()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def cpu_per_request(call: CallFn, requests: int) -> float:
    """Warm up (connections, per-class decoders), then client CPU µs per request."""
    await _run(call, CONCURRENCY * 4)
    gc.collect()
    start = time.process_time()
    await _run(call, requests)
    return (time.process_time() - start) / requests * 1e6


def summarize(samples: Mapping[Any, Mapping[str, list[float]]]) -> dict[str, Any]:
    """Key → client → median and best µs per request over the rounds."""
    return {
        str(key): {
            variant: {"median_us": statistics.median(values), "best_us": min(values)}
            for variant, values in by_variant.items()
        }
        for key, by_variant in samples.items()
    }


async def measure(api_key: str, rounds: int, requests: int) -> dict[str, Any]:
    samples: dict[str, dict[str, list[float]]] = {}
    for round_no in range(rounds):
        for endpoint in ("balance", "personnel"):
            shift = round_no % len(VARIANTS)
            for variant in VARIANTS[shift:] + VARIANTS[:shift]:
                async with open_variant(variant, _BASE_URL, api_key, endpoint, CONCURRENCY) as call:
                    per_request = await cpu_per_request(call, requests)
                samples.setdefault(endpoint, {}).setdefault(variant, []).append(per_request)
    return summarize(samples)


def child_args(description: str | None) -> argparse.Namespace:
    """``PAYLOADS --rounds R --requests N``, the arguments of the in-memory children."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("payloads", type=Path)
    parser.add_argument("--rounds", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    return parser.parse_args()


def main() -> None:
    args = child_args(__doc__)
    pin(CLIENT_CPU)
    payloads = Payloads.load(args.payloads)
    install(payloads)
    result = asyncio.run(measure(payloads.api_key, args.rounds, args.requests))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
