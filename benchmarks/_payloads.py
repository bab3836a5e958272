"""FakeLensmor's exact answers for the two benchmarked routes, captured once per run.

The static server replays these bytes and headers, so every client decodes exactly
what the fake (and, by contract, the real API) sends, while the server itself costs
as little as possible.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import aiohttp
import attrs

from lensmor_async.testing import FakeLensmor

BALANCE_PATH = "/external/credits/balance"
PERSONNEL_PATH = "/external/personnel/list"
EVENT_ID = "102"
"""A seeded event that starts unlocked (full access) with more than one page of people."""
PAGE_SIZE = 20
REPLAYED_HEADERS = (
    "Content-Type",
    "X-RateLimit-Limit",
    "X-RateLimit-Remaining",
    "X-RateLimit-Reset",
    "X-Request-ID",
)


@attrs.frozen
class Captured:
    """One captured answer: status, the headers worth replaying, and the body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes


@attrs.frozen
class Payloads:
    """What the static server serves, plus what the clients must send to get it."""

    api_key: str
    balance: Captured
    personnel: Captured

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(_to_json(self)))

    @staticmethod
    def load(path: Path) -> Payloads:
        raw = json.loads(path.read_text())
        return Payloads(
            api_key=raw["api_key"],
            balance=_captured(raw["balance"]),
            personnel=_captured(raw["personnel"]),
        )


def personnel_query() -> dict[str, str]:
    """The query the SDK sends for ``personnel.list(EVENT_ID, page_size=20)``."""
    return {"event_id": EVENT_ID, "page": "1", "pageSize": str(PAGE_SIZE)}


def _to_json(payloads: Payloads) -> dict[str, Any]:
    def one(c: Captured) -> dict[str, Any]:
        return {
            "status": c.status,
            "headers": c.headers,
            "body": base64.b64encode(c.body).decode(),
        }

    return {
        "api_key": payloads.api_key,
        "balance": one(payloads.balance),
        "personnel": one(payloads.personnel),
    }


def _captured(raw: dict[str, Any]) -> Captured:
    return Captured(
        status=raw["status"], headers=dict(raw["headers"]), body=base64.b64decode(raw["body"])
    )


async def _fetch(
    session: aiohttp.ClientSession, url: str, params: dict[str, str] | None
) -> Captured:
    async with session.get(url, params=params) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"FakeLensmor answered {resp.status} for {url}")
        headers = {name: resp.headers[name] for name in REPLAYED_HEADERS if name in resp.headers}
        return Captured(status=resp.status, headers=headers, body=body)


async def capture(seed: int = 7) -> Payloads:
    """Start a FakeLensmor, fetch both answers with plain aiohttp, and keep their bytes."""
    async with FakeLensmor(seed=seed) as fake:
        fake.unlock_event(EVENT_ID)
        headers = {"Authorization": f"Bearer {fake.api_key}", "Accept": "application/json"}
        async with aiohttp.ClientSession(headers=headers) as session:
            balance = await _fetch(session, fake.url + BALANCE_PATH, None)
            personnel = await _fetch(session, fake.url + PERSONNEL_PATH, personnel_query())
        items = json.loads(personnel.body)["items"]
        if len(items) != PAGE_SIZE:
            raise RuntimeError(f"expected a {PAGE_SIZE}-item page, got {len(items)}")
        return Payloads(api_key=fake.api_key, balance=balance, personnel=personnel)
