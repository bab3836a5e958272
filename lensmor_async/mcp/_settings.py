"""What the operator decides when starting ``lensmor mcp`` (never the model)."""

from __future__ import annotations

import secrets
from typing import Literal

import attrs

from lensmor_async.errors import ConfigurationError
from lensmor_async.guard import CostTable

Transport = Literal["stdio", "streamable-http"]
DEFAULT_WAIT_SECONDS = 60.0


def _not_negative(_: object, attribute: attrs.Attribute[int | None], value: int | None) -> None:
    if value is not None and value < 0:
        raise ConfigurationError(f"{attribute.name} must be 0 or more credits")


@attrs.frozen(slots=True)
class McpSettings:
    """Server configuration: the session budget and the auto-approve cap are the operator's.

    ``budget``: credits this server process may spend in all (None: no cap, every paid
    call still needs a person's approval). ``auto_approve_up_to``: paid calls costing at
    most this many credits run without asking (None: always ask; a client that cannot
    ask is refused). ``quote_secret`` signs the quotes a person approves (a fresh random
    one per process unless given).
    """

    budget: int | None = attrs.field(default=None, validator=_not_negative)
    auto_approve_up_to: int | None = attrs.field(default=None, validator=_not_negative)
    base_url: str | None = None
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8765
    wait_seconds: float = DEFAULT_WAIT_SECONDS
    """How long a contact-unlock tool waits for its task before reporting what it has."""
    poll_intervals: tuple[float, ...] | None = None
    """Seconds between unlock-task polls (None: the client's default)."""
    testing: bool = False
    """Turn off the SDK's backoff sleeps (tests against FakeLensmor)."""
    costs: CostTable | None = None
    """The guard's prices (None: the API's documented ones; plans that charge for outreach
    generation set its price here, and then the person is asked for it too; ``lensmor mcp
    --price OPERATION=CREDITS`` sets them from the command line)."""
    quote_secret: str = attrs.field(factory=lambda: secrets.token_urlsafe(32), repr=False)
