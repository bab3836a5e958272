"""The MCP server: free research tools, and paid tools a person approves.

A paid tool never spends on the model's word. Its call is priced by the guard and
sealed into a quote token (a resolver, re-run on every protocol round), the person is
asked through MCP elicitation (another resolver, whose question text carries the cost,
the balance and the budget left, so a moved price is a new question), and only then
does the tool body execute the sealed quote. The guard's own confirm callback declines
everything else, so a spend nobody approved cannot happen, even by mistake here.

Resolvers, not ``ctx.elicit``, because the SDK then speaks both protocol eras: a
2026-07-28 client answers an ``InputRequiredResult`` and retries; an older one gets a
standalone ``elicitation/create`` request mid-call.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, cast

import attrs
from mcp.server.elicitation import AcceptedElicitation, CancelledElicitation, ElicitationResult
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve

from lensmor_async._client import AsyncLensmor
from lensmor_async.errors import LensmorError, SpendDeclinedError
from lensmor_async.guard import CreditGuard, SpendRecord, SpendRequest
from lensmor_async.mcp._approval import Approval, Route, question, route
from lensmor_async.mcp._results import (
    EVENT_FIELDS,
    EXHIBITOR_FIELDS,
    PERSON_FIELDS,
    drafts_result,
    linkedin_result,
    outreach_result,
    page_result,
    record_result,
    report_result,
    search_result,
)
from lensmor_async.mcp._settings import McpSettings
from lensmor_async.resources.personnel import BY_NAME_DEFAULT_START

logger = logging.getLogger("lensmor_async.mcp")
INSTRUCTIONS = """\
Lensmor event intelligence. Research with the free tools (events, exhibitors, people,
contacts search, balance, precheck, outreach drafts). Paid tools (unlock_event and its
layers, unlock_contacts, unlock_phones, unlock_linkedin_activity, the search_*_by_company /
search_events_by_person searches, and generate_outreach where the plan prices it) ask the
person through the MCP client before any credit is spent; pass a short `why`. A declined,
refused or cancelled paid call spent nothing; never retry it without the person asking.
Prefer the free tools first."""
Channel = Literal["email", "linkedin_message"]
Layer = Literal["base", "visitors", "full_access"]


@attrs.frozen(slots=True)
class LayerUnlock:
    """How one event layer is bought: its SDK method, its answer's charge field, its name."""

    method: Callable[[AsyncLensmor], Callable[..., Awaitable[Any]]]
    charge: str
    label: str
    notes: tuple[str, ...] = ()


LAYERS: dict[str, LayerUnlock] = {
    "base": LayerUnlock(
        lambda client: client.events.unlock,
        "credits_used",
        "base (the event's exhibitors' people and their contact access)",
    ),
    "visitors": LayerUnlock(
        lambda client: client.events.unlock_visitors,
        "credits_spent",
        "Visitors (the event's visitor list; needs the base layer)",
    ),
    "full_access": LayerUnlock(
        lambda client: client.events.unlock_full_access,
        "total_credits_used",
        "full access (base + Visitors; only the layers still locked are charged)",
        # Quoted as every layer this server has not seen unlocked (the guard never
        # under-quotes); the answer's totalCreditsUsed settles it.
        ("Price: an upper bound (a layer found already unlocked is not charged)",),
    ),
}
ALREADY = "this layer was already unlocked: nothing was charged"
PHONE_BOUND = (
    "Price: an upper bound (contacts already unlocked are not charged; whether contacts "
    "that come back without a phone number are refunded is not documented)"
)
UNDOCUMENTED = (
    "Price: not documented by the API, so it is unknown until charged (the charge is "
    "measured from the balance afterwards); the operator can set it with "
    "`lensmor mcp --price personnel.unlock_linkedin_activity=N`"
)
UNPRICED = (
    "the API does not document the LinkedIn-activity price and this server has a session "
    "budget, which cannot hold an unknown amount; the operator can set the plan's price with "
    "`lensmor mcp --price personnel.unlock_linkedin_activity=N`; nothing was spent"
)


@attrs.frozen(slots=True)
class AgentSession:
    """The server's client and guard (one per server process: the budget is per process)."""

    settings: McpSettings
    client: AsyncLensmor
    guard: CreditGuard


def decline_unsealed(request: SpendRequest, /) -> bool:
    """The guard's confirm callback: only a sealed quote a person (or the cap) approved spends.

    The guard asks it when a quote's price or balance moved before execution, or for a
    spend outside a quote; both are declined and reported as "ask again".
    """
    return False


@asynccontextmanager
async def open_session(settings: McpSettings) -> AsyncIterator[AgentSession]:
    """Client and guard for the server's lifetime; the key comes from ``LENSMOR_API_KEY``."""
    # balance_ttl=0: each round prices against the live balance, so a balance that moved
    # while the person read the question changes the question (and the execution re-checks).
    guard = CreditGuard(
        confirm=decline_unsealed,
        budget=settings.budget,
        costs=settings.costs,
        quote_secret=settings.quote_secret,
        balance_ttl=0.0,
    )
    async with AsyncLensmor(
        base_url=settings.base_url,
        call_source="agent",
        guard=guard,
        testing=settings.testing,
        poll_intervals=settings.poll_intervals,
    ) as client:
        yield AgentSession(settings, client, guard)


def _session(ctx: Context) -> AgentSession:
    # The lifespan's value (``open_session``); the SDK types it loosely.
    return cast(AgentSession, ctx.request_context.lifespan_context)


def _error(exc: LensmorError) -> dict[str, Any]:
    # SDK messages never contain the API key (the client keeps it in a Secret).
    return {"status": "error", "error": type(exc).__name__, "message": str(exc)}


async def _free(ctx: Context, read: Callable[[AsyncLensmor], Awaitable[Any]]) -> Any:
    try:
        return await read(_session(ctx).client)
    except LensmorError as exc:
        return _error(exc)


# -- free tools ----------------------------------------------------------------------------


async def search_events(
    ctx: Context,
    keyword: str | None = None,
    country: str | None = None,
    city: str | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """Find events (free). Returns concise events and `next_page` while more pages exist."""
    page_ = await _free(
        ctx, lambda c: c.events.list(page=page, keyword=keyword, country=country, city=city)
    )
    return page_ if isinstance(page_, dict) else page_result(page_, EVENT_FIELDS, "events")


async def list_exhibitors(
    ctx: Context, event_id: str, keyword: str | None = None, page: int = 1
) -> dict[str, Any]:
    """An event's exhibitors (free; a locked event shows a preview and says what is hidden)."""
    page_ = await _free(ctx, lambda c: c.exhibitors.list(event_id, page=page, keyword=keyword))
    return page_ if isinstance(page_, dict) else page_result(page_, EXHIBITOR_FIELDS, "exhibitors")


async def list_personnel(ctx: Context, event_id: str, page: int = 1) -> dict[str, Any]:
    """An event's people (free). A locked event shows a preview: `locked` says how many
    more are behind an unlock and its price (unlock_event asks the person first)."""
    page_ = await _free(ctx, lambda c: c.personnel.list(event_id, page=page))
    return page_ if isinstance(page_, dict) else page_result(page_, PERSON_FIELDS, "people")


async def search_contacts(
    ctx: Context,
    company_name: str,
    role: str | None = None,
    person_name: str | None = None,
    page: int = 1,
) -> dict[str, Any]:
    """People at a company (free; never unlocks an email)."""
    page_ = await _free(
        ctx,
        lambda c: c.contacts.search(company_name, role=role, person_name=person_name, page=page),
    )
    return page_ if isinstance(page_, dict) else page_result(page_, PERSON_FIELDS, "people")


async def get_balance(ctx: Context) -> dict[str, Any]:
    """The account's credit balance and this session's budget (free)."""
    balance = await _free(ctx, lambda c: c.credits.balance())
    if isinstance(balance, dict):
        return balance
    return {"balance": balance.total_balance, **_budget(_session(ctx).guard)}


async def precheck(ctx: Context, action_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Would an action be allowed and what would it cost now? (free, advisory, reserves
    nothing). action_type: unlock_event_contacts, unlock_contact_emails, search_exhibitor_events."""
    answer = await _free(ctx, lambda c: c.actions.precheck(action_type, params))
    if isinstance(answer, dict):
        return answer
    return {
        "allowed": answer.allowed,
        "should_charge": answer.should_charge,
        "credits": answer.credits,
        "reason_code": answer.reason_code,
    }


async def get_outreach(ctx: Context, personnel_id: str, event_id: str) -> dict[str, Any]:
    """The latest outreach drafts for a person at an event (free; `found` false: none yet,
    `status` processing: still being written)."""
    answer = await _free(ctx, lambda c: c.personnel.outreach(personnel_id, event_id))
    return answer if isinstance(answer, dict) else drafts_result(answer)


async def spend_report(ctx: Context) -> dict[str, Any]:
    """What this session spent: every paid call with its outcome, and the budget left."""
    guard = _session(ctx).guard
    return {
        "spent": guard.spent,
        "reserved": guard.reserved,
        **_budget(guard),
        "in_doubt": len(guard.in_doubt),
        "calls": [record_result(record) for record in guard.history],
    }


def _budget(guard: CreditGuard) -> dict[str, Any]:
    left = None if guard.budget is None else max(guard.budget - guard.spent - guard.reserved, 0)
    return {"session_budget": guard.budget, "session_budget_left": left}


# -- paid tools: price → ask the person → execute the sealed quote ------------------------------


@attrs.frozen(slots=True)
class Priced:
    """A paid call priced this round: its sealed quote, or why it cannot run."""

    token: str | None
    request: SpendRequest | None
    error: dict[str, Any] | None = None
    notes: tuple[str, ...] = ()
    """Lines for the person under the cost: what exactly is bought, how sure the price is."""

    def noted(self, *notes: str) -> Priced:
        return attrs.evolve(self, notes=(*self.notes, *notes))


async def _price(
    ctx: Context, method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any
) -> Priced:
    try:
        quote = await _session(ctx).guard.quote(method, *args, **kwargs)
    except LensmorError as exc:
        return Priced(None, None, _error(exc))
    return Priced(quote.seal(), quote.request)


def _can_ask(ctx: Context) -> bool:
    capabilities = ctx.client_capabilities
    return capabilities is not None and capabilities.elicitation is not None


def _route(ctx: Context, priced: Priced) -> Route:
    limit = _session(ctx).settings.auto_approve_up_to
    return route(priced.request, auto_up_to=limit, can_ask=_can_ask(ctx))


def _ask(ctx: Context, priced: Priced, why: str) -> Any:
    """An elicitation for the person, or the outcome without asking (free, cap, refusal).

    A returned ``Approval`` reaches the tool as an accepted elicitation nobody was asked.
    """
    if priced.error is not None:
        return CancelledElicitation()
    verdict = _route(ctx, priced)
    if verdict is Route.ASK:
        assert priced.request is not None
        return Elicit(question(priced.request, why, priced.notes), Approval)
    if verdict in (Route.FREE, Route.AUTO):
        return Approval(approve=True)
    return CancelledElicitation()


def asking(price: Callable[..., Awaitable[Priced]]) -> Callable[..., Any]:
    """The approval resolver of the paid tool whose call ``price`` prices.

    Every paid tool asks the same way; only the pricing resolver it depends on differs,
    and the SDK reads that dependency from the ``priced`` annotation.
    """

    def ask(ctx: Context, why: str, priced: Priced) -> Any:
        return _ask(ctx, priced, why)

    ask.__annotations__ = {**ask.__annotations__, "priced": Annotated[Priced, Resolve(price)]}
    ask.__qualname__ = ask.__name__ = price.__name__.replace("price_", "ask_", 1)
    return ask


async def _execute(
    ctx: Context, priced: Priced, approval: ElicitationResult[Approval]
) -> tuple[dict[str, Any], Any]:
    """The outcome of the approval step, and the paid call's result when it ran.

    The outcome's ``charged`` is what the guard settled for the call (its history), so a
    search that came back empty says 0 here.
    """
    if priced.error is not None:
        return priced.error, None
    verdict = _route(ctx, priced)
    request = priced.request
    cost = None if request is None else request.expected_credits
    head: dict[str, Any] = {"cost": cost, "charged": 0, **_budget(_session(ctx).guard)}
    refusal = _refusal(verdict, approval, cost)
    if refusal is not None:
        return {**head, **refusal}, None
    assert priced.token is not None
    session = _session(ctx)
    seen = len(session.guard.history)
    try:
        result = await session.guard.execute_quote(priced.token, session.client)
    except SpendDeclinedError:
        message = "the price or the balance moved since the approval; nothing was spent"
        return {**head, "status": "price_changed", "message": message + ", call again"}, None
    except LensmorError as exc:
        return {**head, **_error(exc)}, None
    head["approved_by"] = "person" if verdict is Route.ASK else verdict.value
    head["charged"] = _settled(session.guard.history[seen:], request)
    return head, result


def _settled(records: Sequence[SpendRecord], request: SpendRequest | None) -> int | None:
    """What the guard settled for this call: its newest record of the operation."""
    if request is None:
        return 0  # priced free; a call that turned out to cost was declined instead
    mine = [record for record in records if record.intent.operation == request.operation]
    return mine[-1].actual if mine else None


def _refusal(
    verdict: Route, approval: ElicitationResult[Approval], cost: int | None
) -> dict[str, Any] | None:
    if verdict is Route.OVER_BUDGET:
        return {"status": "refused", "message": "over this session's budget; nothing was spent"}
    if verdict is Route.CANNOT_ASK:
        return {
            "status": "refused",
            "message": (
                f"this MCP client cannot ask the person (no elicitation support) and no "
                f"auto-approve cap covers {cost} credits; nothing was spent"
            ),
        }
    if not isinstance(approval, AcceptedElicitation) or not approval.data.approve:
        status = "cancelled" if isinstance(approval, CancelledElicitation) else "declined"
        return {"status": status, "message": f"the person {status}; nothing was spent"}
    return None


async def _after(ctx: Context) -> dict[str, Any]:
    """The balance and the budget left after a spend."""
    session = _session(ctx)
    try:
        balance: int | None = (await session.client.credits.balance()).total_balance
    except LensmorError:
        balance = None  # the spend is done; a failed balance read must not hide it
    return {"balance_after": balance, **_budget(session.guard)}


Finish = Callable[[Context, Any, dict[str, Any]], Awaitable[dict[str, Any]]]
"""Turns a paid call's result into the tool's fields (given the approval outcome)."""


async def _paid(
    ctx: Context,
    priced: Priced,
    approval: ElicitationResult[Approval],
    finish: Finish,
) -> dict[str, Any]:
    """Every paid tool's body: execute the approved sealed quote, then report the result
    with its cost, its charge and the balance after."""
    outcome, result = await _execute(ctx, priced, approval)
    if result is None:
        return outcome
    details = await finish(ctx, result, outcome)
    return {**outcome, **await _after(ctx), **details}


# Pricing resolvers take the tool's call arguments by name (never `why`: asking again
# because the agent rephrased would be pointless; the question shows it anyway).


async def price_unlock_event(ctx: Context, event_id: str, layer: Layer) -> Priced:
    unlock = LAYERS[layer]
    priced = await _price(ctx, unlock.method(_session(ctx).client), event_id=event_id)
    return priced.noted(f"Layer: {unlock.label}", *unlock.notes)


async def price_unlock_linkedin_activity(
    ctx: Context, personnel_ids: list[str], event_id: str | None
) -> Priced:
    session = _session(ctx)
    operation = "personnel.unlock_linkedin_activity"
    operator_price = session.guard.costs.price(operation).credits
    if operator_price is None and session.guard.budget is not None:
        # The guard cannot hold an unknown amount against a budget (it refuses to quote).
        return Priced(None, None, {"status": "refused", "charged": 0, "message": UNPRICED})
    method = session.client.personnel.unlock_linkedin_activity
    priced = await _price(ctx, method, personnel_ids, event_id=event_id)
    if operator_price is None:
        return priced.noted(UNDOCUMENTED)
    return priced.noted(
        f"Price: {operator_price:,} credits per person not unlocked yet, as set by this "
        "server's operator (the API does not document it); an upper bound if that price is "
        "right, since people already unlocked are not charged again"
    )


async def price_search_events_by_person(
    ctx: Context, person_name: str, date_start_from: str, page: int
) -> Priced:
    method = _session(ctx).client.personnel.events_by_name
    return await _price(ctx, method, person_name, date_start_from=date_start_from, page=page)


async def price_generate_outreach(
    ctx: Context,
    personnel_ids: list[str],
    channels: list[Channel],
    event_id: str | None,
    outreach_purpose: str | None,
) -> Priced:
    method = _session(ctx).client.personnel.generate_outreach_message
    return await _price(
        ctx,
        method,
        personnel_ids,
        channels=channels,
        event_id=event_id,
        outreach_purpose=outreach_purpose,
    )


ask_unlock_event = asking(price_unlock_event)
ask_unlock_linkedin_activity = asking(price_unlock_linkedin_activity)
ask_search_events_by_person = asking(price_search_events_by_person)
ask_generate_outreach = asking(price_generate_outreach)


# -- how each paid result is reported ---------------------------------------------------------


def _layer_unlocked(layer: Layer) -> Finish:
    charge = LAYERS[layer].charge

    async def finish(ctx: Context, result: Any, outcome: dict[str, Any]) -> dict[str, Any]:
        del ctx, outcome
        if result.already_unlocked:
            return {"status": "unlocked", "layer": layer, "charged": 0, "free": ALREADY}
        return {"status": "unlocked", "layer": layer, "charged": getattr(result, charge)}

    return finish


def _contact_task(value: str) -> Finish:
    async def finish(ctx: Context, handle: Any, outcome: dict[str, Any]) -> dict[str, Any]:
        del outcome
        try:
            report = await handle.wait(deadline=_session(ctx).settings.wait_seconds)
        except LensmorError as exc:
            return {**_error(exc), "task_id": handle.task_id}
        status = "unlocked" if report.complete else "still_running"
        return {**report_result(report, value), "status": status, "task_id": handle.task_id}

    return finish


async def _linkedin_unlocked(ctx: Context, result: Any, outcome: dict[str, Any]) -> dict[str, Any]:
    del ctx, outcome
    return {**linkedin_result(result), "status": "unlocked"}


def _searched(fields: Sequence[str], key: str) -> Finish:
    async def finish(ctx: Context, page: Any, outcome: dict[str, Any]) -> dict[str, Any]:
        del ctx
        return {**search_result(page, fields, key, outcome), "status": "searched"}

    return finish


async def _outreach_queued(ctx: Context, result: Any, outcome: dict[str, Any]) -> dict[str, Any]:
    del ctx, outcome
    return {**outreach_result(result), "status": "generating"}


# -- paid tools: price → ask the person → execute the sealed quote ------------------------------


async def unlock_event(
    ctx: Context,
    event_id: str,
    why: str,
    priced: Annotated[Priced, Resolve(price_unlock_event)],
    approval: Annotated[ElicitationResult[Approval], Resolve(ask_unlock_event)],
    layer: Layer = "base",
) -> dict[str, Any]:
    """PAID: unlock a layer of an event. `layer`: base (the event's people, 2000 credits),
    visitors (its Visitor list, 3000; needs the base layer) or full_access (both, paying
    only the layers still locked, up to 5000). A layer already unlocked is free and said
    so. The person is asked first (layer, cost, balance, budget, your `why`); returns
    cost, charge and balance after."""
    return await _paid(ctx, priced, approval, _layer_unlocked(layer))


async def unlock_linkedin_activity(
    ctx: Context,
    personnel_ids: list[str],
    why: str,
    priced: Annotated[Priced, Resolve(price_unlock_linkedin_activity)],
    approval: Annotated[ElicitationResult[Approval], Resolve(ask_unlock_linkedin_activity)],
    event_id: str | None = None,
) -> dict[str, Any]:
    """PAID (price not documented by the API): unlock people's LinkedIn activity. The
    person is asked first and told the price is unknown unless the operator set it; under
    a session budget it needs that price. Returns unlocked / already_unlocked / analysing /
    failed ids, the charge and the balance after."""
    return await _paid(ctx, priced, approval, _linkedin_unlocked)


def _paid_tool(
    tool: Callable[..., Awaitable[dict[str, Any]]],
    price: Callable[..., Awaitable[Priced]],
    name: str,
    doc: str,
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``tool`` named ``name``, priced by ``price`` and asked about like every paid tool
    (for tools a factory makes: the SDK reads the resolvers from the annotations)."""
    price.__qualname__ = price.__name__ = f"price_{name}"
    tool.__annotations__ = {
        **tool.__annotations__,
        "priced": Annotated[Priced, Resolve(price)],
        "approval": Annotated[ElicitationResult[Approval], Resolve(asking(price))],
    }
    tool.__qualname__ = tool.__name__ = name
    tool.__doc__ = doc
    return tool


def contact_unlock(
    name: str,
    method: Callable[[AsyncLensmor], Callable[..., Awaitable[Any]]],
    value: str,
    notes: tuple[str, ...],
    doc: str,
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A paid contact unlock task (emails or phones): same arguments, same report."""

    async def price(ctx: Context, event_id: str, personnel_ids: list[str]) -> Priced:
        unlock = method(_session(ctx).client)
        priced = await _price(ctx, unlock, event_id=event_id, personnel_ids=personnel_ids)
        return priced.noted(*notes)

    async def tool(
        ctx: Context,
        event_id: str,
        personnel_ids: list[str],
        why: str,
        priced: Priced,
        approval: ElicitationResult[Approval],
    ) -> dict[str, Any]:
        return await _paid(ctx, priced, approval, _contact_task(value))

    return _paid_tool(tool, price, name, doc)


unlock_contacts = contact_unlock(
    "unlock_contacts",
    lambda client: client.contacts.unlock,
    "email",
    (),
    """PAID: unlock people's emails. The person is asked first; returns when the task ends
    or the server's wait passes, with delivered / no_email / failed / unresolved.""",
)
unlock_phones = contact_unlock(
    "unlock_phones",
    lambda client: client.contacts.unlock_phone,
    "phone",
    (PHONE_BOUND,),
    """PAID (150 credits per contact still locked): unlock people's phone numbers. The
    person is asked first; returns when the task ends or the server's wait passes, with
    delivered / no_phone / failed / unresolved.""",
)


def company_search(
    name: str,
    method: Callable[[AsyncLensmor], Callable[..., Awaitable[Any]]],
    finish: Finish,
    doc: str,
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """A paid search by company name: both such routes take the same arguments and differ
    only in the SDK method and the items they return."""

    async def price(ctx: Context, company_name: str, page: int) -> Priced:
        return await _price(ctx, method(_session(ctx).client), company_name, page=page)

    async def tool(
        ctx: Context,
        company_name: str,
        why: str,
        priced: Priced,
        approval: ElicitationResult[Approval],
        page: int = 1,
    ) -> dict[str, Any]:
        return await _paid(ctx, priced, approval, finish)

    return _paid_tool(tool, price, name, doc)


search_exhibitors_by_company = company_search(
    "search_exhibitors_by_company",
    lambda client: client.exhibitors.search_by_company_name,
    _searched(EXHIBITOR_FIELDS, "exhibitors"),
    """PAID (50 credits; an empty result is free): exhibitors matching a company name. The
    person is asked first. Each page is its own paid search, asked again.""",
)
search_events_by_company = company_search(
    "search_events_by_company",
    lambda client: client.exhibitors.search_events,
    _searched(EVENT_FIELDS, "events"),
    """PAID (50 credits; an empty result is free): the events where a company exhibits. The
    person is asked first. Each page is its own paid search, asked again.""",
)


async def search_events_by_person(
    ctx: Context,
    person_name: str,
    why: str,
    priced: Annotated[Priced, Resolve(price_search_events_by_person)],
    approval: Annotated[ElicitationResult[Approval], Resolve(ask_search_events_by_person)],
    date_start_from: str = BY_NAME_DEFAULT_START,
    page: int = 1,
) -> dict[str, Any]:
    """PAID (50 credits; an empty result is free): events of the people with exactly this
    full name, starting on or after `date_start_from` (YYYY-MM-DD). The person is asked
    first. Each page is its own paid search, asked again."""
    return await _paid(ctx, priced, approval, _searched(EVENT_FIELDS, "events"))


async def generate_outreach(
    ctx: Context,
    personnel_ids: list[str],
    channels: list[Channel],
    why: str,
    priced: Annotated[Priced, Resolve(price_generate_outreach)],
    approval: Annotated[ElicitationResult[Approval], Resolve(ask_generate_outreach)],
    event_id: str | None = None,
    outreach_purpose: str | None = None,
) -> dict[str, Any]:
    """Draft outreach messages for people (sends nothing). Free on the current API; where
    the operator's plan prices it, the person is asked first. Drafts are generated in the
    background: read them with get_outreach."""
    return await _paid(ctx, priced, approval, _outreach_queued)


FREE_TOOLS = (
    search_events,
    list_exhibitors,
    list_personnel,
    search_contacts,
    get_balance,
    precheck,
    get_outreach,
    spend_report,
)
PAID_TOOLS = (
    unlock_event,
    unlock_contacts,
    unlock_phones,
    unlock_linkedin_activity,
    search_exhibitors_by_company,
    search_events_by_company,
    search_events_by_person,
    generate_outreach,
)


def build_server(settings: McpSettings) -> MCPServer[AgentSession]:
    """The ``lensmor mcp`` server (run it with ``server.run(...)`` or an MCP client)."""

    def lifespan(_: MCPServer[AgentSession]) -> Any:
        return open_session(settings)

    server: MCPServer[AgentSession] = MCPServer(
        "lensmor", instructions=INSTRUCTIONS, lifespan=lifespan
    )
    for tool in (*FREE_TOOLS, *PAID_TOOLS):
        server.add_tool(tool, structured_output=True)
    return server
