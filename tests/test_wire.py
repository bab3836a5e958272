"""The wire module: header sets, Host values, request heads, framing and the two caches.

Pure tests, no network; ``h11`` (an independent HTTP/1.1 parser) proves that what
``render_head`` and ``frame`` build is a well-formed request.
"""

from __future__ import annotations

from collections.abc import Callable

import h11
import pytest
from yarl import URL

from lensmor_async._config import ClientConfig, load_config
from lensmor_async.transport._base import QueryParams, Request
from lensmor_async.transport._wire import (
    _CACHE_SIZE,
    USER_AGENT,
    HeadCache,
    UrlCache,
    frame,
    header_set_index,
    header_sets,
    host_header,
    render_head,
)

KEY = "uak_wire_test_key_0123456789"
BASE = "http://127.0.0.1:8080/api"
PATH = "/external/events/123"
QUERY: QueryParams = (("page", "2"), ("q", "a b&c+d/é?"), ("f", "1=2"), ("empty", ""))
PLAIN = {"Authorization": f"Bearer {KEY}", "Accept": "application/json", "User-Agent": USER_AGENT}
JSON = {"Content-Type": "application/json"}


def _config(call_source: str = "agent") -> ClientConfig:
    return load_config(KEY, BASE, call_source=call_source)


def _request(
    method: str = "GET", *, body: bytes | None = None, credit: bool = False, path: str = PATH
) -> Request:
    return Request(method, path, "/external/events/{id}", QUERY, body, credit_relevant=credit)


def _parse(data: bytes) -> tuple[h11.Request, bytes]:
    """Parse one complete request with h11; fail unless it ends exactly at ``data``'s end."""
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(data)
    head = conn.next_event()
    assert isinstance(head, h11.Request)
    body = b""
    while not isinstance(event := conn.next_event(), h11.EndOfMessage):
        assert isinstance(event, h11.Data), event
        body += event.data
    assert conn.their_state is h11.DONE
    assert conn.trailing_data == (b"", False)  # nothing left over after the message
    return head, body


# ----------------------------------------------------------------------------- header sets


@pytest.mark.parametrize("source", ["api", "agent"])
def test_header_sets_are_plain_json_credit_and_credit_json(source: str) -> None:
    credit = {**PLAIN, "x-call-source": source}
    assert header_sets(_config(source)) == (PLAIN, {**PLAIN, **JSON}, credit, {**credit, **JSON})


@pytest.mark.parametrize(
    ("credit", "body", "index"),
    [(False, None, 0), (False, b"{}", 1), (True, None, 2), (True, b"{}", 3), (False, b"", 1)],
)
def test_header_set_index_picks_json_for_a_body_and_call_source_for_credit(
    credit: bool, body: bytes | None, index: int
) -> None:
    request = _request("POST", body=body, credit=credit)
    assert header_set_index(request) == index
    chosen = header_sets(_config())[index]
    assert ("x-call-source" in chosen) is credit
    assert ("Content-Type" in chosen) is (body is not None)


def test_the_key_appears_only_in_the_authorization_header() -> None:
    for headers in header_sets(_config()):
        assert [name for name, value in headers.items() if KEY in value] == ["Authorization"]
        assert all(KEY not in name for name in headers)
    head = render_head("GET", URL(BASE), header_sets(_config())[3]).decode()
    assert [line for line in head.split("\r\n") if KEY in line] == [f"Authorization: Bearer {KEY}"]


# ----------------------------------------------------------------------------- Host


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:80/api", "127.0.0.1"),
        ("https://example.com:443/api", "example.com"),
        ("https://example.com", "example.com"),
        ("http://127.0.0.1:8080/api", "127.0.0.1:8080"),
        ("https://example.com:8443", "example.com:8443"),
        ("http://[::1]:8080/api", "[::1]:8080"),
        ("http://[::1]/api", "[::1]"),
        ("https://[2001:db8::1]:443", "[2001:db8::1]"),
        ("https://bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_host_header_omits_default_ports_keeps_others_and_brackets_ipv6(
    url: str, host: str
) -> None:
    assert host_header(URL(url)) == host


# ----------------------------------------------------------------------------- heads


def test_render_head_writes_request_line_host_each_header_then_accept_encoding() -> None:
    headers = header_sets(_config())[2]
    url = UrlCache(BASE).get(PATH, QUERY)
    head = render_head("GET", url, headers)
    assert head.endswith(b"\r\n")
    assert not head.endswith(b"\r\n\r\n")  # framing headers and the blank line come later
    target = URL(BASE + PATH).extend_query(QUERY).raw_path_qs
    assert target == "/api/external/events/123?page=2&q=a+b%26c%2Bd/%C3%A9?&f=1%3D2&empty="
    assert head.decode("latin-1").split("\r\n") == [
        f"GET {target} HTTP/1.1",
        "Host: 127.0.0.1:8080",
        *(f"{name}: {value}" for name, value in headers.items()),
        "Accept-Encoding: gzip, deflate",
        "",
    ]


def test_url_cache_prefixes_the_base_path_and_skips_an_empty_query() -> None:
    urls = UrlCache(BASE)
    assert str(urls.get(PATH, ())) == BASE + PATH
    assert urls.get(PATH, QUERY) == URL(BASE + PATH).extend_query(QUERY)


# ----------------------------------------------------------------------------- framing


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
def test_frame_without_a_body_on_a_bodyless_method_ends_with_one_blank_line(method: str) -> None:
    head = render_head(method, URL(BASE), header_sets(_config())[0])
    data = frame(head, method, None)
    assert data == head + b"\r\n"
    assert b"Content-Length" not in data


@pytest.mark.parametrize(
    ("method", "body", "length"),
    [("POST", b'{"event_id":"101"}', 18), ("POST", None, 0), ("PUT", b"", 0), ("PATCH", None, 0)],
)
def test_frame_declares_content_length_and_appends_the_body(
    method: str, body: bytes | None, length: int
) -> None:
    head = render_head(method, URL(BASE), header_sets(_config())[1])
    data = frame(head, method, body)
    assert data == head + b"Content-Length: %d\r\n\r\n" % length + (body or b"")


@pytest.mark.parametrize(
    ("method", "body", "credit"), [("GET", None, False), ("POST", b'{"ids":["1","2"]}', True)]
)
def test_a_framed_request_parses_as_well_formed_http_1_1(
    method: str, body: bytes | None, credit: bool
) -> None:
    request = _request(method, body=body, credit=credit)
    sets = header_sets(_config())
    heads = HeadCache(UrlCache(BASE), sets)
    parsed, received = _parse(frame(heads.get(request), method, body))
    assert parsed.method == method.encode()
    assert parsed.target == URL(BASE + PATH).extend_query(QUERY).raw_path_qs.encode()
    assert parsed.http_version == b"1.1"
    headers = {name.decode(): value.decode() for name, value in parsed.headers}
    expected = {name.lower(): value for name, value in sets[header_set_index(request)].items()}
    assert headers.pop("host") == "127.0.0.1:8080"
    assert headers.pop("accept-encoding") == "gzip, deflate"
    if body is not None:
        assert headers.pop("content-length") == str(len(body))
    assert headers == expected
    assert received == (body or b"")


# ----------------------------------------------------------------------------- caches

Getter = Callable[[int], object]


def _url_getter() -> Getter:
    urls = UrlCache(BASE)
    # With a query: yarl itself caches URL(str), so identity would not prove our cache.
    return lambda i: urls.get(f"/external/events/{i}", QUERY)


def _head_getter() -> Getter:
    heads = HeadCache(UrlCache(BASE), header_sets(_config()))
    return lambda i: heads.get(_request(path=f"/external/events/{i}"))


CACHES = pytest.mark.parametrize("make", [_url_getter, _head_getter], ids=["urls", "heads"])


@CACHES
def test_caches_return_the_identical_object_on_repeat(make: Callable[[], Getter]) -> None:
    get = make()
    first = get(1)
    assert get(1) is first
    assert get(2) is not first
    assert get(1) is first


@CACHES
def test_caches_stay_bounded_evicting_the_oldest_entry_first(make: Callable[[], Getter]) -> None:
    get = make()
    kept = [get(i) for i in range(_CACHE_SIZE)]  # exactly full
    assert get(0) is kept[0]  # a hit does not refresh it: no LRU upkeep
    newest = get(_CACHE_SIZE)  # one over: the first one inserted goes
    assert get(_CACHE_SIZE) is newest
    assert all(get(i) is kept[i] for i in range(_CACHE_SIZE - 1, 0, -1))
    again = get(0)  # rebuilt (equal, but not the evicted object) ...
    assert again == kept[0]
    assert again is not kept[0]
    assert get(1) is not kept[1]  # ... which evicted the next oldest in turn
    assert get(_CACHE_SIZE) is newest


def test_head_cache_keys_on_method_and_header_set() -> None:
    heads = HeadCache(UrlCache(BASE), header_sets(_config()))
    variants = [
        heads.get(_request()),
        heads.get(_request(credit=True)),
        heads.get(_request("POST", body=b"{}")),
        heads.get(_request("POST", body=b"{}", credit=True)),
        heads.get(_request("POST")),
    ]
    assert len(set(variants)) == len(variants)
    assert b"x-call-source: agent" in variants[1]
    assert b"x-call-source" not in variants[0]
    assert heads.get(_request("POST", body=b"other")) is variants[2]  # the body is not keyed
