"""May this call spend, and how much did it spend? The guard's decisions, as pure functions.

Everything the CreditGuard decides about money is here; the guard does the I/O
(precheck, balance, ledger, journal, the send) and hands the answers in. Nothing
here awaits, reads a clock or a ContextVar: the caller passes ``now`` where time
matters, as ``_core.retry`` does.

Before a send:

1. :func:`refine_with_precheck` / :func:`refine_contact_batch` turn the cost table and
   a precheck answer into a :class:`QuoteDecision` (credits, free, refused, trimmed ids).
2. :func:`plan` turns that into what to do: :class:`Refuse`, :class:`AnswerFree`
   (nothing to buy, nothing to send), :class:`SendFree` (send without a hold) or
   :class:`Spend` (hold ``required`` credits, confirm, send once).
3. :func:`balance_source` says whether the balance may come from the cache, and
   :func:`admit` checks ``required`` against the :class:`AccountView`.
4. :func:`confirm_needed` says whether an approved quote already covers the spend.

After a send, the settled amount is derived from *all* the evidence, and evidence
that is impossible (negative, non-numeric, contradictory) never releases credits:
the intent stays in doubt at its estimate, with the reason (:class:`InDoubt`).

* :func:`settle_answer` settles a synchronous answer (charge field, already-unlocked
  flag, balance before and after); :func:`search_evidence` reads a paid search's page
  (0.24+: charged only when the result is non-empty);
* :func:`settle_submission` an accepted unlock batch (a task id, or why there is none);
* :func:`settle_task` a finished unlock task from its item outcomes;
* :func:`settle_verdict` a reconciliation verdict reached without re-sending.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import attrs

# Precheck reason codes that mean "nothing to pay for, do not send".
_NOT_ALLOWED_REASONS = frozenset(
    {
        "unlock_in_progress",
        "state_conflict",
        "no_contacts_available",
        "exceed_max_unlock_limit",
        "invalid_subject",
        "not_found",
        "forbidden",
        "system_error",
    }
)


@attrs.frozen(slots=True)
class QuoteDecision:
    """What a quote says to do: pay ``credits``, run for free, or refuse with a reason."""

    credits: int | None
    """Expected credits (None = unknown price)."""
    free: bool = False
    """Already unlocked (or nothing chargeable): no confirm, no reservation."""
    refused_reason: str | None = None
    """A precheck ``reason_code`` that means the action cannot run now."""
    chargeable_ids: tuple[str, ...] | None = None
    """For contact unlocks: the deduplicated ids that would actually be charged."""
    skipped_ids: tuple[str, ...] = ()
    """For contact unlocks: requested ids left out (already unlocked/unlocking)."""
    available: int | None = None
    """The balance precheck reported (``detail.available_balance``), when it did."""
    free_reason: str | None = None
    """Why a free call is free, for its record (default: already unlocked)."""


def refine_with_precheck(
    table_credits: int | None,
    *,
    allowed: bool,
    should_charge: bool,
    credits: int,
    reason_code: str,
    available: int | None = None,
) -> QuoteDecision:
    """Combine the cost table with a precheck answer for a single-target action."""
    if reason_code == "already_unlocked" or (allowed and not should_charge):
        return QuoteDecision(credits=0, free=True)
    if reason_code == "insufficient_balance":
        return QuoteDecision(
            credits=credits or table_credits, refused_reason=reason_code, available=available
        )
    if not allowed or reason_code in _NOT_ALLOWED_REASONS:
        return QuoteDecision(credits=table_credits, refused_reason=reason_code)
    return QuoteDecision(credits=max(credits, table_credits or 0))


def refine_contact_batch(
    requested: Sequence[str],
    chargeable: Iterable[str] | None,
    *,
    price_per_contact: int | None,
    precheck_credits: int | None,
) -> QuoteDecision:
    """Trim a contact batch to its chargeable ids and price it.

    ``chargeable`` is what precheck (or known state) says would be charged; ``None``
    means unknown, in which case every requested id is assumed chargeable (the safe,
    higher estimate).
    """
    if chargeable is None:
        keep = tuple(requested)
    else:
        charge = set(chargeable)
        keep = tuple(i for i in requested if i in charge)
    kept = set(keep)
    skipped = tuple(i for i in requested if i not in kept)
    if not keep:
        return QuoteDecision(credits=0, free=True, chargeable_ids=(), skipped_ids=skipped)
    table = None if price_per_contact is None else price_per_contact * len(keep)
    credits = table if precheck_credits is None else max(precheck_credits, table or 0)
    return QuoteDecision(credits=credits, chargeable_ids=keep, skipped_ids=skipped)


def missing_layers_price(
    *,
    base_unlocked: bool,
    visitors_unlocked: bool,
    base_price: int | None,
    visitor_price: int | None,
) -> int | None:
    """A full-access unlock pays only the layers still locked (None: a price is unknown)."""
    layers = ((base_price, base_unlocked), (visitor_price, visitors_unlocked))
    total = 0
    for price, unlocked in layers:
        if unlocked:
            continue
        if price is None:
            return None
        total += price
    return total


# --------------------------------------------------------------------------- planning


@attrs.frozen(slots=True)
class Refuse:
    """Do not send: the precheck refused, or the price is unknown under a budget."""

    reason: str
    """A precheck ``reason_code`` or ``unknown_price``."""


@attrs.frozen(slots=True)
class AnswerFree:
    """Nothing chargeable: answer without sending (the policy builds the answer)."""


@attrs.frozen(slots=True)
class SendFree:
    """Already unlocked: send without a hold or a confirmation (the server charges 0)."""


@attrs.frozen(slots=True)
class Spend:
    """Hold ``required`` credits, confirm, send once, settle."""

    required: int


Plan = Refuse | AnswerFree | SendFree | Spend


def plan(
    quote: QuoteDecision, *, can_answer_free: bool, confirm_free: bool, budgeted: bool
) -> Plan:
    """What a priced call may do.

    ``can_answer_free``: the policy can answer a free call without a round trip;
    ``confirm_free``: the user wants even free paid calls confirmed (so they are held
    at 0 and confirmed like any spend); ``budgeted``: a budget caps this guard, so an
    unknown price cannot be held and must be refused.
    """
    if quote.refused_reason is not None:
        return Refuse(quote.refused_reason)
    if quote.free and can_answer_free:
        return AnswerFree()
    if quote.free and not confirm_free:
        return SendFree()
    if quote.credits is None:
        return Refuse("unknown_price") if budgeted else Spend(0)
    return Spend(quote.credits)


@attrs.frozen(slots=True)
class AccountView:
    """What the guard knows of the account when it admits a spend."""

    balance: int | None
    """The total balance as last known (None: unknown, e.g. never fetched)."""
    held: int
    """Credits this guard holds for calls in flight, tasks and in-doubt intents."""
    latched_402: bool = False
    """The server answered 402 and no refresh has shown enough credits since."""
    budget: int | None = None
    """This guard's spending cap (None: none). The ledger enforces it atomically across
    processes; checking it here refuses early what this guard alone already knows."""
    spent: int = 0
    """Credits this guard settled as spent (its in-doubt credits are in ``held``)."""


@attrs.frozen(slots=True)
class Admission:
    """Whether a spend may be reserved, and if not, what was short."""

    ok: bool
    required: int
    available: int | None = None
    reason: str | None = None


def admit(
    required: int,
    *,
    balance: int | None,
    held: int,
    latched_402: bool,
    budget: int | None = None,
    spent: int = 0,
) -> Admission:
    """Check a spend against the balance, then the budget, minus this guard's holds.

    Refusal reasons: ``server_402_latched``, ``balance``, ``budget``.
    """
    if latched_402:
        return Admission(False, required, available=balance, reason="server_402_latched")
    available = None if balance is None else balance - held
    if available is not None and required > available:
        return Admission(False, required, available=max(available, 0), reason="balance")
    room = budget_remaining(budget, spent=spent, held=held)
    if room is not None and required > room:
        return Admission(False, required, available=room, reason="budget")
    return Admission(True, required, available=available)


def admit_view(required: int, view: AccountView) -> Admission:
    """:func:`admit` for an :class:`AccountView`."""
    return admit(
        required,
        balance=view.balance,
        held=view.held,
        latched_402=view.latched_402,
        budget=view.budget,
        spent=view.spent,
    )


LATCH_RECHECK_SECONDS = 1.0


def balance_source(
    *,
    latched_402: bool,
    latch_checked_at: float,
    now: float,
    recheck: float = LATCH_RECHECK_SECONDS,
) -> str:
    """Where the balance for an admission comes from.

    ``"cache"``: the cached balance (refreshed when older than its TTL); ``"latched"``:
    the 402 latch holds and was checked less than ``recheck`` seconds ago, so refuse
    without I/O; ``"refresh"``: latched, and time to ask the server again (only a
    refresh that shows enough credits lifts the latch).
    """
    if not latched_402:
        return "cache"
    return "latched" if now - latch_checked_at < recheck else "refresh"


def confirm_needed(
    approved_credits: int | None,
    approved_balance: int | None,
    *,
    approved: bool,
    credits: int | None,
    balance: int,
) -> bool:
    """False only when a person approved exactly this price at a balance that still stands."""
    if not approved:
        return True
    unchanged = credits == approved_credits
    return not (unchanged and (approved_balance is None or balance >= approved_balance))


def staged_balances(balance: int | None, credits: Sequence[int | None]) -> list[int | None]:
    """The balance each quote of a group confirmed at once is approved at.

    A person approved the total at ``balance``; the group's own earlier purchases lower
    it, so member ``i`` stands approved at ``balance`` minus what members ``0..i-1``
    were quoted. An unknown price lowers nothing: whatever it spends makes the guard
    ask again for the members after it, as does anything else that lowers the balance.
    """
    staged: list[int | None] = []
    left = balance
    for amount in credits:
        staged.append(left)
        if left is not None and amount is not None:
            left -= amount
    return staged


def budget_remaining(budget: int | None, *, spent: int, held: int) -> int | None:
    """Room left under a budget (None: no cap); never negative."""
    return None if budget is None else max(budget - spent - held, 0)


# --------------------------------------------------------------------------- settlement


@attrs.frozen(slots=True)
class Settled:
    """The evidence agrees: ``actual`` credits were spent."""

    actual: int
    reason: str | None = None


@attrs.frozen(slots=True)
class InDoubt:
    """The evidence does not establish the charge: keep ``amount`` held and say why."""

    amount: int
    reason: str


Settlement = Settled | InDoubt


def valid_credits(value: object) -> int | None:
    """A charge figure the evidence may use: a whole number >= 0 (bools are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _doubt(estimate: int | None, reported: object, reason: str) -> InDoubt:
    seen = valid_credits(reported) or 0
    return InDoubt(max(estimate or 0, seen), reason)


def settle_answer(
    estimate: int | None,
    reported: object,
    *,
    expected_charge: bool,
    already_unlocked: bool | None = None,
    balance_before: int | None = None,
    balance_after: int | None = None,
    table_figure: bool = False,
) -> Settlement:
    """Settle a synchronous paid answer from its charge field and the other evidence.

    ``reported`` is the answer's charge field as received (``creditsUsed``; None when
    the route has none: then the balance delta is the measure). ``expected_charge``:
    the quote said this call costs credits. A contradiction (a charge field that is
    not a whole number >= 0, "not already unlocked" with 0 credits, or a figure below
    both the quote and the balance's fall) keeps the estimate in doubt. The balance
    before may be a cached figure and other spenders share the pool, so a fall alone
    never raises the settled amount: it only keeps a smaller figure in doubt.
    ``table_figure``: ``reported`` is the cost table's price, not a figure the server
    gave (a paid search's page carries none); a balance that fell by more than that
    keeps the fall in doubt rather than settling at the table's price.
    """
    delta = _delta(balance_before, balance_after)
    if reported is None:
        if delta is None:
            return _doubt(estimate, None, "no charge figure and no balance to measure it")
        return Settled(delta, "measured from the balance")
    credits = valid_credits(reported)
    if credits is None:
        return _doubt(estimate, reported, f"impossible credits figure {reported!r}")
    if credits == 0 and expected_charge and already_unlocked is False:
        return _doubt(estimate, credits, "not already unlocked, yet 0 credits reported")
    if expected_charge and delta is not None and credits < min(delta, estimate or 0):
        # Less than both the quote and the balance's fall: the figure is not the charge.
        return _doubt(
            estimate, credits, f"{credits} credits reported while the balance fell by {delta}"
        )
    if table_figure and expected_charge and delta is not None and delta > credits:
        return InDoubt(
            delta,
            f"the balance fell by {delta} credits while the cost table says {credits}: "
            "the difference stays in doubt",
        )
    if credits > 0 and not expected_charge:
        return Settled(credits, "charged although the quote said free")
    return Settled(credits)


def _delta(before: int | None, after: int | None) -> int | None:
    if before is None or after is None:
        return None
    return max(before - after, 0)


def settle_submission(
    estimate: int | None,
    *,
    task_id: object,
    sent_ids: Sequence[str],
    skipped_by_server: Iterable[str] = (),
) -> Settlement | None:
    """An accepted unlock batch: None while its task runs (the hold stays), else settled.

    Without a task id, only a server that reports every sent id as skipped settles at
    0; otherwise the batch may have been charged and stays in doubt.
    """
    if isinstance(task_id, str) and task_id:
        return None
    if task_id is not None:
        return _doubt(estimate, None, f"impossible task id {task_id!r}")
    unaccounted = set(sent_ids) - set(skipped_by_server)
    if not unaccounted:
        return Settled(0, "every contact already unlocked or unlocking")
    return _doubt(estimate, None, f"accepted without a task id for {len(unaccounted)} contacts")


def task_charge(
    *,
    price_per_item: int,
    unlocked: int,
    failed: int,
    charge_failed_items: bool,
) -> int:
    """Credits a finished (or partly finished) unlock task cost.

    Unlocked items are charged whether or not a value (email/phone) was found;
    failed items are charged only when the plan says so; unresolved items are
    still held by the caller, so they are not counted here.
    """
    charged_items = unlocked + (failed if charge_failed_items else 0)
    return price_per_item * charged_items


def settle_task(
    *,
    price_per_item: int,
    unlocked: int,
    failed: int,
    unresolved: int,
    charge_failed_items: bool,
) -> Settlement:
    """A task that ended: its charged items settle; items it never resolved stay in doubt."""
    charged = task_charge(
        price_per_item=price_per_item,
        unlocked=unlocked,
        failed=failed,
        charge_failed_items=charge_failed_items,
    )
    if unresolved:
        return InDoubt(
            charged + price_per_item * unresolved,
            f"the task ended with {unresolved} contacts unresolved",
        )
    return Settled(charged)


def settle_verdict(
    charged: bool | None, actual: object, *, estimate: int | None, reason: str
) -> Settlement:
    """A reconciliation verdict: charged (at ``actual``, else the estimate), not, or unknown."""
    if charged is None:
        return _doubt(estimate, None, reason)
    if not charged:
        return Settled(0, reason)
    if actual is None:
        return Settled(estimate or 0, reason)
    credits = valid_credits(actual)
    if credits is None:
        return _doubt(estimate, actual, f"impossible credits figure {actual!r}")
    return Settled(credits, reason)


@attrs.frozen(slots=True)
class Evidence:
    """What a paid answer says about its charge, as the route's policy read it."""

    reported: object = None
    """The charge field as received (``creditsUsed``, or items x price); None: none."""
    expected_charge: bool = True
    """The quote said this call costs credits (False: it was sent as free)."""
    already_unlocked: bool | None = None
    balance_after: int | None = None
    """The balance the answer reports (``balanceAfter.totalBalance``), if any."""
    submission: bool = False
    """An unlock batch: it settles through its task (see :func:`settle_submission`)."""
    task_id: object = None
    sent_ids: tuple[str, ...] = ()
    skipped_by_server: tuple[str, ...] = ()
    contradiction: str | None = None
    """Why the answer contradicts itself (then it settles in doubt at its estimate)."""
    table_figure: bool = False
    """``reported`` is the cost table's price, not the server's figure (a paid search)."""

    @property
    def needs_balance(self) -> bool:
        """Only a fresh balance can measure this spend (no charge figure, none reported)."""
        if self.submission or self.contradiction is not None:
            return False
        return self.reported is None and self.balance_after is None


def search_evidence(
    estimate: int | None,
    *,
    items: int,
    total: object,
    expected_charge: bool,
    balance_after: int | None = None,
) -> Evidence:
    """A paid search's page as evidence: 0.24+ charges only a non-empty result.

    No items and ``total`` 0 is an empty result: 0 credits. Items, or a ``total`` above 0
    with a page past the end, mean matches: charged at the estimate, the table's price
    (the page states no charge), so a ``balance_after`` that fell by more keeps the
    difference in doubt. Items with a ``total`` of 0, or a ``total`` that is not a
    whole number >= 0, contradict themselves.
    """
    count = valid_credits(total)
    if count is None:
        return Evidence(contradiction=f"impossible result total {total!r}")
    if items > 0 and count == 0:
        return Evidence(contradiction=f"{items} results on the page, yet a total of 0")
    if count == 0:
        return Evidence(reported=0, expected_charge=expected_charge, balance_after=balance_after)
    return Evidence(
        reported=estimate,
        expected_charge=expected_charge,
        balance_after=balance_after,
        table_figure=True,
    )


def settle_evidence(
    evidence: Evidence,
    *,
    estimate: int | None,
    balance_before: int | None,
    balance_now: int | None = None,
) -> Settlement | None:
    """Settle a paid answer from its evidence; None while its task runs (the hold stays).

    ``balance_now`` is a balance fetched after the answer, for spends only the
    balance can measure.
    """
    if evidence.contradiction is not None:
        return _doubt(estimate, None, evidence.contradiction)
    if evidence.submission:
        return settle_submission(
            estimate,
            task_id=evidence.task_id,
            sent_ids=evidence.sent_ids,
            skipped_by_server=evidence.skipped_by_server,
        )
    after = evidence.balance_after if evidence.balance_after is not None else balance_now
    return settle_answer(
        estimate,
        evidence.reported,
        expected_charge=evidence.expected_charge,
        already_unlocked=evidence.already_unlocked,
        balance_before=balance_before,
        balance_after=after,
        table_figure=evidence.table_figure,
    )
