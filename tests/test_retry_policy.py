"""The pure retry policy: decisions, backoff, Retry-After, budget and deadlines."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.retry import (
    NEVER_RETRIED_STATUSES,
    Failure,
    FailureKind,
    GiveUp,
    GiveUpReason,
    Retry,
    RetryAfterTooLong,
    RetryBudget,
    RetryDecision,
    RetryPolicy,
    attempt_timeout,
    backoff_delay,
    decide,
    is_retryable_status,
    parse_retry_after,
)
from lensmor_async.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    DeadlineExceededError,
    RedirectRefusedError,
)

NOW = 1_714_521_600.0  # a fixed wall-clock instant (Unix seconds)

kinds = st.sampled_from(list(FailureKind))
statuses = st.integers(min_value=100, max_value=599)
failures = st.builds(
    Failure,
    kind=kinds,
    status=statuses,
    retry_after_header=st.one_of(st.none(), st.text(max_size=20), st.integers(0, 120).map(str)),
)
policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 8),
    backoff_base=st.floats(0, 5),
    backoff_cap=st.floats(0, 30),
    retry_after_cap=st.floats(0, 120),
    retry_paid_on_429=st.booleans(),
    no_sleep=st.booleans(),
)
deadlines = st.one_of(st.none(), st.floats(-1, 100))


def _decide(
    failure: Failure,
    *,
    policy: RetryPolicy | None = None,
    attempt: int = 1,
    paid: bool = False,
    deadline_remaining: float | None = None,
    budget: RetryBudget | None = None,
    seed: int = 0,
) -> RetryDecision:
    return decide(
        policy or RetryPolicy(),
        failure,
        attempt=attempt,
        paid=paid,
        deadline_remaining=deadline_remaining,
        now=NOW,
        rng=random.Random(seed),
        budget=budget if budget is not None else RetryBudget(),
    )


def _status(status: int, retry_after: str | None = None) -> Failure:
    return Failure(FailureKind.STATUS, status=status, retry_after_header=retry_after)


# --- backoff -------------------------------------------------------------------------


@given(
    attempt=st.integers(1, 2000),
    base=st.floats(0, 10),
    cap=st.floats(0, 60),
    seed=st.integers(0, 2**32),
)
def test_backoff_stays_within_full_jitter_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, base, cap, random.Random(seed))
    # Exact arithmetic: the float expression would overflow for large attempts.
    ceiling = min(Fraction(cap), Fraction(base) * 2 ** (attempt - 1))
    assert 0 <= Fraction(delay) <= ceiling


def test_backoff_ceiling_doubles_from_base_until_cap() -> None:
    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    ceilings = [backoff_delay(n, 0.5, 8.0, Top()) for n in range(1, 8)]
    assert ceilings == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


# --- statuses ------------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(NEVER_RETRIED_STATUSES))
def test_documented_final_statuses_are_never_retried(status: int) -> None:
    decision = _decide(_status(status, "1"))
    assert decision == GiveUp(GiveUpReason.NOT_RETRYABLE)


@given(policy=policies, failure=failures, paid=st.booleans(), attempt=st.integers(1, 10))
def test_never_retried_statuses_give_up_under_any_policy(
    policy: RetryPolicy, failure: Failure, paid: bool, attempt: int
) -> None:
    if failure.kind is FailureKind.STATUS and failure.status in NEVER_RETRIED_STATUSES:
        decision = _decide(failure, policy=policy, paid=paid, attempt=attempt)
        assert isinstance(decision, GiveUp)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_rate_limit_and_server_errors_are_retried_for_reads(status: int) -> None:
    assert is_retryable_status(status)
    assert isinstance(_decide(_status(status)), Retry)


@pytest.mark.parametrize("status", [200, 301, 405, 408, 418, 499, 600])
def test_other_statuses_are_not_retryable(status: int) -> None:
    assert not is_retryable_status(status)


@pytest.mark.parametrize(
    "kind",
    [
        FailureKind.CONNECT_NOT_SENT,
        FailureKind.CONNECTION_LOST,
        FailureKind.TIMEOUT_NOT_SENT,
        FailureKind.TIMEOUT,
    ],
)
def test_reads_are_retried_after_connection_errors_and_timeouts(kind: FailureKind) -> None:
    assert isinstance(_decide(Failure(kind)), Retry)


# --- paid calls ----------------------------------------------------------------------


@given(policy=policies, failure=failures, attempt=st.integers(1, 10))
def test_paid_calls_are_never_retried_after_bytes_may_have_left(
    policy: RetryPolicy, failure: Failure, attempt: int
) -> None:
    decision = _decide(failure, policy=policy, paid=True, attempt=attempt)
    if isinstance(decision, Retry):
        safe_status = (
            failure.kind is FailureKind.STATUS
            and failure.status == 429
            and policy.retry_paid_on_429
        )
        assert failure.kind in {FailureKind.CONNECT_NOT_SENT, FailureKind.TIMEOUT_NOT_SENT} or (
            safe_status
        )


@pytest.mark.parametrize("kind", [FailureKind.CONNECTION_LOST, FailureKind.TIMEOUT])
def test_paid_call_gives_up_when_the_request_may_have_been_sent(kind: FailureKind) -> None:
    assert _decide(Failure(kind), paid=True) == GiveUp(GiveUpReason.MAY_HAVE_BEEN_SENT)


@pytest.mark.parametrize("kind", [FailureKind.CONNECT_NOT_SENT, FailureKind.TIMEOUT_NOT_SENT])
def test_paid_call_is_resent_when_nothing_left_the_process(kind: FailureKind) -> None:
    assert isinstance(_decide(Failure(kind), paid=True), Retry)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_paid_call_is_not_retried_on_server_error(status: int) -> None:
    assert _decide(_status(status), paid=True) == GiveUp(GiveUpReason.MAY_HAVE_BEEN_SENT)


def test_paid_call_is_retried_on_429_by_default() -> None:
    assert isinstance(_decide(_status(429), paid=True), Retry)


def test_concurrency_limit_refusal_is_retried_with_backoff_for_reads() -> None:
    decision = _decide(Failure(FailureKind.CONCURRENCY_LIMIT, status=429), paid=False)
    assert isinstance(decision, Retry)


def test_concurrency_limit_refusal_never_resends_a_paid_call() -> None:
    decision = _decide(Failure(FailureKind.CONCURRENCY_LIMIT, status=429), paid=True)
    assert decision == GiveUp(GiveUpReason.NOT_RETRYABLE)


def test_paid_call_429_retry_can_be_switched_off() -> None:
    policy = RetryPolicy(retry_paid_on_429=False)
    decision = _decide(_status(429), policy=policy, paid=True)
    assert decision == GiveUp(GiveUpReason.MAY_HAVE_BEEN_SENT)


# --- attempts ------------------------------------------------------------------------


@given(
    policy=policies,
    failure_list=st.lists(failures, min_size=20, max_size=20),
    paid=st.booleans(),
    deadline=deadlines,
)
def test_total_attempts_never_exceed_max_attempts(
    policy: RetryPolicy, failure_list: list[Failure], paid: bool, deadline: float | None
) -> None:
    attempts = 0
    budget = RetryBudget()
    rng = random.Random(1)
    for failure in failure_list:
        attempts += 1
        decision = decide(
            policy,
            failure,
            attempt=attempts,
            paid=paid,
            deadline_remaining=deadline,
            now=NOW,
            rng=rng,
            budget=budget,
        )
        if not isinstance(decision, Retry):
            break
    assert attempts <= policy.max_attempts


def test_default_policy_makes_three_attempts_in_total() -> None:
    failure = _status(503)
    assert isinstance(_decide(failure, attempt=1), Retry)
    assert isinstance(_decide(failure, attempt=2), Retry)
    assert _decide(failure, attempt=3) == GiveUp(GiveUpReason.ATTEMPTS_EXHAUSTED)


# --- deadline ------------------------------------------------------------------------


@given(
    policy=policies,
    failure=failures,
    attempt=st.integers(1, 10),
    remaining=st.floats(0.0, 30.0),
    seed=st.integers(0, 1000),
)
def test_sleeps_never_cross_the_deadline(
    policy: RetryPolicy, failure: Failure, attempt: int, remaining: float, seed: int
) -> None:
    decision = _decide(
        failure, policy=policy, attempt=attempt, deadline_remaining=remaining, seed=seed
    )
    if isinstance(decision, Retry):
        assert decision.delay < remaining
    if isinstance(decision, RetryAfterTooLong):
        assert decision.retry_after > policy.retry_after_cap or decision.retry_after >= remaining


def test_gives_up_when_the_deadline_has_already_passed() -> None:
    assert _decide(_status(503), deadline_remaining=0.0) == GiveUp(GiveUpReason.DEADLINE)


def test_gives_up_when_the_backoff_would_reach_the_deadline() -> None:
    policy = RetryPolicy(backoff_base=10.0, backoff_cap=10.0)

    class Top(random.Random):
        def random(self) -> float:
            return 1.0

    decision = decide(
        policy,
        Failure(FailureKind.TIMEOUT),
        attempt=1,
        paid=False,
        deadline_remaining=5.0,
        now=NOW,
        rng=Top(),
        budget=RetryBudget(),
    )
    assert decision == GiveUp(GiveUpReason.DEADLINE)


@pytest.mark.parametrize(
    ("per_attempt", "remaining", "expected"),
    [
        (30.0, None, 30.0),
        (None, None, None),
        (None, 4.0, 4.0),
        (30.0, 4.0, 4.0),
        (2.0, 4.0, 2.0),
        (30.0, -1.0, 0.0),
    ],
)
def test_attempt_timeout_shrinks_to_the_time_left(
    per_attempt: float | None, remaining: float | None, expected: float | None
) -> None:
    assert attempt_timeout(per_attempt, remaining) == expected


# --- Retry-After ---------------------------------------------------------------------


def test_retry_after_seconds_are_honoured_as_the_delay() -> None:
    assert _decide(_status(429, "7")) == Retry(7.0)


def test_retry_after_at_the_cap_is_still_slept() -> None:
    assert _decide(_status(429, "60")) == Retry(60.0)


def test_retry_after_past_the_cap_is_raised_at_once() -> None:
    assert _decide(_status(429, "61")) == RetryAfterTooLong(61.0)


def test_retry_after_past_the_deadline_is_raised_at_once() -> None:
    decision = _decide(_status(429, "10"), deadline_remaining=5.0)
    assert decision == RetryAfterTooLong(10.0)


@given(
    seconds=st.integers(0, 10_000),
    cap=st.floats(0, 120),
    remaining=st.one_of(st.none(), st.floats(0.001, 200)),
)
def test_retry_after_over_cap_or_deadline_is_too_long(
    seconds: int, cap: float, remaining: float | None
) -> None:
    policy = RetryPolicy(retry_after_cap=cap)
    decision = _decide(_status(429, str(seconds)), policy=policy, deadline_remaining=remaining)
    too_long = seconds > cap or (remaining is not None and seconds >= remaining)
    if too_long:
        assert decision == RetryAfterTooLong(float(seconds))
    else:
        assert decision == Retry(float(seconds))


@pytest.mark.parametrize("garbage", ["soon", "-5", "1e3", "inf", "nan", " ", "", "12abc", "+3"])
def test_garbage_or_negative_retry_after_falls_back_to_backoff(garbage: str) -> None:
    decision = _decide(_status(429, garbage))
    assert isinstance(decision, Retry)
    assert 0.0 <= decision.delay <= 0.5


@given(header=st.text(max_size=30))
def test_parse_retry_after_never_raises_and_is_never_negative(header: str) -> None:
    parsed = parse_retry_after(header, NOW)
    assert parsed is None or parsed >= 0.0


@given(seconds=st.integers(0, 10**9))
def test_parse_retry_after_reads_delay_seconds(seconds: int) -> None:
    assert parse_retry_after(f" {seconds} ", NOW) == float(seconds)


def test_parse_retry_after_reads_fractional_seconds() -> None:
    assert parse_retry_after("32.5", NOW) == 32.5


def test_parse_retry_after_absent_is_none() -> None:
    assert parse_retry_after(None, NOW) is None


@given(offset=st.integers(0, 86_400))
def test_parse_retry_after_reads_imf_fixdate(offset: int) -> None:
    when = datetime.fromtimestamp(NOW + offset, tz=UTC)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == float(offset)


@pytest.mark.parametrize(
    "header",
    [
        "Wed, 01 May 2024 00:00:30 GMT",
        "Wednesday, 01-May-24 00:00:30 GMT",
        "Wed May  1 00:00:30 2024",
    ],
)
def test_parse_retry_after_reads_all_three_http_date_formats(header: str) -> None:
    assert parse_retry_after(header, NOW) == 30.0


def test_parse_retry_after_date_in_the_past_falls_back() -> None:
    assert parse_retry_after("Wed, 01 May 2024 00:00:00 GMT", NOW + 5) is None


def test_http_date_retry_after_is_honoured_by_decide() -> None:
    assert _decide(_status(503, "Wed, 01 May 2024 00:00:20 GMT")) == Retry(20.0)


@pytest.mark.parametrize("header", ["Wed, 32 May 2024 00:00:30 GMT", "Wed, 01 May 99999 GMT"])
def test_parse_retry_after_impossible_date_is_none(header: str) -> None:
    assert parse_retry_after(header, NOW) is None


# --- budget --------------------------------------------------------------------------


def test_full_budget_allows_exactly_one_hundred_plain_retries() -> None:
    budget = RetryBudget()
    granted = 0
    while isinstance(_decide(_status(503), budget=budget), Retry):
        granted += 1
    assert granted == 100
    assert budget.tokens == 0
    assert _decide(_status(503), budget=budget) == GiveUp(GiveUpReason.BUDGET_EXHAUSTED)


def test_timeout_retries_cost_ten_tokens() -> None:
    budget = RetryBudget()
    assert isinstance(_decide(Failure(FailureKind.TIMEOUT), budget=budget), Retry)
    assert budget.tokens == 490
    assert isinstance(_decide(Failure(FailureKind.TIMEOUT_NOT_SENT), budget=budget), Retry)
    assert budget.tokens == 480


def test_full_budget_allows_fifty_timeout_retries() -> None:
    budget = RetryBudget()
    granted = 0
    while budget.try_acquire(timeout=True):
        granted += 1
    assert granted == 50


def test_success_refunds_one_token_capped_at_capacity() -> None:
    budget = RetryBudget()
    budget.record_success()
    assert budget.tokens == 500
    assert budget.try_acquire()
    budget.record_success()
    budget.record_success()
    assert budget.tokens == 497


@given(ops=st.lists(st.sampled_from(["plain", "timeout", "success"]), max_size=300))
def test_budget_tokens_stay_between_zero_and_capacity(ops: list[str]) -> None:
    budget = RetryBudget()
    for op in ops:
        if op == "success":
            budget.record_success()
        else:
            before = budget.tokens
            granted = budget.try_acquire(timeout=op == "timeout")
            cost = 10 if op == "timeout" else 5
            assert budget.tokens == (before - cost if granted else before)
        assert 0 <= budget.tokens <= budget.capacity


@given(policy=policies, failure=failures, paid=st.booleans(), deadline=deadlines)
def test_decide_takes_budget_tokens_only_when_it_retries(
    policy: RetryPolicy, failure: Failure, paid: bool, deadline: float | None
) -> None:
    budget = RetryBudget()
    decision = _decide(
        failure, policy=policy, paid=paid, deadline_remaining=deadline, budget=budget
    )
    if isinstance(decision, Retry):
        assert budget.tokens < budget.capacity
    else:
        assert budget.tokens == budget.capacity


def test_empty_budget_fails_fast_without_retry_after_checks_consuming_it() -> None:
    budget = RetryBudget(capacity=4)
    assert _decide(_status(429, "1"), budget=budget) == GiveUp(GiveUpReason.BUDGET_EXHAUSTED)
    assert budget.tokens == 4


# --- testing mode and configuration --------------------------------------------------


@given(
    failure=failures,
    attempt=st.integers(1, 5),
    paid=st.booleans(),
    deadline=deadlines,
    seed=st.integers(0, 1000),
)
def test_testing_mode_keeps_decisions_but_never_sleeps(
    failure: Failure, attempt: int, paid: bool, deadline: float | None, seed: int
) -> None:
    def run(policy: RetryPolicy) -> RetryDecision:
        return _decide(
            failure,
            policy=policy,
            attempt=attempt,
            paid=paid,
            deadline_remaining=deadline,
            seed=seed,
        )

    real, fast = run(RetryPolicy()), run(RetryPolicy.testing())
    assert type(real) is type(fast)
    if isinstance(fast, Retry):
        assert fast.delay == 0.0
    else:
        assert real == fast


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": True},
        {"max_attempts": 2.5},
        {"backoff_base": -1.0},
        {"backoff_cap": float("inf")},
        {"retry_after_cap": float("nan")},
        {"backoff_base": "0.5"},
    ],
)
def test_policy_refuses_nonsense_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryPolicy(**kwargs)


@pytest.mark.parametrize("kwargs", [{"capacity": -1}, {"retry_cost": -5}, {"success_refund": 1.5}])
def test_budget_refuses_nonsense_values(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        RetryBudget(**kwargs)


# --- describing transport errors -----------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (APIConnectionError("refused", request_sent=False), FailureKind.CONNECT_NOT_SENT),
        (APIConnectionError("reset"), FailureKind.CONNECTION_LOST),
        (APITimeoutError("connect timeout", request_sent=False), FailureKind.TIMEOUT_NOT_SENT),
        (APITimeoutError("read timeout"), FailureKind.TIMEOUT),
    ],
)
def test_transport_errors_map_to_failure_kinds(exc: APIConnectionError, kind: FailureKind) -> None:
    assert Failure.from_transport_error(exc) == Failure(kind)


@pytest.mark.parametrize(
    "exc",
    [DeadlineExceededError("deadline"), RedirectRefusedError("redirect", status=302)],
)
def test_redirects_and_exhausted_deadlines_are_not_retryable_failures(
    exc: APITimeoutError,
) -> None:
    assert Failure.from_transport_error(exc) is None
