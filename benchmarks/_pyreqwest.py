"""pyreqwest, a Rust-backed client (reqwest on a tokio runtime), as a throughput reference.

The client a user would pick for speed: one keep-alive ``Client`` with the same pool
size as every other client, ``orjson`` on the body bytes and the SDK's own converter
building the same typed models (``typed_decoder``, shared with the typed minimum). So
``SDK ÷ pyreqwest`` compares typed result with typed result.

pyreqwest is a benchmark-only dependency (the ``bench`` extra, in ``dev``). Where it
is not installed (the CI matrix installs only ``[test]``) the harness leaves it out of
the grid and says why, rather than failing.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from benchmarks._minimum import typed_decoder

NAME = "pyreqwest"


def missing_reason() -> str | None:
    """Why pyreqwest cannot be measured here, or None when it can."""
    try:
        importlib.import_module("pyreqwest.client")
    except ImportError as exc:
        return f"pyreqwest is not importable ({exc}); `pip install -e .[bench]` adds it"
    return None


@asynccontextmanager
async def pyreqwest_client(
    url: str, headers: Mapping[str, str], endpoint: str, pool_size: int
) -> AsyncIterator[Callable[[], Awaitable[Any]]]:
    """Yield a zero-argument coroutine function returning the endpoint's typed model."""
    from pyreqwest.client import ClientBuilder  # optional: imported only when measured

    decode = typed_decoder(endpoint)
    builder = ClientBuilder().default_headers(dict(headers))
    builder = builder.max_connections(pool_size).pool_max_idle_per_host(pool_size)
    async with builder.build() as client:

        async def call() -> Any:
            resp = await client.get(url).build().send()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
            # A zero-copy view of the Rust buffer: orjson reads memoryviews directly.
            return decode(memoryview(await resp.bytes()))

        yield call
