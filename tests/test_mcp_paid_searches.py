"""``lensmor mcp``'s paid searches and outreach generation, driven by a real MCP client.

They go through the same flow as the unlock tools (priced, sealed, asked, executed only
as the accepted sealed quote). Spending is judged by the fake's truth ledger and by the
requests it received on each paid route.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import pytest
from mcp_helpers import MODES, Person, accept, cancel, connect, decline, structured

from lensmor_async.guard import CostTable
from lensmor_async.testing import FakeLensmor, Prices

pytestmark = pytest.mark.anyio

START_BALANCE = 30_050
EVENT = "101"
PERSON = "Jane Roe"


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=0, task_step_seconds=0.01) as server:
        monkeypatch.setenv("LENSMOR_API_KEY", server.api_key)  # the key: environment only
        server.add_person(EVENT, full_name=PERSON)
        yield server


# tool, arguments finding something, arguments finding nothing, paid route, its method
SEARCHES = {
    "search_exhibitors_by_company": (
        {"company_name": "Acme Analytics"},
        {"company_name": "Zyxwv Nonesuch"},
        "/external/exhibitors/search-by-company-name",
        "POST",
    ),
    "search_events_by_company": (
        {"company_name": "Acme Analytics"},
        {"company_name": "Zyxwv Nonesuch"},
        "/external/exhibitors/search-events",
        "POST",
    ),
    "search_events_by_person": (
        {"person_name": PERSON},
        {"person_name": "Nobody Anywhere"},
        "/external/personnel/events/by-name",
        "GET",
    ),
}
TOOLS = list(SEARCHES)


def paid_requests(fake: FakeLensmor, tool: str) -> list[Any]:
    _, _, route, method = SEARCHES[tool]
    return list(fake.requests_for(route, method=method))


async def call(client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return structured(await client.call_tool(tool, {**arguments, "why": "find buyers"}))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("tool", TOOLS)
async def test_an_accepted_paid_search_charges_once_as_an_agent_call(
    fake: FakeLensmor, tool: str, mode: str
) -> None:
    person = Person(accept)
    found, _, _, _ = SEARCHES[tool]
    async with connect(fake, person, mode=mode, budget=500) as client:
        result = await call(client, tool, found)
        report = structured(await client.call_tool("spend_report", {}))
    (asked,) = person.questions
    assert "Cost: 50 credits" in asked
    assert "500 credits left in this session's budget" in asked
    assert (result["status"], result["cost"], result["charged"]) == ("searched", 50, 50)
    assert result["balance_after"] == START_BALANCE - 50
    assert result["session_budget_left"] == 450
    assert result["total"] >= 1
    assert "free" not in result
    key = "exhibitors" if tool == "search_exhibitors_by_company" else "events"
    assert {"id", "name", "company_name"} & set(result[key][0])  # concise items
    (sent,) = paid_requests(fake, tool)
    assert sent.headers["x-call-source"] == "agent"
    assert fake.truth.net() == 50
    assert len(fake.truth.entries) == 1
    assert [c["charged"] for c in report["calls"]] == [50]


@pytest.mark.parametrize("answer", [decline, cancel])
@pytest.mark.parametrize("tool", TOOLS)
async def test_a_declined_paid_search_sends_nothing(
    fake: FakeLensmor, tool: str, answer: Callable[[str], Any]
) -> None:
    person = Person(answer)
    found, _, _, _ = SEARCHES[tool]
    async with connect(fake, person) as client:
        result = await call(client, tool, found)
    assert len(person.questions) == 1
    assert result["status"] in ("declined", "cancelled")
    assert result["charged"] == 0
    assert paid_requests(fake, tool) == []
    assert len(fake.truth) == 0


@pytest.mark.parametrize("tool", TOOLS)
async def test_an_empty_paid_search_is_reported_free_and_charges_nothing(
    fake: FakeLensmor, tool: str
) -> None:
    person = Person(accept)
    _, empty, _, _ = SEARCHES[tool]
    async with connect(fake, person) as client:
        result = await call(client, tool, empty)
        report = structured(await client.call_tool("spend_report", {}))
    assert len(person.questions) == 1  # the price was 50 until the empty answer came back
    assert (result["status"], result["cost"], result["charged"]) == ("searched", 50, 0)
    assert result["free"].startswith("no matches")
    assert (result["total"], result["next_page"]) == (0, None)
    assert result["balance_after"] == START_BALANCE
    assert len(paid_requests(fake, tool)) == 1
    assert len(fake.truth) == 0
    assert report["spent"] == 0
    assert [c["charged"] for c in report["calls"]] == [0]


async def test_a_paid_search_over_the_budget_is_refused_without_asking(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    async with connect(fake, person, budget=40) as client:
        result = await call(client, "search_events_by_company", {"company_name": "Acme"})
    assert person.questions == []
    assert result["status"] == "refused"
    assert "budget" in result["message"]
    assert paid_requests(fake, "search_events_by_company") == []


@pytest.mark.parametrize(("cap", "status"), [(50, "searched"), (49, "refused")])
async def test_the_auto_approve_cap_decides_paid_searches_for_a_client_that_cannot_ask(
    fake: FakeLensmor, cap: int, status: str
) -> None:
    found, _, _, _ = SEARCHES["search_exhibitors_by_company"]
    async with connect(fake, None, auto_approve_up_to=cap) as client:
        result = await call(client, "search_exhibitors_by_company", found)
    assert result["status"] == status
    assert fake.truth.net() == (50 if status == "searched" else 0)
    assert len(paid_requests(fake, "search_exhibitors_by_company")) == (status == "searched")


async def ready_drafts(client: Any, personnel_id: str, event_id: str) -> dict[str, Any]:
    """``get_outreach`` once the drafts are written (the fake writes them in the background)."""
    arguments = {"personnel_id": personnel_id, "event_id": event_id}
    for _ in range(200):
        drafts = structured(await client.call_tool("get_outreach", arguments))
        if drafts["status"] != "processing":
            return drafts
        await anyio.sleep(0.02)
    raise AssertionError(f"drafts still processing: {drafts}")


def _ids(fake: FakeLensmor, count: int = 3) -> list[str]:
    return list(fake.state.rosters["103"])[:count]


async def test_outreach_generation_is_free_on_the_current_api_and_runs_without_asking(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    ids = _ids(fake)
    async with connect(fake, person) as client:
        result = await call(
            client,
            "generate_outreach",
            {"personnel_ids": ids, "channels": ["email"], "event_id": "103"},
        )
        drafts = await ready_drafts(client, ids[0], "103")
    assert person.questions == []
    assert (result["status"], result["cost"], result["charged"]) == ("generating", None, 0)
    assert result["approved_by"] == "free"
    assert sorted(result["queued"]) == sorted(ids)
    (sent,) = fake.requests_for("/external/personnel/generate-outreach-message")
    assert sent.headers["x-call-source"] == "agent"
    assert (drafts["found"], drafts["status"]) == (True, "ready")
    assert drafts["drafts"]["email"]
    assert len(fake.truth) == 0


PRICED_OUTREACH = CostTable.default().with_prices(personnel__generate_outreach_message=5)


@pytest.mark.parametrize(("answer", "charged"), [(accept, 15), (decline, 0)])
async def test_priced_outreach_generation_asks_the_person_and_charges_only_when_accepted(
    fake: FakeLensmor, answer: Callable[[str], Any], charged: int
) -> None:
    fake.state.prices = Prices(outreach_message=5)  # a plan that charges per person
    person = Person(answer)
    async with connect(fake, person, costs=PRICED_OUTREACH) as client:
        result = await call(
            client, "generate_outreach", {"personnel_ids": _ids(fake), "channels": ["email"]}
        )
    (asked,) = person.questions
    assert "Cost: 15 credits" in asked
    assert (result["cost"], result["charged"]) == (15, charged)
    assert fake.truth.net() == charged
    sent = fake.requests_for("/external/personnel/generate-outreach-message")
    assert len(sent) == (1 if charged else 0)
