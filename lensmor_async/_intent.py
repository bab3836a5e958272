"""Intents: what a paid call buys, in a canonical, hashable form."""

from __future__ import annotations

import hashlib

import attrs
import orjson


@attrs.frozen(slots=True)
class Intent:
    """One paid action as the user meant it (before the guard trims or prices it).

    Two calls with equal intents are the same purchase: concurrent ones share one
    in-flight call, and the journal uses ``key`` to make the same intent from many
    processes result in one send.
    """

    operation: str
    """Operation name, e.g. ``contacts.unlock``."""
    targets: tuple[str, ...]
    """What is bought: an event id, personnel ids (sorted, unique) or a company name."""
    event_id: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    """Other canonical parameters that change what is bought (sorted pairs)."""

    @property
    def key(self) -> str:
        """A deterministic digest of the intent (never contains the API key)."""
        canonical = orjson.dumps(
            [self.operation, self.event_id, list(self.targets), list(self.params)]
        )
        return hashlib.sha256(canonical).hexdigest()[:32]

    def describe(self) -> str:
        """A short human description for prompts and logs."""
        head = ", ".join(self.targets[:3]) + (
            f" (+{len(self.targets) - 3} more)" if len(self.targets) > 3 else ""
        )
        scope = (
            f" in event {self.event_id}"
            if self.event_id and self.operation != "events.unlock"
            else ""
        )
        return f"{self.operation} [{head}]{scope}"


def account_fingerprint(api_key: str) -> str:
    """A stable account id for journal keys: a digest, never the key itself."""
    return hashlib.sha256(b"lensmor-account:" + api_key.encode()).hexdigest()[:16]
