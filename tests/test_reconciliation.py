"""The pure rule for when "no effect seen" may be read as "not executed"."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.reconciliation import (
    NOT_EXECUTED_GRACE,
    TESTING_NOT_EXECUTED_GRACE,
    wait_before_not_executed,
)


def test_a_not_executed_verdict_right_after_the_send_waits_out_the_grace() -> None:
    assert wait_before_not_executed(False, sent_age=0.2, grace=5.0) == pytest.approx(4.8)


def test_a_not_executed_verdict_after_the_grace_stands_at_once() -> None:
    assert wait_before_not_executed(False, sent_age=5.0, grace=5.0) == 0.0
    assert wait_before_not_executed(False, sent_age=60.0, grace=5.0) == 0.0


@pytest.mark.parametrize("charged", [True, None], ids=["charged", "unknown"])
def test_a_seen_effect_or_an_unknown_verdict_never_waits(charged: bool | None) -> None:
    assert wait_before_not_executed(charged, sent_age=0.0, grace=5.0) == 0.0


def test_testing_mode_uses_a_shorter_grace_than_production() -> None:
    assert 0 < TESTING_NOT_EXECUTED_GRACE < NOT_EXECUTED_GRACE


@given(
    age=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    grace=st.floats(min_value=0, max_value=1e3, allow_nan=False),
)
def test_waiting_the_answer_always_ends_exactly_at_the_grace(age: float, grace: float) -> None:
    wait = wait_before_not_executed(False, sent_age=age, grace=grace)
    assert wait >= 0
    assert wait == 0 or age + wait == pytest.approx(grace)
