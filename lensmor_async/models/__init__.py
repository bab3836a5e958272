"""Typed, frozen models of every Lensmor API response this SDK decodes.

All models are immutable, slotted attrs classes with snake_case attributes. Unknown
wire fields are kept in ``extra``, ids are always ``str``, and enum-like fields are
plain strings (known values are listed in each module's constants).

Model modules load on first use of one of their names: the first call of a client
that only checks the balance imports the credit models, not all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async._lazy import lazy_attributes
from lensmor_async.models._base import Model, ResponseInfo
from lensmor_async.models._sentinel import UNSET, UnsetType

if TYPE_CHECKING:
    from lensmor_async.models.actions import (
        PrecheckDetail,
        PrecheckResult,
    )
    from lensmor_async.models.contacts import (
        SkippedDetail,
        UnlockSubmission,
        UnlockTask,
        UnlockTaskItem,
    )
    from lensmor_async.models.credits import (
        BalanceAfter,
        CreditBalance,
    )
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

__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "PrecheckDetail": "lensmor_async.models.actions",
        "PrecheckResult": "lensmor_async.models.actions",
        "SkippedDetail": "lensmor_async.models.contacts",
        "UnlockSubmission": "lensmor_async.models.contacts",
        "UnlockTask": "lensmor_async.models.contacts",
        "UnlockTaskItem": "lensmor_async.models.contacts",
        "BalanceAfter": "lensmor_async.models.credits",
        "CreditBalance": "lensmor_async.models.credits",
        "Event": "lensmor_async.models.events",
        "EventBrief": "lensmor_async.models.events",
        "EventCategory": "lensmor_async.models.events",
        "EventDetail": "lensmor_async.models.events",
        "EventDetailResponse": "lensmor_async.models.events",
        "EventRanking": "lensmor_async.models.events",
        "EventRef": "lensmor_async.models.events",
        "EventSummary": "lensmor_async.models.events",
        "EventTypeInfo": "lensmor_async.models.events",
        "EventUnlockResult": "lensmor_async.models.events",
        "FitScore": "lensmor_async.models.events",
        "FitScoreBreakdown": "lensmor_async.models.events",
        "FullAccessUnlockResult": "lensmor_async.models.events",
        "RankedEvent": "lensmor_async.models.events",
        "VisitorUnlockResult": "lensmor_async.models.events",
        "BuyingSignal": "lensmor_async.models.exhibitors",
        "Exhibitor": "lensmor_async.models.exhibitors",
        "ExhibitorEventMatch": "lensmor_async.models.exhibitors",
        "ExhibitorProfile": "lensmor_async.models.exhibitors",
        "MatchedExhibitor": "lensmor_async.models.exhibitors",
        "AccessCounts": "lensmor_async.models.pagination",
        "AccessSemantics": "lensmor_async.models.pagination",
        "Guidance": "lensmor_async.models.pagination",
        "Page": "lensmor_async.models.pagination",
        "PageState": "lensmor_async.models.pagination",
        "UnlockOffer": "lensmor_async.models.pagination",
        "LinkedinActivity": "lensmor_async.models.personnel",
        "LinkedinActivityUnlockItem": "lensmor_async.models.personnel",
        "LinkedinActivityUnlockResult": "lensmor_async.models.personnel",
        "LinkedinInmail": "lensmor_async.models.personnel",
        "LinkedinMessageBody": "lensmor_async.models.personnel",
        "LinkedinMessages": "lensmor_async.models.personnel",
        "Outreach": "lensmor_async.models.personnel",
        "OutreachGenerationItem": "lensmor_async.models.personnel",
        "OutreachGenerationResult": "lensmor_async.models.personnel",
        "OutreachMessages": "lensmor_async.models.personnel",
        "Person": "lensmor_async.models.personnel",
        "PersonEvents": "lensmor_async.models.personnel",
        "RecommendedEvent": "lensmor_async.models.profile_matching",
        "RecommendedEventPage": "lensmor_async.models.profile_matching",
        "RecommendedExhibitor": "lensmor_async.models.profile_matching",
        "RecommendedExhibitorPage": "lensmor_async.models.profile_matching",
    },
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
