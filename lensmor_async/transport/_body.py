"""Response bodies under the size cap, for both transports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async.errors import MalformedResponseError

if TYPE_CHECKING:
    from aiohttp import StreamReader


async def read_chunks_capped(payload: StreamReader, cap: int, status: int) -> bytes:
    """A body of unknown length (chunked): read it, refusing it once it passes the cap."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in payload.iter_any():
        size += len(chunk)
        if size > cap:
            raise too_large(cap, status)
        chunks.append(chunk)
    return b"".join(chunks)


def too_large(cap: int, status: int, length: int | str | None = None) -> MalformedResponseError:
    """The error for a body over the cap (``length``: what the server declared, if known)."""
    size = "response body" if length is None else f"response body of {length} bytes"
    return MalformedResponseError(f"{size} exceeds the {cap}-byte cap", status=status)
