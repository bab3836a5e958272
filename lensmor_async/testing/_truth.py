"""The fake server's own record of every credit it charged or refunded.

Tests judge an SDK against this ledger, never against the SDK's view of itself:
"did the server charge this intent twice?" is answered by
:meth:`TruthLedger.duplicate_intents`, "how much did the whole run cost?" by
:meth:`TruthLedger.net`.

An *intent* is a hashable canonical tuple naming what was bought, for example
``("events.unlock", "101")``, ``("contacts.unlock", "101", "700004")`` (one entry per
charged contact) or ``("exhibitors.search_events", "acme analytics")``. A refund
carries the same intent as the charge it reverses and a negative ``amount``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["REPEATABLE_OPERATIONS", "Intent", "TruthEntry", "TruthLedger"]

Intent = tuple[str, ...]
"""Canonical, hashable description of what a charge bought."""

REPEATABLE_OPERATIONS: frozenset[str] = frozenset(
    {"exhibitors.search_by_company_name", "exhibitors.search_events", "personnel.events_by_name"}
)
"""Operations a caller may legitimately pay for again with the same intent (searches)."""


@dataclass(frozen=True, slots=True)
class TruthEntry:
    """One charge (``amount > 0``) or refund (``amount < 0``) the server made."""

    seq: int
    """1-based position in the ledger."""
    route: str
    """Route template of the request that caused it, e.g. ``/external/events/{id}/unlock``."""
    operation: str
    """Operation name, e.g. ``events.unlock`` or ``contacts.unlock``."""
    amount: int
    """Whole credits: positive for a charge, negative for a refund."""
    intent: Intent
    trace_id: str | None
    """``traceId`` of the request that caused it; ``None`` for refunds made by a task."""
    task_id: str | None
    """The unlock task this charge belongs to, if any."""
    request_no: int | None
    """Server request number of the causing request (``None`` for task refunds)."""
    subscription_part: int
    """How much of ``amount`` came from (or went back to) the subscription bucket."""
    gift_part: int
    """How much of ``amount`` came from (or went back to) the gift bucket."""

    @property
    def is_refund(self) -> bool:
        """True for refunds (negative amounts)."""
        return self.amount < 0


class TruthLedger:
    """Append-only list of :class:`TruthEntry`, safe to read from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[TruthEntry] = []

    @property
    def entries(self) -> list[TruthEntry]:
        """A snapshot copy of every entry, oldest first."""
        with self._lock:
            return list(self._entries)

    def record(
        self,
        *,
        route: str,
        operation: str,
        amount: int,
        intent: Intent,
        trace_id: str | None,
        task_id: str | None = None,
        request_no: int | None = None,
        subscription_part: int = 0,
        gift_part: int = 0,
    ) -> TruthEntry:
        """Append one entry and return it (the server calls this; tests normally don't)."""
        with self._lock:
            entry = TruthEntry(
                seq=len(self._entries) + 1,
                route=route,
                operation=operation,
                amount=amount,
                intent=intent,
                trace_id=trace_id,
                task_id=task_id,
                request_no=request_no,
                subscription_part=subscription_part,
                gift_part=gift_part,
            )
            self._entries.append(entry)
            return entry

    def clear(self) -> None:
        """Forget every entry (balances are not touched)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def total_charged(self) -> int:
        """Sum of all charges (positive amounts)."""
        return sum(e.amount for e in self.entries if e.amount > 0)

    def total_refunded(self) -> int:
        """Sum of all refunds, as a positive number."""
        return -sum(e.amount for e in self.entries if e.amount < 0)

    def net(self) -> int:
        """Credits the account lost overall: charges minus refunds."""
        return sum(e.amount for e in self.entries)

    def charges_by_intent(self) -> dict[Intent, int]:
        """How many times each intent was charged (refunds not subtracted)."""
        return dict(Counter(e.intent for e in self.entries if e.amount > 0))

    def net_charges_by_intent(self) -> dict[Intent, int]:
        """Charges minus refunds per intent (an intent charged, refunded, re-bought counts 1)."""
        counts: Counter[Intent] = Counter()
        for entry in self.entries:
            if entry.amount > 0:
                counts[entry.intent] += 1
            elif entry.amount < 0:
                counts[entry.intent] -= 1
        return dict(counts)

    def duplicate_intents(self, *, include_repeatable: bool = False) -> dict[Intent, int]:
        """Intents that stayed charged more than once after refunds, with their net count.

        Searches are legitimately repeatable (each execution is a new purchase), so
        their operations are skipped unless ``include_repeatable`` is true.
        """
        repeatable = self._repeatable_intents() if not include_repeatable else set()
        return {
            intent: count
            for intent, count in self.net_charges_by_intent().items()
            if count > 1 and intent not in repeatable
        }

    def for_operation(self, name: str) -> list[TruthEntry]:
        """Every entry of one operation (charges and refunds), oldest first."""
        return [e for e in self.entries if e.operation == name]

    def for_intent(self, intent: Iterable[str]) -> list[TruthEntry]:
        """Every entry of one intent (charges and refunds), oldest first."""
        wanted = tuple(intent)
        return [e for e in self.entries if e.intent == wanted]

    def for_task(self, task_id: str) -> list[TruthEntry]:
        """Every entry that belongs to one unlock task."""
        return [e for e in self.entries if e.task_id == task_id]

    def _repeatable_intents(self) -> set[Intent]:
        return {e.intent for e in self.entries if e.operation in REPEATABLE_OPERATIONS}
