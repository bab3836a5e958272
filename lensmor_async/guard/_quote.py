"""Two-phase spending for web apps: quote now, show it to a person, execute later."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from lensmor_async.errors import CreditError, QuoteExpiredError
from lensmor_async.guard._confirm import SpendRequest

if TYPE_CHECKING:
    from lensmor_async.guard._guard import CreditGuard

T = TypeVar("T")
DEFAULT_QUOTE_TTL = 300.0


@attrs.frozen(slots=True)
class ApprovedQuote:
    """What a person saw and approved."""

    credits: int | None
    balance: int | None

    def matches(self, credits: int | None, balance: int) -> bool:
        """Unchanged cost, and a balance that still covers it without having dropped."""
        return credits == self.credits and (self.balance is None or balance >= self.balance)


@attrs.frozen(slots=True)
class QuoteMode:
    """Set while quoting (``capture``) or executing an approved quote."""

    capture: bool = False
    approved: ApprovedQuote | None = None


quote_mode: contextvars.ContextVar[QuoteMode | None] = contextvars.ContextVar(
    "lensmor_quote_mode", default=None
)


class QuoteCaptured(CreditError):
    """Internal: carries the priced request out of the pipeline while quoting."""

    def __init__(self, request: SpendRequest) -> None:
        super().__init__("quote captured")
        self.request = request


class Quote(Generic[T]):
    """A priced, not yet executed paid call.

    ``request`` holds what to show (cost, balance, budget). ``request is None`` means
    the call costs nothing (already unlocked / nothing chargeable); executing it is
    still safe. ``execute()`` re-checks everything and re-asks the confirm callback
    only if the cost or the balance moved since the quote.
    """

    def __init__(
        self,
        guard: CreditGuard,
        method: Callable[..., Awaitable[T]],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        request: SpendRequest | None,
        *,
        ttl: float = DEFAULT_QUOTE_TTL,
    ) -> None:
        self.guard = guard
        self.request = request
        self._method = method
        self._args = args
        self._kwargs = kwargs
        self.created_at = time.time()
        self.expires_at = self.created_at + ttl
        self.executed = False
        self._result: T | None = None

    @property
    def credits(self) -> int | None:
        """Expected credits (0 when nothing is charged)."""
        return 0 if self.request is None else self.request.expected_credits

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    async def execute(self) -> T:
        """Run the quoted call (re-checked; raises ``QuoteExpiredError`` after the TTL).

        A quote buys once: executing it again returns the first result, spending nothing.
        """
        if self.executed:
            return self._result  # type: ignore[return-value]
        if self.expired:
            raise QuoteExpiredError("this quote expired; ask for a new one before spending")
        approved = None
        if self.request is not None:
            approved = ApprovedQuote(self.request.expected_credits, self.request.current_balance)
        token = quote_mode.set(QuoteMode(approved=approved))
        try:
            result = await self._method(*self._args, **self._kwargs)
        finally:
            quote_mode.reset(token)
        self._result, self.executed = result, True
        return result

    def __repr__(self) -> str:
        return f"Quote(credits={self.credits}, expires_at={self.expires_at:.0f})"
