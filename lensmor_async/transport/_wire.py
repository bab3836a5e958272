"""What goes on the wire, decided once per client: header sets, URLs, request heads.

Pure functions and small caches (no I/O): both transports take their headers from
:func:`header_sets`, so the session transport and the pooled one send the same thing.
"""

from __future__ import annotations

from typing import TypeVar

from yarl import URL

from lensmor_async._config import ClientConfig
from lensmor_async._version import __version__
from lensmor_async.transport._base import QueryParams, Request

USER_AGENT = f"lensmor-async/{__version__}"
_JSON_HEADERS = {"Content-Type": "application/json"}
_CACHE_SIZE = 256
"""Rendered (path, query) entries kept per client; paths embed ids, so it is bounded."""
_BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
K = TypeVar("K")
V = TypeVar("V")


def header_sets(config: ClientConfig) -> tuple[dict[str, str], ...]:
    """The four header sets: (plain, plain + JSON body, credit-relevant, credit + JSON body)."""
    base = {
        "Authorization": f"Bearer {config.api_key.get_secret_value()}",
        "Accept": "application/json",
        "User-Agent": USER_AGENT,
    }
    credit = {**base, "x-call-source": config.call_source}
    return tuple(
        {**headers, **extra} for headers in (base, credit) for extra in ({}, _JSON_HEADERS)
    )


def header_set_index(request: Request) -> int:
    """Which of :func:`header_sets` a request uses."""
    return 2 * request.credit_relevant + (request.body is not None)


class UrlCache:
    """Parsed URLs per rendered (path, query), so yarl parses and encodes each only once.

    Bounded: the oldest entry goes first (dicts keep insertion order), no LRU upkeep.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._urls: dict[tuple[str, QueryParams], URL] = {}

    def get(self, path: str, query: QueryParams) -> URL:
        key = (path, query)
        url = self._urls.get(key)
        if url is None:
            url = URL(self.prefix + path)
            if query:
                url = url.extend_query(query)
            _bounded_put(self._urls, key, url)
        return url


def host_header(url: URL) -> str:
    """The ``Host`` value: the host (bracketed if IPv6), with the port unless it is default."""
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"
    return host if url.is_default_port() else f"{host}:{url.port}"


def render_head(method: str, url: URL, headers: dict[str, str]) -> bytes:
    """An HTTP/1.1 request head up to (not including) the framing headers and blank line."""
    lines = [f"{method} {url.raw_path_qs} HTTP/1.1", f"Host: {host_header(url)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append("Accept-Encoding: gzip, deflate")
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def frame(head: bytes, method: str, body: bytes | None) -> bytes:
    """The complete request bytes: head, ``Content-Length`` where a body may go, body."""
    if body is None:
        if method in _BODYLESS_METHODS:
            return head + b"\r\n"
        body = b""
    return b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)


class HeadCache:
    """Rendered request heads per (method, path, query, header set): built once, reused."""

    def __init__(self, urls: UrlCache, sets: tuple[dict[str, str], ...]) -> None:
        self._urls = urls
        self._sets = sets
        self._heads: dict[tuple[str, str, QueryParams, int], bytes] = {}

    def get(self, request: Request) -> bytes:
        index = header_set_index(request)
        key = (request.method, request.path, request.query, index)
        head = self._heads.get(key)
        if head is None:
            url = self._urls.get(request.path, request.query)
            head = render_head(request.method, url, self._sets[index])
            _bounded_put(self._heads, key, head)
        return head


def _bounded_put(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) >= _CACHE_SIZE:
        del cache[next(iter(cache))]
    cache[key] = value
