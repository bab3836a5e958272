"""build_report: where every requested contact ended up after an unlock task."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lensmor_async.guard._tasks import (
    ContactUnlockReport,
    DeliveredContact,
    FailedContact,
    build_report,
)
from lensmor_async.models import UnlockTask
from lensmor_async.models.converter import structure


def task(
    items: list[dict[str, Any]], status: str = "completed", task_id: str = "901"
) -> UnlockTask:
    return structure({"taskId": task_id, "taskStatus": status, "items": items}, UnlockTask)


def email_report(
    t: UnlockTask | None, requested: list[str] | None, skipped: tuple[str, ...] = ()
) -> ContactUnlockReport:
    return build_report(t, requested=requested, skipped=skipped, value_field="email")


def test_wire_task_is_structured_for_the_report() -> None:
    t = task([{"personnelId": "789", "status": "unlocked", "email": "a@b.c"}])
    assert t.task_id == "901"
    assert t.items[0].personnel_id == "789"


def test_items_are_sorted_into_their_categories() -> None:
    t = task(
        [
            {"personnelId": "1", "status": "unlocked", "email": "one@x.io"},
            {"personnelId": "2", "status": "unlocked", "email": None},
            {"personnelId": "3", "status": "failed", "errorCode": "TASK_FAILED"},
            {"personnelId": "4", "status": "processing"},
            {"personnelId": "5", "status": "pending"},
        ]
    )
    report = email_report(t, ["1", "2", "3", "4", "5", "6"], skipped=("6",))
    assert report.task_id == "901"
    assert report.task_status == "completed"
    assert report.delivered == (DeliveredContact("1", "one@x.io"),)
    assert report.unlocked_without_email == ("2",)
    assert report.failed == (FailedContact("3", "TASK_FAILED"),)
    assert report.unresolved == ("4", "5")
    assert report.skipped == ("6",)
    assert report.complete is False
    assert report.credits_spent is None


def test_a_requested_id_missing_from_the_task_is_unresolved() -> None:
    t = task([{"personnelId": "1", "status": "unlocked", "email": "a@b.c"}])
    report = email_report(t, ["1", "2"])
    assert report.unresolved == ("2",)
    assert report.complete is False


def test_an_empty_string_value_counts_as_unlocked_without_email() -> None:
    t = task([{"personnelId": "1", "status": "unlocked", "email": ""}])
    assert email_report(t, ["1"]).unlocked_without_email == ("1",)


def test_an_unknown_item_status_is_unresolved() -> None:
    t = task([{"personnelId": "1", "status": "quarantined"}])
    assert email_report(t, ["1"]).unresolved == ("1",)


def test_failed_items_without_an_error_code_keep_none() -> None:
    t = task([{"personnelId": "1", "status": "failed"}])
    assert email_report(t, ["1"]).failed == (FailedContact("1", None),)


def test_phone_tasks_deliver_the_phone_value() -> None:
    t = task(
        [
            {"personnelId": "1", "status": "unlocked", "phone": "+1 555 0100"},
            {"personnelId": "2", "status": "unlocked", "email": "only@email.io"},
        ]
    )
    report = build_report(t, requested=["1", "2"], skipped=(), value_field="phone")
    assert report.delivered == (DeliveredContact("1", "+1 555 0100"),)
    assert report.unlocked_without_email == ("2",)


def test_items_that_were_not_requested_are_left_out() -> None:
    t = task(
        [
            {"personnelId": "1", "status": "unlocked", "email": "a@b.c"},
            {"personnelId": "99", "status": "unlocked", "email": "stray@b.c"},
        ]
    )
    assert email_report(t, ["1"]).all_ids() == ("1",)


def test_without_a_requested_list_the_task_items_are_reported() -> None:
    t = task(
        [
            {"personnelId": "1", "status": "unlocked", "email": "a@b.c"},
            {"personnelId": "2", "status": "failed"},
        ]
    )
    report = email_report(t, None)
    assert report.all_ids() == ("1", "2")
    assert report.complete is True


def test_no_task_means_every_requested_id_is_unresolved_or_skipped() -> None:
    report = email_report(None, ["1", "2", "3"], skipped=("2",))
    assert report.task_id is None
    assert report.task_status is None
    assert report.unresolved == ("1", "3")
    assert report.skipped == ("2",)


def test_skipped_ids_win_over_task_items() -> None:
    t = task([{"personnelId": "1", "status": "unlocked", "email": "a@b.c"}])
    report = email_report(t, ["1"], skipped=("1",))
    assert report.skipped == ("1",)
    assert report.delivered == ()


def test_a_complete_report_has_no_unresolved_ids() -> None:
    t = task([{"personnelId": "1", "status": "failed", "errorCode": "TASK_NOT_FOUND"}])
    assert email_report(t, ["1"]).complete is True


def test_report_keeps_the_request_order_within_each_category() -> None:
    t = task([{"personnelId": p, "status": "unlocked", "email": f"{p}@x.io"} for p in "123"])
    report = email_report(t, ["3", "1", "2"])
    assert [d.personnel_id for d in report.delivered] == ["3", "1", "2"]


# --- property: every requested id appears exactly once -----------------------------------

ids = st.text("0123456789", min_size=1, max_size=4)
item_states: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"status": "unlocked", "email": "x@y.z"},
        {"status": "unlocked", "email": None},
        {"status": "unlocked", "email": ""},
        {"status": "failed", "errorCode": "TASK_FAILED"},
        {"status": "failed"},
        {"status": "pending"},
        {"status": "processing"},
        {"status": "mystery"},
    ]
)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[str], list[dict[str, Any]], list[str], str]:
    requested = draw(st.lists(ids, unique=True, max_size=30))
    in_task = draw(st.lists(st.sampled_from(requested), unique=True) if requested else st.just([]))
    strays = draw(st.lists(ids.filter(lambda i: i not in requested), unique=True, max_size=3))
    items = [{"personnelId": pid, **draw(item_states)} for pid in in_task + strays]
    skipped = draw(st.lists(st.sampled_from(requested), unique=True) if requested else st.just([]))
    extra_skipped = draw(st.lists(ids, max_size=2))
    status = draw(st.sampled_from(["pending", "processing", "completed", "failed"]))
    return requested, items, skipped + extra_skipped, status


@given(scenarios())
def test_every_requested_id_appears_exactly_once(
    scenario: tuple[list[str], list[dict[str, Any]], list[str], str],
) -> None:
    requested, items, skipped, status = scenario
    report = email_report(task(items, status), requested, tuple(skipped))
    assert Counter(report.all_ids()) == Counter(requested)
    item_ids = {item["personnelId"] for item in items}
    missing = [pid for pid in requested if pid not in item_ids and pid not in skipped]
    assert set(missing) <= set(report.unresolved)
    assert set(report.skipped) == set(requested) & set(skipped)
