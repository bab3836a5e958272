"""The static server: replays captured FakeLensmor answers as fast as aiohttp can.

Run as a child process (``python -m benchmarks._server PAYLOADS``): it pins itself to
CPU 1, binds 127.0.0.1 on a free port and prints ``READY {"port": N, "pinned": true}``. It uses
aiohttp's low-level server (no router, no middlewares), so the time measured is the
client's, not the fake's business logic. Any other path answers 404.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from benchmarks._payloads import BALANCE_PATH, PERSONNEL_PATH, Captured, Payloads
from benchmarks._system import SERVER_CPU, pin


def _response_factory(captured: Captured) -> tuple[bytes, dict[str, str]]:
    return captured.body, dict(captured.headers)


def _handler(payloads: Payloads) -> Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]:
    routes = {
        BALANCE_PATH: _response_factory(payloads.balance),
        PERSONNEL_PATH: _response_factory(payloads.personnel),
    }

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        found = routes.get(request.path)
        if found is None:
            return web.Response(status=404, body=b'{"code":404,"message":"Route not found"}')
        body, headers = found
        # A fresh Response per request (aiohttp mutates it while sending).
        return web.Response(body=body, headers=headers)

    return handle


async def serve(payloads: Payloads, port: int, *, pinned: bool) -> None:
    await serve_handler(_handler(payloads), port, pinned=pinned)


async def serve_handler(
    handler: Callable[[web.BaseRequest], Awaitable[web.StreamResponse]], port: int, *, pinned: bool
) -> None:
    """Serve ``handler`` on 127.0.0.1; print ``READY {"port": N, "pinned": ...}`` until stopped."""
    server = web.Server(handler, access_log=None)
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(server, "127.0.0.1", port, backlog=1024)
    bound = listener.sockets[0].getsockname()[1]
    print("READY " + json.dumps({"port": bound, "pinned": pinned}), flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        listener.close()
        await server.shutdown(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("payloads", type=Path)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    pinned = pin(SERVER_CPU)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(Payloads.load(args.payloads), args.port, pinned=pinned))


if __name__ == "__main__":
    main()
