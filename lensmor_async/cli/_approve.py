"""Who approves a spend from the shell: ``--max-credits``, then ``--yes``, a prompt, or refusal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async.cli._console import Console
from lensmor_async.cli._render import describe_quote
from lensmor_async.errors import (
    BudgetExceededError,
    ConfirmationRequiredError,
    SpendDeclinedError,
)

if TYPE_CHECKING:  # annotations only: free commands need not load the guard
    from lensmor_async.guard import SpendRequest

PROMPT = "Proceed? [y/N] "
_YES = frozenset({"y", "yes"})


class Approver:
    """Shows a quote and decides; also the guard's confirm callback.

    The CLI quotes every paid call first (``guard.quote``) and calls :meth:`approve`
    with the quote. The guard calls the instance itself only when the cost or the
    balance moved between the quote and the execution, so the person is asked again
    about the new numbers; the guard's ``budget`` enforces ``--max-credits`` too.
    """

    def __init__(self, console: Console, *, yes: bool, max_credits: int | None) -> None:
        self.console = console
        self.yes = yes
        self.max_credits = max_credits

    def approve(self, title: str, request: SpendRequest) -> None:
        """Show the quote; return if approved, else raise (nothing has been spent)."""
        self.console.err(describe_quote(title, request))
        self._check_cap(request)
        if self.yes:
            self.console.err("proceeding (--yes)")
            return
        if not self.console.stdin_is_tty():
            raise ConfirmationRequiredError(
                f"refusing to spend {request.expected_credits} credits without a confirmation: "
                "stdin is not a terminal; re-run with --yes (and --max-credits N to cap the "
                "spend). Nothing was charged."
            )
        if not self._ask():
            raise SpendDeclinedError("declined at the prompt; nothing was charged")

    def __call__(self, request: SpendRequest, /) -> bool:
        """Confirm callback: the quote moved since it was approved, so decide again."""
        if not self._within_cap(request):
            return False
        if self.yes:
            return True
        if not self.console.stdin_is_tty():
            return False
        self.console.err("the price or the balance changed since the quote:")
        self.console.err(describe_quote(request.description, request))
        return self._ask()

    def _within_cap(self, request: SpendRequest) -> bool:
        cost = request.expected_credits
        return self.max_credits is None or (cost is not None and cost <= self.max_credits)

    def _check_cap(self, request: SpendRequest) -> None:
        if self._within_cap(request):
            return
        cost = request.expected_credits
        price = "an unknown number of" if cost is None else str(cost)
        raise BudgetExceededError(
            f"this costs {price} credits, above --max-credits {self.max_credits}; "
            "nothing was charged",
            required=cost,
            available=self.max_credits,
            preflight=True,
        )

    def _ask(self) -> bool:
        self.console.err(PROMPT, end="")
        answer = self.console.read_answer()
        if not answer.endswith("\n"):
            self.console.err()  # end of input: keep the next message on its own line
        return answer.strip().lower() in _YES
