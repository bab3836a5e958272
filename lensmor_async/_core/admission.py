"""Pure guard decisions: quote refinement from precheck, admission, settlement arithmetic."""

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


@attrs.frozen(slots=True)
class Admission:
    """Whether a spend may be reserved, and if not, what was short."""

    ok: bool
    required: int
    available: int | None = None
    reason: str | None = None


def admit(required: int, *, balance: int | None, held: int, latched_402: bool) -> Admission:
    """Check a spend against the known balance minus this guard's outstanding holds."""
    if latched_402:
        return Admission(False, required, available=balance, reason="server_402_latched")
    if balance is None:
        return Admission(True, required)
    available = balance - held
    if required > available:
        return Admission(False, required, available=max(available, 0), reason="balance")
    return Admission(True, required, available=available)


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
