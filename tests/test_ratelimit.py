"""Rate-limit header parsing and the pure pacing it implies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from lensmor_async._core.ratelimit import (
    NO_PACE,
    Pace,
    RateLimitInfo,
    pace,
    parse_rate_limit,
    pause_until_after_429,
)

NOW = 1_714_521_600.0


# --- parse_rate_limit ----------------------------------------------------------------


def test_parses_the_documented_headers() -> None:
    headers = {
        "X-RateLimit-Limit": "120",
        "X-RateLimit-Remaining": "119",
        "X-RateLimit-Reset": "1714521600",
    }
    assert parse_rate_limit(headers) == RateLimitInfo(120, 119, 1714521600)


def test_header_names_are_case_insensitive_in_a_plain_dict() -> None:
    headers = {"x-ratelimit-limit": "10", "X-RATELIMIT-REMAINING": "3", "x-RateLimit-reset": "5"}
    assert parse_rate_limit(headers) == RateLimitInfo(10, 3, 5)


def test_reads_aiohttp_style_case_insensitive_headers() -> None:
    raw = CIMultiDict({"x-ratelimit-remaining": "7", "Content-Type": "application/json"})
    assert parse_rate_limit(CIMultiDictProxy(raw)) == RateLimitInfo(remaining=7)


def test_missing_headers_give_none() -> None:
    assert parse_rate_limit({"Content-Type": "application/json"}) is None
    assert parse_rate_limit({}) is None


@pytest.mark.parametrize("garbage", ["", "abc", "-1", "1e3", "12 apples", "9" * 40, "∞", "0x10"])
def test_garbage_values_become_none_fields(garbage: str) -> None:
    headers = {"X-RateLimit-Limit": garbage, "X-RateLimit-Remaining": "4"}
    assert parse_rate_limit(headers) == RateLimitInfo(limit=None, remaining=4)


def test_only_garbage_gives_none() -> None:
    assert parse_rate_limit({"X-RateLimit-Remaining": "lots"}) is None


def test_whitespace_and_fractional_values_are_tolerated() -> None:
    headers = {"X-RateLimit-Remaining": " 5 ", "X-RateLimit-Reset": "1714521600.75"}
    assert parse_rate_limit(headers) == RateLimitInfo(remaining=5, reset=1714521600)


@given(
    headers=st.dictionaries(
        st.sampled_from(
            ["X-RateLimit-Limit", "x-ratelimit-remaining", "X-RATELIMIT-RESET", "Other"]
        ),
        st.text(max_size=25),
    )
)
def test_parsing_never_raises_and_yields_non_negative_ints(headers: dict[str, str]) -> None:
    info = parse_rate_limit(headers)
    if info is not None:
        for value in (info.limit, info.remaining, info.reset):
            assert value is None or (isinstance(value, int) and value >= 0)


@given(limit=st.integers(0, 10**9), remaining=st.integers(0, 10**9), reset=st.integers(0, 10**10))
def test_well_formed_values_round_trip(limit: int, remaining: int, reset: int) -> None:
    headers = {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(reset),
    }
    assert parse_rate_limit(headers) == RateLimitInfo(limit, remaining, reset)


# --- pace ----------------------------------------------------------------------------


def test_plenty_remaining_means_no_pacing() -> None:
    info = RateLimitInfo(limit=120, remaining=100, reset=int(NOW) + 30)
    assert pace(info, NOW) is NO_PACE


def test_nothing_known_means_no_pacing() -> None:
    assert pace(None, NOW) is NO_PACE
    assert pace(RateLimitInfo(limit=120), NOW) is NO_PACE
    assert pace(RateLimitInfo(remaining=0), NOW) is NO_PACE


def test_exhausted_window_waits_until_reset() -> None:
    info = RateLimitInfo(limit=120, remaining=0, reset=int(NOW) + 30)
    assert pace(info, NOW) == Pace(wait=30.0)


def test_exhausted_window_wait_is_capped() -> None:
    info = RateLimitInfo(limit=120, remaining=0, reset=int(NOW) + 3600)
    assert pace(info, NOW, max_wait=60.0) == Pace(wait=60.0)


def test_low_remaining_spreads_requests_over_the_window() -> None:
    info = RateLimitInfo(limit=120, remaining=10, reset=int(NOW) + 30)
    assert pace(info, NOW) == Pace(spacing=3.0)


def test_reset_in_the_past_means_no_pacing() -> None:
    info = RateLimitInfo(limit=120, remaining=0, reset=int(NOW) - 1)
    assert pace(info, NOW) is NO_PACE


def test_unknown_limit_paces_only_the_last_request() -> None:
    reset = int(NOW) + 20
    assert pace(RateLimitInfo(remaining=2, reset=reset), NOW) is NO_PACE
    assert pace(RateLimitInfo(remaining=1, reset=reset), NOW) == Pace(spacing=20.0)


infos = st.builds(
    RateLimitInfo,
    limit=st.one_of(st.none(), st.integers(0, 10_000)),
    remaining=st.one_of(st.none(), st.integers(0, 10_000)),
    reset=st.one_of(st.none(), st.integers(int(NOW) - 100, int(NOW) + 10_000)),
)


@given(info=infos, max_wait=st.floats(0, 120), fraction=st.floats(0, 1))
def test_pacing_is_bounded_and_never_both_waits_and_spaces(
    info: RateLimitInfo, max_wait: float, fraction: float
) -> None:
    result = pace(info, NOW, low_fraction=fraction, max_wait=max_wait)
    assert 0.0 <= result.wait <= max_wait
    assert 0.0 <= result.spacing <= max_wait
    assert result.wait == 0.0 or result.spacing == 0.0


@given(info=infos)
def test_waiting_happens_only_when_nothing_remains(info: RateLimitInfo) -> None:
    if pace(info, NOW).wait > 0:
        assert info.remaining == 0


@given(
    limit=st.integers(1, 1000),
    remaining=st.integers(1, 999),
    to_reset=st.integers(1, 600),
)
def test_fewer_remaining_never_means_closer_spacing(
    limit: int, remaining: int, to_reset: int
) -> None:
    reset = int(NOW) + to_reset
    fewer = pace(RateLimitInfo(limit, remaining - 1, reset), NOW)
    more = pace(RateLimitInfo(limit, remaining, reset), NOW)
    assert fewer.wait + fewer.spacing >= more.wait + more.spacing


@given(remaining=st.integers(1, 100), to_reset=st.integers(1, 50))
def test_spacing_fits_the_remaining_requests_into_the_window(remaining: int, to_reset: int) -> None:
    info = RateLimitInfo(limit=10_000, remaining=remaining, reset=int(NOW) + to_reset)
    spacing = pace(info, NOW, max_wait=1e9).spacing
    assert spacing * remaining == pytest.approx(to_reset)


# --- pause_until_after_429 -----------------------------------------------------------


def test_429_pauses_for_retry_after_seconds() -> None:
    assert pause_until_after_429("32", now=100.0) == 132.0


def test_429_reads_http_date_against_the_wall_clock() -> None:
    until = pause_until_after_429("Wed, 01 May 2024 00:00:10 GMT", now=5.0, wall_now=NOW)
    assert until == 15.0


def test_429_without_usable_retry_after_pauses_for_the_default() -> None:
    assert pause_until_after_429(None, now=10.0, default=2.0) == 12.0
    assert pause_until_after_429("later", now=10.0, default=2.0) == 12.0


@given(header=st.one_of(st.none(), st.text(max_size=20), st.integers(0, 10**6).map(str)))
def test_429_pause_is_never_in_the_past_and_never_beyond_the_cap(header: str | None) -> None:
    until = pause_until_after_429(header, now=50.0, cap=60.0)
    assert 50.0 <= until <= 110.0
