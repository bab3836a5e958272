"""The spend decision (``_core.spend``), pure: no event loop, no I/O, Hypothesis where it helps.

Precheck refinement, contact-batch trimming, the plan, admission, the 402 latch, approved
quotes, and settlement from evidence (impossible evidence never releases credits).
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lensmor_async._core.spend import (
    Admission,
    AnswerFree,
    Evidence,
    InDoubt,
    QuoteDecision,
    Refuse,
    SendFree,
    Settled,
    Spend,
    admit,
    balance_source,
    budget_remaining,
    confirm_needed,
    plan,
    refine_contact_batch,
    refine_with_precheck,
    search_evidence,
    settle_answer,
    settle_evidence,
    settle_submission,
    settle_task,
    settle_verdict,
    staged_balances,
    task_charge,
    valid_credits,
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


# --------------------------------------------------------------------------- plan

credits_st = st.none() | st.integers(min_value=0, max_value=10_000)
evidence_value_st = st.one_of(
    st.none(),
    st.integers(min_value=-10_000, max_value=10_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.booleans(),
)


@given(
    credits=credits_st,
    free=st.booleans(),
    refused=st.none() | st.sampled_from(["insufficient_balance", "not_found"]),
    can_answer_free=st.booleans(),
    confirm_free=st.booleans(),
    budgeted=st.booleans(),
)
def test_plan_never_sends_a_refused_call_and_holds_the_whole_price(
    credits: int | None,
    free: bool,
    refused: str | None,
    can_answer_free: bool,
    confirm_free: bool,
    budgeted: bool,
) -> None:
    quote = QuoteDecision(credits=credits, free=free, refused_reason=refused)
    step = plan(
        quote, can_answer_free=can_answer_free, confirm_free=confirm_free, budgeted=budgeted
    )
    if refused is not None:
        assert step == Refuse(refused)
    elif isinstance(step, Spend):
        # A spend holds the quoted price; an unknown price is held at 0 only without a budget.
        assert step.required == (credits if credits is not None else 0)
        assert credits is not None or not budgeted
    elif isinstance(step, AnswerFree | SendFree):
        assert free
    else:
        assert step == Refuse("unknown_price")
        assert credits is None
        assert budgeted


def test_plan_confirms_free_calls_when_asked_to() -> None:
    quote = QuoteDecision(credits=0, free=True)
    assert plan(quote, can_answer_free=False, confirm_free=True, budgeted=True) == Spend(0)
    assert plan(quote, can_answer_free=False, confirm_free=False, budgeted=True) == SendFree()
    assert plan(quote, can_answer_free=True, confirm_free=True, budgeted=True) == AnswerFree()


@given(
    latched=st.booleans(),
    checked=st.floats(min_value=0, max_value=100),
    now=st.floats(min_value=0, max_value=100),
)
def test_a_402_latch_refuses_without_io_until_the_recheck_is_due(
    latched: bool, checked: float, now: float
) -> None:
    source = balance_source(latched_402=latched, latch_checked_at=checked, now=now, recheck=1.0)
    if not latched:
        assert source == "cache"
    else:
        assert source == ("latched" if now - checked < 1.0 else "refresh")


@given(
    approved_credits=credits_st,
    approved_balance=st.none() | st.integers(min_value=0, max_value=10_000),
    credits=credits_st,
    balance=st.integers(min_value=0, max_value=10_000),
)
def test_an_approved_quote_skips_the_confirm_only_when_nothing_moved_against_the_spender(
    approved_credits: int | None,
    approved_balance: int | None,
    credits: int | None,
    balance: int,
) -> None:
    needed = confirm_needed(
        approved_credits, approved_balance, approved=True, credits=credits, balance=balance
    )
    unchanged = credits == approved_credits and (
        approved_balance is None or balance >= approved_balance
    )
    assert needed is not unchanged
    assert confirm_needed(None, None, approved=False, credits=credits, balance=balance)


@given(
    budget=st.none() | st.integers(min_value=0, max_value=10_000),
    spent=st.integers(min_value=0, max_value=20_000),
    held=st.integers(min_value=0, max_value=20_000),
)
def test_budget_remaining_is_never_negative(budget: int | None, spent: int, held: int) -> None:
    left = budget_remaining(budget, spent=spent, held=held)
    if budget is None:
        assert left is None
    else:
        assert left == max(budget - spent - held, 0)


# --------------------------------------------------------------------------- settlement


@given(
    estimate=credits_st,
    reported=evidence_value_st,
    expected_charge=st.booleans(),
    already_unlocked=st.none() | st.booleans(),
    before=st.none() | st.integers(min_value=0, max_value=100_000),
    after=st.none() | st.integers(min_value=0, max_value=100_000),
)
def test_settlement_is_never_negative_and_impossible_evidence_never_releases_the_estimate(
    estimate: int | None,
    reported: object,
    expected_charge: bool,
    already_unlocked: bool | None,
    before: int | None,
    after: int | None,
) -> None:
    result = settle_answer(
        estimate,
        reported,
        expected_charge=expected_charge,
        already_unlocked=already_unlocked,
        balance_before=before,
        balance_after=after,
    )
    if isinstance(result, Settled):
        assert result.actual >= 0
        if reported is not None:
            assert valid_credits(reported) == result.actual  # only a whole number >= 0
    else:
        assert isinstance(result, InDoubt)
        assert result.reason
        assert result.amount >= (estimate or 0)  # a doubt holds at least the estimate
        if valid_credits(reported) is not None:
            assert result.amount >= valid_credits(reported)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("reported", "already_unlocked", "before", "after", "why"),
    [
        (-2000, False, None, None, "impossible"),
        ("2000", False, None, None, "impossible"),
        (2000.5, False, None, None, "impossible"),
        (True, False, None, None, "impossible"),
        (0, False, 10_000, 8_000, "not already unlocked"),
        (0, None, 10_000, 8_000, "balance fell"),
    ],
)
def test_contradictory_answers_stay_in_doubt_at_the_estimate(
    reported: object, already_unlocked: bool | None, before: int | None, after: int | None, why: str
) -> None:
    result = settle_answer(
        2000,
        reported,
        expected_charge=True,
        already_unlocked=already_unlocked,
        balance_before=before,
        balance_after=after,
    )
    assert isinstance(result, InDoubt)
    assert result.amount == 2000
    assert why in result.reason


def test_a_charge_where_the_quote_said_free_is_counted() -> None:
    result = settle_answer(0, 2000, expected_charge=False, already_unlocked=False)
    assert result == Settled(2000, "charged although the quote said free")


def test_an_already_unlocked_answer_with_zero_credits_settles_at_zero() -> None:
    result = settle_answer(2000, 0, expected_charge=True, already_unlocked=True)
    assert result == Settled(0)


def test_a_spend_without_a_charge_figure_is_measured_from_the_balance() -> None:
    assert settle_answer(
        None, None, expected_charge=True, balance_before=500, balance_after=420
    ) == (Settled(80, "measured from the balance"))
    unmeasured = settle_answer(90, None, expected_charge=True)
    assert isinstance(unmeasured, InDoubt)
    assert unmeasured.amount == 90


@given(
    task_id=st.none() | st.text(max_size=4) | st.integers(),
    sent=ids_strategy,
    skipped=ids_strategy,
)
def test_a_submission_without_a_task_settles_at_zero_only_when_every_sent_id_was_skipped(
    task_id: object, sent: list[str], skipped: list[str]
) -> None:
    result = settle_submission(45, task_id=task_id, sent_ids=sent, skipped_by_server=skipped)
    if isinstance(task_id, str) and task_id:
        assert result is None  # the task settles later; the hold stays
    elif task_id is None and set(sent) <= set(skipped):
        assert result == Settled(0, "every contact already unlocked or unlocking")
    else:
        assert isinstance(result, InDoubt)
        assert result.amount == 45


@given(
    unlocked=st.integers(min_value=0, max_value=50),
    failed=st.integers(min_value=0, max_value=50),
    unresolved=st.integers(min_value=0, max_value=50),
    charge_failed=st.booleans(),
)
def test_a_task_settles_its_items_and_keeps_unresolved_ones_in_doubt(
    unlocked: int, failed: int, unresolved: int, charge_failed: bool
) -> None:
    result = settle_task(
        price_per_item=15,
        unlocked=unlocked,
        failed=failed,
        unresolved=unresolved,
        charge_failed_items=charge_failed,
    )
    charged = 15 * (unlocked + (failed if charge_failed else 0))
    if unresolved:
        assert result == InDoubt(
            charged + 15 * unresolved, f"the task ended with {unresolved} contacts unresolved"
        )
    else:
        assert result == Settled(charged)


@given(
    charged=st.none() | st.booleans(),
    actual=evidence_value_st,
    estimate=credits_st,
)
def test_a_verdict_settles_only_on_established_whole_figures(
    charged: bool | None, actual: object, estimate: int | None
) -> None:
    result = settle_verdict(charged, actual, estimate=estimate, reason="checked")
    if charged is None:
        assert isinstance(result, InDoubt)
        assert result.amount == (estimate or 0)
    elif charged is False:
        assert result == Settled(0, "checked")
    elif actual is None:
        assert result == Settled(estimate or 0, "checked")
    elif valid_credits(actual) is None:
        assert isinstance(result, InDoubt)
    else:
        assert result == Settled(valid_credits(actual) or 0, "checked")


@given(
    reported=evidence_value_st,
    submission=st.booleans(),
    before=st.none() | st.integers(min_value=0, max_value=10_000),
    now=st.none() | st.integers(min_value=0, max_value=10_000),
)
def test_settle_evidence_routes_submissions_and_answers(
    reported: object, submission: bool, before: int | None, now: int | None
) -> None:
    evidence = Evidence(reported=reported, submission=submission, task_id="t1")
    result = settle_evidence(evidence, estimate=100, balance_before=before, balance_now=now)
    if submission:
        assert result is None
    else:
        assert result is not None
        assert evidence.needs_balance is (reported is None)


@given(
    required=st.integers(min_value=0, max_value=5000),
    balance=st.none() | st.integers(min_value=0, max_value=10_000),
    held=st.integers(min_value=0, max_value=5000),
    budget=st.none() | st.integers(min_value=0, max_value=10_000),
    spent=st.integers(min_value=0, max_value=10_000),
)
def test_admission_never_lets_a_spend_cross_the_balance_or_the_budget(
    required: int, balance: int | None, held: int, budget: int | None, spent: int
) -> None:
    verdict = admit(
        required, balance=balance, held=held, latched_402=False, budget=budget, spent=spent
    )
    fits_balance = balance is None or required <= balance - held
    fits_budget = budget is None or required <= max(budget - spent - held, 0)
    assert verdict.ok is (fits_balance and fits_budget)
    if not fits_balance:
        assert verdict.reason == "balance"  # the balance is checked first
    elif not fits_budget:
        assert verdict.reason == "budget"
        assert verdict.available == max(budget - spent - held, 0)  # type: ignore[operator]


# --- search_evidence (0.24+: a paid search is charged only when its result is not empty) --


def _settle_search(items: int, total: object, estimate: int = 50) -> object:
    evidence = search_evidence(estimate, items=items, total=total, expected_charge=True)
    return settle_evidence(evidence, estimate=estimate, balance_before=None)


def test_an_empty_search_result_settles_at_zero() -> None:
    assert _settle_search(0, 0) == Settled(0)


@given(items=st.integers(0, 100), total=st.integers(1, 10_000))
def test_a_search_with_matches_settles_at_its_estimate(items: int, total: int) -> None:
    # A page past the end has no items, yet the result (total > 0) is not empty.
    assert _settle_search(min(items, total), total) == Settled(50)


@pytest.mark.parametrize(
    ("items", "total"), [(3, 0), (0, -1), (0, "7"), (0, None), (0, 1.5), (2, True)]
)
def test_a_search_page_that_contradicts_itself_stays_in_doubt_at_its_estimate(
    items: int, total: object
) -> None:
    settled = _settle_search(items, total)
    assert isinstance(settled, InDoubt)
    assert settled.amount == 50


@given(
    estimate=st.integers(0, 10_000),
    more=st.integers(1, 10_000),
    before=st.integers(0, 100_000),
)
def test_a_search_whose_balance_fell_by_more_than_the_table_price_keeps_the_fall_in_doubt(
    estimate: int, more: int, before: int
) -> None:
    # The page states no charge: the table's price is a figure of ours, the balance's
    # fall the server's. Settling at the table's price would release what was charged.
    fall = estimate + more
    settled = settle_evidence(
        search_evidence(estimate, items=1, total=1, expected_charge=True, balance_after=before),
        estimate=estimate,
        balance_before=before + fall,
    )
    assert isinstance(settled, InDoubt)
    assert settled.amount == fall
    assert "cost table" in settled.reason


@given(estimate=st.integers(0, 10_000), fall=st.integers(0, 10_000), before=st.integers(0, 100))
def test_a_search_settles_at_the_table_price_when_the_balance_fell_by_no_more(
    estimate: int, fall: int, before: int
) -> None:
    fall = min(fall, estimate)  # others spending from the pool only ever add to a fall
    evidence = search_evidence(
        estimate, items=1, total=1, expected_charge=True, balance_after=before
    )
    assert settle_evidence(evidence, estimate=estimate, balance_before=before + fall) == Settled(
        estimate
    )


def test_a_server_reported_charge_is_not_doubted_for_a_larger_balance_fall() -> None:
    # A charge field is the server's own figure; a fall alone (a shared pool) never
    # outweighs it.
    assert settle_answer(
        50, 50, expected_charge=True, balance_before=1000, balance_after=800
    ) == Settled(50)


def test_contradictory_evidence_never_asks_for_a_balance_measurement() -> None:
    evidence = search_evidence(50, items=1, total=0, expected_charge=True)
    assert evidence.needs_balance is False


# --- staged_balances (a group of quotes confirmed once) --------------------------------------


def test_each_member_of_a_confirmed_group_stands_approved_at_what_earlier_members_leave() -> None:
    assert staged_balances(10_000, [1500, 1500, 900]) == [10_000, 8500, 7000]


def test_an_unknown_price_lowers_nothing_so_its_spend_makes_the_guard_ask_again() -> None:
    assert staged_balances(10_000, [100, None, 50]) == [10_000, 9900, 9900]
    assert staged_balances(None, [100, 50]) == [None, None]
