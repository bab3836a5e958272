"""The event loop the SDK runs on: asyncio only, because aiohttp is asyncio-only."""

from __future__ import annotations

import asyncio

from lensmor_async.errors import ConfigurationError


def require_asyncio() -> None:
    """Refuse, with a clear error, to run outside an asyncio event loop (e.g. under trio).

    Checked before a call does anything (no credit held, nothing sent): otherwise the
    first request would fail deep inside aiohttp with ``RuntimeError: no running event loop``.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError as exc:
        raise ConfigurationError(
            "lensmor-async needs an asyncio event loop (aiohttp runs only on asyncio): "
            "use asyncio.run(...) or anyio.run(..., backend='asyncio'), not trio"
        ) from exc
