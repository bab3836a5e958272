"""What a bulk run reports: one result per item, progress snapshots and the final report."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

import attrs

__all__ = ["BulkProgress", "BulkReport", "ItemResult", "ItemStatus"]

T = TypeVar("T")
R = TypeVar("R")

ItemStatus = Literal["ok", "failed", "skipped_budget", "skipped_done"]
"""``ok``: ``work`` returned; ``failed``: it raised (``error``); ``skipped_budget``: not run
(or refused) because the budget or the balance ran out; ``skipped_done``: a checkpoint says
an earlier run finished it."""


@attrs.frozen(slots=True)
class ItemResult(Generic[T, R]):
    """The outcome of one item; every item gets exactly one."""

    item: T
    key: str
    status: ItemStatus
    value: R | None = None
    """What ``work`` returned (``ok`` only)."""
    error: Exception | None = None
    """Why it failed (``failed``), or the credit error that stopped the run on this item."""
    summary: Any = None
    """What the checkpoint keeps for this item (``ok`` with a summarizer, ``skipped_done``)."""

    @property
    def ok(self) -> bool:
        """True when ``work`` returned for this item in this run."""
        return self.status == "ok"


@attrs.frozen(slots=True)
class BulkProgress:
    """A snapshot of a running bulk job, given to the progress callback."""

    done: int
    """Items with a result so far (any status)."""
    total: int
    ok: int
    failed: int
    skipped: int
    """Skipped for the budget or because a checkpoint had them done."""
    spent: int
    """Credits the guard settled during this run (0 without a guard)."""
    elapsed: float = attrs.field(default=0.0, eq=False)
    """Seconds since the run started (not compared: two snapshots of the same counts are equal)."""
    resumed: int = 0
    """Items a checkpoint had finished before this run (in ``done``, not in ``rate``)."""

    @property
    def fraction(self) -> float:
        """``done / total`` (1.0 for an empty run)."""
        return 1.0 if self.total == 0 else self.done / self.total

    @property
    def rate(self) -> float | None:
        """Items finished per second in this run (None before the first one)."""
        worked = self.done - self.resumed
        if worked <= 0 or self.elapsed <= 0:
            return None
        return worked / self.elapsed

    @property
    def eta(self) -> float | None:
        """Seconds left at the current rate (0.0 when done; None while there is no rate)."""
        if self.done >= self.total:
            return 0.0
        rate = self.rate
        return None if rate is None else (self.total - self.done) / rate


@attrs.frozen(slots=True)
class BulkReport(Generic[T, R]):
    """Everything a bulk run did, in input order."""

    results: tuple[ItemResult[T, R], ...]
    spent: int
    """Credits the guard settled during this run (in-doubt spends count; 0 without a guard)."""
    elapsed: float
    """Seconds the run took."""
    stopped: str | None = None
    """Why new paid work stopped early: ``budget_spent`` (the guard's spending reached its
    budget) or the name of the credit error that stopped it (the item that raised it
    carries the error); None when every item was attempted."""

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def ok(self) -> int:
        return self.count("ok")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped_budget(self) -> int:
        return self.count("skipped_budget")

    @property
    def skipped_done(self) -> int:
        return self.count("skipped_done")

    def count(self, status: ItemStatus) -> int:
        """How many items ended with ``status``."""
        return sum(1 for result in self.results if result.status == status)

    def by_status(self, status: ItemStatus) -> list[ItemResult[T, R]]:
        """The results with ``status``, in input order."""
        return [result for result in self.results if result.status == status]

    def summary(self) -> str:
        """One line for logs: counts, credits, time and why the run stopped early."""
        line = (
            f"bulk items={self.total} ok={self.ok} failed={self.failed} "
            f"skipped_budget={self.skipped_budget} skipped_done={self.skipped_done} "
            f"spent={self.spent} elapsed={self.elapsed:.2f}s"
        )
        return line if self.stopped is None else f"{line} stopped={self.stopped}"
