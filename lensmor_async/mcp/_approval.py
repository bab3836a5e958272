"""How a paid tool gets its approval: the decision (pure) and what the person is shown."""

from __future__ import annotations

import enum
from collections.abc import Sequence

from pydantic import BaseModel, Field

from lensmor_async.guard import SpendRequest


class Route(enum.Enum):
    """What happens to a priced paid call before anything is spent."""

    FREE = "free"
    """Nothing chargeable now: run it (the guard still asks if it turns out to cost)."""
    AUTO = "auto"
    """Within the operator's ``--auto-approve-up-to`` cap."""
    ASK = "ask"
    """Ask the person through MCP elicitation."""
    OVER_BUDGET = "over_budget"
    """More than the session budget has left: refused, nobody is asked."""
    CANNOT_ASK = "cannot_ask"
    """The client cannot elicit and no auto-approve cap covers it: refused (fail closed)."""


class Approval(BaseModel):
    """The form the person answers (accept / decline / cancel are the client's buttons)."""

    approve: bool = Field(default=True, description="Spend these credits")


def route(request: SpendRequest | None, *, auto_up_to: int | None, can_ask: bool) -> Route:
    """Where a priced call goes; unknown prices are never auto-approved."""
    if request is None:
        return Route.FREE
    credits, left = request.expected_credits, request.budget_remaining
    if credits is not None and left is not None and credits > left:
        return Route.OVER_BUDGET
    if auto_up_to is not None and credits is not None and credits <= auto_up_to:
        return Route.AUTO
    return Route.ASK if can_ask else Route.CANNOT_ASK


def question(request: SpendRequest, why: str, notes: Sequence[str] = ()) -> str:
    """What the person reads: what, why, cost, balance, budget left.

    ``notes`` are the tool's own lines about what is bought and how sure the price is
    (the event layer; an upper bound; a price the API does not document), shown right
    under the cost. The text is the identity of the question across protocol rounds:
    when the price, the balance or the budget moved, it changes, and the person is
    asked again.
    """
    cost = (
        "unknown" if request.expected_credits is None else f"{request.expected_credits:,} credits"
    )
    balance = "unknown" if request.current_balance is None else f"{request.current_balance:,}"
    budget = (
        "no session budget"
        if request.budget_remaining is None
        else f"{request.budget_remaining:,} credits left in this session's budget"
    )
    reason = why.strip() or "(the agent gave no reason)"
    return (
        f"An AI agent asks to spend Lensmor credits.\n"
        f"What: {request.description}\n"
        f"Why (the agent's words): {reason}\n"
        f"Cost: {cost}\n"
        + "".join(f"{note}\n" for note in notes)
        + f"Balance now: {balance} credits\n"
        f"Budget: {budget}\n"
        "Accept to spend, decline to spend nothing."
    )
