"""A web page that confirms spending: quote an event unlock, let a person decide, then spend.

Run it against the embedded fake server (no API key needed)::

    python -m examples.webapp --fake          # or: python examples/webapp/app.py --fake

or against the real API with ``LENSMOR_API_KEY`` (and optionally ``LENSMOR_BASE_URL``) set.

The flow is the SDK's two-phase quote, sealed so that any worker can finish it.
``guard.quote(client.events.unlock, event_id)`` prices the unlock without spending and
``quote.seal()`` turns it into a signed token; the page (rendered by any worker from the
token) shows the cost, the balance, the budget and what the unlock reveals; Confirm runs
``guard.execute_quote(token, client)``; Decline discards the token. Nothing about a quote
lives in one worker's memory: run several copies with the same ``LENSMOR_QUOTE_SECRET``
and ``--journal`` (so a token used by one worker is refused by the others).

The person's click *is* the confirmation, so the guard's own confirm callback
(:func:`decline_unapproved`) says no to everything: the SDK skips it when an approved
quote executes unchanged, and asks it only when the cost or the balance moved since the
person looked, which this app turns into "please review again".
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import os
import secrets
import string
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, replace
from urllib.parse import quote as url_quote

import anyio
from aiohttp import web
from aiohttp.typedefs import Middleware

from lensmor_async import (
    ActionNotAllowedError,
    AsyncLensmor,
    AuthenticationError,
    BudgetExceededError,
    ConfigurationError,
    CreditGuard,
    InsufficientCreditsError,
    InvalidRequestError,
    LensmorError,
    NotFoundError,
    Page,
    QuoteExpiredError,
    QuoteReplayedError,
    QuoteTamperedError,
    QuoteTokenError,
    SpendDeclinedError,
    SpendInDoubtError,
    SpendRequest,
)
from lensmor_async.guard import SealedQuote
from lensmor_async.models import Event, EventUnlockResult, Person
from lensmor_async.testing import FakeLensmor

__all__ = [
    "WEBAPP",
    "Offer",
    "QuoteView",
    "Receipt",
    "Settings",
    "Webapp",
    "create_app",
    "decline_unapproved",
    "from_environment",
    "main",
    "offer_of",
]

EVENTS_PER_PAGE = 20
PEOPLE_PAGE_SIZE = 50  # the personnel route's maximum page size
FAKE_SEED = 7
QUOTE_SECRET_ENV = "LENSMOR_QUOTE_SECRET"
JOURNAL_ENV = "LENSMOR_WEBAPP_JOURNAL"
SHOW_WORKER_ENV = "LENSMOR_WEBAPP_SHOW_WORKER"
WORKER_HEADER = "X-Webapp-Worker"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def decline_unapproved(request: SpendRequest, /) -> bool:
    """The guard's confirm callback: a person's click on a quote is the only approval.

    The SDK does not call it when an approved quote executes unchanged; it does call it
    when the cost or balance moved (``request.requote``) or when code spends without a
    quote. Both are declined, so nothing is ever spent that a person did not see.
    """
    return False


# ------------------------------------------------------------------------ state


@dataclass(frozen=True, slots=True)
class Settings:
    """How the app reaches Lensmor (``None`` key/URL: ``LENSMOR_API_KEY``/``LENSMOR_BASE_URL``)."""

    api_key: str | None = None
    base_url: str | None = None
    budget: int | None = None
    testing: bool = False
    max_people: int = 1000
    quote_secret: str | None = None
    """Signs quote tokens; every worker needs the same one (default: ``LENSMOR_QUOTE_SECRET``)."""
    journal: str | None = None
    """A journal shared by the workers: a token one worker used is refused by the others."""

    def secret(self) -> str:
        """The configured secret, else the environment's, else a random one (one worker)."""
        return self.quote_secret or os.environ.get(QUOTE_SECRET_ENV) or secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a person sees of an event's personnel now, from the list's preview semantics."""

    access_mode: str | None
    visible: int
    total: int
    locked: int
    unlock_credits: int | None

    @property
    def is_preview(self) -> bool:
        return self.access_mode == "preview"

    @property
    def worth_unlocking(self) -> bool:
        """A preview with people behind it: an event with none, or all visible, has nothing."""
        return self.is_preview and max(self.locked, self.total - self.visible) > 0

    def describe(self) -> str:
        """'showing 50 of 237' for a locked event, 'full access: 80 people' otherwise."""
        if self.is_preview:
            return f"showing {self.visible} of {self.total}"
        return f"full access: {self.total} people"


def offer_of(page: Page[Person]) -> Offer:
    """Read the preview semantics of a personnel page (authoritative over page counts)."""
    semantics = page.semantics
    counts = semantics.counts if semantics is not None else None
    unlock = semantics.unlock if semantics is not None else None
    visible = counts.visible_total if counts is not None else None
    total = counts.actual_total if counts is not None else None
    locked = counts.remaining_locked_count if counts is not None else None
    return Offer(
        access_mode=page.access_mode,
        visible=page.total if visible is None else visible,
        total=page.total if total is None else total,
        locked=0 if locked is None else locked,
        unlock_credits=unlock.credits if unlock is not None else None,
    )


@dataclass(frozen=True, slots=True)
class QuoteView:
    """A sealed quote as the quote page shows it (rebuilt from the token by any worker)."""

    token: str
    event_id: str
    event_name: str
    sealed: SealedQuote
    offer: Offer
    budget_left: int | None


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a confirmed unlock did, shown once on the event page (read from the redirect)."""

    credits_used: int
    already_unlocked: bool

    def query(self) -> str:
        return "unlocked=" + ("already" if self.already_unlocked else str(self.credits_used))

    @classmethod
    def parse(cls, value: str | None) -> Receipt | None:
        """Only ``already`` or digits: a URL can never put text on the page."""
        if value == "already":
            return cls(0, True)
        if value is not None and value.isdigit() and len(value) < 10:
            return cls(int(value), False)
        return None


class Webapp:
    """Everything the handlers share: settings, the client and guard, quotes, receipts."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: AsyncLensmor | None = None
        self._guard: CreditGuard | None = None

    @property
    def client(self) -> AsyncLensmor:
        if self._client is None:
            raise RuntimeError("the web app is not running (its client starts with the app)")
        return self._client

    @property
    def guard(self) -> CreditGuard:
        if self._guard is None:
            raise RuntimeError("the web app is not running (its guard starts with the app)")
        return self._guard

    def attach(self, client: AsyncLensmor, guard: CreditGuard) -> None:
        self._client, self._guard = client, guard

    def detach(self) -> None:
        self._client = self._guard = None


WEBAPP = web.AppKey("lensmor_webapp", Webapp)


# ------------------------------------------------------------------------ HTML


class Html(str):
    """Text that is already HTML: escaped, or assembled from escaped parts."""

    __slots__ = ()


def esc(value: object) -> Html:
    """Escape anything that is not already :class:`Html` (quotes included, for attributes)."""
    if isinstance(value, Html):
        return value
    return Html(html.escape(str(value), quote=True))


def fill(template: str, /, **values: object) -> Html:
    """``string.Template`` where every value is escaped unless it is already :class:`Html`."""
    return Html(string.Template(template).substitute({k: esc(v) for k, v in values.items()}))


def concat(parts: Iterable[Html]) -> Html:
    return Html("".join(parts))


def credits(amount: int | None) -> str:
    return "unknown" if amount is None else f"{amount:,} credits"


def path_part(value: str) -> str:
    """A URL path segment (then HTML-escaped by :func:`fill` like any other value)."""
    return url_quote(value, safe="")


STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1d2733;background:#f6f7f9}
header{background:#1d2733;color:#fff;padding:.8rem 2rem;display:flex;gap:2rem;align-items:center}
header a{color:#fff;text-decoration:none;font-weight:600}
main{max-width:64rem;margin:1.5rem auto;padding:0 1rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e6ea;font-size:.92rem}
th{background:#eef1f4}
.badge{padding:.1rem .5rem;border-radius:.7rem;font-size:.8rem}
.preview{background:#fff3cd}.full{background:#d1f2dc}
.notice{padding:.7rem 1rem;border-radius:.4rem;margin:1rem 0;background:#e8f0fe}
.notice.warn{background:#fdecea}
.notice.ok{background:#d1f2dc}
dl.quote{display:grid;grid-template-columns:14rem 1fr;background:#fff;padding:1rem;
border-radius:.4rem;gap:.5rem}
dl.quote dt{font-weight:600}dl.quote dd{margin:0}
.actions{display:flex;gap:1rem;margin:1.2rem 0}
button,.button{font:inherit;padding:.5rem 1rem;border-radius:.4rem;border:1px solid #8895a3;
background:#fff;cursor:pointer;color:#1d2733;text-decoration:none;display:inline-block}
button.confirm{background:#1a7f37;color:#fff;border-color:#1a7f37}
form{margin:0}
"""

# The style is allowed by its hash, so the policy needs no 'unsafe-inline' at all.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    # A confirm button must never be framed by another site (clickjacking).
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>$title</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>$style</style></head>
<body><header><a href="/">Lensmor events</a><span>unlocks are confirmed by you</span></header>
<main>$body</main></body></html>
"""

NOTICES = {
    "declined": ("ok", "Declined: nothing was spent."),
    "changed": (
        "warn",
        "The price or your balance changed since you saw the quote, so nothing was spent. "
        "Please review the new quote.",
    ),
}


def layout(title: str, body: Html) -> Html:
    return fill(LAYOUT, title=title, style=Html(STYLE), body=body)


def notice(kind: str, text: str) -> Html:
    return fill('<p class="notice $kind" data-testid="notice">$text</p>', kind=kind, text=text)


def named_notice(code: str | None) -> Html:
    """A fixed notice chosen by code, so a URL can never inject text into the page."""
    if code is None or code not in NOTICES:
        return Html("")
    return notice(*NOTICES[code])


def balance_line(total: int, budget_left: int | None) -> Html:
    cap = "" if budget_left is None else f" · budget left: {credits(budget_left)}"
    return fill(
        '<p>Balance: <strong data-testid="balance" data-credits="$raw">$shown</strong>$cap</p>',
        raw=total,
        shown=credits(total),
        cap=cap,
    )


def quote_form(event_id: str, label: str = "Review unlock") -> Html:
    return fill(
        '<form method="post" action="/events/$path/quote">'
        '<button type="submit" data-testid="review">$label</button></form>',
        path=path_part(event_id),
        label=label,
    )


def event_row(event: Event, offer: Offer) -> Html:
    if offer.worth_unlocking:
        action = quote_form(event.id)
    else:
        action = fill(
            '<a class="button" href="/events/$path">View people</a>', path=path_part(event.id)
        )
    return fill(
        '<tr data-event-id="$id"><td><a href="/events/$path">$name</a></td><td>$dates</td>'
        '<td>$where</td><td><span class="badge $mode">$mode</span></td>'
        '<td data-testid="people">$people</td><td>$action</td></tr>',
        id=event.id,
        path=path_part(event.id),
        name=event.name or event.id,
        dates=" – ".join(d for d in (event.date_start, event.date_end) if d),
        where=", ".join(p for p in (event.city, event.country) if p),
        mode=offer.access_mode or "unknown",
        people=offer.describe(),
        action=action,
    )


def index_page(
    events: Page[Event], offers: dict[str, Offer], balance: Html, notice_html: Html
) -> Html:
    rows = concat(event_row(e, offers[e.id]) for e in events.items)
    pager = concat(
        fill('<a class="button" href="/?page=$n">$label</a> ', n=n, label=label)
        for n, label in ((events.page - 1, "Previous"), (events.page + 1, "Next"))
        if 1 <= n <= events.total_pages
    )
    body = fill(
        "<h1>Events</h1>$notice$balance"
        "<table><thead><tr><th>Event</th><th>Dates</th><th>Where</th><th>Access</th>"
        "<th>People</th><th></th></tr></thead><tbody>$rows</tbody></table><p>$pager</p>",
        notice=notice_html,
        balance=balance,
        rows=rows,
        pager=pager,
    )
    return layout("Events", body)


def gives(offer: Offer) -> str:
    if not offer.is_preview:
        return f"You already have full access to all {offer.total} people."
    return (
        f"Now you see {offer.visible} of {offer.total} people (preview). Unlocking shows all "
        f"{offer.total} ({offer.locked} more) to this account and lets you unlock their contacts."
    )


def budget_text(left: int | None, cost: int | None) -> str:
    if left is None:
        return "no cap set for this app"
    warning = " (this unlock is over the budget and will be refused)" if (cost or 0) > left else ""
    return f"{credits(left)} left{warning}"


QUOTE_PAGE = """<h1>Unlock $name?</h1>$notice
<dl class="quote">
<dt>Cost</dt><dd data-testid="cost" data-credits="$cost_raw">$cost</dd>
<dt>Current balance</dt><dd data-testid="balance" data-credits="$balance_raw">$balance</dd>
<dt>Balance after unlocking</dt><dd data-testid="after">$after</dd>
<dt>Budget</dt><dd data-testid="budget">$budget</dd>
<dt>What unlocking gives</dt><dd data-testid="gives">$gives</dd>
<dt>This quote is valid until</dt><dd>$until</dd>
</dl>
<div class="actions">
<form method="post" action="/quotes/$token/confirm">
<button class="confirm" type="submit" data-testid="confirm">Confirm: $confirm_label</button></form>
<form method="post" action="/quotes/$token/decline">
<button type="submit" data-testid="decline">Decline</button></form>
</div>
<p>Nothing is spent until you confirm. <a href="/">Back to events</a></p>
"""


def quote_page(pending: QuoteView, notice_html: Html) -> Html:
    sealed = pending.sealed
    cost = sealed.credits if sealed.priced else 0
    balance = sealed.balance
    after = None if balance is None or cost is None else balance - cost
    body = fill(
        QUOTE_PAGE,
        name=pending.event_name,
        notice=notice_html,
        cost_raw="" if cost is None else cost,
        cost="nothing (already unlocked)" if cost == 0 else credits(cost),
        balance_raw="" if balance is None else balance,
        balance=credits(balance),
        after=credits(after),
        budget=budget_text(pending.budget_left, cost),
        gives=gives(pending.offer),
        until=time.strftime("%H:%M:%S UTC", time.gmtime(sealed.expires_at)),
        token=pending.token,
        confirm_label="unlock for free" if cost == 0 else f"spend {credits(cost)}",
    )
    return layout(f"Unlock {pending.event_name}?", body)


def person_row(number: int, person: Person) -> Html:
    return fill(
        '<tr data-person-id="$id"><td>$n</td><td>$name</td><td>$title</td><td>$company</td>'
        "<td>$department</td><td>$status</td></tr>",
        id=person.id,
        n=number,
        name=person.full_name or person.id,
        title=person.title or "",
        company=person.company_name or "",
        department=person.department or "",
        status=person.contact_unlock_status,
    )


def receipt_notice(receipt: Receipt | None) -> Html:
    if receipt is None:
        return Html("")
    if receipt.already_unlocked:
        return notice("ok", "Already unlocked: nothing was charged.")
    return notice("ok", f"Unlocked: {credits(receipt.credits_used)} spent.")


def access_line(event_id: str, offer: Offer, shown: int) -> Html:
    if offer.worth_unlocking:
        cost = offer.unlock_credits
        price = "" if cost is None else f", unlock for {credits(cost)}"
        return fill(
            '<div class="notice"><p data-testid="access">$text</p>$form</div>',
            text=f"{offer.describe()}{price}",
            form=quote_form(event_id),
        )
    more = "" if shown >= offer.total else f" (listing the first {shown})"
    return fill('<p data-testid="access">$text</p>', text=f"{offer.describe()}{more}")


def event_page(
    event: Event,
    people: Sequence[Person],
    offer: Offer,
    balance: Html,
    receipt: Receipt | None,
) -> Html:
    rows = concat(person_row(n, p) for n, p in enumerate(people, start=1))
    body = fill(
        "<h1>$name</h1>$receipt$balance$access"
        "<table><thead><tr><th>#</th><th>Name</th><th>Title</th><th>Company</th>"
        "<th>Department</th><th>Email</th></tr></thead><tbody>$rows</tbody></table>"
        '<p><a href="/">Back to events</a></p>',
        name=event.name or event.id,
        receipt=receipt_notice(receipt),
        balance=balance,
        access=access_line(event.id, offer, len(people)),
        rows=rows,
    )
    return layout(event.name or event.id, body)


def message_page(title: str, message: str, *, event_id: str | None = None) -> Html:
    retry = Html("") if event_id is None else quote_form(event_id, "Get a new quote")
    body = fill(
        '<h1>$title</h1><p class="notice warn" data-testid="error">$message</p>'
        '<div class="actions">$retry<a class="button" href="/">Back to events</a></div>',
        title=title,
        message=message,
        retry=retry,
    )
    return layout(title, body)


def html_response(body: Html, *, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


# ------------------------------------------------------------------------ errors


def explain(exc: LensmorError) -> tuple[int, str, str]:
    """HTTP status, title and message for an SDK error (SDK messages never hold the key)."""
    if isinstance(exc, SpendInDoubtError):
        return (
            502,
            "The unlock may have been charged",
            "The request reached Lensmor but its outcome is unknown. Check the balance "
            "before trying again; it was not sent twice.",
        )
    if isinstance(exc, BudgetExceededError):
        needs = credits(exc.required)
        return 402, "Over budget", f"This unlock needs {needs}, more than this app's cap allows."
    if isinstance(exc, InsufficientCreditsError):
        available = "" if exc.available is None else f"; {credits(exc.available)} available"
        return (
            402,
            "Not enough credits",
            f"This unlock needs {credits(exc.required)}{available}. Nothing was spent.",
        )
    if isinstance(exc, ActionNotAllowedError):
        if exc.reason_code == "not_found":
            return 404, "No such event", "Lensmor does not know this event. Nothing was spent."
        return (
            409,
            "This event cannot be unlocked now",
            f"Lensmor's precheck answered '{exc.reason_code}'. Nothing was spent.",
        )
    if isinstance(exc, QuoteExpiredError):
        return 410, "This quote expired", "Nothing was spent. Review the unlock again."
    if isinstance(exc, NotFoundError):
        return 404, "No such event", "Lensmor does not know this event."
    if isinstance(exc, InvalidRequestError):
        return 400, "Invalid request", str(exc)
    if isinstance(exc, AuthenticationError):
        return 502, "Lensmor refused this app's API key", "Check LENSMOR_API_KEY."
    return 502, "Lensmor could not answer", str(exc)


def adding_headers(headers: Callable[[], Mapping[str, str]]) -> Middleware:
    """A middleware that sets ``headers()`` on every answer (redirects and errors too)."""

    @web.middleware
    async def add_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            exc.headers.update(headers())
            raise
        response.headers.update(headers())
        return response

    return add_headers


security_headers = adding_headers(lambda: SECURITY_HEADERS)
# Opt-in (``show_worker``): which worker process answered, to watch a quote sealed by one
# worker be confirmed by another. Read per request: a pre-forking server may build the app
# before it forks.
worker_header = adding_headers(lambda: {WORKER_HEADER: str(os.getpid())})


@web.middleware
async def explain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except LensmorError as exc:
        status, title, message = explain(exc)
        return html_response(message_page(title, message), status=status)


# ------------------------------------------------------------------------ handlers


def _webapp(request: web.Request) -> Webapp:
    return request.app[WEBAPP]


def _budget_left(webapp: Webapp) -> int | None:
    guard = webapp.guard
    return None if guard.budget is None else max(guard.budget - guard.spent - guard.reserved, 0)


async def _balance(webapp: Webapp) -> Html:
    total = (await webapp.client.credits.balance()).total_balance
    return balance_line(total, _budget_left(webapp))


async def _offers(client: AsyncLensmor, event_ids: Iterable[str]) -> dict[str, Offer]:
    """The access mode of each event, read concurrently (one free personnel page each)."""
    offers: dict[str, Offer] = {}
    errors: list[LensmorError] = []

    async def read(event_id: str) -> None:
        # Kept and re-raised plainly: a task group would wrap it in an ExceptionGroup,
        # which the error page middleware (and the person) should not have to unpack.
        try:
            offers[event_id] = offer_of(await client.personnel.list(event_id, page_size=1))
        except LensmorError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        for event_id in event_ids:
            group.start_soon(read, event_id)
    if errors:
        raise errors[0]
    return offers


def _page_number(request: web.Request) -> int:
    raw = request.query.get("page", "1")
    return max(int(raw), 1) if raw.isdigit() else 1


async def index(request: web.Request) -> web.StreamResponse:
    webapp = _webapp(request)
    events = await webapp.client.events.list(page=_page_number(request), page_size=EVENTS_PER_PAGE)
    offers = await _offers(webapp.client, [e.id for e in events.items])
    body = index_page(
        events, offers, await _balance(webapp), named_notice(request.query.get("notice"))
    )
    return html_response(body)


async def _new_quote(webapp: Webapp, event_id: str) -> str:
    """Price the unlock and seal it: the token is all a browser (and any worker) needs."""
    quote = await webapp.guard.quote(webapp.client.events.unlock, event_id)
    return quote.seal()


async def create_quote(request: web.Request) -> web.StreamResponse:
    token = await _new_quote(_webapp(request), request.match_info["event_id"])
    raise web.HTTPSeeOther(f"/quotes/{token}")


def _not_pending() -> web.Response:
    return html_response(
        message_page(
            "This quote is not pending",
            "It was already confirmed or declined, or it never existed. "
            "Nothing more was spent through it.",
        ),
        status=404,
    )


def _expired(sealed: SealedQuote) -> web.Response:
    message = (
        "Quotes are valid for a few minutes and this one ran out, so nothing was spent. "
        "Get a new quote to review the current price."
    )
    return html_response(
        message_page("This quote expired", message, event_id=sealed.target), status=410
    )


def _read(webapp: Webapp, token: str) -> SealedQuote | None:
    """The token's quote if this app sealed it (any worker of it), else None."""
    try:
        sealed = webapp.guard.read_quote(token)
    except QuoteTamperedError:
        return None
    return sealed if sealed.target is not None else None


async def show_quote(request: web.Request) -> web.StreamResponse:
    webapp, token = _webapp(request), request.match_info["token"]
    sealed = _read(webapp, token)
    if sealed is None or sealed.target is None:
        return _not_pending()
    if sealed.expired:
        return _expired(sealed)
    client = webapp.client
    event = await client.events.get(sealed.target)
    preview = await client.personnel.list(sealed.target, page_size=1)
    view = QuoteView(
        token, event.id, event.name or event.id, sealed, offer_of(preview), _budget_left(webapp)
    )
    return html_response(quote_page(view, named_notice(request.query.get("notice"))))


async def confirm_quote(request: web.Request) -> web.StreamResponse:
    webapp, token = _webapp(request), request.match_info["token"]
    sealed = _read(webapp, token)
    if sealed is None or sealed.target is None:
        return _not_pending()
    try:
        # aiohttp does not cancel handlers when the browser goes away (the default
        # handler_cancellation=False), so a closed tab never interrupts a spend.
        result: EventUnlockResult = await webapp.guard.execute_quote(token, webapp.client)
    except QuoteExpiredError:
        return _expired(sealed)
    except QuoteReplayedError:
        # Confirmed or declined already, by this worker or another (a double click).
        return _not_pending()
    except SpendDeclinedError:
        # Only decline_unapproved declines, and the SDK asks it only when the cost or
        # the balance moved since the person looked: show the new numbers instead.
        fresh = await _new_quote(webapp, sealed.target)
        raise web.HTTPSeeOther(f"/quotes/{fresh}?notice=changed") from None
    receipt = Receipt(result.credits_used, result.already_unlocked)
    raise web.HTTPSeeOther(f"/events/{path_part(sealed.target)}?{receipt.query()}")


async def decline_quote(request: web.Request) -> web.StreamResponse:
    # Nothing was reserved or sent for a quote; discarding its token makes sure a later
    # Confirm of it (from any worker) cannot spend.
    with suppress(QuoteTokenError):
        await _webapp(request).guard.discard_quote(request.match_info["token"])
    raise web.HTTPSeeOther("/?notice=declined")


async def _people(
    client: AsyncLensmor, event_id: str, limit: int
) -> tuple[list[Person], Page[Person]]:
    """Every visible person (up to ``limit``): all of them once the event is unlocked."""
    people: list[Person] = []
    number = 1
    while True:
        page = await client.personnel.list(event_id, page=number, page_size=PEOPLE_PAGE_SIZE)
        people.extend(page.items)
        if not page.has_next or len(people) >= limit:
            return people[:limit], page
        number += 1


async def show_event(request: web.Request) -> web.StreamResponse:
    webapp = _webapp(request)
    event = await webapp.client.events.get(request.match_info["event_id"])
    people, last = await _people(webapp.client, event.id, webapp.settings.max_people)
    receipt = Receipt.parse(request.query.get("unlocked"))
    body = event_page(event, people, offer_of(last), await _balance(webapp), receipt)
    return html_response(body)


# ------------------------------------------------------------------------ app


async def _embedded_fake(app: web.Application) -> AsyncIterator[None]:
    """For ``--fake``: serve a FakeLensmor on loopback and point the app at it."""
    async with FakeLensmor(seed=FAKE_SEED) as fake:
        webapp = app[WEBAPP]
        webapp.settings = replace(
            webapp.settings, api_key=fake.api_key, base_url=fake.url, testing=True
        )
        yield


async def _lensmor_client(app: web.Application) -> AsyncIterator[None]:
    webapp = app[WEBAPP]
    settings = webapp.settings
    # balance_ttl=0: the balance is read fresh at quote and at execute time, so a
    # balance that dropped in between is noticed and the person is asked again.
    guard = CreditGuard(
        confirm=decline_unapproved,
        budget=settings.budget,
        balance_ttl=0.0,
        quote_secret=settings.secret(),
        journal=settings.journal,
    )
    async with AsyncLensmor(
        settings.api_key, base_url=settings.base_url, guard=guard, testing=settings.testing
    ) as client:
        webapp.attach(client, guard)
        try:
            yield
        finally:
            webapp.detach()


def create_app(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    budget: int | None = None,
    testing: bool = False,
    embedded_fake: bool = False,
    max_people: int = 1000,
    quote_secret: str | None = None,
    journal: str | None = None,
    show_worker: bool = False,
) -> web.Application:
    """The aiohttp application.

    ``api_key``/``base_url`` default to ``LENSMOR_API_KEY``/``LENSMOR_BASE_URL``;
    ``budget`` caps what the app may spend; ``embedded_fake`` serves a FakeLensmor
    in-process instead (no key needed); ``testing`` turns off the SDK's backoff sleeps.
    Several workers (processes) serve one app when they share ``quote_secret`` (default:
    ``LENSMOR_QUOTE_SECRET``) and ``journal`` (a path to an SQLite journal);
    ``show_worker`` names the answering process in an ``X-Webapp-Worker`` header.
    """
    middlewares = [security_headers, explain_errors]
    if show_worker:
        middlewares.insert(0, worker_header)
    app = web.Application(middlewares=middlewares)
    settings = Settings(api_key, base_url, budget, testing, max_people, quote_secret, journal)
    app[WEBAPP] = Webapp(settings)
    if embedded_fake:
        app.cleanup_ctx.append(_embedded_fake)
    app.cleanup_ctx.append(_lensmor_client)
    app.add_routes(
        [
            web.get("/", index),
            web.post("/events/{event_id}/quote", create_quote),
            web.get("/events/{event_id}", show_event),
            web.get("/quotes/{token}", show_quote),
            web.post("/quotes/{token}/confirm", confirm_quote),
            web.post("/quotes/{token}/decline", decline_quote),
        ]
    )
    return app


async def from_environment() -> web.Application:
    """The app for a pre-forking server, each worker configured by the environment::

        LENSMOR_QUOTE_SECRET=... LENSMOR_WEBAPP_JOURNAL=/var/lib/webapp/journal.db \\
        gunicorn examples.webapp.app:from_environment \\
            --worker-class aiohttp.GunicornWebWorker --workers 4 --bind 127.0.0.1:8080

    ``LENSMOR_API_KEY`` (and ``LENSMOR_BASE_URL``) as for one process. The quote secret
    and the journal are required here: with a random secret per worker, one worker could
    not read another's quotes, and without a shared journal a token confirmed on one
    worker would not be known as used on the others. ``LENSMOR_WEBAPP_SHOW_WORKER=1``
    adds the ``X-Webapp-Worker`` header.
    """
    missing = [name for name in (QUOTE_SECRET_ENV, JOURNAL_ENV) if not os.environ.get(name)]
    if missing:
        raise ConfigurationError(
            f"set {' and '.join(missing)}: every worker needs the same quote secret and journal"
        )
    return create_app(
        quote_secret=os.environ[QUOTE_SECRET_ENV],
        journal=os.environ[JOURNAL_ENV],
        show_worker=os.environ.get(SHOW_WORKER_ENV) == "1",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m examples.webapp",
        description="A web page that confirms Lensmor spending (two-phase quotes).",
    )
    parser.add_argument(
        "--fake", action="store_true", help="serve an embedded FakeLensmor (no API key needed)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    parser.add_argument("--budget", type=int, default=None, help="cap the credits the app spends")
    parser.add_argument(
        "--journal",
        default=None,
        help="SQLite journal shared by every worker (refuses a quote token used by another)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Serve the app until interrupted; returns a process exit code."""
    args = parse_args(argv)
    if not args.fake and not os.environ.get("LENSMOR_API_KEY"):
        hint = "set LENSMOR_API_KEY, or pass --fake to use the embedded fake server"
        print(hint, file=sys.stderr)
        return 2
    app = create_app(budget=args.budget, embedded_fake=args.fake, journal=args.journal)
    web.run_app(app, host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
