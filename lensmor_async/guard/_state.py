"""What the guard has learned about unlock state, so it can skip prechecks."""

from __future__ import annotations

from collections.abc import Iterable

# Contact states that make a contact non-chargeable (REFERENCE §9).
_SETTLED_CONTACT_STATES = frozenset({"unlocked", "unlocking"})


class UnlockState:
    """Events (base and Visitor layers) known unlocked, contacts known unlocked/unlocking.

    Only facts the server told us are stored (unlock results and task items), so a
    cached "unlocked" never costs money; unknown state falls back to a precheck.
    """

    def __init__(self) -> None:
        self._events: set[str] = set()
        self._visitors: set[str] = set()
        self._contacts: dict[tuple[str, str], str] = {}

    def event_unlocked(self, event_id: str) -> bool:
        return event_id in self._events

    def mark_event_unlocked(self, *event_ids: str) -> None:
        self._events.update(i for i in event_ids if i)

    def visitors_unlocked(self, event_id: str) -> bool:
        """The event's Visitor layer (0.24+, separate from base access) is unlocked."""
        return event_id in self._visitors

    def mark_visitors_unlocked(self, *event_ids: str) -> None:
        self._visitors.update(i for i in event_ids if i)

    def contact_state(self, kind: str, personnel_id: str) -> str | None:
        return self._contacts.get((kind, personnel_id))

    def mark_contacts(self, kind: str, personnel_ids: Iterable[str], state: str) -> None:
        for pid in personnel_ids:
            self._contacts[(kind, pid)] = state

    def known_chargeable(self, kind: str, personnel_ids: Iterable[str]) -> tuple[str, ...] | None:
        """The chargeable subset when every id's state is known, else None."""
        chargeable: list[str] = []
        for pid in personnel_ids:
            state = self._contacts.get((kind, pid))
            if state is None:
                return None
            if state not in _SETTLED_CONTACT_STATES:
                chargeable.append(pid)
        return tuple(chargeable)
