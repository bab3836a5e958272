"""FakeLensmor's wire contract: every route's shape, status, validation, auth and headers."""

from __future__ import annotations

import math
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anyio
import pytest

from lensmor_async.testing import FakeLensmor, FakeServerError, trace_id_for

pytestmark = pytest.mark.anyio

SEED = 5
LOCKED_BIG = "101"  # 237 personnel, 24 exhibitors, locked
UNLOCKED = "102"
SMALL_LOCKED = "103"  # 30 personnel
EMPTY = "104"

EVENT_ITEM_KEYS = {
    "id", "eventId", "name", "nickname", "description", "url", "dateStart", "dateEnd", "venue",
    "city", "region", "country", "exhibitorCount", "image", "dataSource",
    "hasVisitors", "sponsorMatchStarred",  # 0.24.2+
}  # fmt: skip
EVENT_DETAIL_KEYS = EVENT_ITEM_KEYS | {
    "latitude", "longitude", "attendeeCount", "declaredExpectedAttendees",
    "estimatedExpectedAttendees", "priceLower", "priceUpper", "eventType", "categories",
    "topics", "topicsCount", "verified", "future", "historic", "historicEvent",
    "personnelCount", "eventTypes",
}  # fmt: skip
EXHIBITOR_KEYS = {
    "id", "companyName", "domain", "description", "website", "industry", "employeeCount",
    "country", "logo", "dataSource", "linkedinUrl", "fundingRound", "matched_event_ids",
    "isRecommended", "recommendationRank", "matchStatus", "matchScore", "matchTier", "matchReason",
    "categories", "techStacks", "buyingSignalTags", "buyingSignalStatus", "buyingSignals",
}  # fmt: skip
CONTACT_KEYS = {
    "id", "fullName", "title", "department", "seniorityLevel", "linkedinUrl", "companyName",
    "sourceType", "email", "contactUnlockStatus", "linkedinActivity", "linkedinActivityStatus",
}  # fmt: skip
PAGE_KEYS = {"items", "total", "page", "pageSize", "totalPages", "hasMore"}
ERROR_KEYS = {"code", "message", "errorKey", "traceId"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(seed=SEED, task_step_seconds=0.01) as server:
        yield server


class Answer:
    """Status, headers and decoded JSON body of one response."""

    def __init__(self, status: int, headers: Any, body: Any) -> None:
        self.status, self.headers, self.body = status, headers, body


async def call(http: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> Answer:
    async with http.request(method, path, **kwargs) as response:
        return Answer(response.status, response.headers, await response.json(content_type=None))


async def get(http: aiohttp.ClientSession, path: str, **params: str) -> Answer:
    return await call(http, "GET", path, params=params)


async def post(http: aiohttp.ClientSession, path: str, body: Any) -> Answer:
    return await call(http, "POST", path, json=body)


def assert_error(answer: Answer, status: int, key: str) -> None:
    assert answer.status == status
    assert set(answer.body) == ERROR_KEYS
    assert (answer.body["code"], answer.body["errorKey"]) == (status, key)
    assert answer.headers["X-Request-ID"] == answer.body["traceId"]


def assert_page(body: Any, *, total: int, page: int, page_size: int) -> None:
    assert set(body) >= PAGE_KEYS
    assert (body["total"], body["page"], body["pageSize"]) == (total, page, page_size)
    pages = math.ceil(total / page_size) if total else 0
    assert body["totalPages"] == pages
    assert body["hasMore"] is (page < pages)


# --------------------------------------------------------------------------- auth, headers


async def test_balance_has_every_documented_field(http: aiohttp.ClientSession) -> None:
    answer = await get(http, "/external/credits/balance")
    assert answer.status == 200
    assert answer.body == {
        "totalAmount": 35050,
        "totalBalance": 30050,
        "subscriptionAmount": 35000,
        "subscriptionBalance": 30000,
        "giftAmount": 50,
        "giftBalance": 50,
        "resetAt": 1_790_000_000_000,
    }


@pytest.mark.parametrize("authorization", [None, "Bearer uak_wrong", "Token abc", "Bearer"])
async def test_missing_or_wrong_key_is_401(fake: FakeLensmor, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with aiohttp.ClientSession(fake.url, headers=headers) as session:
        answer = await get(session, "/external/credits/balance")
    assert_error(answer, 401, "INVALID_API_KEY")
    assert answer.body["message"] == "Invalid API key"
    assert "X-RateLimit-Limit" not in answer.headers


async def test_bearer_word_is_case_insensitive(fake: FakeLensmor) -> None:
    async with aiohttp.ClientSession(
        fake.url, headers={"Authorization": f"bEaReR   {fake.api_key}"}
    ) as s:
        assert (await get(s, "/external/credits/balance")).status == 200


async def test_default_key_is_a_deterministic_uak_test_key() -> None:
    assert FakeLensmor(seed=1).api_key.startswith("uak_test_")
    assert FakeLensmor(seed=1).api_key == FakeLensmor(seed=1).api_key
    assert FakeLensmor(seed=1).api_key != FakeLensmor(seed=2).api_key


async def test_sk_keys_are_accepted_when_configured() -> None:
    async with FakeLensmor(api_key="sk_live_business", extra_api_keys=["uak_second"]) as fake:
        for key in ("sk_live_business", "uak_second"):
            async with aiohttp.ClientSession(
                fake.url, headers={"Authorization": f"Bearer {key}"}
            ) as s:
                assert (await get(s, "/external/credits/balance")).status == 200


async def test_recorded_requests_never_keep_the_authorization_value(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    await call(
        http,
        "POST",
        "/external/events/101/unlock",
        params=[("a", "1"), ("a", "2")],
        headers={"x-call-source": "agent"},
    )
    (record,) = fake.requests
    assert (record.method, record.path, record.route) == (
        "POST",
        "/external/events/101/unlock",
        "/external/events/{id}/unlock",
    )
    assert record.query == [("a", "1"), ("a", "2")]
    assert record.headers["x-call-source"] == "agent"
    assert (record.authorization_present, record.authorization_valid, record.status) == (
        True,
        True,
        201,
    )
    assert fake.api_key not in repr(record)
    assert "authorization" not in record.headers


async def test_recorded_requests_can_be_counted_and_reset(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    await post(http, "/external/events/fit-score", {"event_id": "101"})
    await get(http, "/external/events/101")
    await get(http, "/external/events/102")
    assert fake.request_count() == 3
    assert fake.request_count("/external/events/{id}") == 2
    assert fake.request_count("/external/events/fit-score", method="post") == 1
    assert fake.requests[0].json == {"event_id": "101"}
    fake.reset_requests()
    assert fake.request_count() == 0


async def test_allowed_responses_carry_rate_limit_headers(http: aiohttp.ClientSession) -> None:
    first = await get(http, "/external/events/list")
    second = await get(http, "/external/events/999999")
    assert first.headers["X-RateLimit-Limit"] == "100000"
    assert (
        int(first.headers["X-RateLimit-Remaining"])
        == int(second.headers["X-RateLimit-Remaining"]) + 1
    )
    assert int(first.headers["X-RateLimit-Reset"]) > 1_700_000_000
    assert "X-RateLimit-Remaining" in second.headers


async def test_exceeding_the_rate_limit_is_429_with_retry_after() -> None:
    fake = FakeLensmor(rate_limit=2)
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    async with fake, aiohttp.ClientSession(headers=headers) as s:
        answers = [await get(s, f"{fake.url}/external/credits/balance") for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[1].headers["X-RateLimit-Remaining"] == "0"
    assert_error(answers[2], 429, "RATE_LIMIT_EXCEEDED")
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


async def test_trace_ids_follow_seed_and_request_number(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    answer = await get(http, "/external/events/nope-id")
    assert_error(answer, 404, "EVENT_NOT_FOUND")
    assert answer.body["traceId"] == trace_id_for(SEED, 1)
    ok = await get(http, "/external/credits/balance")
    assert ok.headers["X-Request-ID"] == trace_id_for(SEED, 2)


async def test_unknown_route_is_404_envelope(http: aiohttp.ClientSession) -> None:
    assert_error(await get(http, "/external/nothing/here"), 404, "NOT_FOUND")


async def test_url_is_refused_before_start() -> None:
    with pytest.raises(FakeServerError):
        _ = FakeLensmor().url


async def test_server_can_be_restarted_and_app_is_built_once() -> None:
    fake = FakeLensmor()
    assert fake.app() is fake.app()
    for _ in range(2):
        async with (
            fake,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {fake.api_key}"}) as s,
        ):
            assert fake.url.startswith("http://127.0.0.1:")
            assert (await get(s, f"{fake.url}/external/credits/balance")).status == 200
    with pytest.raises(FakeServerError):
        _ = fake.url


# --------------------------------------------------------------------------- events


async def test_events_list_is_a_page_of_event_items(http: aiohttp.ClientSession) -> None:
    answer = await get(http, "/external/events/list")
    assert answer.status == 200
    assert_page(answer.body, total=9, page=1, page_size=20)
    assert all(set(item) == EVENT_ITEM_KEYS for item in answer.body["items"])
    assert all(
        isinstance(item["id"], str) and item["id"].isdigit() for item in answer.body["items"]
    )


async def test_events_list_filters_and_pages(http: aiohttp.ClientSession) -> None:
    usa = await get(http, "/external/events/list", country="united states", pageSize="2", page="2")
    assert_page(usa.body, total=4, page=2, page_size=2)
    window = await get(
        http, "/external/events/list", date_start_from="2026-04-01", date_start_to="2026-06-30"
    )
    assert {i["id"] for i in window.body["items"]} == {"105", "103", "104"}
    typed = await call(
        http, "GET", "/external/events/list", params=[("event_type", "vendor_summit,trade_show")]
    )
    assert {i["id"] for i in typed.body["items"]} == {"101", "102", "105", "108", "109"}
    assert (await get(http, "/external/events/list", keyword="shoptalk")).body["total"] == 1


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/external/events/list", {"page": "0"}),
        ("/external/events/list", {"pageSize": "101"}),
        ("/external/events/list", {"pageSize": "ten"}),
        ("/external/events/list", {"date_start_from": "2026-13-01"}),
        ("/external/events/list", {"keyword": "k" * 201}),
        ("/external/personnel/list", {"event_id": "101", "pageSize": "51"}),
        ("/external/personnel/list", {}),
        ("/external/exhibitors/list", {"event_id": "x" * 101}),
        ("/external/events/brief", {}),
        ("/external/exhibitors/profile", {"exhibitor_id": "abc"}),
        ("/external/personnel/profile", {"personnel_id": "123456789012345678901"}),
        ("/external/contacts/search", {}),
        ("/external/personnel/outreach", {"personnel_id": "700001", "event_id": "x1"}),
        ("/external/personnel/events/by-linkedin", {"linkedin_url": "https://example.com/in/x"}),
    ],
)
async def test_invalid_query_parameters_are_400(
    http: aiohttp.ClientSession, path: str, params: dict[str, str]
) -> None:
    assert_error(await get(http, path, **params), 400, "INVALID_REQUEST")


async def test_event_detail_by_id_or_event_id(http: aiohttp.ClientSession) -> None:
    by_id = await get(http, "/external/events/101")
    by_alias = await get(http, "/external/events/139574")
    assert by_id.status == by_alias.status == 200
    assert by_id.body == by_alias.body
    assert set(by_id.body["event"]) == EVENT_DETAIL_KEYS
    assert by_id.body["event"]["personnelCount"] == 237
    empty = (await get(http, f"/external/events/{EMPTY}")).body["event"]
    assert (empty["personnelCount"], empty["attendeeCount"]) == (None, None)
    assert_error(await get(http, "/external/events/55555"), 404, "EVENT_NOT_FOUND")


async def test_event_brief_summarises_counts(http: aiohttp.ClientSession) -> None:
    answer = await get(http, "/external/events/brief", event_id="101")
    assert answer.status == 200
    assert set(answer.body["event"]) == EVENT_ITEM_KEYS
    assert answer.body["summary"] == {
        "attendeeCount": 10000,
        "exhibitorCount": 24,
        "personnelCount": 237,
        "topCategories": [],
        "dataFreshness": "database_snapshot",
    }


async def test_fit_score_is_201_and_consistent_with_rank(http: aiohttp.ClientSession) -> None:
    fit = await post(http, "/external/events/fit-score", {"event_id": "101"})
    assert fit.status == 201
    assert set(fit.body) == {"event", "score", "recommendation", "breakdown"}
    assert set(fit.body["breakdown"]) == {
        "profile_match",
        "matched_exhibitor_density",
        "event_scale",
    }
    assert 0 <= fit.body["score"] <= 10
    expected = (
        "recommended"
        if fit.body["score"] >= 7
        else "consider"
        if fit.body["score"] >= 4
        else "not_recommended"
    )
    assert fit.body["recommendation"] == expected
    ranked = await post(http, "/external/events/rank", {"event_ids": ["102", "101", "103"]})
    assert ranked.status == 201
    items = ranked.body["items"]
    assert [i["rank"] for i in items] == [1, 2, 3]
    assert [i["match_score"] for i in items] == sorted(
        (i["match_score"] for i in items), reverse=True
    )
    assert next(i for i in items if i["event_id"] == "101")["match_score"] == fit.body["score"]
    assert all(set(i) == {"event_id", "name", "rank", "match_score", "reasons"} for i in items)


@pytest.mark.parametrize(
    ("path", "body", "status", "key"),
    [
        ("/external/events/rank", {"event_ids": []}, 400, "INVALID_REQUEST"),
        ("/external/events/rank", {"event_ids": ["101", "777"]}, 404, "EVENT_NOT_FOUND"),
        ("/external/events/fit-score", {}, 400, "INVALID_REQUEST"),
        ("/external/events/fit-score", {"event_id": "777"}, 404, "EVENT_NOT_FOUND"),
        ("/external/exhibitors/search", {}, 400, "INVALID_REQUEST"),
        ("/external/exhibitors/search", {"company_url": "ftp://x.com"}, 400, "INVALID_REQUEST"),
        (
            "/external/exhibitors/search-by-company-name",
            {"company_name": "  "},
            400,
            "INVALID_REQUEST",
        ),
        ("/external/exhibitors/search-events", {"company_name": "x" * 201}, 400, "INVALID_REQUEST"),
        (
            "/external/exhibitors/search-events",
            {"company_name": "Acme", "attendance_scope": None},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/exhibitors/search-events",
            {"company_name": "Acme", "pageSize": 0},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/personnel/unlock-linkedin-activity",
            {"personnel_ids": ["1"] * 2001},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/personnel/unlock-linkedin-activity",
            {"personnel_ids": ["999999999"]},
            404,
            "NOT_FOUND",
        ),
        (
            "/external/personnel/generate-outreach-message",
            {"personnel_ids": ["700001"]},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/personnel/generate-outreach-message",
            {"personnel_ids": ["700001"], "channels": ["fax"]},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/profile-matching/actions/apply-recommended-events/paged",
            {},
            400,
            "INVALID_REQUEST",
        ),
        (
            "/external/profile-matching/actions/apply-recommended-events/paged",
            {"target_audience": "x", "timeout_ms": 5},
            400,
            "INVALID_REQUEST",
        ),
    ],
)
async def test_invalid_bodies_are_refused(
    fake: FakeLensmor, http: aiohttp.ClientSession, path: str, body: Any, status: int, key: str
) -> None:
    assert_error(await post(http, path, body), status, key)
    assert fake.truth.entries == []


async def test_non_object_json_body_is_400(http: aiohttp.ClientSession) -> None:
    answer = await call(http, "POST", "/external/events/fit-score", data=b"[1,2]")
    assert_error(answer, 400, "INVALID_REQUEST")
    answer = await call(http, "POST", "/external/events/fit-score", data=b"{oops")
    assert_error(answer, 400, "INVALID_REQUEST")


# --------------------------------------------------------------------------- preview semantics


async def test_locked_personnel_list_shows_preview_page_with_true_totals(
    http: aiohttp.ClientSession,
) -> None:
    answer = await get(http, "/external/personnel/list", event_id=LOCKED_BIG, pageSize="20")
    assert answer.status == 200
    body = answer.body
    assert (body["total"], body["totalPages"], body["hasMore"], len(body["items"])) == (
        237,
        12,
        True,
        20,
    )
    assert body["semantics"] == {
        "accessMode": "preview",
        "previewLimit": 50,
        "counts": {"actualTotal": 237, "visibleTotal": 50, "remainingLockedCount": 187},
        "pageState": {"requestedPage": 1, "accessible": True, "maxAccessiblePage": 3},
        "unlock": {
            "requiredForMoreResults": True,
            "actionType": "unlock_event_contacts",
            "credits": 2000,
        },
        "guidance": {
            "code": "preview_results_truncated",
            "message": body["semantics"]["guidance"]["message"],
        },
    }
    assert all(set(item) == CONTACT_KEYS for item in body["items"])
    assert all(
        item["email"] is None and item["contactUnlockStatus"] == "locked" for item in body["items"]
    )


async def test_last_accessible_preview_page_stops_at_the_preview_limit(
    http: aiohttp.ClientSession,
) -> None:
    body = (
        await get(http, "/external/personnel/list", event_id=LOCKED_BIG, pageSize="20", page="3")
    ).body
    assert len(body["items"]) == 10
    assert body["semantics"]["pageState"]["accessible"] is True
    default = (await get(http, "/external/personnel/list", event_id=LOCKED_BIG)).body
    assert (default["pageSize"], len(default["items"]), default["totalPages"]) == (50, 50, 5)
    assert default["semantics"]["pageState"]["maxAccessiblePage"] == 1


async def test_page_beyond_preview_window_is_empty_and_inaccessible(
    http: aiohttp.ClientSession,
) -> None:
    body = (
        await get(http, "/external/personnel/list", event_id=LOCKED_BIG, pageSize="20", page="4")
    ).body
    assert (body["items"], body["total"], body["totalPages"], body["hasMore"]) == ([], 0, 0, False)
    assert body["semantics"]["pageState"] == {
        "requestedPage": 4,
        "accessible": False,
        "maxAccessiblePage": 3,
    }
    assert body["semantics"]["counts"]["actualTotal"] == 237
    assert body["semantics"]["guidance"]["code"] == "preview_page_inaccessible"


async def test_unlocked_event_lists_in_full_mode(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    fake.unlock_event(LOCKED_BIG)
    body = (await get(http, "/external/personnel/list", event_id=LOCKED_BIG, page="5")).body
    assert_page(body, total=237, page=5, page_size=50)
    assert len(body["items"]) == 37
    semantics = body["semantics"]
    assert (semantics["accessMode"], semantics["previewLimit"], semantics["guidance"]["code"]) == (
        "full",
        None,
        "full_access",
    )
    assert semantics["counts"] == {
        "actualTotal": 237,
        "visibleTotal": 237,
        "remainingLockedCount": 0,
    }
    assert semantics["unlock"] == {
        "requiredForMoreResults": False,
        "actionType": None,
        "credits": None,
    }
    fake.lock_event(LOCKED_BIG)
    relocked = (await get(http, "/external/personnel/list", event_id=LOCKED_BIG)).body
    assert relocked["semantics"]["accessMode"] == "preview"


async def test_small_locked_event_is_complete_in_preview(http: aiohttp.ClientSession) -> None:
    body = (await get(http, "/external/personnel/list", event_id=SMALL_LOCKED)).body
    assert (body["total"], len(body["items"])) == (30, 30)
    assert body["semantics"]["guidance"]["code"] == "preview_complete_for_query"
    assert body["semantics"]["unlock"]["requiredForMoreResults"] is False


async def test_personnel_filters_apply_before_gating(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    people = [p for p in (fake.state.person(i) for i in fake.state.rosters[LOCKED_BIG]) if p]
    marketing = [p for p in people if p.department == "marketing"]
    body = (
        await get(http, "/external/personnel/list", event_id=LOCKED_BIG, department="MARKETING")
    ).body
    assert body["semantics"]["counts"]["actualTotal"] == len(marketing)
    assert {i["department"] for i in body["items"]} == {"marketing"}
    none = (
        await get(http, "/external/personnel/list", event_id=LOCKED_BIG, search_query="zzzz")
    ).body
    assert (none["total"], none["semantics"]["guidance"]["code"]) == (0, "no_matching_results")
    exhibitor_id = next(p.exhibitor_id for p in people if p.exhibitor_id)
    scoped = (
        await get(http, "/external/personnel/list", event_id=UNLOCKED, exhibitor_id=exhibitor_id)
    ).body
    assert all(fake.state.person(i["id"]).exhibitor_id == exhibitor_id for i in scoped["items"])  # type: ignore[union-attr]


async def test_exhibitor_list_uses_the_same_preview_rules(http: aiohttp.ClientSession) -> None:
    body = (
        await get(http, "/external/exhibitors/list", event_id=LOCKED_BIG, pageSize="10", page="2")
    ).body
    assert_page(body, total=24, page=2, page_size=10)
    assert body["semantics"]["unlock"]["actionType"] == "unlock_event_exhibitors"
    assert body["semantics"]["guidance"]["code"] == "preview_complete_for_query"
    assert (body["recommendationProcessing"], body["recommendationProcessingFeature"]) == (
        False,
        "none",
    )
    assert all(set(i) == EXHIBITOR_KEYS for i in body["items"])
    assert all(i["matched_event_ids"] == [LOCKED_BIG] for i in body["items"])
    beyond = (
        await get(http, "/external/exhibitors/list", event_id=LOCKED_BIG, pageSize="10", page="6")
    ).body
    assert (beyond["items"], beyond["total"], beyond["semantics"]["pageState"]["accessible"]) == (
        [],
        0,
        False,
    )


async def test_exhibitor_list_can_embed_personnel_samples(http: aiohttp.ClientSession) -> None:
    body = (
        await get(http, "/external/exhibitors/list", event_id=UNLOCKED, personnelLimit="2")
    ).body
    samples = [item["personnel"] for item in body["items"]]
    assert any(samples)
    assert all(len(s) <= 2 for s in samples)
    assert_error(
        await get(http, "/external/exhibitors/list", event_id="4040"), 404, "EVENT_NOT_FOUND"
    )


async def test_emails_show_only_for_contacts_this_caller_unlocked(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    first, second = list(fake.state.rosters[UNLOCKED])[:2]
    fake.set_contact_status(first, "unlocked", value="ana@example.com")
    items = (await get(http, "/external/personnel/list", event_id=UNLOCKED, pageSize="2")).body[
        "items"
    ]
    assert [(i["email"], i["contactUnlockStatus"]) for i in items] == [
        ("ana@example.com", "unlocked"),
        (None, "locked"),
    ]
    profile = (await get(http, "/external/personnel/profile", personnel_id=second)).body
    assert (profile["email"], profile["contactUnlockStatus"]) == (None, "locked")


# --------------------------------------------------------------------------- exhibitors


async def test_contextual_exhibitor_search_is_free_and_201(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    by_url = await post(
        http, "/external/exhibitors/search", {"company_url": "https://www.acmeanalytics.com/about"}
    )
    assert by_url.status == 201
    assert [i["companyName"] for i in by_url.body["items"]] == ["Acme Analytics"]
    by_audience = await post(
        http, "/external/exhibitors/search", {"target_audience": "logistics", "pageSize": 3}
    )
    assert_page(by_audience.body, total=by_audience.body["total"], page=1, page_size=3)
    assert by_audience.body["total"] >= 5
    assert fake.truth.entries == []


async def test_company_name_search_is_precision_first(http: aiohttp.ClientSession) -> None:
    answer = await post(
        http, "/external/exhibitors/search-by-company-name", {"company_name": "acme"}
    )
    assert answer.status == 201
    assert {i["companyName"] for i in answer.body["items"]} == {"Acme Analytics", "Acme Logistics"}
    assert all(
        set(i) == EXHIBITOR_KEYS and i["buyingSignalStatus"] is None for i in answer.body["items"]
    )
    narrow = await post(
        http, "/external/exhibitors/search-by-company-name", {"company_name": "Acme Anal"}
    )
    assert [i["companyName"] for i in narrow.body["items"]] == ["Acme Analytics"]
    short = await post(http, "/external/exhibitors/search-by-company-name", {"company_name": "Ac"})
    assert short.body["total"] == 0


async def test_search_events_lists_events_with_matched_exhibitors(
    http: aiohttp.ClientSession,
) -> None:
    answer = await post(
        http, "/external/exhibitors/search-events", {"company_name": "Acme Logistics"}
    )
    assert answer.status == 201
    items = answer.body["items"]
    assert {"101", "102", "105"} <= {i["id"] for i in items}
    assert all(set(i) == EVENT_ITEM_KEYS | {"matchedExhibitors"} for i in items)
    assert all(
        i["matchedExhibitors"] == [{"id": "5002", "companyName": "Acme Logistics"}] for i in items
    )
    starts = [i["dateStart"] for i in items]
    assert starts == sorted(starts, reverse=True)


async def test_exhibitor_profile_and_events(http: aiohttp.ClientSession) -> None:
    profile = await get(http, "/external/exhibitors/profile", exhibitor_id="5001")
    assert profile.status == 200
    assert set(profile.body) == EXHIBITOR_KEYS | {"events"}
    assert {e["id"] for e in profile.body["events"]} >= {"101", "102", "105"}
    assert all(set(e) == {"id", "eventId", "name"} for e in profile.body["events"])
    events = await get(http, "/external/exhibitors/events", exhibitor_id="5001", pageSize="2")
    assert_page(events.body, total=len(profile.body["events"]), page=1, page_size=2)
    assert_error(
        await get(http, "/external/exhibitors/profile", exhibitor_id="1"), 404, "NOT_FOUND"
    )
    assert_error(await get(http, "/external/exhibitors/events", exhibitor_id="1"), 404, "NOT_FOUND")


# --------------------------------------------------------------------------- personnel


async def test_personnel_profile_and_events(fake: FakeLensmor, http: aiohttp.ClientSession) -> None:
    shared = next(iter(fake.state.rosters[UNLOCKED]))  # also attends 105 and 108
    profile = await get(http, "/external/personnel/profile", personnel_id=shared)
    assert profile.status == 200
    assert set(profile.body) == CONTACT_KEYS
    assert profile.body["linkedinActivity"] is None
    events = await get(http, "/external/personnel/events", personnel_id=shared)
    assert {e["id"] for e in events.body["items"]} == {"102", "105", "108"}
    assert_error(
        await get(http, "/external/personnel/profile", personnel_id="123"), 404, "NOT_FOUND"
    )
    assert_error(
        await get(http, "/external/personnel/events", personnel_id="123"), 404, "NOT_FOUND"
    )


async def test_events_by_linkedin_url_normalises_the_url(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    person = fake.state.person(next(iter(fake.state.rosters[UNLOCKED])))
    assert person is not None
    assert person.linkedin_url is not None
    messy = person.linkedin_url.replace("https://", "http://www.").upper() + "/?trk=x#top"
    answer = await get(http, "/external/personnel/events/by-linkedin", linkedin_url=messy)
    assert answer.status == 200
    assert answer.body["personnel"]["id"] == person.id
    assert_page(answer.body["events"], total=3, page=1, page_size=20)
    unknown = await get(
        http,
        "/external/personnel/events/by-linkedin",
        linkedin_url="https://linkedin.com/in/nobody-1",
    )
    assert_error(unknown, 404, "NOT_FOUND")


async def test_contact_search_scopes_by_company_role_and_name(http: aiohttp.ClientSession) -> None:
    everyone = await get(
        http, "/external/contacts/search", company_name="Acme Analytics", pageSize="100"
    )
    assert everyone.status == 200
    items = everyone.body["items"]
    assert items
    assert {i["companyName"] for i in items} == {"Acme Analytics"}
    assert all(set(i) == CONTACT_KEYS and i["linkedinActivity"] is None for i in items)
    role = items[0]["title"]
    by_role = await get(
        http, "/external/contacts/search", company_name="Acme Analytics", role=role.lower()
    )
    assert {i["title"] for i in by_role.body["items"]} == {role}
    nobody = await get(
        http, "/external/contacts/search", company_name="Acme Analytics", person_name="Zed Q"
    )
    assert nobody.body["total"] == 0


async def test_linkedin_activity_becomes_ready_on_the_list(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    pid = next(iter(fake.state.rosters[UNLOCKED]))
    answer = await post(
        http, "/external/personnel/unlock-linkedin-activity", {"personnel_ids": [pid]}
    )
    assert answer.status == 201
    (item,) = answer.body["items"]
    assert set(item) == {"personnel_id", "success", "alreadyUnlocked", "taskId", "error"}
    listed = (await get(http, "/external/personnel/list", event_id=UNLOCKED, pageSize="1")).body[
        "items"
    ][0]
    assert listed["linkedinActivityStatus"] in ("processing", "ready")
    fake.complete_tasks()
    listed = (await get(http, "/external/personnel/list", event_id=UNLOCKED, pageSize="1")).body[
        "items"
    ][0]
    assert listed["linkedinActivityStatus"] == "ready"
    assert set(listed["linkedinActivity"]) == {"activityLevel", "isActive", "latestPostAt"}


async def test_outreach_is_not_found_until_generated(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    pid = next(iter(fake.state.rosters[UNLOCKED]))
    before = await get(http, "/external/personnel/outreach", personnel_id=pid, event_id=UNLOCKED)
    assert before.status == 200
    assert (before.body["found"], before.body["channels"]) == (False, [])
    generated = await post(
        http,
        "/external/personnel/generate-outreach-message",
        {"personnel_ids": [pid], "channels": ["email", "linkedin_message"], "event_id": UNLOCKED},
    )
    assert generated.status == 201
    assert generated.body["items"][0]["taskId"].isdigit()
    fake.complete_tasks()
    after = (
        await get(http, "/external/personnel/outreach", personnel_id=pid, event_id=UNLOCKED)
    ).body
    assert (after["found"], after["status"]) == (True, "ready")
    assert after["messages"]["email"]
    assert after["messages"]["linkedin_message"]
    assert {
        "found",
        "channels",
        "messages",
        "reason",
        "sources",
        "outreach_purpose",
        "tone",
    } <= set(after)


async def test_outreach_requires_the_internal_event_id(http: aiohttp.ClientSession) -> None:
    answer = await post(
        http,
        "/external/personnel/generate-outreach-message",
        {"personnel_ids": ["700001"], "channels": ["email"], "event_id": "139574"},
    )
    assert_error(answer, 400, "INVALID_REQUEST")


# --------------------------------------------------------------------------- profile matching


@pytest.mark.parametrize(
    "path",
    [
        "/external/profile-matching/actions/apply-recommended-events/paged",
        "/external/profile-matching/recommendations/events/paged",
    ],
)
async def test_recommended_events_are_ranked_event_details(
    http: aiohttp.ClientSession, path: str
) -> None:
    answer = await post(http, path, {"target_audience": "retail buyers", "pageSize": 5})
    assert answer.status == 201
    body = answer.body
    assert_page(body, total=9, page=1, page_size=5)
    assert (body["status"], body["is_stale"], body["profile_version"]) == ("completed", False, 1)
    first = body["items"][0]
    assert EVENT_DETAIL_KEYS | {
        "matched_exhibitor_count",
        "matched_personnel_count",
        "match_score",
        "unlocked",
        "rank",
    } <= set(first)
    assert [i["rank"] for i in body["items"]] == [1, 2, 3, 4, 5]
    assert all(0 <= i["match_score"] <= 1 for i in body["items"])


async def test_recommended_events_with_no_match_is_completed_empty(
    http: aiohttp.ClientSession,
) -> None:
    answer = await post(
        http,
        "/external/profile-matching/actions/apply-recommended-events/paged",
        {"company_url": "https://acme.example", "country": "Atlantis"},
    )
    assert answer.status == 201
    assert (answer.body["status"], answer.body["total"], answer.body["failed_filters"]) == (
        "completed_empty",
        0,
        ["country"],
    )


async def test_recommended_exhibitors_for_an_event(http: aiohttp.ClientSession) -> None:
    answer = await get(
        http, "/external/profile-matching/recommendations/exhibitors", event_id="101", pageSize="5"
    )
    assert answer.status == 200
    assert_page(answer.body, total=24, page=1, page_size=5)
    assert answer.body["recommendationProcessing"] is False
    scores = [i["matchScore"] for i in answer.body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert {"reason", "companySize", "matchTier", "recommendationRank"} <= set(
        answer.body["items"][0]
    )
    missing = await get(http, "/external/profile-matching/recommendations/exhibitors", event_id="9")
    assert_error(missing, 404, "EVENT_NOT_FOUND")


# --------------------------------------------------------------------------- data helpers


async def test_generated_personnel_stream_in_order_without_storage(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    event = fake.add_event("Bulk Expo", unlocked=True)
    ids = fake.add_personnel(event.id, 5000)
    assert len(ids) == 5000
    assert len(fake.state.persons) < 1000  # generated people are not stored
    last = (await get(http, "/external/personnel/list", event_id=event.id, page="100")).body
    assert [i["id"] for i in last["items"]] == [str(n) for n in ids[-50:]]
    assert last["hasMore"] is False
    profile = await get(http, "/external/personnel/profile", personnel_id=str(ids[1234]))
    assert profile.body["id"] == str(ids[1234])


async def test_data_is_deterministic_per_seed() -> None:
    first, again, other = FakeLensmor(seed=11), FakeLensmor(seed=11), FakeLensmor(seed=12)
    names = [first.state.person(p) for p in list(first.state.rosters[LOCKED_BIG])[:5]]
    assert names == [again.state.person(p) for p in list(again.state.rosters[LOCKED_BIG])[:5]]
    assert names != [other.state.person(p) for p in list(other.state.rosters[LOCKED_BIG])[:5]]
    assert len(first.state.events) >= 8
    assert len(first.state.exhibitors) >= 40
    assert sum(len(r) for r in first.state.rosters.values()) >= 600


async def test_added_people_and_events_are_served(
    fake: FakeLensmor, http: aiohttp.ClientSession
) -> None:
    person = fake.add_person(UNLOCKED, full_name="Grace Hopper", title="Rear Admiral")
    detail = (await get(http, "/external/personnel/profile", personnel_id=person.id)).body
    assert (detail["fullName"], detail["title"]) == ("Grace Hopper", "Rear Admiral")
    assert detail["linkedinUrl"].endswith(f"grace-hopper-{person.id}")
    event = fake.add_event("Pop-up Summit", city="Lisbon", personnel=3)
    assert (await get(http, f"/external/events/{event.event_id}")).body["event"]["city"] == "Lisbon"


# --------------------------------------------------------------------------- standalone


def test_module_runs_standalone_and_prints_url_and_key() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lensmor_async.testing",
            "--port",
            "0",
            "--seed",
            "4",
            "--api-key",
            "uak_cli",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url_line, key_line = process.stdout.readline(), process.stdout.readline()
        assert url_line.startswith("FakeLensmor listening on http://127.0.0.1:")
        assert key_line.strip() == "API key: uak_cli"
        url = url_line.split()[-1]

        async def fetch() -> int:
            headers = {"Authorization": "Bearer uak_cli"}
            async with (
                aiohttp.ClientSession(headers=headers) as s,
                s.get(f"{url}/external/credits/balance") as response,
            ):
                return response.status

        assert anyio.run(fetch) == 200
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=10)
    assert process.returncode == 0
