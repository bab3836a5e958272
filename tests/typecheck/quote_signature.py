"""Checked by ``mypy --strict`` in scripts/test.sh (not run): ``guard.quote`` keeps the
paid method's signature (``ParamSpec``), so a wrong argument fails type checking.

Every ``type: ignore`` below must be needed: with ``warn_unused_ignores`` (part of
``--strict``) a quote that stopped checking its arguments would fail the build.
"""

from __future__ import annotations

from lensmor_async import AsyncLensmor, CreditGuard
from lensmor_async.guard import Quote
from lensmor_async.models import EventUnlockResult


async def quotes(client: AsyncLensmor, guard: CreditGuard) -> None:
    good: Quote[EventUnlockResult] = await guard.quote(client.events.unlock, "101")
    await good.execute()
    await guard.quote(client.events.unlock, 101)  # type: ignore[arg-type]
    await guard.quote(client.events.unlock, "101", bogus=True)  # type: ignore[call-arg]
    await guard.quote(client.contacts.unlock, event_id="1", personnel_ids=["a"])
    await guard.quote(client.contacts.unlock, "1", ["a"])  # type: ignore[call-arg, arg-type]
