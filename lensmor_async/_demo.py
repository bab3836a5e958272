"""The README's main job: a guarded research workflow against the embedded FakeLensmor.

No API key is needed: the fake server runs in-process on 127.0.0.1 and holds the
truth ledger that the demo prints at the end.
"""

from __future__ import annotations

from collections.abc import Callable

from lensmor_async._client import AsyncLensmor
from lensmor_async.guard import CreditGuard, SpendRequest
from lensmor_async.models import Page, Person
from lensmor_async.testing import FakeLensmor

Printer = Callable[[str], None]


def describe_preview(page: Page[Person]) -> str:
    """'showing 50 of 237, unlock for 2000 credits' — the preview semantics in plain words."""
    sem = page.semantics
    if sem is None or sem.access_mode != "preview":
        return f"full access: {page.total} people"
    counts, unlock = sem.counts, sem.unlock
    visible = counts.visible_total if counts else None
    actual = counts.actual_total if counts else None
    credits = unlock.credits if unlock else None
    return f"showing {visible} of {actual}, unlock for {credits} credits"


def auto_confirm(say: Printer) -> Callable[[SpendRequest], bool]:
    """A confirm callback that prints the prompt a person would see, then says yes."""

    def confirm(request: SpendRequest) -> bool:
        budget = (
            "no cap" if request.budget_remaining is None else f"{request.budget_remaining} left"
        )
        say(
            f"  confirm? {request.description}: {request.expected_credits} credits "
            f"(balance {request.current_balance}, budget {budget}) -> yes (auto-confirmed)"
        )
        return True

    return confirm


async def run_demo(say: Printer = print) -> int:
    """Run the whole workflow; returns a process exit code."""
    async with FakeLensmor(seed=7) as fake:
        guard = CreditGuard(confirm=auto_confirm(say), budget=5000)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=guard, testing=True
        ) as client:
            await _research(client, guard, say)
        say(
            f"server truth ledger: {fake.truth.total_charged()} credits charged, "
            f"{fake.truth.total_refunded()} refunded; SDK accounted {guard.spent}"
        )
    return 0


async def _research(client: AsyncLensmor, guard: CreditGuard, say: Printer) -> None:
    balance = await client.credits.balance()
    say(
        f"balance: {balance.total_balance} credits "
        f"(subscription {balance.subscription_balance}, gift {balance.gift_balance})"
    )
    events = await client.events.list(page_size=10)
    say(
        f"events: {events.total} found; first: "
        + ", ".join(e.name or e.id for e in events.items[:3])
    )
    locked = await _find_locked_event(client, [e.id for e in events.items])
    if locked is None:
        say("no locked event in the catalogue; nothing to unlock")
        return
    event_id, preview = locked
    say(f"personnel of event {event_id}: {describe_preview(preview)}")
    people = [p async for p in client.personnel.iterate(event_id, page_size=20)]
    say(f"iterated {len(people)} people across pages (stopped at the preview window)")
    quote = await guard.quote(client.events.unlock, event_id)
    say(f"quote: unlocking event {event_id} costs {quote.credits} credits")
    result = await quote.execute()
    say(f"unlocked: creditsUsed={result.credits_used}, already_unlocked={result.already_unlocked}")
    balance = await client.credits.balance()
    full = await client.personnel.list(event_id, page_size=20)
    say(f"refreshed balance: {balance.total_balance}; personnel now: {describe_preview(full)}")
    targets = [p.id for p in full.items[:6]]
    handle = await client.contacts.unlock(event_id=event_id, personnel_ids=targets)
    report = await handle.wait(deadline=30)
    say(
        f"email unlock task {report.task_id}: {len(report.delivered)} delivered, "
        f"{len(report.unlocked_without_email)} without email, {len(report.failed)} failed, "
        f"{len(report.unresolved)} unresolved; {report.credits_spent} credits"
    )
    for record in guard.history:
        say(
            f"  spend: {record.intent.operation} {record.outcome.value} "
            f"estimate={record.estimate} actual={record.actual}"
        )


async def _find_locked_event(
    client: AsyncLensmor, event_ids: list[str]
) -> tuple[str, Page[Person]] | None:
    for event_id in event_ids:
        page = await client.personnel.list(event_id, page_size=20)
        if page.semantics is not None and page.semantics.access_mode == "preview":
            return event_id, page
    return None
