"""Transport layer: one protocol and its aiohttp implementation."""

from __future__ import annotations

from lensmor_async.transport._aiohttp import AiohttpTransport
from lensmor_async.transport._base import QueryParams, Request, Response, Transport

__all__ = ["AiohttpTransport", "QueryParams", "Request", "Response", "Transport"]
