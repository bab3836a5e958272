"""The docs route table (docs/routes.md) matches the 0.27 spec, the client and the guard.

A route added to the spec without a row (and a client method behind it) fails here; so
does a row whose method does not call that route, or whose price disagrees with the
default cost table.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from lensmor_async import AsyncLensmor
from lensmor_async._core import operations as ops
from lensmor_async._core.costs import CostTable

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT.parent / "shared" / "api" / "openapi-0.27.0.json"
TABLE = ROOT / "docs" / "routes.md"
ROW = re.compile(r"^\| (GET|POST) \| `([^`]+)` \| `([a-z_]+)\.([a-z_]+)` \| ([^|]+) \| ([^|]+) \|$")

if not SPEC.is_file():
    pytest.skip(f"API spec not found at {SPEC}", allow_module_level=True)


def _rows() -> list[tuple[str, str, str, str, str, str]]:
    rows = [ROW.match(line) for line in TABLE.read_text().splitlines()]
    return [m.groups() for m in rows if m]  # type: ignore[misc]


def _spec_routes() -> set[tuple[str, str]]:
    paths = json.loads(SPEC.read_text())["paths"]
    return {
        (verb.upper(), path)
        for path, item in paths.items()
        for verb in item
        if verb in ("get", "post")
    }


def _operation(method: str, route: str) -> ops.Operation:
    template = route.replace("{taskId}", "{id}")
    (found,) = [
        o
        for o in vars(ops).values()
        if isinstance(o, ops.Operation) and (o.method, o.route) == (method, template)
    ]
    return found


def test_the_table_lists_every_route_of_the_spec_once() -> None:
    listed = [(method, route) for method, route, *_ in _rows()]
    assert len(listed) == len(set(listed)) == 31
    assert set(listed) == _spec_routes()


@pytest.mark.anyio
async def test_every_row_names_the_client_method_of_its_route() -> None:
    # Operation names are the client's method paths (``events.unlock_visitors``).
    async with AsyncLensmor("uak_route_table_key", base_url="http://127.0.0.1:9") as client:
        for method, route, resource, name, _, _ in _rows():
            assert inspect.iscoroutinefunction(getattr(getattr(client, resource), name)), name
            assert _operation(method, route).name == f"{resource}.{name}", route


def test_prices_and_guard_behaviour_agree_with_the_cost_table() -> None:
    costs = CostTable.default()
    for method, route, _, _, credits, guard in _rows():
        operation = _operation(method, route)
        price = costs.price(operation.name).credits if operation.paid else 0
        if not operation.paid or price == 0:
            assert credits.strip() == "free", route
            assert guard.strip() == "—" or price == 0, route
        elif price is None:
            assert credits.strip() == "unknown", route
        else:
            assert str(price) in credits.replace("0–5000", "5000"), route
        if operation.paid and operation.max_in_flight is not None:
            assert f"{operation.max_in_flight} in flight" in guard, route
