"""Typed, frozen models of every Lensmor API response this SDK decodes.

All models are immutable, slotted attrs classes with snake_case attributes. Unknown
wire fields are kept in ``extra``, ids are always ``str``, and enum-like fields are
plain strings (known values are listed in each module's constants).
"""

from __future__ import annotations

from lensmor_async.models._base import Model, ResponseInfo
from lensmor_async.models._sentinel import UNSET, UnsetType
from lensmor_async.models.actions import PrecheckDetail, PrecheckResult
from lensmor_async.models.contacts import (
    SkippedDetail,
    UnlockSubmission,
    UnlockTask,
    UnlockTaskItem,
)
from lensmor_async.models.credits import BalanceAfter, CreditBalance
from lensmor_async.models.events import (
    Event,
    EventBrief,
    EventCategory,
    EventDetail,
    EventDetailResponse,
    EventRanking,
    EventRef,
    EventSummary,
    EventTypeInfo,
    EventUnlockResult,
    FitScore,
    FitScoreBreakdown,
    FullAccessUnlockResult,
    RankedEvent,
    VisitorUnlockResult,
)
from lensmor_async.models.exhibitors import (
    BuyingSignal,
    Exhibitor,
    ExhibitorEventMatch,
    ExhibitorProfile,
    MatchedExhibitor,
)
from lensmor_async.models.pagination import (
    AccessCounts,
    AccessSemantics,
    Guidance,
    Page,
    PageState,
    UnlockOffer,
)
from lensmor_async.models.personnel import (
    LinkedinActivity,
    LinkedinActivityUnlockItem,
    LinkedinActivityUnlockResult,
    LinkedinInmail,
    LinkedinMessageBody,
    LinkedinMessages,
    Outreach,
    OutreachGenerationItem,
    OutreachGenerationResult,
    OutreachMessages,
    Person,
    PersonEvents,
)
from lensmor_async.models.profile_matching import (
    RecommendedEvent,
    RecommendedEventPage,
    RecommendedExhibitor,
    RecommendedExhibitorPage,
)

__all__ = [
    "UNSET",
    "AccessCounts",
    "AccessSemantics",
    "BalanceAfter",
    "BuyingSignal",
    "CreditBalance",
    "Event",
    "EventBrief",
    "EventCategory",
    "EventDetail",
    "EventDetailResponse",
    "EventRanking",
    "EventRef",
    "EventSummary",
    "EventTypeInfo",
    "EventUnlockResult",
    "Exhibitor",
    "ExhibitorEventMatch",
    "ExhibitorProfile",
    "FitScore",
    "FitScoreBreakdown",
    "FullAccessUnlockResult",
    "Guidance",
    "LinkedinActivity",
    "LinkedinActivityUnlockItem",
    "LinkedinActivityUnlockResult",
    "LinkedinInmail",
    "LinkedinMessageBody",
    "LinkedinMessages",
    "MatchedExhibitor",
    "Model",
    "Outreach",
    "OutreachGenerationItem",
    "OutreachGenerationResult",
    "OutreachMessages",
    "Page",
    "PageState",
    "Person",
    "PersonEvents",
    "PrecheckDetail",
    "PrecheckResult",
    "RankedEvent",
    "RecommendedEvent",
    "RecommendedEventPage",
    "RecommendedExhibitor",
    "RecommendedExhibitorPage",
    "ResponseInfo",
    "SkippedDetail",
    "UnlockOffer",
    "UnlockSubmission",
    "UnlockTask",
    "UnlockTaskItem",
    "UnsetType",
    "VisitorUnlockResult",
]
