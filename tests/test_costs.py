"""The cost table: documented defaults, overrides and estimates."""

from __future__ import annotations

from typing import Any

import pytest

from lensmor_async._core.costs import CostTable, Price
from lensmor_async.errors import ConfigurationError


@pytest.mark.parametrize(
    ("operation", "price"),
    [
        ("events.unlock", Price(2000)),
        ("contacts.unlock", Price(15, per_item=True)),
        ("contacts.unlock_phone", Price(150, per_item=True)),
        ("exhibitors.search_by_company_name", Price(50)),
        ("exhibitors.search_events", Price(50)),
        ("personnel.unlock_linkedin_activity", Price(None, per_item=True)),
        ("personnel.generate_outreach_message", Price(0, per_item=True)),
    ],
)
def test_default_table_has_the_documented_prices(operation: str, price: Price) -> None:
    assert CostTable.default().price(operation) == price


def test_unknown_operation_has_an_unknown_price() -> None:
    assert CostTable.default().price("events.list") == Price(None)
    assert CostTable.default().estimate("events.list") is None


def test_estimate_multiplies_per_item_prices() -> None:
    assert CostTable.default().estimate("contacts.unlock", 7) == 105


def test_estimate_ignores_items_for_per_call_prices() -> None:
    assert CostTable.default().estimate("events.unlock", 5) == 2000


def test_estimate_of_an_undocumented_price_is_unknown() -> None:
    assert CostTable.default().estimate("personnel.unlock_linkedin_activity", 3) is None


def test_with_prices_maps_double_underscores_to_dots() -> None:
    table = CostTable.default().with_prices(events__unlock=2200, contacts__unlock_phone=160)
    assert table.price("events.unlock") == Price(2200)
    assert table.price("contacts.unlock_phone") == Price(160, per_item=True)


def test_with_price_map_keeps_per_item_ness() -> None:
    table = CostTable.default().with_price_map({"personnel.generate_outreach_message": 4})
    assert table.price("personnel.generate_outreach_message") == Price(4, per_item=True)
    assert table.estimate("personnel.generate_outreach_message", 3) == 12


def test_overrides_return_a_copy_and_leave_the_default_unchanged() -> None:
    default = CostTable.default()
    changed = default.with_prices(events__unlock=2100)
    assert changed is not default
    assert default.price("events.unlock") == Price(2000)
    assert CostTable.default().price("events.unlock") == Price(2000)


def test_a_price_can_be_set_to_unknown() -> None:
    table = CostTable.default().with_prices(events__unlock=None)
    assert table.estimate("events.unlock") is None


def test_an_undocumented_or_free_price_can_be_set_and_a_documented_one_raised() -> None:
    table = CostTable.default().with_price_map(
        {
            "personnel.generate_outreach_message": 0,
            "personnel.unlock_linkedin_activity": 1,
            "exhibitors.search_events": 50,
            "contacts.unlock": 16,
        }
    )
    assert table.estimate("personnel.unlock_linkedin_activity", 2) == 2
    assert table.estimate("contacts.unlock", 2) == 32


@pytest.mark.parametrize(
    ("operation", "value"),
    [
        ("events.unlock", 0),
        ("events.unlock", 1999),
        ("exhibitors.search_by_company_name", 1),
        ("contacts.unlock", 14),
        ("contacts.unlock_phone", 0),
    ],
)
def test_a_price_below_the_documented_one_is_refused(operation: str, value: int) -> None:
    # The guard quotes, holds, caps and reports at the table price: never below the API's.
    with pytest.raises(ConfigurationError, match="below the API's documented"):
        CostTable.default().with_price_map({operation: value})
    with pytest.raises(ConfigurationError, match="never lower it"):
        CostTable({**CostTable.default().prices, operation: Price(value)})


def test_unknown_operation_override_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown paid operation"):
        CostTable.default().with_price_map({"events.list": 5})


@pytest.mark.parametrize("value", [-1, True, False])
def test_negative_or_boolean_prices_are_refused(value: int) -> None:
    with pytest.raises(ConfigurationError):
        CostTable.default().with_prices(events__unlock=value)


@pytest.mark.parametrize("value", [12.5, "10"])
def test_non_integer_prices_are_refused_with_a_configuration_error(value: Any) -> None:
    with pytest.raises(ConfigurationError):
        CostTable.default().with_price_map({"events.unlock": value})


def test_table_prices_are_read_only() -> None:
    table = CostTable.default().with_prices(events__unlock=2100)
    with pytest.raises(TypeError):
        table.prices["events.unlock"] = Price(0)  # type: ignore[index]


def test_tables_are_frozen_and_compare_by_value() -> None:
    assert CostTable.default() == CostTable.default()
    assert CostTable.default().with_prices(events__unlock=2100) == CostTable.default().with_prices(
        events__unlock=2100
    )
