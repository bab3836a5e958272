"""The typed models: wire-name mapping, tolerance (extra keys, unknown enums, id types,
null vs missing, ``sourceType`` shapes), immutability and the page helpers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest

import lensmor_async.models as models
from lensmor_async.models import (
    UNSET,
    AccessSemantics,
    BalanceAfter,
    CreditBalance,
    Event,
    EventBrief,
    EventDetail,
    EventDetailResponse,
    EventRanking,
    EventUnlockResult,
    Exhibitor,
    ExhibitorEventMatch,
    ExhibitorProfile,
    FitScore,
    FullAccessUnlockResult,
    LinkedinActivityUnlockResult,
    Outreach,
    OutreachGenerationResult,
    Page,
    PageState,
    Person,
    PersonEvents,
    PrecheckResult,
    RecommendedEvent,
    RecommendedEventPage,
    RecommendedExhibitor,
    RecommendedExhibitorPage,
    UnlockSubmission,
    UnlockTask,
    UnlockTaskItem,
    VisitorUnlockResult,
)
from lensmor_async.models._fields import EMPTY
from lensmor_async.models.converter import structure, structure_page


def _page(items: list[Any], **extra: Any) -> dict[str, Any]:
    return {
        "items": items,
        "total": len(items),
        "page": 1,
        "pageSize": 20,
        "totalPages": 1 if items else 0,
        "hasMore": False,
        **extra,
    }


EVENT = {
    "id": "123",
    "eventId": "139574",
    "name": "Shoptalk",
    "nickname": None,
    "description": None,
    "url": "https://example.com",
    "dateStart": "2026-03-25",
    "dateEnd": "2026-03-28",
    "venue": "Convention Center",
    "city": "Las Vegas",
    "region": "Nevada",
    "country": "United States",
    "exhibitorCount": 250,
    "image": None,
    "dataSource": "vendelux",
}

PERSON_022 = {
    "id": "789",
    "fullName": "Jane Smith",
    "title": "VP of Retail Technology",
    "department": "Technology",
    "seniorityLevel": "vp",
    "linkedinUrl": "https://linkedin.com/in/jane-smith",
    "companyName": "Acme Retail Systems",
    "sourceType": "exhibitor",
    "email": None,
    "contactUnlockStatus": "locked",
    "linkedinActivity": {
        "activityLevel": "WARM",
        "isActive": False,
        "latestPostAt": "1714521600000",
    },
    "linkedinActivityStatus": "ready",
}


# --- credits & actions ---------------------------------------------------------------------


def test_credit_balance_maps_every_bucket_and_addon_fields_default_to_none() -> None:
    balance = structure(
        {
            "totalAmount": 35050,
            "totalBalance": 30050,
            "subscriptionAmount": 35000,
            "subscriptionBalance": 30000,
            "giftAmount": 50,
            "giftBalance": 50,
            "resetAt": 1714521600000,
        },
        CreditBalance,
    )
    assert balance == CreditBalance(
        total_amount=35050,
        total_balance=30050,
        subscription_amount=35000,
        subscription_balance=30000,
        gift_amount=50,
        gift_balance=50,
        reset_at=1714521600000,
    )
    assert balance.addon_amount is None
    assert balance.addon_expire_at is None


def test_credit_balance_accepts_whole_floats_as_int_credits_and_addon_bucket() -> None:
    balance = structure(
        {
            "totalAmount": 45050.0,
            "totalBalance": 38050,
            "subscriptionAmount": 35000,
            "subscriptionBalance": 30000.0,
            "addonAmount": 10000,
            "addonBalance": 8000,
            "addonExpireAt": 1784851200000,
            "giftAmount": 50,
            "giftBalance": 50,
            "resetAt": None,
        },
        CreditBalance,
    )
    assert balance.total_amount == 45050
    assert type(balance.total_amount) is int
    assert type(balance.subscription_balance) is int
    assert balance.addon_balance == 8000
    assert balance.addon_expire_at == 1784851200000
    assert balance.reset_at is None


def test_precheck_maps_snake_case_fields_and_detail_keys() -> None:
    result = structure(
        {
            "ok": True,
            "action_type": "unlock_contact_emails",
            "allowed": True,
            "should_charge": True,
            "credits": 30,
            "reason_code": "ok",
            "biz_code": "Contact Unlock - API",
            "detail": {
                "event_id": 26855,
                "personnel_ids": ["1", 2],
                "requested_count": 3,
                "chargeable_count": 2,
                "already_unlocked_count": 1,
                "unlocking_count": 0,
                "visitor_data_available": False,
            },
        },
        PrecheckResult,
    )
    assert result.should_charge is True
    assert result.credits == 30
    assert result.detail.event_id == "26855"
    assert result.detail.personnel_ids == ("1", "2")
    assert result.detail.chargeable_count == 2
    assert result.detail.visitor_data_available is False
    # Absent id lists stay None: "not reported" is not "empty".
    assert result.detail.missing_personnel_ids is None
    assert result.detail.unlock_credits is None


def test_precheck_keeps_unknown_reason_codes_and_detail_keys() -> None:
    result = structure(
        {
            "ok": True,
            "action_type": "future_action",
            "allowed": False,
            "should_charge": False,
            "credits": 0,
            "reason_code": "brand_new_reason",
            "biz_code": "",
            "detail": {"new_detail_key": {"x": 1}},
        },
        PrecheckResult,
    )
    assert result.reason_code == "brand_new_reason"
    assert result.action_type == "future_action"
    assert result.detail.extra == {"new_detail_key": {"x": 1}}


# --- events ----------------------------------------------------------------------------------


def test_event_maps_camel_case_and_keeps_dates_as_strings() -> None:
    event = structure(EVENT, Event)
    assert event.event_id == "139574"
    assert event.date_start == "2026-03-25"
    assert event.exhibitor_count == 250
    assert event.data_source == "vendelux"
    assert event.has_visitors is None
    assert event.attendance_identity == ()
    assert event.extra is EMPTY


def test_event_tolerates_0_24_fields_and_older_extra_counts() -> None:
    event = structure(
        {
            **EVENT,
            "hasVisitors": True,
            "sponsorMatchStarred": 1,
            "attendeeCount": 4000,
            "attendance_identity": ["exhibitor", "visitor"],
        },
        Event,
    )
    assert event.has_visitors is True
    assert event.sponsor_match_starred == 1
    assert event.attendance_identity == ("exhibitor", "visitor")
    assert event.extra == {"attendeeCount": 4000}


def test_event_detail_is_a_superset_of_event_with_typed_categories() -> None:
    detail = structure(
        {
            "event": {
                **EVENT,
                "latitude": "36.1",
                "longitude": "-115.1",
                "attendeeCount": None,
                "declaredExpectedAttendees": "5000",
                "categories": [
                    {"id": 7, "code": "retail", "name": "Retail", "description": None},
                    {"id": "8", "code": "tech", "name": "Tech", "weight": 0.5},
                ],
                "topics": ["ecommerce"],
                "topicsCount": 1,
                "verified": 1,
                "eventTypes": [{"id": 3, "typeName": "Expo", "slug": "expo", "isPrimary": True}],
            }
        },
        EventDetailResponse,
    ).event
    assert isinstance(detail, Event)
    assert isinstance(detail, EventDetail)
    assert detail.event_id == "139574"
    assert detail.declared_expected_attendees == "5000"
    assert [c.id for c in detail.categories] == ["7", "8"]
    assert detail.categories[1].extra == {"weight": 0.5}
    assert detail.event_types[0].type_name == "Expo"
    assert detail.event_types[0].id == "3"
    assert detail.topics == ("ecommerce",)
    assert detail.historic_event is None


def test_event_brief_fit_score_and_ranking_map_their_shapes() -> None:
    brief = structure(
        {
            "event": EVENT,
            "summary": {
                "attendeeCount": None,
                "exhibitorCount": 250,
                "topCategories": [],
                "dataFreshness": "database_snapshot",
            },
        },
        EventBrief,
    )
    assert brief.summary.exhibitor_count == 250
    assert brief.summary.data_freshness == "database_snapshot"
    assert brief.summary.personnel_count is None

    fit = structure(
        {
            "event": EVENT,
            "score": 8.1,
            "recommendation": "strongly_recommended",
            "breakdown": {"profile_match": 8.1, "matched_exhibitor_density": 2, "event_scale": 9.5},
        },
        FitScore,
    )
    assert fit.recommendation == "strongly_recommended"  # unknown enum value kept
    assert fit.breakdown.matched_exhibitor_density == 2
    assert fit.event.id == "123"

    ranking = structure(
        {
            "items": [
                {"event_id": 139574, "name": None, "rank": 1, "match_score": 0.86, "reasons": []}
            ]
        },
        EventRanking,
    )
    assert ranking.items[0].event_id == "139574"
    assert ranking.items[0].reasons == ()


def test_event_unlock_result_maps_balance_after_object() -> None:
    result = structure(
        {
            "success": True,
            "alreadyUnlocked": False,
            "creditsUsed": 2000,
            "balanceAfter": {
                "subscriptionBalance": 18000,
                "permanentBalance": 0,
                "totalBalance": 18000,
                "unlimited": False,
            },
            "event": {"id": "123", "eventId": "139574", "name": "Shoptalk"},
        },
        EventUnlockResult,
    )
    assert result.credits_used == 2000
    assert result.balance_after == BalanceAfter(
        subscription_balance=18000, permanent_balance=0, total_balance=18000, unlimited=False
    )
    assert result.event.event_id == "139574"


def test_balance_after_null_means_nothing_charged_and_absent_is_unset() -> None:
    base = {
        "success": True,
        "alreadyUnlocked": True,
        "creditsUsed": 0,
        "event": {"id": "123", "eventId": "139574", "name": None},
    }
    charged_nothing = structure({**base, "balanceAfter": None}, EventUnlockResult)
    not_said = structure(base, EventUnlockResult)
    assert charged_nothing.balance_after is None
    assert not_said.balance_after is UNSET
    assert charged_nothing != not_said
    assert not not_said.balance_after  # UNSET is falsy
    assert repr(UNSET) == "UNSET"


def test_balance_after_number_form_of_the_1_0_spec_becomes_total_balance() -> None:
    result = structure(
        {
            "success": True,
            "alreadyUnlocked": False,
            "creditsUsed": 2000.0,
            "balanceAfter": 451021,
            "event": {"id": "1", "eventId": "1", "name": None},
        },
        EventUnlockResult,
    )
    assert result.credits_used == 2000
    assert result.balance_after == BalanceAfter(total_balance=451021)


def test_visitor_and_full_access_unlock_results_use_their_own_field_names() -> None:
    event = {"id": "8458", "eventId": "26855", "name": "CES 2025"}
    visitor = structure(
        {
            "success": True,
            "alreadyUnlocked": False,
            "creditsSpent": 3000,
            "balanceAfter": {
                "totalAmount": 45050,
                "totalBalance": 35050,
                "subscriptionAmount": 35000,
                "subscriptionBalance": 27000,
                "giftAmount": 50,
                "giftBalance": 50,
                "resetAt": 1785542400000,
            },
            "event": event,
        },
        VisitorUnlockResult,
    )
    assert visitor.credits_spent == 3000
    assert isinstance(visitor.balance_after, CreditBalance)
    assert visitor.balance_after.subscription_balance == 27000

    full = structure(
        {
            "success": True,
            "alreadyUnlocked": False,
            "eventUnlocked": True,
            "visitorUnlocked": True,
            "visitorSkipped": False,
            "totalCreditsUsed": 5000,
            "balanceAfter": None,
            "event": event,
        },
        FullAccessUnlockResult,
    )
    assert full.total_credits_used == 5000
    assert full.visitor_skipped is False
    assert full.balance_after is None


# --- exhibitors ------------------------------------------------------------------------------


def test_exhibitor_maps_buying_signals_and_snake_case_matched_event_ids() -> None:
    exhibitor = structure(
        {
            "id": 456,
            "companyName": "Acme Retail Systems",
            "employeeCount": 220,
            "matched_event_ids": ["139574", 139575],
            "isRecommended": True,
            "matchStatus": "brand_new_status",
            "techStacks": ["shopify"],
            "buyingSignalTags": ["hiring"],
            "buyingSignalStatus": "ready",
            "buyingSignals": [
                {
                    "signalTag": "hiring",
                    "signalScore": 87,
                    "analyzedAt": "1714521600000",
                    "confidence": "high",
                    "directOrInferred": "direct",
                    "relevanceToIcp": "Strong",
                }
            ],
        },
        Exhibitor,
    )
    assert exhibitor.id == "456"
    assert exhibitor.matched_event_ids == ("139574", "139575")
    assert exhibitor.match_status == "brand_new_status"
    assert exhibitor.categories == ()
    signal = exhibitor.buying_signals[0]
    assert signal.analyzed_at == 1714521600000
    assert signal.relevance_to_icp == "Strong"
    assert signal.direct_or_inferred == "direct"


def test_exhibitor_profile_has_event_refs_and_search_events_item_has_matches() -> None:
    profile = structure(
        {
            "id": "456",
            "companyName": "Acme",
            "matched_event_ids": [],
            "events": [{"id": "123", "eventId": "139574", "name": "NRF 2026"}],
        },
        ExhibitorProfile,
    )
    assert isinstance(profile, Exhibitor)
    assert profile.events[0].name == "NRF 2026"

    page = structure_page(
        _page(
            [
                {
                    **EVENT,
                    "matchedExhibitors": [{"id": 456, "companyName": "Acme"}],
                    "attendance_identity": ["exhibitor"],
                }
            ]
        ),
        ExhibitorEventMatch,
    )
    match = page.items[0]
    assert isinstance(match, Event)
    assert match.matched_exhibitors[0].id == "456"
    assert match.attendance_identity == ("exhibitor",)


# --- personnel & contacts --------------------------------------------------------------------


def test_person_0_22_shape_normalises_source_type_and_timestamps() -> None:
    person = structure(PERSON_022, Person)
    assert person.full_name == "Jane Smith"
    assert person.seniority_level == "vp"
    assert person.source_type == ("exhibitor",)
    assert person.linkedin_activity is not None
    assert person.linkedin_activity.activity_level == "WARM"
    assert person.linkedin_activity.latest_post_at == 1714521600000
    assert person.phone is None
    assert person.outreach_message_channels == ()


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        (None, ()),
        ("social", ("social",)),
        (["exhibitor", "visitors"], ("exhibitor", "visitors")),
        ([], ()),
    ],
)
def test_person_source_type_is_always_a_tuple(wire: Any, expected: tuple[str, ...]) -> None:
    assert structure({**PERSON_022, "sourceType": wire}, Person).source_type == expected


def test_person_missing_source_type_is_an_empty_tuple() -> None:
    data = dict(PERSON_022)
    del data["sourceType"]
    assert structure(data, Person).source_type == ()


def test_person_0_24_fields_and_unknown_statuses_are_kept() -> None:
    person = structure(
        {
            "id": 789,
            "fullName": None,
            "contactUnlockStatus": "quarantined",
            "sourceType": ["exhibitor", "social", "partners"],
            "phone": "+1 415 555 0100",
            "phoneUnlockStatus": "ready",
            "eventCount": 5,
            "outreachMessageStatus": "ready",
            "outreachMessageChannels": ["email"],
            "linkedinActivity": None,
        },
        Person,
    )
    assert person.id == "789"
    assert person.contact_unlock_status == "quarantined"
    assert person.source_type == ("exhibitor", "social", "partners")
    assert person.phone == "+1 415 555 0100"
    assert person.event_count == 5
    assert person.outreach_message_channels == ("email",)
    assert person.linkedin_activity is None


def test_unknown_wire_fields_are_kept_in_extra_in_sorted_order() -> None:
    person = structure({**PERSON_022, "zeta": [1, 2], "alpha": {"nested": True}}, Person)
    assert dict(person.extra) == {"alpha": {"nested": True}, "zeta": [1, 2]}
    assert list(person.extra) == ["alpha", "zeta"]
    with pytest.raises(TypeError):
        person.extra["alpha"] = 1  # type: ignore[index]


def test_objects_without_unknown_fields_share_the_one_empty_extra() -> None:
    first = structure(PERSON_022, Person)
    second = structure({**PERSON_022, "id": "790"}, Person)
    assert first.extra is EMPTY
    assert second.extra is EMPTY


def test_person_events_holds_a_person_and_an_event_page() -> None:
    result = structure(
        {"personnel": PERSON_022, "events": _page([EVENT], recommendationProcessing=False)},
        PersonEvents,
    )
    assert result.personnel.id == "789"
    assert isinstance(result.events, Page)
    assert result.events.items[0].event_id == "139574"
    assert result.events.extra == {"recommendationProcessing": False}


def test_outreach_maps_nested_linkedin_drafts() -> None:
    outreach = structure(
        {
            "found": True,
            "channels": ["email", "linkedin_message"],
            "messages": {
                "email": "Hi Jane",
                "linkedin_message": "Hello",
                "linkedin": {
                    "inmail": {"subject": "Expo", "body": "Hi"},
                    "connection_note": {"body": "Connect?"},
                },
            },
            "sources": [{"url": "https://example.com"}],
            "outreach_purpose": "Book a demo",
            "status": "ready",
            "create_time": "1714521600000",
            "update_time": 1714521600001,
        },
        Outreach,
    )
    assert outreach.messages.email == "Hi Jane"
    assert outreach.messages.linkedin is not None
    assert outreach.messages.linkedin.inmail is not None
    assert outreach.messages.linkedin.inmail.subject == "Expo"
    assert outreach.messages.linkedin.connected_message is None
    assert outreach.sources[0]["url"] == "https://example.com"
    assert outreach.create_time == 1714521600000
    assert outreach.update_time == 1714521600001


def test_outreach_not_found_is_a_valid_answer() -> None:
    outreach = structure({"found": False, "channels": [], "messages": {}}, Outreach)
    assert outreach.found is False
    assert outreach.messages.email is None


def test_linkedin_activity_unlock_and_outreach_generation_results() -> None:
    unlock = structure(
        {
            "items": [
                {
                    "personnel_id": 789,
                    "success": True,
                    "alreadyUnlocked": False,
                    "taskId": 55,
                    "error": None,
                }
            ]
        },
        LinkedinActivityUnlockResult,
    )
    assert unlock.items[0].personnel_id == "789"
    assert unlock.items[0].task_id == "55"
    assert unlock.items[0].already_unlocked is False

    generated = structure(
        {
            "items": [{"personnel_id": "789", "success": False, "taskId": None, "error": "x"}],
            "taskCenterId": "321",
        },
        OutreachGenerationResult,
    )
    assert generated.task_center_id == "321"
    assert generated.items[0].error == "x"


def test_unlock_submission_accepted_and_0_24_success_without_task() -> None:
    accepted = structure(
        {"status": "accepted", "task_id": "321", "job_id": "321"}, UnlockSubmission
    )
    assert accepted.has_task
    assert accepted.skipped_detail is None

    skipped = structure(
        {
            "status": "success",
            "skipped_personnel_ids": ["1", 2],
            "skipped_detail": {
                "already_unlocked_personnel_ids": ["1"],
                "missing_personnel_ids": [2],
            },
        },
        UnlockSubmission,
    )
    assert not skipped.has_task
    assert skipped.task_id is None
    assert skipped.skipped_personnel_ids == ("1", "2")
    assert skipped.skipped_detail is not None
    assert skipped.skipped_detail.missing_personnel_ids == ("2",)
    assert skipped.skipped_detail.unlocking_personnel_ids == ()


def test_unlock_task_items_serve_email_and_phone_tasks() -> None:
    email_task = structure(
        {
            "taskId": "901",
            "taskStatus": "completed",
            "items": [
                {"personnelId": "789", "status": "unlocked", "email": "jane.doe@example.com"},
                {"personnelId": "790", "status": "failed", "errorCode": "TASK_FAILED"},
                {"personnelId": "791", "status": "unlocked", "email": None},
            ],
        },
        UnlockTask,
    )
    assert email_task.is_terminal
    assert [item.personnel_id for item in email_task.delivered] == ["789"]
    assert email_task.items[1].error_code == "TASK_FAILED"

    phone_task = structure(
        {
            "taskId": 321,
            "taskStatus": "processing",
            "items": [{"personnelId": 789, "status": "unlocked", "phone": "+1 415 555 0100"}],
        },
        UnlockTask,
    )
    assert not phone_task.is_terminal
    assert phone_task.task_id == "321"
    assert phone_task.items[0] == UnlockTaskItem(
        personnel_id="789", status="unlocked", phone="+1 415 555 0100"
    )
    assert phone_task.items[0].delivered


def test_unlock_task_keeps_unknown_task_status() -> None:
    task = structure({"taskId": "1", "taskStatus": "paused", "items": []}, UnlockTask)
    assert task.task_status == "paused"
    assert not task.is_terminal


# --- profile matching ------------------------------------------------------------------------


def test_recommended_events_page_is_typed_and_integer_ids_become_strings() -> None:
    page = structure_page(
        _page(
            [
                {
                    "id": 501,
                    "eventId": 10067,
                    "name": "Digital Banking 2026",
                    "declaredExpectedAttendees": 600,
                    "sourceTags": [],
                    "matched_exhibitor_count": 19,
                    "matched_personnel_count": 85,
                    "match_score": 0.84,
                    "unlocked": False,
                    "relevanceReason": None,
                    "rank": 1,
                    "createTime": "1714521600000",
                    "updateTime": 1714521600000,
                }
            ],
            status="completed",
            condition_tags={"country": ["US"]},
            profile_version=12,
            active_result_version=12,
            is_stale=False,
            empty_reason=None,
        ),
        RecommendedEvent,
    )
    assert isinstance(page, RecommendedEventPage)
    assert page.status == "completed"
    assert page.profile_version == 12
    assert page.condition_tags == {"country": ["US"]}
    assert page.extra == {"empty_reason": None}
    item = page.items[0]
    assert isinstance(item, EventDetail)
    assert (item.id, item.event_id) == ("501", "10067")
    assert item.declared_expected_attendees == 600
    assert item.matched_personnel_count == 85
    assert item.create_time == item.update_time == 1714521600000


def test_recommended_exhibitor_reads_reason_or_legacy_match_reason() -> None:
    page = structure_page(
        _page(
            [
                {"id": 456, "companyName": "Acme", "isRecommended": True, "reason": "Fit"},
                {"id": "457", "companyName": "Beta", "isRecommended": False, "matchReason": "Old"},
                {"id": "458", "companyName": "Gamma", "matched_event_ids": ["1"]},
            ],
            recommendationProcessing=False,
            code="AI_SEARCH_RESULT_MISMATCH",
            show_refresh_hint=True,
        ),
        RecommendedExhibitor,
    )
    assert isinstance(page, RecommendedExhibitorPage)
    assert page.is_fallback
    assert page.show_refresh_hint is True
    assert [item.reason for item in page.items] == ["Fit", "Old", None]
    assert page.items[0].id == "456"
    assert page.items[1].extra is EMPTY  # the legacy name is a known key
    assert page.items[2].is_recommended is None
    assert page.items[2].extra == {"matched_event_ids": ["1"]}


# --- immutability, equality, hashing -----------------------------------------------------


NOT_MODELS = {"UNSET", "UnsetType", "Model", "ResponseInfo", "to_jsonable"}
MODEL_CLASSES = [getattr(models, name) for name in models.__all__ if name not in NOT_MODELS]


@pytest.mark.parametrize("cls", MODEL_CLASSES)
def test_every_model_is_a_slotted_attrs_class_with_extra(cls: type[Any]) -> None:
    assert attrs.has(cls)
    assert "__slots__" in cls.__dict__
    assert "extra" in attrs.fields_dict(cls)
    assert all(field.kw_only for field in attrs.fields(cls))
    assert issubclass(cls, models.Model)


def test_decoded_models_are_frozen() -> None:
    person = structure(PERSON_022, Person)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        person.full_name = "Someone Else"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del person.email
    page = structure_page(_page([PERSON_022]), Person)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        page.items = ()  # type: ignore[misc]


def test_decoded_models_compare_hash_and_repr_like_constructed_ones() -> None:
    decoded = structure({"taskId": "1", "taskStatus": "pending", "items": []}, UnlockTask)
    built = UnlockTask(task_id="1", task_status="pending", items=())
    assert decoded == built
    assert hash(decoded) == hash(built)
    assert (
        repr(decoded)
        == repr(built)
        == ("UnlockTask(task_id='1', task_status='pending', items=(), extra={})")
    )
    assert type(decoded) is UnlockTask


def test_models_with_unknown_fields_stay_hashable() -> None:
    first = structure({**PERSON_022, "newList": [1, 2]}, Person)
    second = structure(PERSON_022, Person)
    assert hash(first) == hash(second)  # ``extra`` is not hashed
    assert first != second  # …but it is compared


def test_models_package_reexports_every_public_model_class() -> None:
    package = Path(models.__file__).parent
    defined: set[str] = set()
    for module in package.glob("[!_]*.py"):
        defined |= set(re.findall(r"^class ([A-Za-z]\w*)", module.read_text(), re.MULTILINE))
    assert defined <= set(models.__all__)
    assert {"UNSET", "UnsetType"} <= set(models.__all__)


# --- page helpers ----------------------------------------------------------------------------


def _semantic_page(
    *,
    page: int = 1,
    access_mode: str = "preview",
    accessible: bool | None = True,
    max_page: int | None = 3,
    has_more: bool = True,
    required: bool | None = True,
) -> Page[Person]:
    semantics: dict[str, Any] = {
        "accessMode": access_mode,
        "previewLimit": 50 if access_mode == "preview" else None,
        "counts": {"actualTotal": 237, "visibleTotal": 50, "remainingLockedCount": 187},
        "pageState": {"requestedPage": page},
        "unlock": {"actionType": "unlock_event_contacts", "credits": 2000},
        "guidance": {"code": "preview_results_truncated", "message": "locked"},
    }
    if accessible is not None:
        semantics["pageState"]["accessible"] = accessible
    if max_page is not None:
        semantics["pageState"]["maxAccessiblePage"] = max_page
    if required is not None:
        semantics["unlock"]["requiredForMoreResults"] = required
    data = {**_page([PERSON_022], semantics=semantics), "page": page, "hasMore": has_more}
    return structure_page(data, Person)


def test_semantics_are_mapped_with_all_parts() -> None:
    page = _semantic_page()
    semantics = page.semantics
    assert isinstance(semantics, AccessSemantics)
    assert semantics.access_mode == "preview"
    assert semantics.preview_limit == 50
    assert semantics.counts is not None
    assert semantics.counts.remaining_locked_count == 187
    assert semantics.page_state == PageState(
        requested_page=1, accessible=True, max_accessible_page=3
    )
    assert semantics.unlock is not None
    assert semantics.unlock.credits == 2000
    assert semantics.guidance is not None
    assert semantics.guidance.code == "preview_results_truncated"


def test_page_inside_the_preview_window_can_advance() -> None:
    page = _semantic_page(page=1, max_page=3)
    assert page.is_preview
    assert page.page_accessible
    assert not page.preview_exhausted
    assert page.has_next
    assert page.unlock_required


def test_page_at_the_max_accessible_page_exhausts_the_preview() -> None:
    page = _semantic_page(page=3, max_page=3, has_more=True)
    assert page.preview_exhausted
    assert not page.has_next
    assert page.has_more  # more rows exist, behind the unlock


def test_inaccessible_page_exhausts_the_preview_even_without_max_page() -> None:
    page = _semantic_page(page=9, accessible=False, max_page=None, has_more=False)
    assert not page.page_accessible
    assert page.preview_exhausted


def test_full_access_page_never_reports_an_exhausted_preview() -> None:
    page = _semantic_page(page=5, access_mode="full", max_page=1, required=False)
    assert not page.is_preview
    assert page.access_mode == "full"
    assert not page.preview_exhausted
    assert page.has_next
    assert not page.unlock_required


def test_page_without_semantics_uses_has_more_only() -> None:
    page = structure_page({**_page([EVENT]), "hasMore": True}, Event)
    assert page.semantics is None
    assert page.access_mode is None
    assert not page.is_preview
    assert page.page_accessible
    assert not page.preview_exhausted
    assert page.has_next
    assert not page.unlock_required


def test_semantics_parts_are_optional_and_keep_extra_keys() -> None:
    page = structure_page(
        _page([], semantics={"accessMode": "preview", "futureKey": 1, "counts": {"x": 2}}), Person
    )
    assert page.semantics is not None
    assert page.semantics.extra == {"futureKey": 1}
    assert page.semantics.counts is not None
    assert page.semantics.counts.extra == {"x": 2}
    assert page.semantics.page_state is None
    assert not page.preview_exhausted
    assert page.is_preview
