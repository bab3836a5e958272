"""Pure formatting for the CLI: JSON conversion, plain-text tables and the sentences people read.

Everything here turns models into strings and does no I/O, so the demo, the CLI
and the tests share one wording (e.g. "showing 50 of 237, unlock for 2000 credits").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from lensmor_async.errors import LensmorError, sanitize_message
from lensmor_async.models.converter import to_jsonable

if TYPE_CHECKING:  # annotations only: `lensmor balance` loads no guard, bulk or other models
    from lensmor_async.bulk import BulkProgress
    from lensmor_async.guard import ContactUnlockReport, SpendRecord, SpendRequest
    from lensmor_async.models import (
        CreditBalance,
        Event,
        EventDetail,
        EventRef,
        EventUnlockResult,
        Exhibitor,
        ExhibitorEventMatch,
        FullAccessUnlockResult,
        Page,
        Person,
        VisitorUnlockResult,
    )  # annotations only: `lensmor balance` need not load the guard or bulk

CELL_WIDTH = 40
"""Longest table cell; longer text is cut with an ellipsis."""
_EMPTY = "-"


# -- JSON ---------------------------------------------------------------------------------


def dump_json(value: Any) -> str:
    """Indented JSON of ``value`` (see :func:`to_jsonable`); keys keep the model's order."""
    return json.dumps(to_jsonable(value), indent=2, ensure_ascii=False)


def dump_jsonl(items: Iterable[Any]) -> str:
    """One compact JSON object per item and line (``--format jsonl``); '' for no items."""
    return "\n".join(json.dumps(to_jsonable(item), ensure_ascii=False) for item in items)


def error_json(error: LensmorError) -> str:
    """An error as one JSON object (``--json``): type, code, message, status, trace id."""
    body = {
        "type": type(error).__name__,
        "code": getattr(error, "error_key", None),
        "message": sanitize_message(getattr(error, "message", None) or str(error)),
        "status": getattr(error, "status", None),
        "trace_id": getattr(error, "trace_id", None),
    }
    return json.dumps({"error": body}, ensure_ascii=False)


def dump_csv(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """RFC 4180 CSV with a header row (``--format csv``); cells as in tables, never cut."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if value in (None, "", ()) else cell(value, 10_000) for value in row])
    return out.getvalue().rstrip("\n")


# -- tables -------------------------------------------------------------------------------


def cell(value: object, width: int = CELL_WIDTH) -> str:
    """One table cell: ``-`` for nothing, lists joined, server text made terminal-safe.

    Server-supplied text goes through ``sanitize_message`` because control characters
    (ANSI escapes) in a name could rewrite the user's terminal.
    """
    if value is None or value == "" or value == ():
        return _EMPTY
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple | list):
        return cell(", ".join(str(item) for item in value), width)
    return sanitize_message(value, width)


def format_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A plain left-aligned table with a dashed rule under the headers."""
    cells = [[cell(value) for value in row] for row in rows]
    widths = [len(header) for header in headers]
    for row in cells:
        widths = [max(width, len(text)) for width, text in zip(widths, row, strict=True)]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(t.ljust(w) for t, w in zip(texts, widths, strict=True)).rstrip()

    rule = ["-" * width for width in widths]
    return "\n".join([line(headers), line(rule), *(line(row) for row in cells)])


def key_values(pairs: Iterable[tuple[str, object]], width: int = 200) -> str:
    """``label:  value`` lines, labels aligned, empty values left out."""
    shown = [(label, cell(value, width)) for label, value in pairs]
    shown = [(label, text) for label, text in shown if text != _EMPTY]
    pad = max((len(label) for label, _ in shown), default=0) + 2
    return "\n".join(f"{label + ':':<{pad}}{text}" for label, text in shown)


# -- pages and preview semantics ------------------------------------------------------------


def describe_preview(page: Page[Any], noun: str = "people") -> str:
    """'showing 50 of 237, unlock for 2000 credits' — the preview semantics in plain words."""
    sem = page.semantics
    if sem is None:
        return f"{page.total} {noun}"
    counts = sem.counts
    actual = counts.actual_total if counts and counts.actual_total is not None else page.total
    if sem.access_mode != "preview":
        return f"full access: {actual} {noun}"
    visible = counts.visible_total if counts else None
    if not page.unlock_required:
        return f"showing {visible} of {actual} (preview; every match is visible)"
    credits = sem.unlock.credits if sem.unlock else None
    price = "an unknown price" if credits is None else f"{credits} credits"
    return f"showing {visible} of {actual}, unlock for {price}"


def page_footer(page: Page[Any]) -> str:
    """Where this page lies: 'page 1 of 12, 20 per page' plus the preview window.

    An empty result says so ('no results'), never 'page 1 of 0'.
    """
    state = page.semantics.page_state if page.semantics else None
    last = state.max_accessible_page if state else None
    if not page.page_accessible:
        return (
            f"page {page.page} is outside the preview window"
            + (f" (last accessible page: {last})" if last is not None else "")
            + "; unlock the event to see it"
        )
    if page.total_pages == 0 or (page.total == 0 and not page.items):
        return "no results"
    text = f"page {page.page} of {page.total_pages}, {page.page_size} per page"
    if page.is_preview and last is not None and last < page.total_pages:
        text += f" (pages 1-{last} accessible in preview)"
    return text


def unlock_hint(page: Page[Any], event_id: str) -> str | None:
    """The command that would reveal the rest, when an unlock is needed for more rows."""
    if not page.unlock_required:
        return None
    return f"to see everything: lensmor unlock event {event_id}"


# -- rows -------------------------------------------------------------------------------------

EVENT_HEADERS = ("ID", "NAME", "START", "END", "CITY", "COUNTRY", "EXHIBITORS")
EXHIBITOR_HEADERS = ("ID", "COMPANY", "INDUSTRY", "COUNTRY", "EMPLOYEES", "WEBSITE")
PERSON_HEADERS = ("ID", "NAME", "TITLE", "COMPANY", "CONTACT")
MATCH_HEADERS = ("ID", "NAME", "START", "CITY", "COUNTRY", "MATCHED COMPANIES")
REPORT_HEADERS = ("PERSONNEL ID", "RESULT", "DETAIL")
TASK_HEADERS = ("PERSONNEL ID", "STATUS", "VALUE", "ERROR")
HISTORY_HEADERS = ("OPERATION", "TARGETS", "OUTCOME", "ESTIMATE", "ACTUAL")


def event_row(event: Event) -> tuple[object, ...]:
    return (
        event.id,
        event.name,
        event.date_start,
        event.date_end,
        event.city,
        event.country,
        event.exhibitor_count,
    )


def exhibitor_row(exhibitor: Exhibitor) -> tuple[object, ...]:
    return (
        exhibitor.id,
        exhibitor.company_name,
        exhibitor.industry,
        exhibitor.country,
        exhibitor.employee_count,
        exhibitor.website,
    )


def person_row(person: Person) -> tuple[object, ...]:
    contact = person.email if person.email else person.contact_unlock_status
    return (person.id, person.full_name, person.title, person.company_name, contact)


def match_row(match: ExhibitorEventMatch) -> tuple[object, ...]:
    companies = tuple(m.company_name or m.id for m in match.matched_exhibitors)
    return (match.id, match.name, match.date_start, match.city, match.country, companies)


def report_rows(report: ContactUnlockReport) -> list[tuple[object, ...]]:
    """One row per submitted id, in the report's category order."""
    rows: list[tuple[object, ...]] = [
        (d.personnel_id, "delivered", d.value) for d in report.delivered
    ]
    rows += [(pid, "unlocked, no email", None) for pid in report.unlocked_without_email]
    rows += [(f.personnel_id, "failed", f.error_code) for f in report.failed]
    rows += [(pid, "unresolved", "task still running") for pid in report.unresolved]
    rows += [(pid, "skipped", "already unlocked or unlocking") for pid in report.skipped]
    return rows


def history_row(record: SpendRecord) -> tuple[object, ...]:
    return (
        record.intent.operation,
        record.intent.targets,
        record.outcome.value,
        record.estimate,
        record.actual,
    )


# -- sentences -------------------------------------------------------------------------------


def describe_balance(balance: CreditBalance) -> str:
    """'30050 credits (subscription 30000 of 30000, gift 50 of 50)' plus addon and reset date."""
    parts = [
        f"subscription {balance.subscription_balance} of {balance.subscription_amount}",
        f"gift {balance.gift_balance} of {balance.gift_amount}",
    ]
    if balance.addon_balance is not None:
        parts.append(f"addon {balance.addon_balance} of {balance.addon_amount}")
    text = f"{balance.total_balance} credits ({', '.join(parts)})"
    if balance.reset_at is not None:
        text += f"; subscription credits reset {_date(balance.reset_at)}"
    return text


def _date(epoch_ms: int) -> str:
    return dt.datetime.fromtimestamp(epoch_ms / 1000, tz=dt.UTC).date().isoformat()


def event_details(event: EventDetail) -> str:
    """The fields of one event as aligned ``label: value`` lines."""
    return key_values(
        [
            ("id", event.id),
            ("event id", event.event_id),
            ("name", event.name),
            ("dates", _dates(event)),
            ("venue", event.venue),
            ("place", ", ".join(p for p in (event.city, event.region, event.country) if p)),
            ("type", event.event_type),
            ("exhibitors", event.exhibitor_count),
            ("personnel", event.personnel_count),
            ("attendees", event.attendee_count),
            ("topics", event.topics),
            ("url", event.url),
            ("description", event.description),
        ]
    )


def _dates(event: Event) -> str | None:
    if event.date_start and event.date_end and event.date_end != event.date_start:
        return f"{event.date_start} to {event.date_end}"
    return event.date_start


def describe_quote(title: str, request: SpendRequest) -> str:
    """The quote a person approves: what, cost, balance before/after, budget room."""
    cost = request.expected_credits
    balance = request.current_balance
    after = f" ({balance - cost} after)" if balance is not None and cost is not None else ""
    budget = (
        "no cap" if request.budget_remaining is None else f"{request.budget_remaining} credits left"
    )
    lines = [
        title,
        key_values(
            [
                ("  cost", "unknown" if cost is None else f"{cost} credits"),
                ("  balance", None if balance is None else f"{balance} credits{after}"),
                ("  budget", budget),
            ]
        ),
    ]
    return "\n".join(lines)


def describe_unlock(result: EventUnlockResult) -> str:
    """'event 101 (Shoptalk Spring 2026) unlocked: 2000 credits used'."""
    return _describe_layers(result.event, "", result.already_unlocked, result.credits_used)


def describe_visitor_unlock(result: VisitorUnlockResult) -> str:
    """'Visitors of event 101 (Shoptalk) unlocked: 3000 credits used'."""
    return _describe_layers(
        result.event, "Visitors of ", result.already_unlocked, result.credits_spent
    )


def describe_full_access(result: FullAccessUnlockResult) -> str:
    """'full access to event 101 (Shoptalk) unlocked: 5000 credits used (Visitors skipped)'."""
    text = _describe_layers(
        result.event, "full access to ", result.already_unlocked, result.total_credits_used
    )
    return text + (" (no Visitor data: Visitors skipped)" if result.visitor_skipped else "")


def _describe_layers(event: EventRef, what: str, already: bool, credits: int) -> str:
    name = f" ({sanitize_message(event.name, 80)})" if event.name else ""
    subject = f"{what}event {event.id}{name}"
    if already:
        return f"{subject} was already unlocked: nothing charged"
    return f"{subject} unlocked: {credits} credits used"


def describe_report(report: ContactUnlockReport) -> str:
    """'2 delivered, 2 without email, 2 failed, 0 unresolved, 0 skipped; 60 credits spent'."""
    spent = (
        "credits not settled yet"
        if report.credits_spent is None
        else f"{report.credits_spent} credits spent"
    )
    return (
        f"{len(report.delivered)} delivered, {len(report.unlocked_without_email)} without "
        f"email, {len(report.failed)} failed, {len(report.unresolved)} unresolved, "
        f"{len(report.skipped)} skipped; {spent}"
    )


def bulk_progress_line(progress: BulkProgress, width: int = 20) -> str:
    """'[#####---------------]  5/20  25%  2.0/s  ETA 7s  elapsed 2.5s  spent 150 credits'."""
    filled = round(progress.fraction * width)
    bar = "#" * filled + "-" * (width - filled)
    rate = "-" if progress.rate is None else f"{progress.rate:.1f}/s"
    eta = "-" if progress.eta is None else f"{progress.eta:.0f}s"
    return (
        f"[{bar}] {progress.done}/{progress.total} {progress.fraction:4.0%}  {rate}  "
        f"ETA {eta}  elapsed {progress.elapsed:.1f}s  spent {progress.spent} credits"
    )
