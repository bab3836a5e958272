"""Checked by ``mypy --strict`` in scripts/test.sh (not run): ``with_raw_response`` keeps
the method's signature (``ParamSpec``) and ``parse()`` returns the method's result type.

Every ``type: ignore`` below must be needed (``warn_unused_ignores`` is part of ``--strict``).
"""

from __future__ import annotations

from lensmor_async import AsyncLensmor, RawResponse
from lensmor_async.models import EventDetail, Page, Person


async def raw_calls(client: AsyncLensmor) -> None:
    detail: RawResponse[EventDetail] = await client.with_raw_response(client.events.get, "101")
    parsed: EventDetail = detail.parse()
    page = await client.with_raw_response(client.personnel.list, "101", page_size=5)
    people: Page[Person] = page.parse()
    await client.with_raw_response(client.events.get, 101)  # type: ignore[arg-type]
    await client.with_raw_response(client.events.get, "1", bogus=1)  # type: ignore[call-arg]
    del parsed, people
