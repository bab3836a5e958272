"""Rate-limit header parsing and the pure pacing it implies."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from lensmor_async._core.ratelimit import (
    NO_PACE,
    Pace,
    RateLimitInfo,
    WindowUse,
    adopt,
    pace,
    parse_rate_limit,
    pause_until_after_429,
    sharers_after_429,
    sharers_after_window,
    tally,
    turn_delay,
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


# --- pacing a bulk job: in-flight bound, own starts, sharers of the key ---------------


def test_plenty_for_one_caller_is_not_plenty_for_a_full_burst() -> None:
    info = RateLimitInfo(limit=200, remaining=100, reset=int(NOW) + 1)
    assert pace(info, NOW, in_flight=1, burst=64) is NO_PACE
    # 64 slots held could send 64 requests the server has not counted: pace from here.
    assert pace(info, NOW, in_flight=64, burst=64) == Pace(spacing=0.01)


def test_fewer_left_than_one_burst_is_paced_even_when_idle() -> None:
    info = RateLimitInfo(limit=200, remaining=50, reset=int(NOW) + 1)
    assert pace(info, NOW, in_flight=0, burst=64) == Pace(spacing=0.02)


@given(
    limit=st.integers(1, 10_000),
    remaining=st.integers(0, 10_000),
    bound=st.integers(0, 500),
    burst=st.integers(0, 500),
    started=st.integers(0, 500),
    sharers=st.integers(1, 10),
    fraction=st.floats(0, 1),
)
def test_starting_at_once_leaves_room_for_a_whole_burst(
    limit: int,
    remaining: int,
    bound: int,
    burst: int,
    started: int,
    sharers: int,
    fraction: float,
) -> None:
    info = RateLimitInfo(limit, remaining, int(NOW) + 5)
    result = pace(
        info,
        NOW,
        low_fraction=fraction,
        in_flight=bound,
        burst=burst,
        started=started,
        sharers=sharers,
    )
    if result is NO_PACE:
        # Our paced starts since the answer and the other sharers' last requests
        # aside: a whole burst cannot overdraw, and the requests in flight leave more
        # than their number for pacing to spread out.
        left = remaining - started - (sharers - 1)
        assert left > burst
        assert left - bound > bound


@given(remaining=st.integers(1, 100), started=st.integers(0, 100), to_reset=st.integers(1, 50))
def test_own_starts_since_the_answer_are_spent_before_pacing(
    remaining: int, started: int, to_reset: int
) -> None:
    info = RateLimitInfo(limit=10_000, remaining=remaining, reset=int(NOW) + to_reset)
    result = pace(info, NOW, max_wait=1e9, in_flight=10_000, started=started)
    left = remaining - started
    if left <= 0:
        assert result == Pace(wait=float(to_reset))
    else:
        assert result.spacing * left == pytest.approx(to_reset)


def test_each_sharer_leaves_the_others_their_last_request() -> None:
    info = RateLimitInfo(limit=200, remaining=2, reset=int(NOW) + 1)
    assert pace(info, NOW, burst=64, sharers=3) == Pace(wait=1.0)
    assert pace(info, NOW, burst=64, sharers=2) == Pace(spacing=1.0)


window_infos = st.builds(
    RateLimitInfo,
    limit=st.one_of(st.none(), st.integers(0, 1000)),
    remaining=st.one_of(st.none(), st.integers(0, 1000)),
    reset=st.one_of(st.none(), st.integers(int(NOW), int(NOW) + 100)),
)


@given(current=st.one_of(st.none(), window_infos), info=window_infos)
def test_adopting_an_answer_never_goes_back_to_an_earlier_window(
    current: RateLimitInfo | None, info: RateLimitInfo
) -> None:
    kept = adopt(current, info, now=NOW, max_wait=1000.0)
    if current is not None and current.reset is not None and info.reset is not None:
        assert kept.reset == max(current.reset, info.reset)
        if info.reset == current.reset and None not in (info.remaining, current.remaining):
            assert kept.remaining == min(info.remaining, current.remaining)  # type: ignore[type-var]


def test_within_a_window_the_count_only_goes_down() -> None:
    # Answers overtake each other, and none counts the requests started after it.
    reset = int(NOW) + 1
    low, high = RateLimitInfo(200, 3, reset), RateLimitInfo(200, 150, reset)
    assert adopt(low, high, now=NOW) == low
    assert adopt(high, low, now=NOW) is low
    assert adopt(RateLimitInfo(200, 10, reset), high, started=4, now=NOW) == RateLimitInfo(
        200, 6, reset
    )
    # A new window starts afresh; a late answer from the old one changes nothing.
    fresh = RateLimitInfo(200, 199, reset + 1)
    assert adopt(low, fresh, now=NOW) is fresh
    assert adopt(fresh, low, now=NOW) is fresh


@given(spacing=st.floats(0, 100), since=st.floats(0, 1000))
def test_turn_delay_is_what_is_left_of_one_spacing(spacing: float, since: float) -> None:
    delay = turn_delay(spacing, since)
    assert 0.0 <= delay <= spacing
    assert (delay == 0.0) == (since >= spacing)


@given(
    sharers=st.integers(1, 50),
    per_client=st.integers(1, 200),
    limit=st.one_of(st.none(), st.integers(0, 5000)),
)
def test_a_429_counts_one_more_sharer_until_they_cover_the_limit(
    sharers: int, per_client: int, limit: int | None
) -> None:
    after = sharers_after_429(sharers, per_client, limit)
    if limit is None or sharers * per_client >= limit:
        assert after == sharers
    else:
        assert after == sharers + 1


def test_a_held_reset_beyond_max_wait_never_outranks_a_fresh_answer() -> None:
    hostile = RateLimitInfo(120, 0, int(NOW) + 3600)
    fresh = RateLimitInfo(120, 119, int(NOW) + 1)
    assert adopt(hostile, fresh, now=NOW, max_wait=60.0) is fresh
    # A held reset within max_wait still outranks a late answer from an older window.
    held = RateLimitInfo(120, 0, int(NOW) + 30)
    assert adopt(held, fresh, now=NOW, max_wait=60.0) is held


@given(
    current=window_infos,
    info=window_infos,
    ahead=st.integers(1, 10_000),
    max_wait=st.floats(0, 1000),
)
def test_a_fresh_answer_always_replaces_a_held_window_beyond_max_wait(
    current: RateLimitInfo, info: RateLimitInfo, ahead: int, max_wait: float
) -> None:
    far = attrs.evolve(current, reset=int(NOW + max_wait) + ahead)
    if info.reset is not None and info.reset != far.reset:
        assert adopt(far, info, now=NOW, max_wait=max_wait) is info


# --- sharers decay ---------------------------------------------------------------------


def _window(reset: int, *answers: int) -> WindowUse:
    use = WindowUse()
    for remaining in answers:
        use = tally(use, RateLimitInfo(100, remaining, reset))
    return use


def test_a_window_spent_only_by_this_client_counts_one_sharer_fewer() -> None:
    ours = _window(int(NOW) + 1, 99, 98, 97)  # 3 answers, 3 used from the key
    assert sharers_after_window(3, ours, limit=100) == 2
    assert sharers_after_window(1, ours, limit=100) == 1


def test_a_window_someone_else_spent_from_or_with_a_429_keeps_the_sharers() -> None:
    shared = _window(int(NOW) + 1, 90, 80)  # 2 answers, 20 used from the key
    assert sharers_after_window(3, shared, limit=100) == 3
    refused = attrs.evolve(_window(int(NOW) + 1, 99), refused=True)
    assert sharers_after_window(3, refused, limit=100) == 3
    assert sharers_after_window(3, WindowUse(), limit=100) == 3  # nothing seen
    assert sharers_after_window(3, _window(int(NOW) + 1, 99), limit=None) == 3


def test_answers_from_another_window_do_not_mix_into_this_ones_tally() -> None:
    reset = int(NOW) + 5
    use = _window(reset, 99, 98)
    assert tally(use, RateLimitInfo(100, 10, reset - 1)) == use  # late, older window
    assert tally(use, RateLimitInfo(100, 99, reset + 1)) == WindowUse(reset + 1, 1, 99)
    assert tally(use, RateLimitInfo(100, None, reset)) == use


@given(
    sharers=st.integers(1, 50),
    answers=st.lists(st.integers(0, 100), max_size=30),
    refused=st.booleans(),
)
def test_sharers_fall_by_at_most_one_a_window_never_below_one_and_only_without_evidence(
    sharers: int, answers: list[int], refused: bool
) -> None:
    use = attrs.evolve(_window(int(NOW) + 1, *answers), refused=refused)
    after = sharers_after_window(sharers, use, limit=100)
    assert after in (sharers, max(1, sharers - 1))
    if after < sharers:
        assert not refused
        assert 100 - min(answers) <= len(answers)  # the key's use was all this client's
