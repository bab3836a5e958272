"""What every ledger backend shares: defaults, argument checks and the budget error.

Each check runs before any I/O, so a bad argument never touches a file or a server,
and every backend refuses the same arguments with the same error.
"""

from __future__ import annotations

import uuid

from lensmor_async._core.validation import is_seconds
from lensmor_async.errors import BudgetExceededError, ConfigurationError, InvalidRequestError
from lensmor_async.guard._ledger_protocol import Hold

__all__ = [
    "DEFAULT_COMMIT_RETENTION",
    "DEFAULT_HOLD_TTL",
    "budget_exceeded",
    "check_amount",
    "check_budget",
    "check_hold",
    "check_hold_id",
    "check_intent_key",
    "check_open",
    "check_reserve",
    "check_retention",
    "check_settle",
    "check_ttl",
    "is_seconds",
    "new_hold_id",
]

DEFAULT_HOLD_TTL = 600.0
"""Seconds a hold lives when ``reserve`` is given no ``ttl``."""

DEFAULT_COMMIT_RETENTION = 7 * 24 * 3600.0
"""Seconds a committed hold id is remembered (a repeated commit within it is a no-op)."""


def check_budget(budget: object) -> int | None:
    """Validate a ledger's budget: None (no cap) or an int ≥ 0."""
    if budget is None:
        return None
    # bool is an int subclass, but True credits is always a caller bug.
    if isinstance(budget, bool) or not isinstance(budget, int) or budget < 0:
        raise ConfigurationError(f"ledger budget must be an int >= 0 or None, got {budget!r}")
    return budget


def check_amount(name: str, amount: object) -> int:
    """Validate a credit amount (int ≥ 0) before any I/O."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidRequestError(f"{name} must be an int >= 0, got {amount!r}")
    return amount


def check_ttl(ttl: object, default: float) -> float:
    """Validate a hold's lifetime in seconds; None means the ledger's default."""
    if ttl is None:
        return default
    if not is_seconds(ttl):
        raise InvalidRequestError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
    return float(ttl)


def check_retention(retention: object) -> float:
    """Validate how long committed hold ids are remembered (finite seconds > 0)."""
    if not is_seconds(retention):
        raise ConfigurationError(
            f"commit_retention must be a finite number of seconds > 0, got {retention!r}"
        )
    return float(retention)


def check_hold_id(hold_id: object) -> str:
    """Validate a hold id passed on its own (``committed``)."""
    if not isinstance(hold_id, str) or not hold_id:
        raise InvalidRequestError("hold_id must be a non-empty str")
    return hold_id


def check_intent_key(intent_key: object) -> str:
    """Validate the intent key a hold is filed under."""
    if not isinstance(intent_key, str) or not intent_key:
        raise InvalidRequestError("intent_key must be a non-empty str")
    return intent_key


def check_hold(hold: object) -> Hold:
    """Refuse anything but a :class:`Hold` before touching the store."""
    if not isinstance(hold, Hold):
        raise InvalidRequestError(f"expected a Hold, got {type(hold).__name__}")
    return hold


def check_reserve(
    intent_key: object, amount: object, ttl: object, default_ttl: float
) -> tuple[str, int, float]:
    """The arguments of ``reserve``, checked: ``(intent_key, amount, ttl seconds)``."""
    return check_intent_key(intent_key), check_amount("amount", amount), check_ttl(ttl, default_ttl)


def check_settle(hold: object, actual: object) -> tuple[Hold, int]:
    """The arguments of ``commit``, checked: ``(hold, actual)``."""
    return check_hold(hold), check_amount("actual", actual)


def new_hold_id() -> str:
    """A fresh, unguessable hold id (uuid4 hex)."""
    return uuid.uuid4().hex


def budget_exceeded(amount: int, budget: int, available: int) -> BudgetExceededError:
    """The error every backend raises when a hold would cross the budget."""
    return BudgetExceededError(
        f"holding {amount} credits would cross the budget of {budget} ({available} left)",
        required=amount,
        available=available,
        preflight=True,
    )


def check_open(closed: bool) -> None:
    """Refuse to use a ledger after ``aclose``."""
    if closed:
        raise InvalidRequestError("the ledger is closed")
