"""Concise, structured tool results: only the fields an agent reasons with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lensmor_async.guard import ContactUnlockReport, SpendRecord
from lensmor_async.models import (
    LinkedinActivityUnlockResult,
    Outreach,
    OutreachGenerationResult,
    Page,
)

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


def report_result(report: ContactUnlockReport, value: str = "email") -> dict[str, Any]:
    """The unlock report's buckets (delivered / no value / failed / unresolved).

    ``value`` names what the task unlocks: ``email`` or ``phone``.
    """
    return {
        "task_status": report.task_status,
        "complete": report.complete,
        "delivered": [{"id": d.personnel_id, value: d.value} for d in report.delivered],
        f"no_{value}": list(report.unlocked_without_email),
        "failed": [{"id": f.personnel_id, "error": f.error_code} for f in report.failed],
        "unresolved": list(report.unresolved),
        "skipped_already_unlocked": list(report.skipped),
        "charged": report.credits_spent,
    }


def linkedin_result(result: LinkedinActivityUnlockResult) -> dict[str, Any]:
    """Who got LinkedIn activity now, who had it already, who failed, whose analysis runs."""
    done = [item for item in result.items if item.success]
    return {
        "unlocked": [item.personnel_id for item in done if not item.already_unlocked],
        "already_unlocked": [item.personnel_id for item in done if item.already_unlocked],
        "analysing": [item.personnel_id for item in done if item.task_id],
        "failed": [
            {"id": item.personnel_id, "error": item.error}
            for item in result.items
            if not item.success
        ],
    }


def search_result(
    page: Page[Any], fields: Sequence[str], key: str, outcome: dict[str, Any]
) -> dict[str, Any]:
    """A paid search's page; an empty result says it cost nothing (the API's rule since 0.24)."""
    result = page_result(page, fields, key)
    if outcome.get("charged") == 0 and outcome.get("cost"):
        result["free"] = "no matches: an empty search is not charged"
    if result["next_page"] is not None:
        result["next_page_note"] = "another page is another paid search (asked again)"
    return result


def outreach_result(result: OutreachGenerationResult) -> dict[str, Any]:
    """Which people's drafts are being generated, and which failed to start."""
    return {
        "queued": [item.personnel_id for item in result.items if item.success],
        "failed": [
            {"id": item.personnel_id, "error": item.error}
            for item in result.items
            if not item.success
        ],
        "task_center_id": result.task_center_id,
    }


def drafts_result(outreach: Outreach) -> dict[str, Any]:
    """The drafts as plain text per channel (LinkedIn variants flattened)."""
    messages = outreach.messages
    linkedin = messages.linkedin
    drafts: dict[str, Any] = {
        "email": messages.email,
        "linkedin_message": messages.linkedin_message,
    }
    if linkedin is not None:
        inmail, note, connected = (
            linkedin.inmail,
            linkedin.connection_note,
            linkedin.connected_message,
        )
        drafts["linkedin_inmail"] = None if inmail is None else brief(inmail, ("subject", "body"))
        drafts["linkedin_connection_note"] = None if note is None else note.body
        drafts["linkedin_connected_message"] = None if connected is None else connected.body
    return {
        "found": outreach.found,
        "status": outreach.status,
        "channels": list(outreach.channels),
        "drafts": {name: text for name, text in drafts.items() if text},
    }
