"""The cost table: the one place prices live (they change by plan, so users can override)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from lensmor_async.errors import ConfigurationError


@attrs.frozen(slots=True)
class Price:
    """A price: per call, or per item (per chargeable contact). ``None`` means unknown."""

    credits: int | None
    per_item: bool = False


_DEFAULT_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "events.unlock": Price(2000),
        "events.unlock_visitors": Price(3000),
        # Full access pays only the missing layers (base + Visitors); this is both.
        "events.unlock_full_access": Price(5000),
        # Charged only when the result is not empty.
        "personnel.events_by_name": Price(50),
        "contacts.unlock": Price(15, per_item=True),
        # 0.22 states no amount; 150 is the 0.24+ price and the safest estimate.
        "contacts.unlock_phone": Price(150, per_item=True),
        "exhibitors.search_by_company_name": Price(50),
        "exhibitors.search_events": Price(50),
        # Undocumented price: still paid, so it still needs confirmation.
        "personnel.unlock_linkedin_activity": Price(None, per_item=True),
        # 0.27: "does not deduct credits". Plans that still charge set a price here.
        "personnel.generate_outreach_message": Price(0, per_item=True),
    }
)


def _never_below_documented(
    _: object, attribute: attrs.Attribute[Mapping[str, Price]], prices: Mapping[str, Price]
) -> None:
    """A table may raise a documented price or fill an undocumented one, never lower one.

    The guard quotes, holds, caps (budget, auto-approve) and reports a paid search at
    its table price while the API charges its own: a table below the documented price
    would let every one of those figures fall short of the real charge.
    """
    del attribute
    for name, price in prices.items():
        floor = documented_price(name)
        if floor is not None and price.credits is not None and price.credits < floor:
            raise ConfigurationError(
                f"price of {name} ({price.credits}) is below the API's documented "
                f"{floor} credits; a cost table may raise a documented price, never lower it"
            )


def documented_price(operation: str) -> int | None:
    """The price the API documents for ``operation`` (None: it documents none)."""
    documented = _DEFAULT_PRICES.get(operation)
    return None if documented is None else documented.credits


@attrs.frozen(slots=True)
class CostTable:
    """Prices per operation name; ``CostTable.default().with_prices(...)`` overrides some.

    Overrides may raise a documented price (a plan that charges more) or set one the API
    leaves undocumented; a price below the documented one is a ``ConfigurationError``.
    """

    prices: Mapping[str, Price] = attrs.field(
        default=_DEFAULT_PRICES, validator=_never_below_documented
    )

    @classmethod
    def default(cls) -> CostTable:
        """The documented prices of the API as it is today (0.27)."""
        return cls()

    def with_prices(self, **credits: int | None) -> CostTable:
        """A copy with some prices replaced, keyed by operation name with ``_`` for ``.``.

        ``CostTable.default().with_prices(events__unlock=2200)`` (never below the documented
        price) — or pass a mapping to :meth:`with_price_map` when names are dynamic.
        """
        return self.with_price_map(
            {name.replace("__", "."): value for name, value in credits.items()}
        )

    def with_price_map(self, credits: Mapping[str, int | None]) -> CostTable:
        """A copy with the given operation prices replaced (per-item-ness is kept).

        Refused with ``ConfigurationError``: an unknown operation, a value that is not a
        whole number >= 0, and one below the price the API documents for it.
        """
        prices = dict(self.prices)
        for name, value in credits.items():
            if name not in prices:
                raise ConfigurationError(f"unknown paid operation {name!r}")
            if value is not None and (type(value) is not int or value < 0):
                raise ConfigurationError(f"price of {name} must be a whole number >= 0")
            prices[name] = Price(value, per_item=prices[name].per_item)
        return CostTable(MappingProxyType(prices))

    def price(self, operation: str) -> Price:
        """The price of a paid operation (unknown operations have an unknown price)."""
        return self.prices.get(operation, Price(None))

    def estimate(self, operation: str, items: int = 1) -> int | None:
        """Credits for ``items`` chargeable items (or one call); None when unknown."""
        price = self.price(operation)
        if price.credits is None:
            return None
        return price.credits * items if price.per_item else price.credits
