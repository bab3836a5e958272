"""``lensmor mcp``'s event layers, phone and LinkedIn-activity unlocks, and ``--price``.

Driven by a real MCP client in memory against FakeLensmor, like the other paid tools:
they share one flow (priced, sealed, asked, executed only as the accepted sealed quote).
Spending is judged by the fake's truth ledger and by the requests each paid route got.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from mcp_helpers import MODES, Person, accept, cancel, connect, decline, structured

from lensmor_async.cli import EXIT_USAGE, build_parser, main
from lensmor_async.cli._mcp import settings_from
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

START_BALANCE = 30_050
LOCKED = "101"  # base layer 2000, Visitor layer 3000, both locked
CONTACT_EVENT = "103"
LINKEDIN = "personnel.unlock_linkedin_activity"
ROUTES = {
    "base": "/external/events/{id}/unlock",
    "visitors": "/external/events/{id}/visitors/unlock",
    "full_access": "/external/events/{id}/full-access/unlock",
    "phones": "/external/contacts/unlock-phone",
    "linkedin": "/external/personnel/unlock-linkedin-activity",
}


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=0, task_step_seconds=0.01) as server:
        monkeypatch.setenv("LENSMOR_API_KEY", server.api_key)  # the key: environment only
        yield server


async def call(client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return structured(await client.call_tool(tool, {**arguments, "why": "meet their buyers"}))


def people(fake: FakeLensmor, count: int = 2) -> list[str]:
    return list(fake.state.rosters[CONTACT_EVENT])[:count]


def mcp_args(*options: str) -> Any:
    return build_parser().parse_args(["mcp", *options])


# tool, its arguments, its paid route
UNLOCKS: dict[str, tuple[str, Callable[[FakeLensmor], dict[str, Any]], str]] = {
    "visitors": (
        "unlock_event",
        lambda _: {"event_id": LOCKED, "layer": "visitors"},
        ROUTES["visitors"],
    ),
    "full_access": (
        "unlock_event",
        lambda _: {"event_id": LOCKED, "layer": "full_access"},
        ROUTES["full_access"],
    ),
    "phones": (
        "unlock_phones",
        lambda fake: {"event_id": CONTACT_EVENT, "personnel_ids": people(fake)},
        ROUTES["phones"],
    ),
    "linkedin": (
        "unlock_linkedin_activity",
        lambda fake: {"personnel_ids": people(fake)},
        ROUTES["linkedin"],
    ),
}


@pytest.mark.parametrize("answer", [decline, cancel])
@pytest.mark.parametrize("unlock", list(UNLOCKS))
async def test_a_declined_or_cancelled_unlock_sends_nothing_to_its_route(
    fake: FakeLensmor, unlock: str, answer: Callable[[str], Any]
) -> None:
    tool, arguments, paid_route = UNLOCKS[unlock]
    fake.unlock_event(LOCKED)  # the Visitor layer needs the base layer
    person = Person(answer)
    async with connect(fake, person) as client:
        result = await call(client, tool, arguments(fake))
    assert len(person.questions) == 1
    assert result["status"] in ("declined", "cancelled")
    assert result["charged"] == 0
    assert fake.requests_for(paid_route) == []
    assert len(fake.truth) == 0


# -- event layers -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("layer", "base_unlocked", "quoted", "price", "label"),
    [
        ("base", False, 2000, 2000, "Layer: base"),
        ("visitors", True, 3000, 3000, "Layer: Visitors"),
        ("full_access", False, 5000, 5000, "Layer: full access"),
        # This server never saw the base layer unlocked: it asks for the upper bound, says
        # so, and the charge is only the missing Visitor layer.
        ("full_access", True, 5000, 3000, "Layer: full access"),
    ],
)
async def test_an_accepted_layer_unlock_states_the_layer_and_charges_its_price_once(
    fake: FakeLensmor,
    mode: str,
    layer: str,
    base_unlocked: bool,
    quoted: int,
    price: int,
    label: str,
) -> None:
    if base_unlocked:
        fake.unlock_event(LOCKED)
    person = Person(accept)
    async with connect(fake, person, mode=mode, budget=6000) as client:
        result = await call(client, "unlock_event", {"event_id": LOCKED, "layer": layer})
    (asked,) = person.questions
    assert label in asked
    assert f"Cost: {quoted:,} credits" in asked
    assert ("Price: an upper bound" in asked) == (layer == "full_access")
    assert (result["status"], result["layer"]) == ("unlocked", layer)
    assert (result["cost"], result["charged"]) == (quoted, price)
    assert result["balance_after"] == START_BALANCE - price
    assert result["session_budget_left"] == 6000 - price
    assert "free" not in result
    (sent,) = fake.requests_for(ROUTES[layer])
    assert sent.headers["x-call-source"] == "agent"
    assert fake.truth.net() == price


@pytest.mark.parametrize("layer", ["visitors", "full_access"])
async def test_an_already_unlocked_layer_is_free_and_said_so_without_asking(
    fake: FakeLensmor, layer: str
) -> None:
    fake.unlock_event(LOCKED)
    fake.state.visitor_unlocked_events.add(LOCKED)
    person = Person(accept)
    async with connect(fake, person, budget=100) as client:
        result = await call(client, "unlock_event", {"event_id": LOCKED, "layer": layer})
    assert person.questions == []
    assert (result["status"], result["charged"], result["approved_by"]) == (
        "unlocked",
        0,
        "free",
    )
    assert result["free"] == "this layer was already unlocked: nothing was charged"
    assert len(fake.truth) == 0


async def test_a_layer_unlock_over_the_budget_is_refused_without_asking(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    async with connect(fake, person, budget=4999) as client:
        result = await call(client, "unlock_event", {"event_id": LOCKED, "layer": "full_access"})
    assert person.questions == []
    assert (result["status"], result["cost"], result["charged"]) == ("refused", 5000, 0)
    assert fake.requests_for(ROUTES["full_access"]) == []


@pytest.mark.parametrize(("cap", "status"), [(3000, "unlocked"), (2999, "refused")])
async def test_the_auto_approve_cap_decides_a_visitor_unlock_for_a_client_that_cannot_ask(
    fake: FakeLensmor, cap: int, status: str
) -> None:
    fake.unlock_event(LOCKED)
    async with connect(fake, None, auto_approve_up_to=cap) as client:
        result = await call(client, "unlock_event", {"event_id": LOCKED, "layer": "visitors"})
    assert result["status"] == status
    assert fake.truth.net() == (3000 if status == "unlocked" else 0)
    assert len(fake.requests_for(ROUTES["visitors"])) == (status == "unlocked")


# -- phone unlocks ------------------------------------------------------------------------


async def test_an_accepted_phone_unlock_charges_once_and_says_the_price_is_an_upper_bound(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    ids = people(fake)
    async with connect(fake, person, budget=1000) as client:
        result = await call(
            client, "unlock_phones", {"event_id": CONTACT_EVENT, "personnel_ids": ids}
        )
    (asked,) = person.questions
    assert "Cost: 300 credits" in asked
    assert "Price: an upper bound" in asked
    assert (result["status"], result["cost"], result["charged"]) == ("unlocked", 300, 300)
    delivered = {d["id"] for d in result["delivered"]} | set(result["no_phone"])
    assert delivered | {f["id"] for f in result["failed"]} == set(ids)
    assert all("phone" in d for d in result["delivered"])
    (sent,) = fake.requests_for(ROUTES["phones"])
    assert sent.headers["x-call-source"] == "agent"
    assert fake.truth.net() == 300


@pytest.mark.parametrize(("cap", "status"), [(300, "unlocked"), (299, "refused")])
async def test_the_auto_approve_cap_decides_a_phone_unlock_for_a_client_that_cannot_ask(
    fake: FakeLensmor, cap: int, status: str
) -> None:
    arguments = {"event_id": CONTACT_EVENT, "personnel_ids": people(fake)}
    async with connect(fake, None, auto_approve_up_to=cap) as client:
        result = await call(client, "unlock_phones", arguments)
    assert result["status"] == status
    assert fake.truth.net() == (300 if status == "unlocked" else 0)


# -- LinkedIn activity (price not documented) ---------------------------------------------


async def test_an_undocumented_linkedin_price_is_asked_as_unknown_and_measured_from_the_balance(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    ids = people(fake)
    async with connect(fake, person) as client:
        result = await call(client, "unlock_linkedin_activity", {"personnel_ids": ids})
        again = await call(client, "unlock_linkedin_activity", {"personnel_ids": ids})
    (asked,) = person.questions  # the repeat is free: those people are unlocked already
    assert "Cost: unknown\n" in asked
    assert "Price: not documented by the API" in asked
    assert "--price personnel.unlock_linkedin_activity=N" in asked
    assert (result["status"], result["cost"], result["charged"]) == ("unlocked", None, 20)
    assert sorted(result["unlocked"]) == sorted(ids)
    assert result["balance_after"] == START_BALANCE - 20
    assert (again["approved_by"], again["charged"]) == ("free", 0)
    assert sorted(again["already_unlocked"]) == sorted(ids)
    sent = fake.requests_for(ROUTES["linkedin"])
    assert [r.headers["x-call-source"] for r in sent] == ["agent", "agent"]
    assert fake.truth.net() == 20  # the repeat reached the route and was not charged


async def test_an_undocumented_linkedin_price_is_never_auto_approved(fake: FakeLensmor) -> None:
    arguments = {"personnel_ids": people(fake)}
    async with connect(fake, None, auto_approve_up_to=10_000) as client:
        result = await call(client, "unlock_linkedin_activity", arguments)
    assert (result["status"], result["charged"]) == ("refused", 0)
    assert fake.requests_for(ROUTES["linkedin"]) == []


async def test_an_undocumented_linkedin_price_under_a_budget_is_refused_without_asking(
    fake: FakeLensmor,
) -> None:
    person = Person(accept)
    async with connect(fake, person, budget=1000) as client:
        result = await call(client, "unlock_linkedin_activity", {"personnel_ids": people(fake)})
    assert person.questions == []
    assert (result["status"], result["charged"]) == ("refused", 0)
    assert "--price personnel.unlock_linkedin_activity=N" in result["message"]
    assert fake.requests_for(ROUTES["linkedin"]) == []
    assert len(fake.truth) == 0


# -- --price ------------------------------------------------------------------------------


async def test_a_price_set_with_the_cli_option_is_asked_with_and_spends_under_a_budget(
    fake: FakeLensmor,
) -> None:
    args = mcp_args("--budget", "100", "--price", f"{LINKEDIN}=10")
    settings = settings_from(args)
    person = Person(accept)
    options = {"budget": settings.budget, "costs": settings.costs}
    async with connect(fake, person, **options) as client:
        result = await call(client, "unlock_linkedin_activity", {"personnel_ids": people(fake)})
    (asked,) = person.questions
    assert "Cost: 20 credits" in asked
    assert "as set by this server's operator (the API does not document it)" in asked
    assert (result["status"], result["cost"], result["charged"]) == ("unlocked", 20, 20)
    assert result["session_budget_left"] == 80
    assert fake.truth.net() == 20


async def test_an_operator_price_lets_the_auto_approve_cap_cover_linkedin_unlocks(
    fake: FakeLensmor,
) -> None:
    settings = settings_from(mcp_args("--auto-approve-up-to", "20", "--price", f"{LINKEDIN}=10"))
    arguments = {"personnel_ids": people(fake)}
    async with connect(fake, None, auto_approve_up_to=20, costs=settings.costs) as client:
        result = await call(client, "unlock_linkedin_activity", arguments)
    assert (result["status"], result["approved_by"], result["charged"]) == (
        "unlocked",
        "auto",
        20,
    )


def test_the_price_option_parses_repeated_operations_and_the_last_one_wins() -> None:
    args = mcp_args(
        "--price",
        "events.unlock=1800",
        "--price",
        "personnel.generate_outreach_message = 5",
        "--price",
        "events.unlock=1700",
    )
    costs = settings_from(args).costs
    assert costs is not None
    assert costs.estimate("events.unlock") == 1700
    assert costs.estimate("personnel.generate_outreach_message", 3) == 15
    assert costs.estimate("events.unlock_visitors") == 3000  # the rest keep their price
    assert settings_from(mcp_args()).costs is None


@pytest.mark.parametrize(
    ("option", "error"),
    [
        ("events.unlok=5", "unknown paid operation 'events.unlok'"),
        ("events.unlock=-1", "must be 0 or more, got -1"),
        ("events.unlock=1.5", "not a whole number: '1.5'"),
        ("events.unlock=", "not a whole number: ''"),
        ("events.unlock", "expected OPERATION=CREDITS, got 'events.unlock'"),
    ],
)
def test_a_bad_price_option_is_a_usage_error_before_the_server_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], option: str, error: str
) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "sk_test_never_used")
    assert main(["mcp", "--price", option]) == EXIT_USAGE
    assert f"argument --price: {error}" in capsys.readouterr().err


def test_the_mcp_help_documents_the_price_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mcp", "--help"]) == 0
    assert "--price OPERATION=CREDITS" in capsys.readouterr().out
