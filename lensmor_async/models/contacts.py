"""Asynchronous contact unlocks (email and phone): submissions and task polling.

A submission (201) means *accepted*, not delivered. Count a contact as delivered only
when its task item is ``unlocked`` and carries a value (:attr:`UnlockTaskItem.delivered`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field

__all__ = [
    "ITEM_STATUSES",
    "SUBMISSION_STATUSES",
    "TASK_STATUSES",
    "TERMINAL_TASK_STATUSES",
    "SkippedDetail",
    "UnlockSubmission",
    "UnlockTask",
    "UnlockTaskItem",
]

SUBMISSION_STATUSES: Final = frozenset({"accepted", "success"})
"""``accepted`` (a task was queued) or ``success`` (0.24+: nothing left to charge, no task)."""
TASK_STATUSES: Final = frozenset({"pending", "processing", "completed", "failed"})
"""Known ``taskStatus`` values."""
TERMINAL_TASK_STATUSES: Final = frozenset({"completed", "failed"})
"""Task states after which polling stops."""
ITEM_STATUSES: Final = frozenset({"pending", "processing", "unlocked", "failed"})
"""Known task-item ``status`` values."""


@attrs.frozen(kw_only=True)
class SkippedDetail(Model):
    """Why requested people were skipped by a submission (0.24+)."""

    __wire_snake__: ClassVar[bool] = True

    invalid_personnel_ids: tuple[str, ...] = ()
    """Malformed ids."""
    missing_personnel_ids: tuple[str, ...] = ()
    """Ids that do not exist."""
    unlinked_personnel_ids: tuple[str, ...] = ()
    """Ids not linked to the event."""
    already_unlocked_personnel_ids: tuple[str, ...] = ()
    """Already unlocked (not charged again)."""
    unlocking_personnel_ids: tuple[str, ...] = ()
    """Currently unlocking."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class UnlockSubmission(Model):
    """``POST /external/contacts/unlock`` and ``…/unlock-phone`` (paid): the accepted batch."""

    __wire_snake__: ClassVar[bool] = True

    status: str
    """``accepted`` or ``success`` (see :data:`SUBMISSION_STATUSES`)."""
    task_id: str | None = None
    """Task to poll (present when ``accepted``)."""
    job_id: str | None = None
    """Alias of ``task_id``."""
    skipped_personnel_ids: tuple[str, ...] = ()
    """People skipped without charge (0.24+)."""
    skipped_detail: SkippedDetail | None = None
    """Why they were skipped (0.24+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""

    @property
    def has_task(self) -> bool:
        """A task was queued and should be polled (``status == "accepted"`` with a task id)."""
        return self.status == "accepted" and self.task_id is not None


@attrs.frozen(kw_only=True)
class UnlockTaskItem(Model):
    """Per-person state of an email or phone unlock task."""

    personnel_id: str
    """The person (``personnelId``)."""
    status: str
    """``pending``, ``processing``, ``unlocked`` or ``failed`` (unknown kept)."""
    email: str | None = None
    """The email (email tasks, ``unlocked`` items only)."""
    phone: str | None = None
    """The phone number (phone tasks, ``unlocked`` items only)."""
    error_code: str | None = None
    """Failure code, e.g. ``TASK_FAILED`` or ``TASK_NOT_FOUND`` (``errorCode``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""

    @property
    def delivered(self) -> bool:
        """``unlocked`` and actually carrying an email or phone number."""
        return self.status == "unlocked" and bool(self.email or self.phone)


@attrs.frozen(kw_only=True)
class UnlockTask(Model):
    """``GET /external/contacts/unlock-tasks/{taskId}`` or ``…/unlock-phone-tasks/{taskId}``."""

    task_id: str
    """The task (``taskId``)."""
    task_status: str
    """``pending``, ``processing``, ``completed`` or ``failed`` (``taskStatus``)."""
    items: tuple[UnlockTaskItem, ...]
    """Per-person states; a completed task may mix outcomes."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""

    @property
    def is_terminal(self) -> bool:
        """``completed`` or ``failed``: stop polling, never re-poll as a retry."""
        return self.task_status in TERMINAL_TASK_STATUSES

    @property
    def delivered(self) -> tuple[UnlockTaskItem, ...]:
        """Items that are ``unlocked`` and carry a value."""
        return tuple(item for item in self.items if item.delivered)
