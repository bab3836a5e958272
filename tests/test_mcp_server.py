"""``lensmor mcp`` driven by a real MCP client in memory, against FakeLensmor.

Both protocol eras are exercised: ``auto`` (2026-07-28: elicitation rides an
``InputRequiredResult`` and the client retries) and ``legacy`` (a standalone
``elicitation/create`` mid-call). Spending is judged by the fake's truth ledger and
by the requests it received.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import pytest
from mcp import MCPError
from mcp_helpers import MODES, Person, accept, cancel, connect, decline, seen, structured

from lensmor_async.guard import SpendRequest
from lensmor_async.mcp import Route, question, route
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

LOCKED = "101"  # 237 people, 50 visible in preview, 2000 credits to unlock
CONTACT_EVENT = "103"
UNLOCK_ROUTE = "/external/events/{id}/unlock"
CONTACTS_ROUTE = "/external/contacts/unlock"
START_BALANCE = 30_050


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=0, task_step_seconds=0.01) as server:
        monkeypatch.setenv("LENSMOR_API_KEY", server.api_key)  # the key: environment only
        yield server


async def test_the_server_lists_free_and_paid_tools_without_resolver_arguments(
    fake: FakeLensmor,
) -> None:
    async with connect(fake, Person()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {
        "search_events",
        "list_exhibitors",
        "list_personnel",
        "search_contacts",
        "get_balance",
        "precheck",
        "get_outreach",
        "spend_report",
        "unlock_event",
        "unlock_contacts",
        "unlock_phones",
        "unlock_linkedin_activity",
        "search_exhibitors_by_company",
        "search_events_by_company",
        "search_events_by_person",
        "generate_outreach",
    }
    # The price and the approval are the server's business, never the model's arguments.
    assert set(tools["unlock_event"].input_schema["properties"]) == {"event_id", "why", "layer"}
    assert set(tools["search_events_by_company"].input_schema["properties"]) == {
        "company_name",
        "why",
        "page",
    }
    assert set(tools["generate_outreach"].input_schema["required"]) == {
        "personnel_ids",
        "channels",
        "why",
    }
    for name in ("unlock_event", "search_events_by_person", "generate_outreach"):
        assert "budget" not in repr(tools[name].input_schema)
        assert "priced" not in repr(tools[name].input_schema)


async def test_free_tools_answer_concisely_with_pagination(fake: FakeLensmor) -> None:
    async with connect(fake, Person()) as client:
        events = structured(await client.call_tool("search_events", {}))
        people = structured(await client.call_tool("list_personnel", {"event_id": LOCKED}))
        unlocked = structured(await client.call_tool("list_personnel", {"event_id": "102"}))
        balance = structured(await client.call_tool("get_balance", {}))
        verdict = structured(
            await client.call_tool(
                "precheck", {"action_type": "unlock_event_contacts", "params": {"event_id": LOCKED}}
            )
        )
        contacts = structured(await client.call_tool("search_contacts", {"company_name": "Acme"}))
        exhibitors = structured(await client.call_tool("list_exhibitors", {"event_id": LOCKED}))
    assert (events["total"], events["next_page"]) == (9, None)
    assert set(events["events"][0]) <= {"id", "name", "date_start", "date_end", "city", "venue"} | {
        "country"
    }
    assert (unlocked["total"], unlocked["next_page"], len(unlocked["people"])) == (80, 2, 50)
    assert "access" not in unlocked
    assert people["access"] == "preview"
    assert people["locked"].startswith("187 more behind an unlock of 2000 credits")
    assert people["next_page"] is None  # the preview window ends here
    assert balance["balance"] == START_BALANCE
    assert balance["session_budget"] is None
    assert (verdict["credits"], verdict["should_charge"]) == (2000, True)
    assert (contacts["total"], contacts["next_page"]) == (49, 2)
    assert contacts["people"][0]["company_name"] == "Acme Analytics"
    assert exhibitors["access"] == "preview"
    assert "locked" not in exhibitors  # nothing hidden beyond the preview's pages
    assert len(fake.truth) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_an_accepted_unlock_charges_once_as_an_agent_call(
    fake: FakeLensmor, mode: str
) -> None:
    person = Person(accept)
    async with connect(fake, person, mode=mode, budget=5000) as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "find buyers"})
        )
        report = structured(await client.call_tool("spend_report", {}))
    (asked,) = person.questions
    assert "Cost: 2,000 credits" in asked
    assert "Balance now: 30,050 credits" in asked
    assert "5,000 credits left in this session's budget" in asked
    assert "find buyers" in asked
    assert result["status"] == "unlocked"
    assert (result["cost"], result["charged"]) == (2000, 2000)
    assert result["balance_after"] == START_BALANCE - 2000
    assert result["session_budget_left"] == 3000
    (sent,) = fake.requests_for(UNLOCK_ROUTE)
    assert sent.headers["x-call-source"] == "agent"
    assert [(e.intent, e.amount) for e in fake.truth.entries] == [(("events.unlock", LOCKED), 2000)]
    assert report["spent"] == 2000
    assert [(c["operation"], c["charged"]) for c in report["calls"]] == [("events.unlock", 2000)]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("answer", "status"), [(decline, "declined"), (cancel, "cancelled")])
async def test_a_declined_or_cancelled_unlock_sends_nothing(
    fake: FakeLensmor, mode: str, answer: Any, status: str
) -> None:
    person = Person(answer)
    async with connect(fake, person, mode=mode) as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "curious"})
        )
    assert len(person.questions) == 1
    assert (result["status"], result["charged"]) == (status, 0)
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert len(fake.truth) == 0


async def test_a_price_that_moved_between_rounds_is_asked_again(fake: FakeLensmor) -> None:
    # The balance drops while the person reads the first question: the retry round
    # prices again, the question changes, and the person is asked again.
    drops = iter([lambda: fake.set_balance(subscription=20_000, gift=0)])
    person = Person(accept, before=lambda: next(drops, lambda: None)())
    async with connect(fake, person, mode="auto") as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
        )
    first, second = person.questions
    assert "Balance now: 30,050 credits" in first
    assert "Balance now: 20,000 credits" in second
    assert result["status"] == "unlocked"
    assert fake.truth.net() == 2000


async def test_a_price_that_moved_after_the_answer_spends_nothing_in_a_legacy_session(
    fake: FakeLensmor,
) -> None:
    person = Person(accept, before=lambda: fake.set_balance(subscription=20_000, gift=0))
    async with connect(fake, person, mode="legacy") as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
        )
    assert (result["status"], result["charged"]) == ("price_changed", 0)
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert len(fake.truth) == 0


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_that_cannot_elicit_is_refused_and_nothing_is_sent(
    fake: FakeLensmor, mode: str
) -> None:
    async with connect(fake, None, mode=mode) as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
        )
    assert result["status"] == "refused"
    assert "cannot ask the person" in result["message"]
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert len(fake.truth) == 0


async def test_the_auto_approve_cap_runs_small_spends_and_refuses_larger_ones(
    fake: FakeLensmor,
) -> None:
    ids = list(fake.state.rosters[CONTACT_EVENT])[:2]  # 2 × 15 credits
    async with connect(fake, None, auto_approve_up_to=100) as client:
        small = structured(
            await client.call_tool(
                "unlock_contacts", {"event_id": CONTACT_EVENT, "personnel_ids": ids, "why": "x"}
            )
        )
        large = structured(await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"}))
    assert (small["approved_by"], small["cost"]) == ("auto", 30)
    assert small["status"] == "unlocked"
    assert small["charged"] == fake.truth.net()
    assert {d["id"] for d in small["delivered"]} | set(small["no_email"]) | {
        f["id"] for f in small["failed"]
    } == set(ids)
    assert large["status"] == "refused"
    assert fake.request_count(UNLOCK_ROUTE) == 0


async def test_a_spend_over_the_session_budget_is_refused_without_asking(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    async with connect(fake, person, budget=1000) as client:
        result = structured(
            await client.call_tool("unlock_event", {"event_id": LOCKED, "why": "x"})
        )
    assert person.questions == []
    assert result["status"] == "refused"
    assert "budget" in result["message"]
    assert fake.request_count(UNLOCK_ROUTE) == 0


async def test_a_contact_unlock_returns_when_the_deadline_passes_with_unresolved_ids(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with FakeLensmor(seed=0, task_step_seconds=30.0) as slow:  # outlives the wait
        monkeypatch.setenv("LENSMOR_API_KEY", slow.api_key)
        result = await _unlock_two_contacts(slow)
    assert result["status"] == "still_running"
    assert len(result["unresolved"]) == 2
    assert result["task_id"]
    assert result["charged"] is None  # unknown until the task ends


async def _unlock_two_contacts(fake: FakeLensmor) -> dict[str, Any]:
    ids = list(fake.state.rosters[CONTACT_EVENT])[:2]
    async with connect(fake, Person(accept), wait_seconds=0.2) as client:
        return structured(
            await client.call_tool(
                "unlock_contacts", {"event_id": CONTACT_EVENT, "personnel_ids": ids, "why": "x"}
            )
        )


async def test_the_api_key_never_reaches_the_client(fake: FakeLensmor) -> None:
    person = Person(accept)
    seen_texts: list[str] = []
    async with connect(fake, person) as client:
        for name, arguments in (
            ("get_balance", {}),
            ("list_personnel", {"event_id": "no-such-event"}),
            ("unlock_event", {"event_id": "no-such-event", "why": "x"}),
            ("unlock_event", {"event_id": LOCKED, "why": "x"}),
            ("search_events_by_company", {"company_name": "Acme", "why": "x"}),
            ("search_exhibitors_by_company", {"company_name": "", "why": "x"}),
            ("spend_report", {}),
        ):
            seen_texts.append(seen(await client.call_tool(name, arguments)))
        seen_texts.append(repr(await client.list_tools()))
    everything = "".join(seen_texts + person.questions)
    assert "NotFoundError" in everything or "not_found" in everything  # errors were seen
    assert fake.api_key not in everything


def test_the_route_never_auto_approves_an_unknown_price() -> None:
    request = SpendRequest("events.unlock", "events.unlock [1]", ("1",), None, 100, None)
    assert route(request, auto_up_to=10_000, can_ask=False) is Route.CANNOT_ASK
    assert route(request, auto_up_to=10_000, can_ask=True) is Route.ASK
    assert route(None, auto_up_to=None, can_ask=False) is Route.FREE
    assert "Cost: unknown\n" in question(request, "")


ARGS = {"event_id": LOCKED, "why": "x"}


async def test_an_approval_never_asked_or_tampered_with_spends_nothing(fake: FakeLensmor) -> None:
    async with connect(fake, Person()) as client:
        asked = await client.session.call_tool("unlock_event", ARGS, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        assert asked.input_requests is not None
        assert asked.request_state is not None
        yes = {
            key: types.ElicitResult(action="accept", content={"approve": True})
            for key in asked.input_requests
        }
        # An "accept" the server never asked for is discarded: the question comes again.
        forged = await client.session.call_tool(
            "unlock_event", ARGS, input_responses=yes, allow_input_required=True
        )
        assert isinstance(forged, types.InputRequiredResult)
        # The asked question rides a sealed request state: a changed one is refused.
        with pytest.raises(MCPError, match="requestState"):
            await client.session.call_tool(
                "unlock_event",
                ARGS,
                input_responses=yes,
                request_state=asked.request_state[:-4] + "AAAA",
                allow_input_required=True,
            )
    assert fake.request_count(UNLOCK_ROUTE) == 0
    assert len(fake.truth) == 0


async def test_a_replayed_approval_pays_once(fake: FakeLensmor) -> None:
    async with connect(fake, Person()) as client:
        asked = await client.session.call_tool("unlock_event", ARGS, allow_input_required=True)
        assert isinstance(asked, types.InputRequiredResult)
        assert asked.input_requests is not None
        yes = {
            key: types.ElicitResult(action="accept", content={"approve": True})
            for key in asked.input_requests
        }
        answers: list[dict[str, Any]] = []
        for _ in range(2):
            result = await client.session.call_tool(
                "unlock_event", ARGS, input_responses=yes, request_state=asked.request_state
            )
            answers.append(structured(result))
    assert [(a["status"], a["charged"]) for a in answers] == [("unlocked", 2000), ("unlocked", 0)]
    assert answers[1]["approved_by"] == "free"  # already unlocked: nothing to approve
    assert [(e.intent, e.amount) for e in fake.truth.entries] == [(("events.unlock", LOCKED), 2000)]
