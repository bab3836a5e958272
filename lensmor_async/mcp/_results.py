"""Concise, structured tool results: only the fields an agent reasons with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lensmor_async.guard import ContactUnlockReport, SpendRecord
from lensmor_async.models import Page

EVENT_FIELDS = ("id", "name", "date_start", "date_end", "city", "country", "venue")
EXHIBITOR_FIELDS = ("id", "company_name", "domain", "industry", "country", "employee_count")
PERSON_FIELDS = ("id", "full_name", "title", "company_name", "department", "contact_unlock_status")


def brief(item: object, fields: Sequence[str]) -> dict[str, Any]:
    """The given attributes of a model, leaving out empty ones."""
    values = {name: getattr(item, name, None) for name in fields}
    return {name: value for name, value in values.items() if value not in (None, "", ())}


def page_result(page: Page[Any], fields: Sequence[str], key: str) -> dict[str, Any]:
    """Items plus how to get more: ``next_page``, and what a preview hides behind an unlock."""
    result: dict[str, Any] = {
        key: [brief(item, fields) for item in page.items],
        "page": page.page,
        "total_pages": page.total_pages,
        "total": page.total,
        "next_page": page.page + 1 if page.has_next else None,
    }
    if page.access_mode == "preview":
        result["access"] = "preview"
        locked = _locked(page)
        if locked is not None:
            result["locked"] = locked
    return result


def _locked(page: Page[Any]) -> str | None:
    """'187 more behind an unlock of 2000 credits' from the preview semantics."""
    semantics = page.semantics
    if semantics is None:
        return None
    counts, unlock = semantics.counts, semantics.unlock
    hidden = None if counts is None else counts.remaining_locked_count
    if hidden == 0:
        return None
    cost = None if unlock is None else unlock.credits
    more = "more" if hidden is None else f"{hidden} more"
    price = "an unlock" if cost is None else f"an unlock of {cost} credits"
    return f"{more} behind {price} (the unlock_event tool asks the person first)"


def record_result(record: SpendRecord) -> dict[str, Any]:
    return {
        "operation": record.intent.operation,
        "targets": list(record.intent.targets),
        "outcome": record.outcome.value,
        "estimate": record.estimate,
        "charged": record.actual,
        "reason": record.reason,
    }


def report_result(report: ContactUnlockReport) -> dict[str, Any]:
    """The unlock report's buckets (delivered / no email / failed / unresolved)."""
    return {
        "task_status": report.task_status,
        "complete": report.complete,
        "delivered": [{"id": d.personnel_id, "email": d.value} for d in report.delivered],
        "no_email": list(report.unlocked_without_email),
        "failed": [{"id": f.personnel_id, "error": f.error_code} for f in report.failed],
        "unresolved": list(report.unresolved),
        "skipped_already_unlocked": list(report.skipped),
        "charged": report.credits_spent,
    }
