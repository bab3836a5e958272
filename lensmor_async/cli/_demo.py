"""The README's main job: a guarded research workflow against the embedded FakeLensmor.

No API key is needed: the fake server runs in-process on 127.0.0.1 and holds the
truth ledger that the demo prints at the end, next to what the SDK accounted.
The output uses the CLI's wording and tables, so the demo shows what ``lensmor``
prints for the same steps.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lensmor_async._client import AsyncLensmor
from lensmor_async.bulk import run_bulk
from lensmor_async.cli import _render as render
from lensmor_async.cli._approve import PROMPT
from lensmor_async.cli._progress import BulkBar, LineProgress, follow_task
from lensmor_async.guard import CreditGuard, SpendRequest
from lensmor_async.models import Page, Person
from lensmor_async.testing import FakeLensmor

T = TypeVar("T")
Printer = Callable[[str], None]
DEMO_SEED = 7
DEMO_BUDGET = 5000
_SHOWN_ROWS = 5


def auto_confirm(say: Printer) -> Callable[[SpendRequest], bool]:
    """The guard's confirm callback: prints the prompt a person would see, then says yes.

    The demo approves each quote explicitly; the guard calls this only if the cost or
    the balance moved between a quote and its execution.
    """

    def confirm(request: SpendRequest) -> bool:
        say(render.describe_quote(f"re-quote: {request.description}", request))
        say(f"{PROMPT}y (auto-confirmed in the demo)")
        return True

    return confirm


async def run_demo(say: Printer = print) -> int:
    """Run the whole workflow; returns 0 when the SDK's accounting matches the server's."""
    say("Lensmor demo: a guarded research workflow against an embedded fake server (no key)")
    async with FakeLensmor(seed=DEMO_SEED) as fake:
        guard = CreditGuard(confirm=auto_confirm(say), budget=DEMO_BUDGET)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=guard, testing=True
        ) as client:
            await _research(client, guard, say)
        say("")
        server_net = fake.truth.net()
        verdict = "they agree" if server_net == guard.spent else "MISMATCH"
        say(
            f"server truth ledger: {fake.truth.total_charged()} credits charged, "
            f"{fake.truth.total_refunded()} refunded, net {server_net}; "
            f"SDK accounted {guard.spent} ({verdict})"
        )
    return 0 if server_net == guard.spent else 1


async def _research(client: AsyncLensmor, guard: CreditGuard, say: Printer) -> None:
    say("")
    balance = await client.credits.balance()
    say(f"balance: {render.describe_balance(balance)}")
    events = await client.events.list(page_size=10)
    say(f"events: {events.total} found; the first {_SHOWN_ROWS}:")
    say(
        render.format_table(render.EVENT_HEADERS, map(render.event_row, events.items[:_SHOWN_ROWS]))
    )
    locked = await _find_locked_event(client, [e.id for e in events.items])
    if locked is None:
        say("no locked event in the catalogue; nothing to unlock")
        return
    event_id, preview = locked
    say("")
    say(f"personnel of event {event_id}: {render.describe_preview(preview)}")
    await _iterate_preview(client, event_id, say)
    say("")
    result = await _approved(
        client, guard, say, f"quote: unlock event {event_id}", client.events.unlock, event_id
    )
    say(render.describe_unlock(result))
    balance = await client.credits.balance()
    say(f"refreshed balance: {render.describe_balance(balance)}")
    full = await client.personnel.list(event_id, page_size=20)
    say(f"personnel now: {render.describe_preview(full)}; the first {_SHOWN_ROWS}:")
    say(
        render.format_table(render.PERSON_HEADERS, map(render.person_row, full.items[:_SHOWN_ROWS]))
    )
    say("")
    await _unlock_contacts(client, guard, say, event_id, [p.id for p in full.items[:6]])
    say("")
    await _count_exhibitors(client, guard, say, [e.id for e in events.items])
    say("")
    say("spend history (guard.history):")
    say(render.format_table(render.HISTORY_HEADERS, map(render.history_row, guard.history)))


async def _iterate_preview(client: AsyncLensmor, event_id: str, say: Printer) -> None:
    iterator = client.personnel.iterate(event_id, page_size=20)
    people = [person async for person in iterator]
    last = iterator.last_page
    counts = last.semantics.counts if last is not None and last.semantics else None
    hidden = counts.remaining_locked_count if counts is not None else None
    pages = last.page if last is not None else 0
    say(
        f"iterated {len(people)} people over {pages} page(s) of 20; iteration stopped at the "
        f"preview window ({hidden} more behind the unlock)"
    )


async def _approved(
    client: AsyncLensmor,
    guard: CreditGuard,
    say: Printer,
    title: str,
    method: Callable[..., Awaitable[T]],
    /,
    *args: Any,
    **kwargs: Any,
) -> T:
    """The CLI's two-phase path: quote, show it, confirm (automatically here), execute."""
    quote = await guard.quote(method, *args, **kwargs)
    if quote.request is not None and quote.credits:
        say(render.describe_quote(title, quote.request))
        say(f"{PROMPT}y (auto-confirmed in the demo)")
    return await quote.execute()


async def _unlock_contacts(
    client: AsyncLensmor, guard: CreditGuard, say: Printer, event_id: str, targets: list[str]
) -> None:
    title = f"quote: unlock the emails of {len(targets)} contacts in event {event_id}"
    handle = await _approved(
        client, guard, say, title, client.contacts.unlock, event_id=event_id, personnel_ids=targets
    )
    progress = LineProgress(say, f"unlock task {handle.task_id}")
    report = await follow_task(handle, progress, intervals=client.config.poll_intervals)
    say(render.format_table(render.REPORT_HEADERS, render.report_rows(report)))
    say(f"task {report.task_id}: {render.describe_report(report)}")


async def _count_exhibitors(
    client: AsyncLensmor, guard: CreditGuard, say: Printer, event_ids: list[str]
) -> None:
    """A small bulk job (free reads) with the progress bar the CLI draws on a terminal."""
    say(f"bulk: the exhibitors of all {len(event_ids)} events, 3 at a time (free)")

    async def count(event_id: str) -> int:
        return len([e async for e in client.exhibitors.iterate(event_id, page_size=50)])

    report = await run_bulk(
        event_ids, count, concurrency=3, guard=guard, on_progress=BulkBar(say, tty=False)
    )
    total = sum(result.value or 0 for result in report.results)
    say(f"bulk: {report.ok} events, {total} exhibitor rows ({report.failed} failed)")


async def _find_locked_event(
    client: AsyncLensmor, event_ids: list[str]
) -> tuple[str, Page[Person]] | None:
    for event_id in event_ids:
        page = await client.personnel.list(event_id, page_size=20)
        if page.unlock_required:
            return event_id, page
    return None
