"""Sync faces of what async methods hand back: page iterators, unlock tasks, quotes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from lensmor_async.sync._portal import LoopThread, SyncIterator

if TYPE_CHECKING:
    from lensmor_async.guard import (
        ContactUnlockReport,
        Quote,
        SpendRequest,
        UnlockTaskHandle,
    )
    from lensmor_async.models import Page, ResponseInfo, UnlockTask
    from lensmor_async.resources import PageIterator

T = TypeVar("T")


class SyncPageIterator(SyncIterator[T]):
    """Items across pages (``iterate()``); ``last_page`` tells why it stopped."""

    def __init__(self, loop: LoopThread, source: PageIterator[T]) -> None:
        super().__init__(loop, source)
        self._pages = source

    @property
    def last_page(self) -> Page[T] | None:
        """The last page fetched (its ``semantics`` say whether a preview window ended it)."""
        return self._pages.last_page

    @property
    def yielded(self) -> int:
        """Items yielded so far."""
        return self._pages.yielded


class SyncUnlockTaskHandle:
    """A submitted email/phone unlock: ``status()`` polls once, ``wait()`` until it ends."""

    def __init__(self, loop: LoopThread, handle: UnlockTaskHandle) -> None:
        self._loop = loop
        self._async = handle

    def __repr__(self) -> str:
        return repr(self._async).replace("UnlockTaskHandle", "SyncUnlockTaskHandle", 1)

    @property
    def task_id(self) -> str | None:
        return self._async.task_id

    @property
    def requested(self) -> tuple[str, ...] | None:
        return self._async.requested

    @property
    def skipped(self) -> tuple[str, ...]:
        return self._async.skipped

    @property
    def response(self) -> ResponseInfo | None:
        """The HTTP answer of the submission (None for a handle rebuilt from its id)."""
        return self._async.response

    @property
    def report(self) -> ContactUnlockReport | None:
        """The final report once ``wait()`` returned it."""
        return self._async.report

    def status(self) -> UnlockTask | None:
        """Poll the task once (None when nothing was submitted)."""
        return self._loop.call(self._async.status)

    def wait(self, deadline: float | None = None) -> ContactUnlockReport:
        """Poll until the task ends; settle its credits; return the report."""
        return self._loop.call(self._async.wait, deadline)


class SyncQuote(Generic[T]):
    """A priced, not yet executed paid call (``client.quote(...)``)."""

    def __init__(self, loop: LoopThread, quote: Quote[T]) -> None:
        self._loop = loop
        self._async = quote

    def __repr__(self) -> str:
        return repr(self._async)

    @property
    def request(self) -> SpendRequest | None:
        """What to show a person (cost, balance, budget); None when it costs nothing now."""
        return self._async.request

    @property
    def credits(self) -> int | None:
        return self._async.credits

    @property
    def current_balance(self) -> int | None:
        """The balance the quote was priced against (None: nothing to pay)."""
        return self._async.current_balance

    @property
    def budget_remaining(self) -> int | None:
        """Room left under the budget (None: no budget, or nothing to pay)."""
        return self._async.budget_remaining

    @property
    def expired(self) -> bool:
        return self._async.expired

    def seal(self, secret: str | bytes | None = None) -> str:
        """A signed token of this quote, for ``client.execute_quote`` in any process."""
        return self._async.seal(secret)

    def execute(self) -> T:
        """Run the quoted call (re-checked; asks again only if cost or balance moved)."""
        return self._loop.call(self._async.execute)
