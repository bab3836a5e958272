"""Pages and the access semantics of preview-gated (locked-event) lists.

Every list route answers with the same envelope: ``items``, ``total``, ``page``,
``pageSize``, ``totalPages``, ``hasMore``. Locked-event lists (``personnel/list``,
``exhibitors/list``) may add ``semantics`` (REFERENCE §6), which is authoritative
over any computation from ``previewLimit`` and ``pageSize``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Final, Generic, TypeVar

import attrs

from lensmor_async.models._base import Model
from lensmor_async.models._fields import extra_field

__all__ = [
    "ACCESS_MODES",
    "GUIDANCE_CODES",
    "AccessCounts",
    "AccessSemantics",
    "Guidance",
    "Page",
    "PageState",
    "UnlockOffer",
]

T = TypeVar("T")

ACCESS_MODES: Final = frozenset({"preview", "full"})
"""Known ``accessMode`` values; others are kept as given."""

GUIDANCE_CODES: Final = frozenset(
    {
        "preview_page_inaccessible",
        "preview_results_truncated",
        "preview_complete_for_query",
        "full_access",
        "no_matching_results",
    }
)
"""Known ``guidance.code`` values; others are kept as given."""


@attrs.frozen(kw_only=True)
class AccessCounts(Model):
    """``semantics.counts``: how many matches exist, are visible, and stay locked."""

    actual_total: int | None = None
    """True number of matches before preview gating (``actualTotal``)."""
    visible_total: int | None = None
    """Number of matches reachable now (``visibleTotal``)."""
    remaining_locked_count: int | None = None
    """Matches hidden until the event is unlocked (``remainingLockedCount``)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class PageState(Model):
    """``semantics.pageState``: whether the requested page lies inside the preview window."""

    requested_page: int | None = None
    """Echo of the requested ``page`` (``requestedPage``)."""
    accessible: bool | None = None
    """``False`` when the page is outside the preview window (its ``items`` are empty)."""
    max_accessible_page: int | None = None
    """Last page reachable now (``maxAccessiblePage``); authoritative, never compute it."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class UnlockOffer(Model):
    """``semantics.unlock``: the paid action that would reveal more rows, and its price."""

    required_for_more_results: bool | None = None
    """An event unlock is needed for more rows (``requiredForMoreResults``)."""
    action_type: str | None = None
    """Opaque action code, e.g. ``unlock_event_contacts`` or ``unlock_event_exhibitors``."""
    credits: int | None = None
    """Credits that action costs (currently 2000)."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Guidance(Model):
    """``semantics.guidance``: a machine code and a human message for the UI."""

    code: str | None = None
    """One of :data:`GUIDANCE_CODES` (unknown codes are kept as given)."""
    message: str | None = None
    """Human-readable explanation."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class AccessSemantics(Model):
    """``semantics`` of a locked-event list; every part is optional, extra keys are kept."""

    access_mode: str | None = None
    """``"preview"`` or ``"full"`` (base-event access only; unknown values kept)."""
    preview_limit: int | None = None
    """Rows visible in preview mode (50), ``None`` in full mode (``previewLimit``)."""
    counts: AccessCounts | None = None
    """Match counts, when sent."""
    page_state: PageState | None = None
    """Where the requested page lies relative to the preview window (``pageState``)."""
    unlock: UnlockOffer | None = None
    """The unlock that would reveal more rows, when sent."""
    guidance: Guidance | None = None
    """UI guidance, when sent."""
    extra: Mapping[str, Any] = extra_field()
    """Wire keys this SDK does not know yet."""


@attrs.frozen(kw_only=True)
class Page(Model, Generic[T]):
    """One page of a list route (page-number pagination; there is no cursor anywhere).

    Top-level keys other than the envelope and ``semantics`` (``recommendationProcessing``,
    ``recommendationProcessingFeature``, ``status``, …) are kept in :attr:`extra`.
    """

    __page__: ClassVar[bool] = True
    """Marks pages (and page subclasses) for the converter, which tells a page from other
    models without importing this module: decoding a balance never loads it."""

    items: tuple[T, ...]
    """The records of this page (may be empty, e.g. outside the preview window)."""
    total: int
    """Total matches (``0`` on a page outside the preview window; see ``semantics``)."""
    page: int
    """One-based page number (echo)."""
    page_size: int
    """Page size used by the server (``pageSize``)."""
    total_pages: int
    """Number of pages (``totalPages``); ``0`` when ``total`` is ``0``."""
    has_more: bool
    """Another page exists (``hasMore``)."""
    semantics: AccessSemantics | None = None
    """Access semantics of locked-event lists; ``None`` when the server sent none."""
    extra: Mapping[str, Any] = extra_field()
    """Other top-level keys of the page object."""

    @property
    def access_mode(self) -> str | None:
        """``semantics.accessMode`` (``"preview"``/``"full"``), or ``None`` without semantics."""
        return self.semantics.access_mode if self.semantics is not None else None

    @property
    def is_preview(self) -> bool:
        """True when ``semantics`` says this list is in preview mode (the event is locked)."""
        return self.access_mode == "preview"

    @property
    def page_accessible(self) -> bool:
        """False only when ``semantics.pageState.accessible`` is ``false``.

        An inaccessible page has empty ``items`` and ``total == 0`` although matches
        exist; show an unlock prompt rather than an empty state.
        """
        state = self._page_state()
        return not (state is not None and state.accessible is False)

    @property
    def preview_exhausted(self) -> bool:
        """True when iteration must stop at the preview window.

        That is: the requested page is inaccessible (``pageState.accessible`` is
        ``false``), or the list is in preview mode and this page is at or past
        ``pageState.maxAccessiblePage``. ``hasMore`` can still be true in that case,
        because more rows exist behind the unlock.
        """
        if not self.page_accessible:
            return True
        state = self._page_state()
        return (
            self.is_preview
            and state is not None
            and state.max_accessible_page is not None
            and self.page >= state.max_accessible_page
        )

    @property
    def has_next(self) -> bool:
        """A paginator may request ``page + 1``: ``has_more`` and not :attr:`preview_exhausted`."""
        return self.has_more and not self.preview_exhausted

    @property
    def unlock_required(self) -> bool:
        """``semantics.unlock.requiredForMoreResults`` is ``true``."""
        unlock = self.semantics.unlock if self.semantics is not None else None
        return unlock is not None and unlock.required_for_more_results is True

    @property
    def actual_total(self) -> int:
        """All matches, locked ones included (``counts.actualTotal``; else :attr:`total`)."""
        counts = self._counts()
        found = counts.actual_total if counts is not None else None
        return self.total if found is None else found

    @property
    def visible_total(self) -> int:
        """Matches this account can see now (``counts.visibleTotal``; else :attr:`total`)."""
        counts = self._counts()
        found = counts.visible_total if counts is not None else None
        return self.total if found is None else found

    @property
    def preview_remaining(self) -> int:
        """Matches behind the preview (``counts.remainingLockedCount``; 0 with full access)."""
        counts = self._counts()
        found = counts.remaining_locked_count if counts is not None else None
        return max(0, self.actual_total - self.visible_total) if found is None else found

    @property
    def unlock_credits(self) -> int | None:
        """What unlocking the rest costs (``semantics.unlock.credits``), if the server said."""
        unlock = self.semantics.unlock if self.semantics is not None else None
        return unlock.credits if unlock is not None else None

    @property
    def guidance_code(self) -> str | None:
        """``semantics.guidance.code`` (e.g. why a page is empty), if the server sent one."""
        guidance = self.semantics.guidance if self.semantics is not None else None
        return guidance.code if guidance is not None else None

    def _counts(self) -> AccessCounts | None:
        return self.semantics.counts if self.semantics is not None else None

    def _page_state(self) -> PageState | None:
        return self.semantics.page_state if self.semantics is not None else None


TYPED_PAGES: dict[type[Any], type[Page[Any]]] = {}
"""Page subclasses that type the page-level keys of some item classes (item → page).

Filled by the modules that define them (``profile_matching``), so that the converter
finds them without importing every model module: an item class exists only once its
module, and with it the registration, has run.
"""
