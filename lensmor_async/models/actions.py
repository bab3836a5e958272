"""``POST /external/actions/precheck``: an advisory, read-only "may I, and what would it cost?".

A precheck reserves nothing; balances and access can change before execution.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field

__all__ = ["ACTION_TYPES", "REASON_CODES", "PrecheckDetail", "PrecheckResult"]

ACTION_TYPES: Final = frozenset(
    {
        "query_event_personnel",
        "unlock_event_contacts",
        "unlock_contact_emails",
        "search_exhibitor_events",
        "others",
        "unlock_event_visitors",
        "unlock_event_full_access",
        "unlock_contact_phones",
        "search_personnel_events_by_name",
        "integration_status",
        "integration_export_contacts",
        "integration_export_exhibitors",
    }
)
"""Known ``action_type`` values (0.22 and later); the server echoes unknown ones too."""

REASON_CODES: Final = frozenset(
    {
        "ok",
        "already_unlocked",
        "unlock_in_progress",
        "state_conflict",
        "insufficient_balance",
        "no_contacts_available",
        "exceed_max_unlock_limit",
        "invalid_subject",
        "unsupported_action",
        "not_found",
        "forbidden",
        "system_error",
    }
)
"""Known ``reason_code`` values; unknown ones are kept as given."""


@attrs.frozen(kw_only=True)
class PrecheckDetail(Model):
    """Action-specific ``detail`` of a precheck; every key is optional.

    ``None`` means "not reported for this action" — also for the id lists, so that an
    absent list is not confused with an empty one.
    """

    __wire_snake__: ClassVar[bool] = True

    event_id: str | None = None
    """Resolved event id, or the unresolved input on ``not_found``."""
    access_mode: str | None = None
    """``"full"`` or ``"preview"``."""
    preview_limit: int | None = None
    """Rows visible in preview mode (50)."""
    unlock_action_type: str | None = None
    """The paid action that would unlock more, e.g. ``unlock_event_contacts``."""
    unlock_credits: int | None = None
    """Price of that action (e.g. 2000)."""
    available_balance: int | None = None
    """Spendable credits (event-unlock prechecks)."""
    company_name: str | None = None
    """Normalised company name (search prechecks)."""
    personnel_ids: tuple[str, ...] | None = None
    """De-duplicated ids that would be charged."""
    missing_personnel_ids: tuple[str, ...] | None = None
    """Requested ids that do not exist."""
    invalid_personnel_ids: tuple[str, ...] | None = None
    """Requested ids that are malformed or not part of the event."""
    requested_count: int | None = None
    """Number of ids requested."""
    chargeable_count: int | None = None
    """Number of records that would be charged (0: nothing to charge)."""
    already_unlocked_count: int | None = None
    """Records already unlocked (blocks requeue)."""
    unlocking_count: int | None = None
    """Records currently unlocking (blocks requeue)."""
    visitor_data_available: bool | None = None
    """Visitor data exists for the event (0.24+)."""
    extra: Mapping[str, Any] = extra_field()
    """Detail keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class PrecheckResult(Model):
    """The precheck verdict: ``allowed``, ``should_charge``, ``credits`` and why."""

    __wire_snake__: ClassVar[bool] = True

    ok: bool
    """Always ``true`` for a handled envelope."""
    action_type: str
    """Normalised echo of the requested action (see :data:`ACTION_TYPES`)."""
    allowed: bool
    """The action may proceed now."""
    should_charge: bool
    """Executing now would consume credits."""
    credits: int
    """Expected credits if charging, else ``0``."""
    reason_code: str
    """Why (see :data:`REASON_CODES`; unknown codes are kept as given)."""
    biz_code: str
    """Billing code, ``""`` for non-charging actions (e.g. ``"Exhibitor Search - API"``)."""
    detail: PrecheckDetail
    """Action-specific detail."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""
