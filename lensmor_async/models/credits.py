"""Credit balances: ``GET /external/credits/balance`` and the ``balanceAfter`` of unlocks.

Credits are whole numbers. The wire types them as JSON ``number``; the converter
accepts integral floats (``30000.0``) and refuses fractional ones with
``ResponseValidationError``, because silently rounding money would hide a contract
change. Timestamps (``resetAt``, ``addonExpireAt``) are epoch milliseconds as ``int``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field, ms

__all__ = ["BalanceAfter", "CreditBalance"]


@attrs.frozen(kw_only=True)
class CreditBalance(Model):
    """The key owner's credit pool (shared with the Lensmor app).

    Subscription credits are consumed before gift credits; use :attr:`total_balance`
    for "can I spend?" checks. The addon bucket exists from API 0.24 on.
    """

    total_amount: int
    """All credits granted across active subscription and gift buckets (``totalAmount``)."""
    total_balance: int
    """All credits spendable now (``totalBalance``)."""
    subscription_amount: int
    """Credits granted for the active subscription period (``subscriptionAmount``)."""
    subscription_balance: int
    """Remaining subscription credits (``subscriptionBalance``)."""
    gift_amount: int
    """Gift credits granted (``giftAmount``)."""
    gift_balance: int
    """Remaining, non-expiring gift credits (``giftBalance``)."""
    reset_at: int | None = attrs.field(default=None, metadata=ms())
    """Earliest active subscription-credit expiry, epoch ms (``resetAt``); ``None`` if none."""
    addon_amount: int | None = None
    """Addon credits granted (``addonAmount``, 0.24+; ``None`` from older servers)."""
    addon_balance: int | None = None
    """Remaining addon credits (``addonBalance``, 0.24+)."""
    addon_expire_at: int | None = attrs.field(default=None, metadata=ms())
    """Addon expiry, epoch ms (``addonExpireAt``, 0.24+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class BalanceAfter(Model):
    """``balanceAfter`` of an event (or full-access) unlock — not the same buckets as
    :class:`CreditBalance`.

    The 1.0 OpenAPI documented ``balanceAfter`` as a bare number; such a value decodes
    to ``BalanceAfter(total_balance=<number>)`` with the other fields ``None``.
    """

    subscription_balance: int | None = None
    """Remaining subscription credits (``subscriptionBalance``)."""
    permanent_balance: int | None = None
    """Remaining permanent (gift) credits (``permanentBalance``)."""
    total_balance: int | None = None
    """Remaining spendable credits (``totalBalance``)."""
    unlimited: bool | None = None
    """Unlimited plan flag (currently always ``false``; meaning of ``true`` undocumented)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""
