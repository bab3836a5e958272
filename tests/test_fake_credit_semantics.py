"""FakeLensmor's credit semantics: buckets, 402, idempotency, tasks, refunds, precheck, truth."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from lensmor_async.testing import (
    FakeLensmor,
    Prices,
    TruthLedger,
    UnlockOutcome,
    unlock_outcome,
)

pytestmark = pytest.mark.anyio

SEED = 3
LOCKED_BIG = "101"  # 237 personnel, locked
UNLOCKED = "102"
EMPTY = "104"  # no personnel
SMALL_LOCKED = "103"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=SEED, task_step_seconds=0.01) as server:
        yield server


async def call(
    http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any
) -> tuple[int, Any]:
    async with http.request(method, path, **kwargs) as response:
        return response.status, await response.json(content_type=None)


async def balance(http: aiohttp.ClientSession) -> dict[str, Any]:
    status, body = await call(http, "GET", "/external/credits/balance")
    assert status == 200
    return dict(body)


async def wait_task(http: aiohttp.ClientSession, task_id: str, kind: str = "unlock-tasks") -> Any:
    for _ in range(500):
        status, body = await call(http, "GET", f"/external/contacts/{kind}/{task_id}")
        assert status == 200
        if body["taskStatus"] in ("completed", "failed"):
            return body
        await anyio.sleep(0.01)
    raise AssertionError("task never reached a terminal state")


def roster(fake: FakeLensmor, event_id: str) -> list[str]:
    return list(fake.state.rosters[event_id])


def ids_with(fake: FakeLensmor, event_id: str, outcome: UnlockOutcome, n: int) -> list[str]:
    found = [p for p in roster(fake, event_id) if unlock_outcome(SEED, p, "email") is outcome]
    return found[:n]


async def precheck(http: aiohttp.ClientSession, action: str, **params: Any) -> Any:
    status, body = await call(
        http, "POST", "/external/actions/precheck", json={"action_type": action, "params": params}
    )
    assert status == 200
    return body


# --------------------------------------------------------------------------- event unlock


async def test_event_unlock_charges_2000_from_subscription_and_reports_balance_after(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "POST", f"/external/events/{LOCKED_BIG}/unlock")
    assert status == 201
    assert body == {
        "success": True,
        "alreadyUnlocked": False,
        "creditsUsed": 2000,
        "balanceAfter": {
            "subscriptionBalance": 28000,
            "permanentBalance": 50,
            "totalBalance": 28050,
            "unlimited": False,
        },
        "event": {"id": "101", "eventId": "139574", "name": "Shoptalk Spring 2026"},
    }
    (entry,) = fake.truth.entries
    assert (entry.operation, entry.amount, entry.intent) == (
        "events.unlock",
        2000,
        ("events.unlock", "101"),
    )
    assert entry.route == "/external/events/{id}/unlock"
    assert entry.subscription_part == 2000
    assert entry.gift_part == 0


async def test_subscription_credits_are_spent_before_gift_credits(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.set_balance(subscription=1500, gift=600)
    status, body = await call(http, "POST", f"/external/events/{LOCKED_BIG}/unlock")
    assert status == 201
    assert body["balanceAfter"]["subscriptionBalance"] == 0
    assert body["balanceAfter"]["permanentBalance"] == 100
    after = await balance(http)
    assert (after["subscriptionBalance"], after["giftBalance"], after["totalBalance"]) == (
        0,
        100,
        100,
    )
    assert after["totalAmount"] == after["subscriptionAmount"] + after["giftAmount"]
    (entry,) = fake.truth.entries
    assert (entry.subscription_part, entry.gift_part) == (1500, 500)


async def test_short_balance_is_402_and_charges_nothing(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.set_balance(subscription=1000, gift=999)
    status, body = await call(http, "POST", f"/external/events/{LOCKED_BIG}/unlock")
    assert status == 402
    assert body["errorKey"] == "INSUFFICIENT_CREDITS"
    assert fake.truth.entries == []
    assert (await balance(http))["totalBalance"] == 1999
    assert not fake.state.is_unlocked(LOCKED_BIG)


async def test_already_unlocked_event_is_free_with_null_balance_after(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "POST", f"/external/events/{UNLOCKED}/unlock")
    assert status == 201
    assert (body["alreadyUnlocked"], body["creditsUsed"], body["balanceAfter"]) == (True, 0, None)
    assert fake.truth.net() == 0


async def test_repeat_unlock_by_event_id_alias_is_not_charged_again(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    await call(http, "POST", "/external/events/101/unlock")
    status, body = await call(http, "POST", "/external/events/139574/unlock")
    assert status == 201
    assert body["alreadyUnlocked"] is True
    assert fake.truth.charges_by_intent() == {("events.unlock", "101"): 1}


async def test_event_without_chargeable_contacts_is_400_and_charges_nothing(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    status, body = await call(http, "POST", f"/external/events/{EMPTY}/unlock")
    assert status == 400
    assert body["errorKey"] == "INVALID_REQUEST"
    assert fake.truth.entries == []


async def test_concurrent_unlocks_of_one_event_charge_once(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    results: list[Any] = []

    async def unlock() -> None:
        results.append(await call(http, "POST", f"/external/events/{LOCKED_BIG}/unlock"))

    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(unlock)
    assert sorted(body["alreadyUnlocked"] for _, body in results) == [False] + [True] * 9
    assert fake.truth.duplicate_intents() == {}
    assert fake.truth.total_charged() == 2000


# --------------------------------------------------------------------------- email unlock


async def test_contact_unlock_dedupes_ids_before_pricing(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    a, b = roster(fake, LOCKED_BIG)[:2]
    status, body = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": [a, b, a]},
    )
    assert status == 201
    assert body["status"] == "accepted"
    assert body["job_id"] == body["task_id"]
    assert body["task_id"].isdigit()
    assert fake.truth.total_charged() == 30
    assert set(fake.truth.charges_by_intent()) == {
        ("contacts.unlock", LOCKED_BIG, a),
        ("contacts.unlock", LOCKED_BIG, b),
    }
    assert {e.task_id for e in fake.truth.entries} == {body["task_id"]}


async def test_contact_unlock_without_an_event_skips_the_membership_check(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    # 0.24+: event_id is optional; people of different events go in one batch.
    a, b = roster(fake, "101")[0], roster(fake, "103")[0]
    status, body = await call(
        http, "POST", "/external/contacts/unlock", json={"personnel_ids": [a, b]}
    )
    assert (status, body["status"]) == (201, "accepted")
    assert fake.truth.total_charged() == 30


async def test_lead_selection_limit_carries_its_details(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    ids = [str(700001 + n) for n in range(2001)]
    status, body = await call(
        http, "POST", "/external/contacts/unlock", json={"personnel_ids": ids}
    )
    assert status == 422
    assert body["details"] == {"requestedCount": 2001, "limit": 2000, "selectionMode": "selected"}


@pytest.mark.parametrize(
    ("payload", "status", "key"),
    [
        ({"event_id": "101", "personnel_ids": []}, 400, "INVALID_REQUEST"),
        ({"event_id": "101", "personnel_ids": ["abc"]}, 400, "INVALID_REQUEST"),
        (
            {"event_id": "101", "personnel_ids": [str(700001 + n) for n in range(2001)]},
            422,
            "LEAD_SELECTION_LIMIT_EXCEEDED",
        ),
        ({"event_id": "999", "personnel_ids": ["700001"]}, 404, "EVENT_NOT_FOUND"),
        ({"event_id": "101", "personnel_ids": ["700001", "999999"]}, 404, "NOT_FOUND"),
        ({"event_id": "102", "personnel_ids": ["700001"]}, 400, "INVALID_REQUEST"),
    ],
)
async def test_invalid_contact_unlock_is_refused_without_charge(
    fake: FakeLensmor, http: aiohttp.ClientSession, payload: dict[str, Any], status: int, key: str
) -> None:
    got, body = await call(http, "POST", "/external/contacts/unlock", json=payload)
    assert (got, body["errorKey"]) == (status, key)
    assert fake.truth.entries == []
    assert fake.state.email_state("700001").status == "locked"


async def test_contacts_being_unlocked_or_unlocked_give_409_without_charge(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    first, second = roster(fake, LOCKED_BIG)[:2]
    payload = {"event_id": LOCKED_BIG, "personnel_ids": [first]}
    _, submitted = await call(http, "POST", "/external/contacts/unlock", json=payload)
    status, body = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": [second, first]},
    )
    assert (status, body["errorKey"]) == (409, "STATE_CONFLICT")
    fake.set_unlock_outcome(first, UnlockOutcome.DELIVERED)
    await wait_task(http, submitted["task_id"])
    status, _ = await call(http, "POST", "/external/contacts/unlock", json=payload)
    assert status == 409
    assert fake.truth.total_charged() == 15
    assert fake.state.email_state(second).status == "locked"


async def test_insufficient_balance_for_batch_is_402_and_contacts_stay_locked(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.set_balance(subscription=0, gift=29)
    ids = roster(fake, LOCKED_BIG)[:2]
    status, body = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": ids},
    )
    assert (status, body["errorKey"]) == (402, "INSUFFICIENT_CREDITS")
    assert fake.truth.entries == []
    assert all(fake.state.email_state(p).status == "locked" for p in ids)


async def test_email_task_moves_through_states_to_mixed_outcomes_with_refunds(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    delivered = ids_with(fake, LOCKED_BIG, UnlockOutcome.DELIVERED, 2)
    no_email = ids_with(fake, LOCKED_BIG, UnlockOutcome.NO_VALUE, 1)
    failed = ids_with(fake, LOCKED_BIG, UnlockOutcome.FAILED, 2)
    ids = delivered + no_email + failed
    start = (await balance(http))["totalBalance"]
    _, submitted = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": ids},
    )
    task_id = submitted["task_id"]
    _, first_poll = await call(http, "GET", f"/external/contacts/unlock-tasks/{task_id}")
    assert first_poll["taskStatus"] in ("pending", "processing")
    assert fake.state.email_state(ids[0]).status in ("unlocking", "unlocked")
    task = await wait_task(http, task_id)

    assert task["taskStatus"] == "completed"
    items = {item["personnelId"]: item for item in task["items"]}
    for pid in delivered:
        person = fake.state.person(pid)
        assert person is not None
        assert items[pid] == {"personnelId": pid, "status": "unlocked", "email": person.email}
    assert items[no_email[0]] == {"personnelId": no_email[0], "status": "unlocked", "email": None}
    for pid in failed:
        assert items[pid] == {"personnelId": pid, "status": "failed", "errorCode": "TASK_FAILED"}

    assert (await balance(http))["totalBalance"] == start - 15 * 3
    assert fake.truth.total_charged() == 75
    assert fake.truth.total_refunded() == 30
    refunds = [e for e in fake.truth.for_task(task_id) if e.is_refund]
    assert {e.intent[-1] for e in refunds} == set(failed)
    assert all(e.trace_id is None for e in refunds)


async def test_person_records_reflect_unlock_outcome_for_this_caller(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    (good,) = ids_with(fake, LOCKED_BIG, UnlockOutcome.DELIVERED, 1)
    (bad,) = ids_with(fake, LOCKED_BIG, UnlockOutcome.FAILED, 1)
    _, submitted = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": [good, bad]},
    )
    await wait_task(http, submitted["task_id"])
    _, profile = await call(
        http, "GET", "/external/personnel/profile", params={"personnel_id": good}
    )
    assert profile["contactUnlockStatus"] == "unlocked"
    assert profile["email"] is not None
    _, profile = await call(
        http, "GET", "/external/personnel/profile", params={"personnel_id": bad}
    )
    assert (profile["contactUnlockStatus"], profile["email"]) == ("failed", None)


async def test_task_with_only_failures_ends_failed_and_refunds_everything(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    ids = roster(fake, SMALL_LOCKED)[:3]
    for pid in ids:
        fake.set_unlock_outcome(pid, UnlockOutcome.FAILED)
    _, submitted = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": SMALL_LOCKED, "personnel_ids": ids},
    )
    task = await wait_task(http, submitted["task_id"])
    assert task["taskStatus"] == "failed"
    assert fake.truth.net() == 0


async def test_failed_contact_can_be_bought_again_without_counting_as_duplicate(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    (pid,) = roster(fake, SMALL_LOCKED)[:1]
    fake.set_unlock_outcome(pid, UnlockOutcome.FAILED)
    payload = {"event_id": SMALL_LOCKED, "personnel_ids": [pid]}
    _, first = await call(http, "POST", "/external/contacts/unlock", json=payload)
    await wait_task(http, first["task_id"])
    fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED)
    status, second = await call(http, "POST", "/external/contacts/unlock", json=payload)
    assert status == 201
    await wait_task(http, second["task_id"])
    intent = ("contacts.unlock", SMALL_LOCKED, pid)
    assert fake.truth.charges_by_intent() == {intent: 2}
    assert fake.truth.net_charges_by_intent() == {intent: 1}
    assert fake.truth.duplicate_intents() == {}


async def test_complete_tasks_finishes_running_tasks_immediately(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.state.task_step_seconds = 60
    ids = roster(fake, LOCKED_BIG)[:2]
    _, submitted = await call(
        http,
        "POST",
        "/external/contacts/unlock",
        json={"event_id": LOCKED_BIG, "personnel_ids": ids},
    )
    fake.complete_tasks()
    _, task = await call(http, "GET", f"/external/contacts/unlock-tasks/{submitted['task_id']}")
    assert task["taskStatus"] in ("completed", "failed")
    assert all(item["status"] in ("unlocked", "failed") for item in task["items"])


# --------------------------------------------------------------------------- phone unlock


async def test_phone_unlock_charges_phone_price_and_reveals_phone_on_its_task_route(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    (pid,) = roster(fake, UNLOCKED)[:1]
    fake.set_unlock_outcome(pid, UnlockOutcome.DELIVERED, channel="phone")
    status, submitted = await call(
        http,
        "POST",
        "/external/contacts/unlock-phone",
        json={"event_id": UNLOCKED, "personnel_ids": [pid]},
    )
    assert status == 201
    assert fake.truth.charges_by_intent() == {("contacts.unlock_phone", UNLOCKED, pid): 1}
    assert fake.truth.total_charged() == 150
    task = await wait_task(http, submitted["task_id"], "unlock-phone-tasks")
    person = fake.state.person(pid)
    assert person is not None
    assert task["items"] == [{"personnelId": pid, "status": "unlocked", "phone": person.phone}]
    status, _ = await call(http, "GET", f"/external/contacts/unlock-tasks/{submitted['task_id']}")
    assert status == 404
    assert fake.state.email_state(pid).status == "locked"


async def test_prices_are_configurable() -> None:
    async with FakeLensmor(prices=Prices(event_unlock=700, contact_phone=40)) as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession(fake.url, headers=headers) as http:
            status, body = await call(http, "POST", "/external/events/101/unlock")
            pid = roster(fake, "102")[0]
            await call(
                http,
                "POST",
                "/external/contacts/unlock-phone",
                json={"event_id": "102", "personnel_ids": [pid]},
            )
    assert (status, body["creditsUsed"]) == (201, 700)
    assert [e.amount for e in fake.truth.entries] == [700, 40]


# --------------------------------------------------------------------------- searches and jobs


async def test_every_search_call_is_charged_with_022_semantics_and_searches_are_repeatable(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.state.charge_empty_searches = True
    for _ in range(2):
        status, _ = await call(
            http,
            "POST",
            "/external/exhibitors/search-events",
            json={"company_name": "  Acme  Analytics"},
        )
        assert status == 201
    status, body = await call(
        http,
        "POST",
        "/external/exhibitors/search-by-company-name",
        json={"company_name": "Nothing Matches Zzz"},
    )
    assert (status, body["total"]) == (201, 0)
    intent = ("exhibitors.search_events", "acme analytics")
    assert fake.truth.charges_by_intent()[intent] == 2
    assert fake.truth.total_charged() == 150
    assert fake.truth.duplicate_intents() == {}
    assert fake.truth.duplicate_intents(include_repeatable=True) == {intent: 2}


async def test_empty_searches_are_free_by_default_as_in_024() -> None:
    async with FakeLensmor() as fake:
        headers = {"Authorization": f"Bearer {fake.api_key}"}
        async with aiohttp.ClientSession(fake.url, headers=headers) as http:
            await call(
                http, "POST", "/external/exhibitors/search-events", json={"company_name": "Zzz Qqq"}
            )
            await call(
                http, "POST", "/external/exhibitors/search-events", json={"company_name": "Acme"}
            )
    assert [e.intent for e in fake.truth.entries] == [("exhibitors.search_events", "acme")]


async def test_search_with_short_balance_is_402(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.set_balance(subscription=0, gift=49)
    status, body = await call(
        http, "POST", "/external/exhibitors/search-by-company-name", json={"company_name": "Acme"}
    )
    assert (status, body["errorKey"]) == (402, "INSUFFICIENT_CREDITS")
    assert fake.truth.entries == []


async def test_linkedin_activity_charges_new_people_only(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    a, b = roster(fake, UNLOCKED)[:2]
    url = "/external/personnel/unlock-linkedin-activity"
    status, first = await call(http, "POST", url, json={"personnel_ids": [a]})
    assert status == 201
    assert first["items"][0]["alreadyUnlocked"] is False
    status, second = await call(
        http, "POST", url, json={"personnel_ids": [a, b], "event_id": UNLOCKED}
    )
    assert status == 201
    by_id = {item["personnel_id"]: item for item in second["items"]}
    assert (by_id[a]["alreadyUnlocked"], by_id[a]["taskId"]) == (True, None)
    assert by_id[b]["alreadyUnlocked"] is False
    assert [e.amount for e in fake.truth.entries] == [10, 10]
    assert fake.truth.duplicate_intents() == {}


async def test_outreach_generation_is_free_as_in_027_and_charged_per_known_person_if_priced(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    a, b = roster(fake, UNLOCKED)[:2]
    payload = {"personnel_ids": [a, b, "999999999"], "channels": ["email"], "event_id": UNLOCKED}
    route = "/external/personnel/generate-outreach-message"
    status, body = await call(http, "POST", route, json=payload)
    assert status == 201
    assert [item["success"] for item in body["items"]] == [True, True, False]
    assert fake.truth.total_charged() == 0
    fake.state.prices = Prices(outreach_message=5)  # a plan that still charges
    await call(http, "POST", route, json=payload)
    assert fake.truth.total_charged() == 10
    assert {e.operation for e in fake.truth.entries} == {"personnel.generate_outreach"}


# --------------------------------------------------------------------------- precheck


async def test_precheck_query_personnel_reports_access(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    body = await precheck(http, "query_event_personnel", event_id=LOCKED_BIG)
    assert body == {
        "ok": True,
        "action_type": "query_event_personnel",
        "allowed": True,
        "should_charge": False,
        "credits": 0,
        "reason_code": "ok",
        "biz_code": "",
        "detail": {
            "event_id": LOCKED_BIG,
            "access_mode": "preview",
            "preview_limit": 50,
            "unlock_action_type": "unlock_event_contacts",
            "unlock_credits": 2000,
        },
    }
    full = await precheck(http, "query_event_personnel", event_id=UNLOCKED)
    assert (full["detail"]["access_mode"], full["detail"]["preview_limit"]) == ("full", None)


async def test_precheck_event_unlock_mirrors_the_route(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    ok = await precheck(http, "unlock_event_contacts", event_id=LOCKED_BIG)
    assert (ok["allowed"], ok["should_charge"], ok["credits"], ok["reason_code"]) == (
        True,
        True,
        2000,
        "ok",
    )
    assert ok["biz_code"] == "Event Unlock - API"
    assert ok["detail"]["chargeable_count"] == 237
    assert ok["detail"]["available_balance"] == 30050
    already = await precheck(http, "unlock_event_contacts", event_id=UNLOCKED)
    assert (already["allowed"], already["credits"], already["reason_code"]) == (
        False,
        0,
        "already_unlocked",
    )
    empty = await precheck(http, "unlock_event_contacts", event_id=EMPTY)
    assert (empty["reason_code"], empty["detail"]["chargeable_count"]) == (
        "no_contacts_available",
        0,
    )
    missing = await precheck(http, "unlock_event_contacts", event_id="424242")
    assert (missing["reason_code"], missing["detail"]["event_id"]) == ("not_found", "424242")
    assert (await precheck(http, "unlock_event_contacts"))["reason_code"] == "invalid_subject"
    fake.set_balance(subscription=10, gift=0)
    poor = await precheck(http, "unlock_event_contacts", event_id=LOCKED_BIG)
    assert (poor["allowed"], poor["should_charge"], poor["credits"]) == (False, True, 2000)
    assert poor["reason_code"] == "insufficient_balance"
    assert fake.truth.entries == []


async def test_precheck_contact_unlock_reports_counts_and_conflicts(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    a, b, c = roster(fake, LOCKED_BIG)[:3]
    ok = await precheck(http, "unlock_contact_emails", event_id=LOCKED_BIG, personnel_ids=[a, b, a])
    assert (ok["reason_code"], ok["credits"], ok["should_charge"]) == ("ok", 30, True)
    assert ok["detail"]["personnel_ids"] == [a, b]
    assert ok["detail"]["chargeable_count"] == 2
    fake.set_contact_status(a, "unlocked", value="x@example.com")
    fake.set_contact_status(b, "unlocking")
    already = await precheck(
        http, "unlock_contact_emails", event_id=LOCKED_BIG, personnel_ids=[a, c]
    )
    assert (already["allowed"], already["reason_code"]) == (False, "already_unlocked")
    assert already["detail"]["already_unlocked_count"] == 1
    assert already["detail"]["personnel_ids"] == [c]
    busy = await precheck(http, "unlock_contact_emails", event_id=LOCKED_BIG, personnel_ids=[b, c])
    assert (busy["reason_code"], busy["detail"]["unlocking_count"]) == ("unlock_in_progress", 1)


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        (
            {"event_id": "101", "personnel_ids": [str(700001 + n) for n in range(2001)]},
            "exceed_max_unlock_limit",
        ),
        ({"event_id": "101", "personnel_ids": ["700001", "999999"]}, "not_found"),
        ({"event_id": "102", "personnel_ids": ["700001"]}, "invalid_subject"),
        ({"event_id": "101"}, "invalid_subject"),
        ({"event_id": "999", "personnel_ids": ["700001"]}, "not_found"),
    ],
)
async def test_precheck_contact_unlock_refusal_reasons(
    http: aiohttp.ClientSession, params: dict[str, Any], reason: str
) -> None:
    body = await precheck(http, "unlock_contact_emails", **params)
    assert (body["allowed"], body["should_charge"], body["reason_code"]) == (False, False, reason)


async def test_precheck_contact_unlock_insufficient_balance(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.set_balance(subscription=0, gift=14)
    body = await precheck(http, "unlock_contact_emails", event_id="101", personnel_ids=["700001"])
    assert (body["reason_code"], body["credits"], body["detail"]["available_balance"]) == (
        "insufficient_balance",
        15,
        14,
    )


async def test_precheck_search_and_unsupported_actions(http: aiohttp.ClientSession) -> None:
    status, search = await call(
        http,
        "POST",
        "/external/actions/precheck",
        json={
            "action_type": "search_exhibitor_events",
            "params": {"company_name": "Shop-ify "},
            "call_source": "agent",
        },
    )
    assert status == 200
    assert (search["credits"], search["should_charge"]) == (50, True)
    assert search["biz_code"] == "Exhibitor Search - Agent"
    assert search["detail"]["company_name"] == "shop ify"
    odd = await precheck(http, "teleport_event")
    assert (odd["allowed"], odd["should_charge"], odd["reason_code"]) == (
        False,
        False,
        "unsupported_action",
    )


@pytest.mark.parametrize(
    "payload", [{"params": {}}, {"action_type": "others"}, {"action_type": 5, "params": {}}]
)
async def test_precheck_with_invalid_body_is_400(
    http: aiohttp.ClientSession, payload: dict[str, Any]
) -> None:
    status, body = await call(http, "POST", "/external/actions/precheck", json=payload)
    assert (status, body["errorKey"]) == (400, "INVALID_REQUEST")


# --------------------------------------------------------------------------- truth ledger


# route, operation, amount, intent, trace id, task id: two charges of one event unlock,
# a contact charge refunded by its task, two charges of one search.
_ENTRIES: tuple[tuple[str, str, int, tuple[str, ...], str | None, str | None], ...] = (
    ("/r", "events.unlock", 2000, ("events.unlock", "1"), "t1", None),
    ("/r", "events.unlock", 2000, ("events.unlock", "1"), "t2", None),
    ("/c", "contacts.unlock", 15, ("contacts.unlock", "1", "7"), "t3", "9"),
    ("/c", "contacts.unlock", -15, ("contacts.unlock", "1", "7"), None, "9"),
    ("/s", "exhibitors.search_events", 50, ("exhibitors.search_events", "a"), "t4", None),
    ("/s", "exhibitors.search_events", 50, ("exhibitors.search_events", "a"), "t5", None),
)


def _ledger() -> TruthLedger:
    ledger = TruthLedger()
    for route, operation, amount, intent, trace_id, task_id in _ENTRIES:
        ledger.record(
            route=route,
            operation=operation,
            amount=amount,
            intent=intent,
            trace_id=trace_id,
            task_id=task_id,
        )
    return ledger


def test_truth_ledger_totals_and_net() -> None:
    ledger = _ledger()
    assert ledger.total_charged() == 4115
    assert ledger.total_refunded() == 15
    assert ledger.net() == 4100
    assert [e.seq for e in ledger.entries] == [1, 2, 3, 4, 5, 6]
    assert len(ledger) == 6


def test_truth_ledger_counts_charges_per_intent() -> None:
    assert _ledger().charges_by_intent() == {
        ("events.unlock", "1"): 2,
        ("contacts.unlock", "1", "7"): 1,
        ("exhibitors.search_events", "a"): 2,
    }


def test_truth_ledger_duplicates_exclude_refunded_and_repeatable_intents() -> None:
    ledger = _ledger()
    assert ledger.duplicate_intents() == {("events.unlock", "1"): 2}
    assert ledger.duplicate_intents(include_repeatable=True) == {
        ("events.unlock", "1"): 2,
        ("exhibitors.search_events", "a"): 2,
    }


def test_truth_ledger_filters_by_operation_intent_and_task() -> None:
    ledger = _ledger()
    assert [e.trace_id for e in ledger.for_operation("events.unlock")] == ["t1", "t2"]
    assert [e.amount for e in ledger.for_intent(["contacts.unlock", "1", "7"])] == [15, -15]
    assert [e.is_refund for e in ledger.for_task("9")] == [False, True]
    ledger.clear()
    assert ledger.entries == []
