"""The aiohttp transport: one pooled session, pre-built headers, no redirects, no cookies.

Every aiohttp/OS exception is translated here, at the boundary, into the SDK's tree;
``request_sent`` is False only when the connection failed before any byte left.
"""

from __future__ import annotations

import asyncio

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from lensmor_async._config import ClientConfig
from lensmor_async.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    MalformedResponseError,
    TransportError,
)
from lensmor_async.transport._base import QueryParams, Request, Response

_USER_AGENT = "lensmor-async/0.1.0"
_JSON_HEADERS = {"Content-Type": "application/json"}
_URL_CACHE_SIZE = 256
"""Rendered (path, query) pairs whose parsed URL is kept; paths embed ids, so it is bounded."""


def _build_headers(config: ClientConfig) -> tuple[CIMultiDictProxy[str], ...]:
    """The four header sets (plain/credit-relevant × without/with a JSON body), built once.

    They are read-only ``CIMultiDictProxy`` objects: aiohttp copies multidicts as they
    are, while any other mapping is first converted, on every request.
    """
    base = {
        "Authorization": f"Bearer {config.api_key.get_secret_value()}",
        "Accept": "application/json",
        "User-Agent": _USER_AGENT,
    }
    credit = {**base, "x-call-source": config.call_source}
    return tuple(
        CIMultiDictProxy(CIMultiDict({**headers, **extra}))
        for headers in (base, credit)
        for extra in ({}, _JSON_HEADERS)
    )


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
        self._header_sets = _build_headers(config)
        self._default_timeout = aiohttp.ClientTimeout(total=config.timeout)
        # Parsed URLs per rendered (path, query): aiohttp would otherwise parse the URL
        # and re-encode the query on every request. Copies share the cache (same base URL).
        self._urls = self._box.urls

    def __repr__(self) -> str:
        return f"AiohttpTransport(base_url={self._prefix!r})"

    def derive(self, config: ClientConfig) -> AiohttpTransport:
        """A transport with other options over the same session (it never closes it)."""
        return AiohttpTransport(config, _box=self._box)

    def _ensure_session(self) -> aiohttp.ClientSession:
        return self._box.get()

    def _headers(self, request: Request) -> CIMultiDictProxy[str]:
        # Index into (plain, plain+JSON, credit, credit+JSON) as built by _build_headers.
        return self._header_sets[2 * request.credit_relevant + (request.body is not None)]

    def _url(self, path: str, query: QueryParams) -> URL:
        key = (path, query)
        url = self._urls.get(key)
        if url is None:
            url = URL(self._prefix + path)
            if query:
                url = url.extend_query(query)
            if len(self._urls) >= _URL_CACHE_SIZE:
                # Evict the oldest entry (dicts keep insertion order): bounded, no LRU upkeep.
                del self._urls[next(iter(self._urls))]
            self._urls[key] = url
        return url

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
                self._url(request.path, request.query),
                data=request.body,
                headers=self._headers(request),
                allow_redirects=False,
                timeout=self._timeout(request.timeout),
            ) as resp:
                length = resp.content_length
                if length is not None and length <= self._config.max_body_bytes:
                    body = await resp.read()  # the common case, without a helper frame
                else:
                    body = await self._read_capped(resp)
                return Response(status=resp.status, headers=resp.headers, body=body)
        except TransportError:
            raise
        except MalformedResponseError:
            raise
        except aiohttp.ClientResponseError as exc:
            # Its request_info carries our request headers (the Authorization header):
            # it must not stay reachable as __cause__ or __context__, so raise below,
            # outside this except block, with no chain at all.
            hidden = _translate(exc, request)
        except Exception as exc:
            raise _translate(exc, request) from exc
        raise hidden

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
        self.urls: dict[tuple[str, QueryParams], URL] = {}

    def get(self) -> aiohttp.ClientSession:
        if self._closed:
            # Not a transport failure: retrying a closed client can never succeed.
            raise ConfigurationError("this client is closed; create a new AsyncLensmor")
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
            # aiohttp silently re-sends idempotent requests once when a pooled connection
            # drops; our retry policy and retry budget must be the only source of retries.
            if hasattr(self._session, "_retry_connection"):
                self._session._retry_connection = False
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
