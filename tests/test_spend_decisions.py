"""Pure guard decisions: precheck refinement, contact-batch trimming, admission, task charges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.spend import (
    Admission,
    QuoteDecision,
    admit,
    refine_contact_batch,
    refine_with_precheck,
    task_charge,
)

# --- refine_with_precheck -----------------------------------------------------------------


def test_precheck_ok_charges_the_larger_of_table_and_precheck() -> None:
    assert refine_with_precheck(
        2000, allowed=True, should_charge=True, credits=2500, reason_code="ok"
    ) == QuoteDecision(credits=2500)
    assert refine_with_precheck(
        2000, allowed=True, should_charge=True, credits=1500, reason_code="ok"
    ) == QuoteDecision(credits=2000)


def test_precheck_ok_with_unknown_table_price_uses_precheck_credits() -> None:
    decision = refine_with_precheck(
        None, allowed=True, should_charge=True, credits=40, reason_code="ok"
    )
    assert decision == QuoteDecision(credits=40)


def test_already_unlocked_is_free() -> None:
    decision = refine_with_precheck(
        2000, allowed=False, should_charge=False, credits=0, reason_code="already_unlocked"
    )
    assert decision == QuoteDecision(credits=0, free=True)


def test_allowed_without_charge_is_free() -> None:
    decision = refine_with_precheck(
        2000, allowed=True, should_charge=False, credits=0, reason_code="ok"
    )
    assert decision.free is True
    assert decision.credits == 0
    assert decision.refused_reason is None


def test_insufficient_balance_is_refused_with_the_precheck_price() -> None:
    decision = refine_with_precheck(
        2000, allowed=False, should_charge=True, credits=2100, reason_code="insufficient_balance"
    )
    assert decision == QuoteDecision(credits=2100, refused_reason="insufficient_balance")


def test_insufficient_balance_without_precheck_price_falls_back_to_the_table() -> None:
    decision = refine_with_precheck(
        2000, allowed=False, should_charge=True, credits=0, reason_code="insufficient_balance"
    )
    assert decision == QuoteDecision(credits=2000, refused_reason="insufficient_balance")


@pytest.mark.parametrize(
    "reason",
    [
        "unlock_in_progress",
        "state_conflict",
        "no_contacts_available",
        "exceed_max_unlock_limit",
        "invalid_subject",
        "not_found",
        "forbidden",
        "system_error",
    ],
)
def test_not_allowed_reasons_refuse_even_when_allowed_is_true(reason: str) -> None:
    decision = refine_with_precheck(
        2000, allowed=True, should_charge=True, credits=2000, reason_code=reason
    )
    assert decision.refused_reason == reason
    assert decision.free is False


def test_not_allowed_with_an_unknown_reason_is_refused() -> None:
    decision = refine_with_precheck(
        2000, allowed=False, should_charge=True, credits=2000, reason_code="brand_new_reason"
    )
    assert decision == QuoteDecision(credits=2000, refused_reason="brand_new_reason")


def test_allowed_with_an_unknown_reason_proceeds() -> None:
    decision = refine_with_precheck(
        2000, allowed=True, should_charge=True, credits=2000, reason_code="brand_new_reason"
    )
    assert decision == QuoteDecision(credits=2000)


@given(
    table=st.none() | st.integers(0, 10_000),
    credits=st.integers(0, 10_000),
    reason=st.sampled_from(["ok", "fresh", "unlock_in_progress", "insufficient_balance"]),
)
def test_a_chargeable_allowed_quote_is_never_below_the_table_price(
    table: int | None, credits: int, reason: str
) -> None:
    decision = refine_with_precheck(
        table, allowed=True, should_charge=True, credits=credits, reason_code=reason
    )
    if decision.refused_reason is None:
        assert decision.credits is not None
        assert decision.credits >= max(credits, table or 0)


# --- refine_contact_batch -----------------------------------------------------------------


def test_unknown_chargeable_assumes_every_requested_id_is_charged() -> None:
    decision = refine_contact_batch(
        ["1", "2", "3"], None, price_per_contact=15, precheck_credits=None
    )
    assert decision == QuoteDecision(credits=45, chargeable_ids=("1", "2", "3"), skipped_ids=())


def test_batch_is_trimmed_to_chargeable_ids_in_request_order() -> None:
    decision = refine_contact_batch(
        ["3", "1", "2"], ["2", "3"], price_per_contact=15, precheck_credits=None
    )
    assert decision.chargeable_ids == ("3", "2")
    assert decision.skipped_ids == ("1",)
    assert decision.credits == 30


def test_chargeable_ids_that_were_not_requested_are_ignored() -> None:
    decision = refine_contact_batch(["1"], ["1", "99"], price_per_contact=15, precheck_credits=None)
    assert decision.chargeable_ids == ("1",)
    assert decision.credits == 15


def test_nothing_chargeable_is_free_and_skips_everything() -> None:
    decision = refine_contact_batch(["1", "2"], [], price_per_contact=15, precheck_credits=90)
    assert decision == QuoteDecision(
        credits=0, free=True, chargeable_ids=(), skipped_ids=("1", "2")
    )


def test_precheck_credits_win_when_higher_than_the_table() -> None:
    decision = refine_contact_batch(["1", "2"], None, price_per_contact=15, precheck_credits=300)
    assert decision.credits == 300


def test_table_wins_when_higher_than_precheck_credits() -> None:
    decision = refine_contact_batch(["1", "2"], None, price_per_contact=15, precheck_credits=10)
    assert decision.credits == 30


def test_unknown_per_contact_price_without_precheck_is_unknown() -> None:
    decision = refine_contact_batch(["1"], None, price_per_contact=None, precheck_credits=None)
    assert decision.credits is None
    assert decision.chargeable_ids == ("1",)


def test_unknown_per_contact_price_uses_precheck_credits() -> None:
    decision = refine_contact_batch(["1"], None, price_per_contact=None, precheck_credits=150)
    assert decision.credits == 150


def test_chargeable_may_be_a_one_shot_iterable() -> None:
    decision = refine_contact_batch(
        ["1", "2", "3"], iter(["2", "3"]), price_per_contact=15, precheck_credits=None
    )
    assert decision.chargeable_ids == ("2", "3")
    assert decision.skipped_ids == ("1",)


ids_strategy = st.lists(st.text("0123456789", min_size=1, max_size=3), unique=True, max_size=20)


@given(requested=ids_strategy, chargeable=st.none() | ids_strategy)
def test_every_requested_id_is_either_chargeable_or_skipped(
    requested: list[str], chargeable: list[str] | None
) -> None:
    decision = refine_contact_batch(
        requested, chargeable, price_per_contact=15, precheck_credits=None
    )
    assert decision.chargeable_ids is not None
    assert sorted(decision.chargeable_ids + decision.skipped_ids) == sorted(requested)
    assert not set(decision.chargeable_ids) & set(decision.skipped_ids)
    assert decision.credits == 15 * len(decision.chargeable_ids)


# --- admit --------------------------------------------------------------------------------


def test_admit_accepts_a_spend_within_balance_minus_holds() -> None:
    assert admit(60, balance=100, held=40, latched_402=False) == Admission(True, 60, available=60)


def test_admit_refuses_a_spend_over_balance_minus_holds() -> None:
    assert admit(61, balance=100, held=40, latched_402=False) == Admission(
        False, 61, available=60, reason="balance"
    )


def test_admit_reports_zero_available_when_holds_exceed_balance() -> None:
    result = admit(1, balance=10, held=50, latched_402=False)
    assert result.ok is False
    assert result.available == 0


def test_admit_with_unknown_balance_lets_the_server_decide() -> None:
    assert admit(10**9, balance=None, held=0, latched_402=False) == Admission(True, 10**9)


def test_admit_refuses_everything_while_a_402_is_latched() -> None:
    result = admit(0, balance=10_000, held=0, latched_402=True)
    assert result == Admission(False, 0, available=10_000, reason="server_402_latched")


def test_admit_accepts_a_zero_spend_with_zero_balance() -> None:
    assert admit(0, balance=0, held=0, latched_402=False).ok is True


# --- task_charge --------------------------------------------------------------------------


def test_task_charge_counts_unlocked_items_only_by_default_plan() -> None:
    assert task_charge(price_per_item=15, unlocked=4, failed=3, charge_failed_items=False) == 60


def test_task_charge_counts_failed_items_when_the_plan_charges_them() -> None:
    assert task_charge(price_per_item=15, unlocked=4, failed=3, charge_failed_items=True) == 105


def test_task_charge_of_nothing_is_zero() -> None:
    assert task_charge(price_per_item=150, unlocked=0, failed=0, charge_failed_items=True) == 0
