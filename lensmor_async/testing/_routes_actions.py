"""Credits balance and ``POST /external/actions/precheck``.

The precheck is read-only and reuses the exact assessments of the paid routes
(:meth:`FakeState.assess_event_unlock`, :meth:`FakeState.assess_contact_unlock`), so
it tells the truth about what executing now would do. Fake choices where the docs are
silent: a blocked action answers ``allowed: false``; ``insufficient_balance`` keeps
``should_charge: true`` and the required ``credits`` so a UI can show the price;
``biz_code`` is ``"<Label> - API"`` (``- Agent`` for ``call_source: agent``) on
charging actions and ``""`` otherwise.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from lensmor_async.testing._routes_common import Body, json_response, state
from lensmor_async.testing._routes_exhibitors import normalise_company
from lensmor_async.testing._state import MAX_UNLOCK_BATCH, PREVIEW_LIMIT, FakeState, invalid

__all__ = ["routes"]

routes = web.RouteTableDef()

_BIZ_LABELS = {
    "unlock_event_contacts": "Event Unlock",
    "unlock_contact_emails": "Contact Email Unlock",
    "unlock_contact_phones": "Contact Phone Unlock",
    "search_exhibitor_events": "Exhibitor Search",
}


@routes.get("/external/credits/balance")
async def credits_balance(request: web.Request) -> web.Response:
    """``GET /external/credits/balance``."""
    return json_response(state(request).balance.to_wire())


def _answer(
    action_type: str,
    *,
    allowed: bool,
    reason_code: str,
    credits: int = 0,
    should_charge: bool | None = None,
    detail: dict[str, Any] | None = None,
    call_source: str = "api",
) -> dict[str, Any]:
    charging = (credits > 0) if should_charge is None else should_charge
    label = _BIZ_LABELS.get(action_type)
    source = "Agent" if call_source == "agent" else "API"
    return {
        "ok": True,
        "action_type": action_type,
        "allowed": allowed,
        "should_charge": charging,
        "credits": credits if charging else 0,
        "reason_code": reason_code,
        "biz_code": f"{label} - {source}" if charging and label else "",
        "detail": detail or {},
    }


def _event_access_detail(fake: FakeState, event_id: str) -> dict[str, Any]:
    full = fake.is_unlocked(event_id)
    return {
        "event_id": event_id,
        "access_mode": "full" if full else "preview",
        "preview_limit": None if full else PREVIEW_LIMIT,
        "unlock_action_type": None if full else "unlock_event_contacts",
        "unlock_credits": None if full else fake.prices.event_unlock,
    }


def _string_param(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def _query_personnel(fake: FakeState, action: str, params: dict[str, Any]) -> dict[str, Any]:
    ref = _string_param(params, "event_id")
    if ref is None:
        return _answer(
            action, allowed=False, reason_code="invalid_subject", detail={"event_id": None}
        )
    event = fake.resolve_event(ref)
    if event is None:
        return _answer(action, allowed=False, reason_code="not_found", detail={"event_id": ref})
    return _answer(
        action, allowed=True, reason_code="ok", detail=_event_access_detail(fake, event.id)
    )


def _unlock_event(
    fake: FakeState, action: str, params: dict[str, Any], source: str
) -> dict[str, Any]:
    ref = _string_param(params, "event_id")
    if ref is None:
        return _answer(
            action, allowed=False, reason_code="invalid_subject", detail={"event_id": None}
        )
    assessment = fake.assess_event_unlock(ref)
    if assessment.event is None:
        return _answer(action, allowed=False, reason_code="not_found", detail={"event_id": ref})
    detail = {
        **_event_access_detail(fake, assessment.event.id),
        "unlock_action_type": "unlock_event_contacts",
        "unlock_credits": fake.prices.event_unlock,
        "available_balance": fake.balance.total_balance,
        "chargeable_count": assessment.chargeable_count,
    }
    reason = assessment.reason_code
    charging = reason in ("ok", "insufficient_balance")
    return _answer(
        action,
        allowed=reason == "ok",
        reason_code=reason,
        detail=detail,
        credits=assessment.credits,
        should_charge=charging,
        call_source=source,
    )


def _unlock_contacts(
    fake: FakeState, action: str, params: dict[str, Any], source: str
) -> dict[str, Any]:
    channel = "email" if action == "unlock_contact_emails" else "phone"
    ref = _string_param(params, "event_id")  # optional since 0.24
    ids = params.get("personnel_ids")
    valid_ids = isinstance(ids, list) and ids and all(isinstance(i, str) for i in ids)
    if not valid_ids:
        return _answer(
            action, allowed=False, reason_code="invalid_subject", detail={"event_id": ref}
        )
    assert isinstance(ids, list)
    if len(ids) > MAX_UNLOCK_BATCH:
        return _answer(
            action,
            allowed=False,
            reason_code="exceed_max_unlock_limit",
            detail={"event_id": ref, "requested_count": len(ids)},
        )
    a = fake.assess_contact_unlock(channel, ref, ids)
    detail = {
        "event_id": a.event.id if a.event else ref,
        "personnel_ids": a.chargeable,
        "missing_personnel_ids": a.missing,
        "invalid_personnel_ids": a.invalid,
        "requested_count": len(a.requested),
        "chargeable_count": len(a.chargeable),
        "already_unlocked_count": len(a.already_unlocked),
        "unlocking_count": len(a.unlocking),
        "available_balance": fake.balance.total_balance,
    }
    charging = a.reason_code in ("ok", "insufficient_balance") and a.credits > 0
    return _answer(
        action,
        allowed=a.reason_code == "ok",
        reason_code=a.reason_code,
        credits=a.credits,
        should_charge=charging,
        detail=detail,
        call_source=source,
    )


def _search_events(
    fake: FakeState, action: str, params: dict[str, Any], source: str
) -> dict[str, Any]:
    name = _string_param(params, "company_name")
    if name is None or len(name) > 200:
        return _answer(action, allowed=False, reason_code="invalid_subject", detail={})
    price = fake.prices.search_events
    detail = {
        "company_name": normalise_company(name),
        "available_balance": fake.balance.total_balance,
    }
    if price > fake.balance.total_balance:
        return _answer(
            action,
            allowed=False,
            reason_code="insufficient_balance",
            credits=price,
            should_charge=True,
            detail=detail,
            call_source=source,
        )
    return _answer(
        action, allowed=True, reason_code="ok", credits=price, detail=detail, call_source=source
    )


def _unlock_layers(
    fake: FakeState, action: str, params: dict[str, Any], source: str
) -> dict[str, Any]:
    ref = _string_param(params, "event_id")
    if ref is None:
        return _answer(action, allowed=False, reason_code="invalid_subject", detail={})
    layers = "visitors" if action == "unlock_event_visitors" else "full"
    a = fake.assess_layers(ref, layers, check_plan=False)
    if a.event is None:
        return _answer(action, allowed=False, reason_code=a.reason_code, detail={"event_id": ref})
    reason = "already_unlocked" if a.already_unlocked else a.reason_code
    detail = {
        "event_id": a.event.id,
        "available_balance": fake.balance.total_balance,
        "visitor_data_available": a.event.id not in fake.no_visitor_data,
    }
    return _answer(
        action,
        allowed=reason == "ok",
        reason_code=reason,
        credits=a.credits,
        should_charge=reason in ("ok", "insufficient_balance"),
        detail=detail,
        call_source=source,
    )


def _search_by_name(
    fake: FakeState, action: str, params: dict[str, Any], source: str
) -> dict[str, Any]:
    name = _string_param(params, "person_name")
    if name is None or len(name) > 200:
        return _answer(action, allowed=False, reason_code="invalid_subject", detail={})
    price = fake.prices.person_events_by_name
    reason = "insufficient_balance" if price > fake.balance.total_balance else "ok"
    return _answer(
        action,
        allowed=reason == "ok",
        reason_code=reason,
        credits=price,
        should_charge=True,
        detail={"available_balance": fake.balance.total_balance},
        call_source=source,
    )


def _evaluate(fake: FakeState, action: str, params: dict[str, Any], source: str) -> dict[str, Any]:
    if action == "query_event_personnel":
        return _query_personnel(fake, action, params)
    if action == "unlock_event_contacts":
        return _unlock_event(fake, action, params, source)
    if action in ("unlock_contact_emails", "unlock_contact_phones"):
        return _unlock_contacts(fake, action, params, source)
    if action == "search_exhibitor_events":
        return _search_events(fake, action, params, source)
    if action in ("unlock_event_visitors", "unlock_event_full_access"):
        return _unlock_layers(fake, action, params, source)
    if action == "search_personnel_events_by_name":
        return _search_by_name(fake, action, params, source)
    if action == "others":
        return _answer(action, allowed=True, reason_code="ok")
    return _answer(action, allowed=False, reason_code="unsupported_action")


@routes.post("/external/actions/precheck")
async def precheck(request: web.Request) -> web.Response:
    """``POST /external/actions/precheck`` (200): read-only truth evaluation."""
    body = await Body.read(request)
    action = body.required("action_type", max_len=100).strip().lower()
    params = body.data.get("params")
    if not isinstance(params, dict):
        raise invalid("params must be an object")
    for name in ("call_source", "locale", "trace_id", "conversation_id", "channel_message_id"):
        body.text(name, max_len=200)
    source = body.text("call_source") or "api"
    return json_response(_evaluate(state(request), action, params, source))
