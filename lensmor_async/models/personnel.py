"""People (ContactItem), their events, LinkedIn activity and outreach drafts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import KIND_SOURCE_TYPE, extra_field, ms, wire
from lensmor_async.models.events import Event
from lensmor_async.models.pagination import Page

__all__ = [
    "ACTIVITY_LEVELS",
    "CONTACT_UNLOCK_STATUSES",
    "OUTREACH_STATUSES",
    "PHONE_UNLOCK_STATUSES",
    "SOURCE_TYPES",
    "LinkedinActivity",
    "LinkedinActivityUnlockItem",
    "LinkedinActivityUnlockResult",
    "LinkedinInmail",
    "LinkedinMessageBody",
    "LinkedinMessages",
    "Outreach",
    "OutreachGenerationItem",
    "OutreachGenerationResult",
    "OutreachMessages",
    "Person",
    "PersonEvents",
]

CONTACT_UNLOCK_STATUSES: Final = frozenset({"locked", "unlocking", "unlocked", "failed"})
"""Known ``contactUnlockStatus`` values; unknown ones are kept as given."""
PHONE_UNLOCK_STATUSES: Final = frozenset({"ready", "processing", "failed"})
"""Known ``phoneUnlockStatus`` values (0.24+)."""
SOURCE_TYPES: Final = frozenset({"exhibitor", "social", "visitors"})
"""Known ``sourceType`` entries."""
ACTIVITY_LEVELS: Final = frozenset({"ACTIVE", "WARM", "DORMANT", ""})
"""Known ``linkedinActivity.activityLevel`` values."""
OUTREACH_STATUSES: Final = frozenset({"processing", "ready", "failed"})
"""Known outreach ``status`` values."""


@attrs.frozen(kw_only=True)
class LinkedinActivity(Model):
    """LinkedIn posting activity of a person (personnel list only; 0.21+)."""

    activity_level: str | None = None
    """``ACTIVE``, ``WARM``, ``DORMANT`` or ``""`` (``activityLevel``)."""
    is_active: bool | None = None
    """Recently active (``isActive``)."""
    latest_post_at: int | None = attrs.field(default=None, metadata=ms())
    """Latest post, epoch ms (a digit string on the wire; ``latestPostAt``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Person(Model):
    """A person (ContactItem): personnel list/profile, contact search, by-LinkedIn lookup.

    ``email``, ``phone`` and the status fields are overlays for the calling user: a
    ``None`` email means this caller has not unlocked it.
    """

    id: str
    """Personnel id (use it as ``personnel_id``)."""
    contact_unlock_status: str
    """``locked``, ``unlocking``, ``unlocked`` or ``failed`` (``contactUnlockStatus``)."""
    full_name: str | None = None
    """Full name (``fullName``)."""
    title: str | None = None
    """Job title (event-relation title on personnel lists, bio title on profiles)."""
    department: str | None = None
    """Department."""
    seniority_level: str | None = None
    """Seniority (``seniorityLevel``)."""
    linkedin_url: str | None = None
    """LinkedIn profile URL (``linkedinUrl``)."""
    company_name: str | None = None
    """Company (``companyName``)."""
    source_type: tuple[str, ...] = attrs.field(default=(), metadata=wire(kind=KIND_SOURCE_TYPE))
    """Where the record comes from: ``exhibitor``, ``social``, ``visitors``. A string or
    ``null`` before 0.24 and a list after; always a tuple here (empty when ``null``)."""
    email: str | None = None
    """Email, only when this caller unlocked it."""
    phone: str | None = None
    """Phone, only when this caller unlocked it (0.24+)."""
    phone_unlock_status: str | None = None
    """``ready``, ``processing``, ``failed`` or ``None`` (``phoneUnlockStatus``, 0.24+)."""
    linkedin_activity: LinkedinActivity | None = None
    """LinkedIn activity (``linkedinActivity``); personnel list only."""
    linkedin_activity_status: str | None = None
    """``ready``, ``processing`` or ``None`` (``linkedinActivityStatus``)."""
    event_count: int | None = None
    """Number of associated events (``eventCount``, 0.24+)."""
    outreach_message_status: str | None = None
    """Status of generated outreach (``outreachMessageStatus``, 0.24+)."""
    outreach_message_channels: tuple[str, ...] = ()
    """Channels with generated outreach (``outreachMessageChannels``, 0.24+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""

    @property
    def name(self) -> str | None:
        """Alias of :attr:`full_name` (the name users reach for first)."""
        return self.full_name


@attrs.frozen(kw_only=True)
class PersonEvents(Model):
    """``GET /external/personnel/events/by-linkedin``: the resolved person and their events."""

    personnel: Person
    """The person the LinkedIn URL resolved to."""
    events: Page[Event]
    """One page of that person's events."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class LinkedinInmail(Model):
    """A LinkedIn InMail draft."""

    subject: str | None = None
    """Subject line."""
    body: str | None = None
    """Message body."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class LinkedinMessageBody(Model):
    """A LinkedIn note or message draft (body only)."""

    body: str | None = None
    """Message body."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class LinkedinMessages(Model):
    """LinkedIn drafts by message type."""

    __wire_snake__: ClassVar[bool] = True

    inmail: LinkedinInmail | None = None
    """InMail draft."""
    connection_note: LinkedinMessageBody | None = None
    """Connection-request note."""
    connected_message: LinkedinMessageBody | None = None
    """Message for an existing connection."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class OutreachMessages(Model):
    """Generated drafts by channel."""

    __wire_snake__: ClassVar[bool] = True

    email: str | None = None
    """Email draft."""
    linkedin_message: str | None = None
    """Generic LinkedIn message draft."""
    linkedin: LinkedinMessages | None = None
    """LinkedIn drafts by message type (0.24+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Outreach(Model):
    """``GET /external/personnel/outreach``: the latest drafts for a person and event.

    ``found == False`` is a valid answer (nothing generated yet).
    """

    __wire_snake__: ClassVar[bool] = True

    found: bool
    """Drafts exist for this pair."""
    channels: tuple[str, ...]
    """Channels that have drafts (``email``, ``linkedin_message``)."""
    messages: OutreachMessages
    """The drafts."""
    reason: str | None = None
    """Why the drafts say what they say."""
    sources: tuple[Mapping[str, Any], ...] = attrs.field(default=(), hash=False)
    """Sources used for generation (free-form objects)."""
    outreach_purpose: str | None = None
    """Purpose the drafts were generated for."""
    tone: str | None = None
    """Tone, e.g. ``professional``."""
    status: str | None = None
    """``processing``, ``ready`` or ``failed`` (see :data:`OUTREACH_STATUSES`)."""
    create_time: int | None = attrs.field(default=None, metadata=ms())
    """Creation time, epoch ms (0.23+)."""
    update_time: int | None = attrs.field(default=None, metadata=ms())
    """Last update, epoch ms (0.23+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class LinkedinActivityUnlockItem(Model):
    """Per-person outcome of a LinkedIn-activity unlock."""

    personnel_id: str = attrs.field(metadata=wire("personnel_id"))
    """The person."""
    success: bool
    """Unlocked, or analysis started."""
    already_unlocked: bool | None = None
    """It was already unlocked or analysed (``alreadyUnlocked``)."""
    task_id: str | None = None
    """Analysis task, when one was started (``taskId``; there is no poll route)."""
    error: str | None = None
    """Failure reason."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class LinkedinActivityUnlockResult(Model):
    """``POST /external/personnel/unlock-linkedin-activity``."""

    items: tuple[LinkedinActivityUnlockItem, ...]
    """One outcome per requested person."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class OutreachGenerationItem(Model):
    """Per-person outcome of an outreach generation request."""

    personnel_id: str = attrs.field(metadata=wire("personnel_id"))
    """The person."""
    success: bool
    """Generation was queued."""
    task_id: str | None = None
    """Generation task (``taskId``)."""
    error: str | None = None
    """Failure reason."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class OutreachGenerationResult(Model):
    """``POST /external/personnel/generate-outreach-message``; read results with
    ``GET /external/personnel/outreach``."""

    items: tuple[OutreachGenerationItem, ...]
    """One outcome per requested person."""
    task_center_id: str | None = None
    """Task-center id grouping the generation (``taskCenterId``, 0.23+)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""
