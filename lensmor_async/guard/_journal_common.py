"""What every journal backend shares: legal moves, field encoding, leases and identities."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from typing import Any, Final

import attrs
import orjson

from lensmor_async.errors import ConfigurationError, InvalidRequestError, LeaseLostError
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._ledger_common import check_amount, is_seconds
from lensmor_async.guard._ledger_protocol import Hold

DEFAULT_LEASE_TTL: Final = 10.0
"""Seconds an owner's lease lasts unless renewed (renewed every third of it while working)."""

RANK: Final = {
    JournalState.PLANNED: 0,
    JournalState.RESERVED: 1,
    JournalState.SENDING: 2,
    JournalState.ACKNOWLEDGED: 3,
    JournalState.POLLING: 4,
}
_DOUBT_RESOLUTIONS: Final = frozenset(
    {JournalState.SUCCEEDED, JournalState.FAILED_NO_CHARGE, JournalState.UNRESOLVED}
)
_FIELD_UPDATES: Final = frozenset({JournalState.SUCCEEDED, JournalState.IN_DOUBT})
"""Terminal states whose row may still be updated in place: a settled spend drops its
hold once the ledger took it, and recovery books an in-doubt row at its estimate."""
TAKEOVER: Final = frozenset({JournalState.FAILED_NO_CHARGE, JournalState.REJECTED_402})
"""Rows a new claim starts afresh: they ended without a charge."""
_NEEDS_REASON: Final = frozenset({JournalState.IN_DOUBT, JournalState.UNRESOLVED})
FIELDS: Final = frozenset({"hold", "task_id", "actual", "reason", "estimate", "result"})


def legal_transition(current: JournalState, new: JournalState) -> bool:
    """Whether a row in ``current`` may move to ``new`` (states only move forward).

    * a live state may stay put (a field update) or move to any later live state;
    * any live state may end in any terminal state (e.g. planned → failed_no_charge
      when the budget refuses the hold, so nothing was ever sent);
    * ``in_doubt`` may still be resolved by reconciliation: → succeeded,
      failed_no_charge or unresolved;
    * ``succeeded`` and ``in_doubt`` may stay put (a field update: the hold is dropped
      once the ledger took the spend);
    * every other terminal state is final.
    """
    if current in RANK:
        return new.terminal or RANK[new] >= RANK[current]
    if current is new:
        return current in _FIELD_UPDATES
    return current is JournalState.IN_DOUBT and new in _DOUBT_RESOLUTIONS


def illegal_move(key: str, current: JournalState, new: JournalState) -> str:
    return (
        f"journal intent {key} cannot move from {current.value} "
        f"to {new.value} (states only move forward)"
    )


def lease_lost(key: str, fence: int) -> LeaseLostError:
    return LeaseLostError(
        f"the lease on journal intent {key} (fence {fence}) expired and another worker took "
        "it over; nothing was written, the new owner settles the intent"
    )


# --------------------------------------------------------------------------- identity


def default_host_id() -> str:
    """The machine's host name: unique per host, stable across restarts of a process."""
    return socket.gethostname()


def check_host_id(host_id: str | None) -> str:
    """``host_id`` (None: derived from the machine); it must not contain ``:``."""
    if host_id is None:
        return default_host_id()
    if not isinstance(host_id, str) or not host_id or ":" in host_id:
        raise ConfigurationError(f"host_id must be a non-empty str without ':', got {host_id!r}")
    return host_id


def check_lease_ttl(lease_ttl: float) -> float:
    if not is_seconds(lease_ttl):
        raise ConfigurationError(f"lease_ttl must be seconds > 0, got {lease_ttl!r}")
    return float(lease_ttl)


def owner_of(host_id: str) -> str:
    """``host_id:pid`` (computed per call: a forked worker has a new pid)."""
    return f"{host_id}:{os.getpid()}"


# --------------------------------------------------------------------------- encoding


def dumps(value: Any, name: str) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidRequestError(f"{name} must be JSON-serialisable: {exc}") from exc


def encode_request(request: object) -> str:
    if not isinstance(request, Mapping):
        raise InvalidRequestError(f"request must be a mapping, got {type(request).__name__}")
    return dumps(dict(request), "request")


def _encode_hold(hold: object) -> str | None:
    if hold is None:
        return None
    if isinstance(hold, Hold):
        return dumps(attrs.asdict(hold), "hold")
    if isinstance(hold, Mapping):
        return dumps(dict(hold), "hold")
    raise InvalidRequestError(f"hold must be a Hold, a mapping or None, got {type(hold).__name__}")


def optional_text(name: str, value: object) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidRequestError(f"{name} must be a non-empty str or None, got {value!r}")
    return value


def optional_amount(name: str, value: object) -> int | None:
    return None if value is None else check_amount(name, value)


def check_operation(operation: object) -> str:
    name = optional_text("operation", operation)
    if name is None:
        raise InvalidRequestError("operation must be a non-empty str")
    return name


def check_state(state: object) -> JournalState:
    if not isinstance(state, JournalState):
        raise InvalidRequestError(f"state must be a JournalState, got {state!r}")
    return state


def check_fence(fence: object) -> int | None:
    if fence is None:
        return None
    if isinstance(fence, bool) or not isinstance(fence, int) or fence < 1:
        raise InvalidRequestError(f"fence must be an int >= 1 or None, got {fence!r}")
    return fence


def encode_fields(state: JournalState, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Validate ``advance`` fields on the loop side and turn them into column values."""
    unknown = set(fields) - FIELDS
    if unknown:
        raise InvalidRequestError(
            f"unknown journal fields {sorted(unknown)}; allowed: {sorted(FIELDS)}"
        )
    columns: dict[str, Any] = {}
    for name, value in fields.items():
        if name == "hold":
            columns[name] = _encode_hold(value)
        elif name == "result":
            columns[name] = None if value is None else dumps(value, "result")
        elif name in ("actual", "estimate"):
            columns[name] = optional_amount(name, value)
        else:
            columns[name] = optional_text(name, value)
    if state in _NEEDS_REASON and not columns.get("reason"):
        raise InvalidRequestError(f"a journal row moving to {state.value} needs a reason")
    return columns
