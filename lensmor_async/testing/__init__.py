"""Test helpers: :class:`FakeLensmor`, a faithful fake Lensmor server.

The fake implements the 0.22 wire contract independently of the SDK (true credit
semantics, preview gating, asynchronous unlock tasks, seeded data) and records
every charge in a :class:`TruthLedger`, so tests can judge a client by what the
server actually did. :class:`FaultSchedule` makes it fail in seeded, replayable ways.

Run it standalone with ``python -m lensmor_async.testing --port 8080``.
"""

from __future__ import annotations

from lensmor_async.testing._data import (
    EventRecord,
    ExhibitorRecord,
    PersonRecord,
    UnlockOutcome,
    unlock_outcome,
)
from lensmor_async.testing._fake import FakeLensmor, FakeServerError, RecordedRequest, trace_id_for
from lensmor_async.testing._faults import (
    FaultKind,
    FaultSchedule,
    FaultTuning,
    InjectedFault,
)
from lensmor_async.testing._state import PREVIEW_LIMIT, FakeState, Prices
from lensmor_async.testing._truth import REPEATABLE_OPERATIONS, Intent, TruthEntry, TruthLedger

__all__ = [
    "PREVIEW_LIMIT",
    "REPEATABLE_OPERATIONS",
    "EventRecord",
    "ExhibitorRecord",
    "FakeLensmor",
    "FakeServerError",
    "FakeState",
    "FaultKind",
    "FaultSchedule",
    "FaultTuning",
    "InjectedFault",
    "Intent",
    "PersonRecord",
    "Prices",
    "RecordedRequest",
    "TruthEntry",
    "TruthLedger",
    "UnlockOutcome",
    "trace_id_for",
    "unlock_outcome",
]
