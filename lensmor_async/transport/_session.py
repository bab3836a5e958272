"""The session transport: requests through an ``aiohttp.ClientSession`` (yours, or one of ours).

Used when the caller passes a session (its proxy, tracing and connector settings then
apply); otherwise the client uses :class:`PooledTransport`. Pre-built headers, no
redirects, no cookies, the same wire format and error mapping.

Every aiohttp/OS exception is translated here, at the boundary, into the SDK's tree;
``request_sent`` is False only when the connection failed before any byte left.
"""

from __future__ import annotations

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy

from lensmor_async._config import ClientConfig
from lensmor_async.errors import ConfigurationError, MalformedResponseError, TransportError
from lensmor_async.transport._base import Request, Response
from lensmor_async.transport._body import read_chunks_capped, too_large
from lensmor_async.transport._errors import server_of, translate
from lensmor_async.transport._wire import UrlCache, header_set_index, header_sets


def _header_proxies(config: ClientConfig) -> tuple[CIMultiDictProxy[str], ...]:
    """The header sets as read-only ``CIMultiDictProxy`` objects, built once.

    aiohttp copies multidicts as they are, while any other mapping is first
    converted, on every request.
    """
    return tuple(CIMultiDictProxy(CIMultiDict(headers)) for headers in header_sets(config))


class SessionTransport:
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
        self._server = server_of(config.base_url)
        self._box = _box or _SessionBox(
            session, prefix=config.base_url, max_connections=max(100, config.max_concurrency)
        )
        self._owner = _box is None
        self._header_sets = _header_proxies(config)
        self._default_timeout = aiohttp.ClientTimeout(total=config.timeout)
        # Parsed URLs per rendered (path, query): aiohttp would otherwise parse the URL
        # and re-encode the query on every request. Copies share the cache (same base URL).
        self._urls = self._box.urls

    def __repr__(self) -> str:
        return f"SessionTransport(base_url={self._prefix!r})"

    def derive(self, config: ClientConfig) -> SessionTransport:
        """A transport with other options over the same session (it never closes it)."""
        return SessionTransport(config, _box=self._box)

    def _ensure_session(self) -> aiohttp.ClientSession:
        return self._box.get()

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
                self._urls.get(request.path, request.query),
                data=request.body,
                headers=self._header_sets[header_set_index(request)],
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
            hidden = translate(exc, request, server=self._server)
        except Exception as exc:
            raise translate(exc, request, server=self._server) from exc
        raise hidden

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        cap = self._config.max_body_bytes
        length = resp.content_length
        if length is None:
            return await read_chunks_capped(resp.content, cap, resp.status)
        if length > cap:
            raise too_large(cap, resp.status, length)
        return await resp.read()

    async def aclose(self) -> None:
        """Close our own session (idempotent); a caller-owned session stays open."""
        if self._owner:
            await self._box.aclose()


class _SessionBox:
    """The one pooled session, created lazily inside the running loop, shared by copies."""

    def __init__(
        self, session: aiohttp.ClientSession | None, *, prefix: str, max_connections: int
    ) -> None:
        self._session = session
        self._owns = session is None
        self._max_connections = max_connections
        self._closed = False
        self.urls = UrlCache(prefix)

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
