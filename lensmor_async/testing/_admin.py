"""HTTP admin endpoints of the standalone fake, for tests in other languages or processes.

Served under ``/__`` by ``python -m lensmor_async.testing`` (``FakeLensmor(admin=True)``),
with the same bearer key as the API, as stripe-mock serves its own:

* ``GET /__truth`` — the truth ledger: every charge and refund, and the totals;
* ``POST /__faults`` ``{"kind": "http_500_before", "count": 1, "route": null}`` — inject;
* ``POST /__personnel`` ``{"event_id": "101", "count": 300}`` — seed generated people;
* ``POST /__exhibitors`` ``{"event_id": "101", "count": 300}`` — seed generated exhibitors;
* ``POST /__balance`` ``{"subscription": 100, "gift": 0}`` — set the balance;
* ``POST /__tasks/complete`` — finish every running unlock task now.

Admin requests are not recorded, never faulted or rate limited, and never charged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from lensmor_async.errors import LensmorError
from lensmor_async.testing._faults import FaultKind

if TYPE_CHECKING:
    from lensmor_async.testing._fake import FakeLensmor

PREFIX = "/__"
AdminHandler = Callable[["FakeLensmor", dict[str, Any]], Any]


def truth(fake: FakeLensmor, _: dict[str, Any]) -> Any:
    ledger = fake.truth
    entries = [
        {
            "seq": e.seq,
            "route": e.route,
            "operation": e.operation,
            "amount": e.amount,
            "intent": list(e.intent),
            "trace_id": e.trace_id,
            "task_id": e.task_id,
        }
        for e in ledger.entries
    ]
    return {
        "charged": ledger.total_charged(),
        "refunded": ledger.total_refunded(),
        "net": ledger.net(),
        "entries": entries,
    }


def faults(fake: FakeLensmor, body: dict[str, Any]) -> Any:
    kind = FaultKind(str(body["kind"]))
    fake.inject(kind, int(body.get("count", 1)), body.get("route"))
    return {"injected": kind.value}


def personnel(fake: FakeLensmor, body: dict[str, Any]) -> Any:
    ids = fake.add_personnel(str(body["event_id"]), _count(body))
    return {"event_id": str(body["event_id"]), "first_id": str(ids.start), "count": len(ids)}


def exhibitors(fake: FakeLensmor, body: dict[str, Any]) -> Any:
    return {"event_id": str(body["event_id"]), "ids": seed_exhibitors(fake, body)}


def seed_exhibitors(fake: FakeLensmor, body: dict[str, Any]) -> list[str]:
    """Add ``count`` generated exhibitors to an event; their ids."""
    event_id, count = str(body["event_id"]), _count(body)
    return [
        fake.state.add_exhibitor(f"Seeded Company {n}", event_ids=[event_id]).id
        for n in range(1, count + 1)
    ]


def balance(fake: FakeLensmor, body: dict[str, Any]) -> Any:
    fake.set_balance(subscription=body.get("subscription"), gift=body.get("gift"))
    return {"ok": True}


def complete_tasks(fake: FakeLensmor, _: dict[str, Any]) -> Any:
    fake.complete_tasks()
    return {"ok": True}


def _count(body: dict[str, Any]) -> int:
    count = int(body["count"])
    if not 0 < count <= 1_000_000:
        raise ValueError("count must be between 1 and 1000000")
    return count


ROUTES: dict[tuple[str, str], AdminHandler] = {
    ("GET", "/__truth"): truth,
    ("POST", "/__faults"): faults,
    ("POST", "/__personnel"): personnel,
    ("POST", "/__exhibitors"): exhibitors,
    ("POST", "/__balance"): balance,
    ("POST", "/__tasks/complete"): complete_tasks,
}


async def handle(fake: FakeLensmor, request: web.Request) -> web.Response:
    """Answer one admin request (the caller checked the path and the key)."""
    handler = ROUTES.get((request.method, request.path))
    if handler is None:
        return web.json_response({"error": f"no admin endpoint {request.path}"}, status=404)
    try:
        body = await request.json() if request.can_read_body else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        result = handler(fake, body)
    except (KeyError, ValueError, TypeError, LensmorError) as exc:  # bad input, not a crash
        return web.json_response({"error": f"{type(exc).__name__}: {exc}"}, status=400)
    return web.json_response(result)
