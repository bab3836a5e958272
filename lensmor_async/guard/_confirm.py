"""The confirm extension point: a ``Protocol`` plus a frozen details object."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Protocol

import attrs


@attrs.frozen(slots=True)
class SpendRequest:
    """Everything a person (or policy) needs to approve one paid call."""

    operation: str
    """Operation name, e.g. ``events.unlock``."""
    description: str
    """A one-line human description of what is bought."""
    targets: tuple[str, ...]
    """Ids (or the company name) being paid for, after trimming."""
    expected_credits: int | None
    """The quote; None when the price is unknown."""
    current_balance: int | None
    """The last known total balance (minus this guard's outstanding holds)."""
    budget_remaining: int | None
    """Room left under the guard's budget; None when there is no cap."""
    precheck_reason: str | None = None
    """The precheck ``reason_code`` when a precheck was used (``ok`` normally)."""
    requote: bool = False
    """True when a two-phase quote is re-asked because cost or balance moved."""


class ConfirmCallback(Protocol):
    """Approve or decline a spend; may be sync or async."""

    def __call__(self, request: SpendRequest, /) -> bool | Awaitable[bool]: ...


async def ask(callback: ConfirmCallback, request: SpendRequest) -> bool:
    """Call a sync or async callback and insist on a real bool."""
    answer = callback(request)
    if inspect.isawaitable(answer):
        answer = await answer
    return answer is True


def always_confirm(request: SpendRequest, /) -> bool:
    """Approve every spend (for scripts that already decided; the budget still applies)."""
    return True


@attrs.frozen(slots=True)
class confirm_up_to:
    """Approve spends of at most ``credits`` each (unknown prices are declined)."""

    credits: int

    def __call__(self, request: SpendRequest, /) -> bool:
        expected = request.expected_credits
        return expected is not None and expected <= self.credits
