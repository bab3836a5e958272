"""The aiohttp transport: one pooled session, pre-built headers, no redirects, no cookies.

Every aiohttp/OS exception is translated here, at the boundary, into the SDK's tree;
``request_sent`` is False only when the connection failed before any byte left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import MappingProxyType

import aiohttp

from lensmor_async._config import ClientConfig
from lensmor_async.errors import (
    APIConnectionError,
    APITimeoutError,
    MalformedResponseError,
    TransportError,
)
from lensmor_async.transport._base import Request, Response

_USER_AGENT = "lensmor-async/0.1.0"


def _build_headers(config: ClientConfig) -> tuple[Mapping[str, str], Mapping[str, str]]:
    """Headers for plain calls and for credit-relevant calls, built once per client."""
    base = {
        "Authorization": f"Bearer {config.api_key.get_secret_value()}",
        "Accept": "application/json",
        "User-Agent": _USER_AGENT,
    }
    credit = {**base, "x-call-source": config.call_source}
    return MappingProxyType(base), MappingProxyType(credit)


_JSON_HEADERS = MappingProxyType({"Content-Type": "application/json"})


class AiohttpTransport:
    """Sends prepared requests over one pooled ``aiohttp.ClientSession``.

    The session is created lazily inside the running loop. A caller-owned session
    can be passed in; it is used as is and never closed by us.
    """

    def __init__(
        self,
        config: ClientConfig,
        session: aiohttp.ClientSession | None = None,
        *,
        _box: _SessionBox | None = None,
    ) -> None:
        self._config = config
        self._prefix = config.base_url
        self._box = _box or _SessionBox(session, max_connections=max(100, config.max_concurrency))
        self._owner = _box is None
        self._plain_headers, self._credit_headers = _build_headers(config)
        self._default_timeout = aiohttp.ClientTimeout(total=config.timeout)

    def __repr__(self) -> str:
        return f"AiohttpTransport(base_url={self._prefix!r})"

    def derive(self, config: ClientConfig) -> AiohttpTransport:
        """A transport with other options over the same session (it never closes it)."""
        return AiohttpTransport(config, _box=self._box)

    def _ensure_session(self) -> aiohttp.ClientSession:
        return self._box.get()

    def _headers(self, request: Request) -> Mapping[str, str]:
        headers = self._credit_headers if request.credit_relevant else self._plain_headers
        if request.body is not None:
            return {**headers, **_JSON_HEADERS}
        return headers

    def _timeout(self, seconds: float | None) -> aiohttp.ClientTimeout:
        if seconds is None or seconds == self._config.timeout:
            return self._default_timeout
        return aiohttp.ClientTimeout(total=max(seconds, 0.001))

    async def send(self, request: Request) -> Response:
        """Send one attempt; return status, headers and the whole (size-capped) body."""
        session = self._ensure_session()
        try:
            async with session.request(
                request.method,
                self._prefix + request.path,
                params=request.query or None,
                data=request.body,
                headers=self._headers(request),
                allow_redirects=False,
                timeout=self._timeout(request.timeout),
            ) as resp:
                body = await self._read_capped(resp)
                return Response(status=resp.status, headers=resp.headers, body=body)
        except TransportError:
            raise
        except MalformedResponseError:
            raise
        except Exception as exc:
            raise _translate(exc, request) from exc

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        cap = self._config.max_body_bytes
        length = resp.content_length
        if length is not None and length > cap:
            raise MalformedResponseError(
                f"response body of {length} bytes exceeds the {cap}-byte cap", status=resp.status
            )
        if length is not None:
            return await resp.read()
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise MalformedResponseError(
                    f"response body exceeds the {cap}-byte cap", status=resp.status
                )
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close our own session (idempotent); a caller-owned session stays open."""
        if self._owner:
            await self._box.aclose()


class _SessionBox:
    """The one pooled session, created lazily inside the running loop, shared by copies."""

    def __init__(self, session: aiohttp.ClientSession | None, *, max_connections: int) -> None:
        self._session = session
        self._owns = session is None
        self._max_connections = max_connections
        self._closed = False

    def get(self) -> aiohttp.ClientSession:
        if self._closed:
            raise APIConnectionError("the client is closed", request_sent=False)
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=300
            )
            # No cookie jar: the API is bearer-authenticated and cookie work costs per request.
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns and not session.closed:
            await session.close()


def _translate(exc: BaseException, request: Request) -> LensmorTransportFailure:
    """Map an aiohttp/OS exception to our tree; the text names the route, never headers."""
    where = f"{request.method} {request.route}"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return APITimeoutError(f"connecting timed out for {where}", request_sent=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return APIConnectionError(f"could not connect for {where}", request_sent=False)
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return APITimeoutError(f"{where} timed out")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return MalformedResponseError(f"{where}: response body was truncated or corrupt")
    if isinstance(exc, aiohttp.ClientResponseError):
        return MalformedResponseError(f"{where}: invalid HTTP response (status {exc.status})")
    return APIConnectionError(f"{where}: connection failed ({type(exc).__name__})")


LensmorTransportFailure = TransportError | MalformedResponseError
