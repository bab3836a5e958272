"""The commands: each one calls the SDK and prints a table (or ``--json``).

Paid commands never spend directly: they ask ``guard.quote(...)`` for a price,
hand the quote to the :class:`Approver` (``--max-credits``, ``--yes``, a prompt or a
refusal) and only then ``quote.execute()`` it, so a refused spend sends nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from lensmor_async._client import AsyncLensmor
from lensmor_async._core.validation import MAX_UNLOCK_BATCH
from lensmor_async.cli import _render as render
from lensmor_async.cli._approve import Approver
from lensmor_async.cli._console import Console
from lensmor_async.cli._progress import LineProgress, Progress, SpinnerProgress, follow_task

if TYPE_CHECKING:  # annotations only: `lensmor balance` need not load the guard or pages
    from lensmor_async.guard import SpendRequest, UnlockTaskHandle
    from lensmor_async.models import Page

T = TypeVar("T")
Handler = Callable[["Context", argparse.Namespace], Awaitable[None]]


@attrs.frozen
class Context:
    """What every command needs."""

    client: AsyncLensmor
    console: Console
    approver: Approver
    json: bool
    format: str = "table"
    """How listings are printed: ``table``, ``json``, ``jsonl`` or ``csv``."""


@attrs.frozen
class Listing:
    """Rows to print and the page that says where they came from (the last one with --all)."""

    items: tuple[Any, ...]
    page: Page[Any]
    all_pages: bool


# -- free commands ------------------------------------------------------------------------------


async def balance(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor balance``."""
    result = await ctx.client.credits.balance()
    if ctx.json:
        ctx.console.out(render.dump_json(result))
        return
    ctx.console.out(f"balance: {render.describe_balance(result)}")


async def events_list(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor events list``."""
    events = ctx.client.events
    filters = {"keyword": args.keyword, "country": args.country, "city": args.city}
    if args.all:
        iterator = events.iterate(limit=args.limit, page_size=args.page_size, **filters)
        listing = await _collect(iterator, lambda: iterator.last_page)
    else:
        page = await events.list(page=args.page, page_size=args.page_size, **filters)
        listing = Listing(page.items, page, all_pages=False)
    _show_listing(ctx, listing, render.EVENT_HEADERS, render.event_row, noun="events")


async def events_get(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor events get ID``."""
    event = await ctx.client.events.get(args.event_id)
    ctx.console.out(render.dump_json(event) if ctx.json else render.event_details(event))


async def exhibitors_list(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor exhibitors list --event ID``."""
    exhibitors = ctx.client.exhibitors
    filters = {"keyword": args.keyword, "country": args.country}
    if args.all:
        iterator = exhibitors.iterate(
            args.event, limit=args.limit, page_size=args.page_size, **filters
        )
        listing = await _collect(iterator, lambda: iterator.last_page)
    else:
        page = await exhibitors.list(
            args.event, page=args.page, page_size=args.page_size, **filters
        )
        listing = Listing(page.items, page, all_pages=False)
    _show_listing(
        ctx,
        listing,
        render.EXHIBITOR_HEADERS,
        render.exhibitor_row,
        noun="exhibitors",
        event_id=args.event,
    )


async def personnel_list(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor personnel list --event ID`` (preview semantics spelled out)."""
    personnel = ctx.client.personnel
    if args.all:
        iterator = personnel.iterate(args.event, limit=args.limit, page_size=args.page_size)
        listing = await _collect(iterator, lambda: iterator.last_page)
    else:
        page = await personnel.list(args.event, page=args.page, page_size=args.page_size)
        listing = Listing(page.items, page, all_pages=False)
    _show_listing(
        ctx, listing, render.PERSON_HEADERS, render.person_row, noun="people", event_id=args.event
    )


async def _collect(iterator: AsyncIterator[T], last_page: Callable[[], Page[T] | None]) -> Listing:
    items = tuple([item async for item in iterator])
    page = last_page()
    if page is None:  # a limit of 0 fetches nothing; show an empty listing
        from lensmor_async.models import Page  # loaded by the listing commands only

        page = Page(items=(), total=0, page=1, page_size=0, total_pages=0, has_more=False)
    return Listing(items, page, all_pages=True)


def _show_listing(
    ctx: Context,
    listing: Listing,
    headers: tuple[str, ...],
    row: Callable[[Any], tuple[object, ...]],
    *,
    noun: str,
    event_id: str | None = None,
) -> None:
    """The rows in ``ctx.format``; machine formats keep stdout to the data (notes on stderr)."""
    footer = _listing_footer(listing, noun, event_id)
    if ctx.format == "json":
        ctx.console.out(render.dump_json(_listing_json(listing)))
        return
    if ctx.format in ("jsonl", "csv"):
        if ctx.format == "jsonl":
            text = render.dump_jsonl(listing.items)
        else:
            text = render.dump_csv(headers, [row(item) for item in listing.items])
        if text:
            ctx.console.out(text)
        for line in footer:
            ctx.console.err(line)
        return
    if listing.items:
        ctx.console.out(render.format_table(headers, [row(item) for item in listing.items]))
        ctx.console.out()
    elif listing.page.page_accessible:
        ctx.console.out(f"no {noun} found")
    for line in footer:
        ctx.console.out(line)


def _listing_json(listing: Listing) -> Any:
    if not listing.all_pages:
        return listing.page
    # Across pages, page numbers mean nothing; keep what describes the whole list.
    return {
        "items": listing.items,
        "total": listing.page.total,
        "semantics": listing.page.semantics,
    }


def _listing_footer(listing: Listing, noun: str, event_id: str | None) -> list[str]:
    page = listing.page
    if listing.all_pages:
        lines = [f"fetched {len(listing.items)} {noun} across pages"]
    elif not listing.items and page.page_accessible:
        if event_id is None:
            return []  # "no ... found" says it all; never "page 1 of 0"
        lines = []
    else:
        lines = [render.page_footer(page)]
    if event_id is None:
        lines.append(f"{page.total} {noun} in total")
        return lines
    lines.append(render.describe_preview(page, noun))
    hint = render.unlock_hint(page, event_id)
    return [*lines, hint] if hint else lines


# -- paid commands ------------------------------------------------------------------------------


async def _spend(
    ctx: Context,
    title: Callable[[SpendRequest], str],
    method: Callable[..., Awaitable[T]],
    /,
    *args: Any,
    **kwargs: Any,
) -> T:
    """Quote, approve (or raise), execute: the two-phase path every paid command takes."""
    quote = await ctx.client.guard.quote(method, *args, **kwargs)
    request = quote.request
    if request is None or quote.credits == 0:
        ctx.console.err("nothing to pay: already unlocked or nothing chargeable")
    else:
        ctx.approver.approve(title(request), request)
    return await quote.execute()


async def unlock_event(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor unlock event ID`` (2000 credits unless already unlocked)."""
    await _unlock_layer(ctx, "", ctx.client.events.unlock, render.describe_unlock, args.event_id)


async def unlock_visitors(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor unlock visitors ID`` (3000 credits unless already unlocked; 0.24+)."""
    method = ctx.client.events.unlock_visitors
    await _unlock_layer(
        ctx, "the Visitors of ", method, render.describe_visitor_unlock, args.event_id
    )


async def unlock_full_access(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor unlock full-access ID`` (the missing layers: 0–5000 credits; 0.24+)."""
    method = ctx.client.events.unlock_full_access
    await _unlock_layer(ctx, "full access to ", method, render.describe_full_access, args.event_id)


async def _unlock_layer(
    ctx: Context,
    what: str,
    method: Callable[[str], Awaitable[T]],
    describe: Callable[[T], str],
    event_id: str,
) -> None:
    result = await _spend(ctx, lambda _: f"unlock {what}event {event_id}", method, event_id)
    if ctx.json:
        ctx.console.out(render.dump_json(result))
        return
    ctx.console.out(describe(result))
    after = await ctx.client.credits.balance()
    ctx.console.out(f"balance now: {render.describe_balance(after)}")


async def unlock_contacts(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor unlock contacts --event ID IDS...`` (emails, per contact; waits for the task)."""
    await _unlock_people(ctx, args, ctx.client.contacts.unlock, "emails")


async def unlock_phones(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor unlock phones --event ID IDS...`` (phone numbers; waits for the task)."""
    await _unlock_people(ctx, args, ctx.client.contacts.unlock_phone, "phone numbers")


async def _unlock_people(
    ctx: Context,
    args: argparse.Namespace,
    method: Callable[..., Awaitable[UnlockTaskHandle]],
    what: str,
) -> None:
    def title(request: SpendRequest) -> str:
        count = len(request.targets)
        return f"unlock the {what} of {count} contact(s) in event {args.event}"

    ids = list(dict.fromkeys(args.personnel_ids))
    if len(ids) <= MAX_UNLOCK_BATCH:
        handles = [await _spend(ctx, title, method, event_id=args.event, personnel_ids=ids)]
    else:
        handles = await _spend_in_batches(ctx, title, method, args.event, ids)
    for handle in handles:
        report = await follow_task(handle, _progress(ctx.console, handle))
        if ctx.json:
            ctx.console.out(render.dump_json(report))
            continue
        rows = render.report_rows(report)
        ctx.console.out(render.format_table(render.REPORT_HEADERS, rows))
        ctx.console.out()
        ctx.console.out(f"task {report.task_id}: {render.describe_report(report)}")


async def _spend_in_batches(
    ctx: Context,
    title: Callable[[SpendRequest], str],
    method: Callable[..., Awaitable[UnlockTaskHandle]],
    event_id: str,
    ids: list[str],
) -> list[UnlockTaskHandle]:
    """More ids than one request takes: quote every batch, one prompt for the total."""
    guard = ctx.client.guard
    batches = [ids[i : i + MAX_UNLOCK_BATCH] for i in range(0, len(ids), MAX_UNLOCK_BATCH)]
    quotes = [
        await guard.quote(method, event_id=event_id, personnel_ids=batch) for batch in batches
    ]

    def approve(request: SpendRequest, /) -> bool:
        ctx.approver.approve(f"{title(request)} in {len(batches)} batches", request)
        return True  # approve() raises on a no

    description = f"{len(ids)} contacts in event {event_id}, {len(batches)} batches"
    await guard.confirm_quotes(quotes, description=description, confirm=approve)
    return [await quote.execute() for quote in quotes]


async def task_status(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor task status ID [--phone]``: one free look at an unlock task."""
    contacts = ctx.client.contacts
    get = contacts.get_phone_unlock_task if args.phone else contacts.get_unlock_task
    task = await get(args.task_id)
    if ctx.json:
        ctx.console.out(render.dump_json(task))
        return
    rows = [
        (item.personnel_id, item.status, item.email or item.phone, item.error_code)
        for item in task.items
    ]
    if rows:
        ctx.console.out(render.format_table(render.TASK_HEADERS, rows))
        ctx.console.out()
    ctx.console.out(f"task {task.task_id}: {task.task_status} ({len(task.delivered)} delivered)")


def _progress(console: Console, handle: UnlockTaskHandle) -> Progress:
    label = f"unlock task {handle.task_id}"
    if console.stderr_is_tty():
        return SpinnerProgress(lambda text: console.err(text, end=""), label)
    return LineProgress(console.err, label)


async def search_events_by_company(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor search events-by-company NAME`` (50 credits per page searched)."""
    page = await _spend(
        ctx,
        lambda _: f"search the events where {args.company_name!r} takes part (page {args.page})",
        ctx.client.exhibitors.search_events,
        args.company_name,
        page=args.page,
        page_size=args.page_size,
        attendance_scope=args.scope,
    )
    listing = Listing(page.items, page, all_pages=False)
    _show_listing(ctx, listing, render.MATCH_HEADERS, render.match_row, noun="events")


async def search_company(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor search company NAME`` (50 credits per page searched)."""
    page = await _spend(
        ctx,
        lambda _: f"search exhibitors named {args.company_name!r} (page {args.page})",
        ctx.client.exhibitors.search_by_company_name,
        args.company_name,
        page=args.page,
        page_size=args.page_size,
    )
    listing = Listing(page.items, page, all_pages=False)
    _show_listing(ctx, listing, render.EXHIBITOR_HEADERS, render.exhibitor_row, noun="exhibitors")


async def search_person_events(ctx: Context, args: argparse.Namespace) -> None:
    """``lensmor search person-events NAME`` (50 credits; nothing when nobody is found; 0.27)."""
    page = await _spend(
        ctx,
        lambda _: f"search the events of people named {args.person_name!r} (page {args.page})",
        ctx.client.personnel.events_by_name,
        args.person_name,
        date_start_from=args.date_from,
        date_start_to=args.date_to,
        attendance_scope=args.scope,
        page=args.page,
        page_size=args.page_size,
    )
    listing = Listing(page.items, page, all_pages=False)
    _show_listing(ctx, listing, render.EVENT_HEADERS, render.event_row, noun="events")
