"""SqliteJournal: one row per intent, claims across processes, forward-only states, 0600."""

from __future__ import annotations

import itertools
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from store_helpers import query, race_processes, store_modes, umask, write_locked

from lensmor_async.errors import (
    ConfigurationError,
    CreditError,
    InvalidRequestError,
    LedgerUnavailableError,
)
from lensmor_async.guard._journal_protocol import Journal, JournalState
from lensmor_async.guard._journal_sqlite import SqliteJournal, legal_transition
from lensmor_async.guard._ledger_protocol import Hold

S = JournalState
REQUEST = {"path": "/external/events/101/unlock", "body": {"event_id": "101"}}
LIVE = (S.PLANNED, S.RESERVED, S.SENDING, S.ACKNOWLEDGED, S.POLLING)
TERMINAL = (S.SUCCEEDED, S.FAILED_NO_CHARGE, S.REJECTED_402, S.IN_DOUBT, S.UNRESOLVED)
PROCS = 4
RESULT_TIMEOUT = 120.0
JOIN_TIMEOUT = 30.0


def _reason(state: JournalState) -> dict[str, Any]:
    return {"reason": "why"} if state in (S.IN_DOUBT, S.UNRESOLVED) else {}


async def _journal_at(path: Path, key: str, state: JournalState) -> SqliteJournal:
    """A journal with one row driven to ``state`` along the legal path."""
    journal = SqliteJournal(path)
    await journal.claim(key, "events.unlock", REQUEST, estimate=2000)
    if state is not S.PLANNED:
        await journal.advance(key, state, **_reason(state))
    return journal


# --------------------------------------------------------------------------- claims


@pytest.mark.anyio
async def test_claim_creates_a_planned_row_owned_by_this_process(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        claim = await journal.claim("k1", "events.unlock", REQUEST, estimate=2000)
        assert claim.owned is True
        entry = claim.entry
        assert (entry.intent_key, entry.operation, entry.state) == (
            "k1",
            "events.unlock",
            S.PLANNED,
        )
        assert entry.owner == f"{socket.gethostname()}:{os.getpid()}"
        assert (entry.estimate, entry.actual, entry.hold, entry.task_id) == (2000, None, None, None)
        assert entry.updated_at > 0
        assert await journal.get("k1") == entry
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_the_journal_satisfies_the_protocol(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        assert isinstance(journal, Journal)
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_a_second_claim_returns_the_existing_row_not_owned(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    first, second = SqliteJournal(path), SqliteJournal(path)
    try:
        mine = await first.claim("k1", "events.unlock", REQUEST, estimate=2000)
        await first.advance("k1", S.RESERVED, hold={"hold_id": "h1", "amount": 2000})
        theirs = await second.claim("k1", "events.unlock", {"other": True}, estimate=5)
        again = await first.claim("k1", "events.unlock", REQUEST, estimate=2000)
        assert mine.owned is True
        assert (theirs.owned, again.owned) == (False, False)
        assert theirs.entry.state is S.RESERVED
        assert theirs.entry.request == REQUEST
        assert theirs.entry.estimate == 2000
        assert len(await second.entries()) == 1
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("ended", [S.FAILED_NO_CHARGE, S.REJECTED_402])
async def test_rows_that_ended_without_a_charge_are_taken_over(
    tmp_path: Path, ended: JournalState
) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.SENDING)
    try:
        await journal.advance("k1", S.SENDING, hold={"hold_id": "h1"}, task_id="t1", actual=0)
        await journal.advance("k1", ended, reason="server said no")
        retry = await journal.claim("k1", "events.unlock", {"attempt": 2}, estimate=1999)
        assert retry.owned is True
        entry = retry.entry
        assert entry.state is S.PLANNED
        assert entry.request == {"attempt": 2}
        assert entry.estimate == 1999
        assert (entry.hold, entry.task_id, entry.actual, entry.reason) == (None, None, None, None)
        assert len(await journal.entries()) == 1
    finally:
        await journal.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "state", [*LIVE, S.SUCCEEDED, S.IN_DOUBT, S.UNRESOLVED], ids=lambda s: s.value
)
async def test_rows_that_may_have_cost_money_are_never_taken_over(
    tmp_path: Path, state: JournalState
) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", state)
    try:
        claim = await journal.claim("k1", "events.unlock", {"attempt": 2}, estimate=1)
        assert claim.owned is False
        assert claim.entry.state is state
        assert claim.entry.request == REQUEST
    finally:
        await journal.aclose()


def _claim_worker(path: str, start: Any, results: Any) -> None:
    """Child process body: wait for every sibling, then claim the same intent."""

    async def claim() -> tuple[bool, str]:
        journal = SqliteJournal(path, busy_timeout=30)
        try:
            result = await journal.claim("same-intent", "contacts.unlock", REQUEST, estimate=10)
            return result.owned, result.entry.owner
        finally:
            await journal.aclose()

    try:
        start.wait(RESULT_TIMEOUT)
        results.put(("ok", *anyio.run(claim), os.getpid()))
    except BaseException as exc:
        results.put(("error", f"{type(exc).__name__}: {exc}", "", os.getpid()))


def _race_claims(path: str) -> list[tuple[str, Any, str, int]]:
    return race_processes(
        _claim_worker,
        lambda n: (path,),
        PROCS,
        what="journal claim race",
        result_timeout=RESULT_TIMEOUT,
        join_timeout=JOIN_TIMEOUT,
    )


@pytest.mark.slow
@pytest.mark.anyio
async def test_four_processes_claiming_one_intent_yield_exactly_one_owner(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    outcomes = await anyio.to_thread.run_sync(_race_claims, str(path))
    errors = [outcome[1] for outcome in outcomes if outcome[0] != "ok"]
    assert not errors, errors
    winners = [outcome for outcome in outcomes if outcome[1] is True]
    assert len(winners) == 1, outcomes
    # Every loser sees the winner's row, and the winner is the process that won.
    winner_owner = f"{socket.gethostname()}:{winners[0][3]}"
    assert {outcome[2] for outcome in outcomes} == {winner_owner}
    journal = SqliteJournal(path)
    try:
        rows = await journal.entries()
    finally:
        await journal.aclose()
    assert [(row.intent_key, row.owner) for row in rows] == [("same-intent", winner_owner)]


# --------------------------------------------------------------------------- transitions


@pytest.mark.anyio
async def test_a_task_intent_moves_forward_to_success(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    hold = Hold("h1", "k1", 30, 7, 1234.5)
    try:
        await journal.claim("k1", "contacts.unlock", REQUEST, estimate=30)
        await journal.advance("k1", S.RESERVED, hold=hold)
        await journal.advance("k1", S.SENDING)
        await journal.advance("k1", S.ACKNOWLEDGED, task_id="task-9")
        await journal.advance("k1", S.POLLING)
        done = await journal.advance("k1", S.SUCCEEDED, actual=20, hold=None)
        assert done.state is S.SUCCEEDED
        assert (done.task_id, done.actual, done.hold, done.estimate) == ("task-9", 20, None, 30)
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_fields_not_given_keep_their_values(tmp_path: Path) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.RESERVED)
    try:
        await journal.advance("k1", S.RESERVED, hold={"hold_id": "h1"})
        await journal.advance("k1", S.ACKNOWLEDGED, task_id="t1")
        entry = await journal.advance("k1", S.POLLING)
        assert (entry.hold, entry.task_id) == ({"hold_id": "h1"}, "t1")
    finally:
        await journal.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("current", "new"),
    [
        (S.RESERVED, S.PLANNED),
        (S.POLLING, S.SENDING),
        (S.ACKNOWLEDGED, S.RESERVED),
        (S.SUCCEEDED, S.POLLING),
        (S.SUCCEEDED, S.IN_DOUBT),
        (S.FAILED_NO_CHARGE, S.SUCCEEDED),
        (S.UNRESOLVED, S.SUCCEEDED),
        (S.REJECTED_402, S.REJECTED_402),
    ],
    ids=lambda s: s.value,
)
async def test_moving_backwards_or_out_of_a_final_state_is_a_credit_error(
    tmp_path: Path, current: JournalState, new: JournalState
) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", current)
    try:
        with pytest.raises(CreditError, match=f"from {current.value} to {new.value}"):
            await journal.advance("k1", new, **_reason(new))
        entry = await journal.get("k1")
        assert entry is not None
        assert entry.state is current
    finally:
        await journal.aclose()


@pytest.mark.anyio
@pytest.mark.parametrize("resolved", [S.SUCCEEDED, S.FAILED_NO_CHARGE, S.UNRESOLVED])
async def test_an_in_doubt_intent_can_still_be_resolved(
    tmp_path: Path, resolved: JournalState
) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.IN_DOUBT)
    try:
        entry = await journal.advance("k1", resolved, reason="reconciled", actual=0)
        assert (entry.state, entry.reason) == (resolved, "reconciled")
    finally:
        await journal.aclose()


def _expected_legal(current: JournalState, new: JournalState) -> bool:
    """The protocol diagram, written out independently of the implementation."""
    if current in LIVE:
        return new in TERMINAL or LIVE.index(new) >= LIVE.index(current)
    if current is new:  # a field update: a settled row drops its hold, recovery books a doubt
        return current in (S.SUCCEEDED, S.IN_DOUBT)
    return current is S.IN_DOUBT and new in (S.SUCCEEDED, S.FAILED_NO_CHARGE, S.UNRESOLVED)


def test_legal_transitions_follow_the_diagram_for_every_pair() -> None:
    for current, new in itertools.product(JournalState, repeat=2):
        assert legal_transition(current, new) is _expected_legal(current, new), (current, new)


@pytest.mark.anyio
@pytest.mark.parametrize("state", [S.IN_DOUBT, S.UNRESOLVED])
async def test_in_doubt_and_unresolved_need_a_reason(tmp_path: Path, state: JournalState) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.SENDING)
    try:
        with pytest.raises(InvalidRequestError, match="needs a reason"):
            await journal.advance("k1", state)
        entry = await journal.advance("k1", state, reason="connection reset after send")
        assert entry.reason == "connection reset after send"
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_unknown_fields_and_bad_values_are_refused(tmp_path: Path) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.PLANNED)
    try:
        with pytest.raises(InvalidRequestError, match="unknown journal fields"):
            await journal.advance("k1", S.RESERVED, owner="someone-else")
        with pytest.raises(InvalidRequestError):
            await journal.advance("k1", S.RESERVED, actual=-1)
        with pytest.raises(InvalidRequestError):
            await journal.advance("k1", S.RESERVED, task_id=17)
        with pytest.raises(InvalidRequestError):
            await journal.advance("k1", "reserved")  # type: ignore[arg-type]
        entry = await journal.get("k1")
        assert entry is not None
        assert entry.state is S.PLANNED
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_advancing_an_unknown_intent_is_a_credit_error(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        with pytest.raises(CreditError, match="no intent"):
            await journal.advance("missing", S.RESERVED)
    finally:
        await journal.aclose()


# --------------------------------------------------------------------------- JSON


@pytest.mark.anyio
async def test_request_and_hold_round_trip_as_json(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    request: dict[str, Any] = {
        "path": "/external/contacts/unlock",
        "body": {"event_id": "101", "personnel_ids": ["700001", "700002"]},
        "intent": {"operation": "contacts.unlock", "targets": ("700001", "700002")},
        "unicode": "Zürich ✓",
        "n": 3,
        "ratio": 0.5,
        "none": None,
    }
    journal = SqliteJournal(path)
    hold = Hold("h-1", "k1", 20, 3, 1700000000.25)
    try:
        await journal.claim("k1", "contacts.unlock", request, estimate=20)
        await journal.advance("k1", S.RESERVED, hold=hold)
    finally:
        await journal.aclose()
    reopened = SqliteJournal(path)
    try:
        entry = await reopened.get("k1")
    finally:
        await reopened.aclose()
    assert entry is not None
    # JSON has no tuples: they come back as lists.
    assert entry.request == {
        **request,
        "intent": {**request["intent"], "targets": ["700001", "700002"]},
    }
    assert entry.hold == {
        "hold_id": "h-1",
        "intent_key": "k1",
        "amount": 20,
        "fence": 3,
        "expires_at": 1700000000.25,
    }


@pytest.mark.anyio
async def test_a_request_that_is_not_json_is_refused_before_writing(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        with pytest.raises(InvalidRequestError, match="JSON"):
            await journal.claim("k1", "events.unlock", {"when": object()}, estimate=None)
        with pytest.raises(InvalidRequestError, match="mapping"):
            await journal.claim("k1", "events.unlock", ["not", "a", "mapping"], estimate=None)  # type: ignore[arg-type]
        assert await journal.entries() == []
    finally:
        await journal.aclose()


# --------------------------------------------------------------------------- listing


@pytest.mark.anyio
async def test_unfinished_lists_live_rows_and_entries_lists_all_oldest_first(
    tmp_path: Path,
) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        for n, state in enumerate((*TERMINAL, *LIVE)):
            key = f"k{n}"
            await journal.claim(key, "events.unlock", {"n": n}, estimate=n)
            if state is not S.PLANNED:
                await journal.advance(key, state, **_reason(state))
        entries = await journal.entries()
        unfinished = await journal.unfinished()
        assert [e.intent_key for e in entries] == [f"k{n}" for n in range(10)]
        assert [e.state for e in entries] == [*TERMINAL, *LIVE]
        assert [e.intent_key for e in unfinished] == [f"k{n}" for n in range(5, 10)]
        assert [e.state for e in unfinished] == list(LIVE)
        stats = await journal.stats()
        assert stats == dict.fromkeys(JournalState, 1)
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_stats_of_an_empty_journal_are_all_zero(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "journal.db")
    try:
        assert await journal.stats() == dict.fromkeys(JournalState, 0)
        assert await journal.get("absent") is None
    finally:
        await journal.aclose()


# --------------------------------------------------------------------------- the file


@pytest.mark.anyio
async def test_journal_file_is_created_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    with umask(0o000):
        journal = SqliteJournal(path)
        await journal.claim("k1", "events.unlock", REQUEST, estimate=1)
    try:
        assert store_modes(path) == (0o600, 0o600, 0o600)
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_journal_uses_write_ahead_logging_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await _journal_at(path, "k1", S.ACKNOWLEDGED)
    await journal.aclose()
    assert query(path, "PRAGMA journal_mode") == [("wal",)]
    reopened = SqliteJournal(path)
    try:
        assert [e.state for e in await reopened.unfinished()] == [S.ACKNOWLEDGED]
    finally:
        await reopened.aclose()


@pytest.mark.anyio
async def test_aclose_is_idempotent_and_later_calls_are_refused(tmp_path: Path) -> None:
    journal = await _journal_at(tmp_path / "journal.db", "k1", S.PLANNED)
    await journal.aclose()
    await journal.aclose()
    with pytest.raises(InvalidRequestError, match="closed"):
        await journal.get("k1")


@pytest.mark.parametrize("path", ["", ":memory:", "file:journal.db?mode=memory"])
def test_non_file_paths_are_refused(path: str) -> None:
    with pytest.raises(ConfigurationError):
        SqliteJournal(path)


@pytest.mark.parametrize("busy_timeout", [-1, float("inf"), "1", True])
def test_bad_busy_timeouts_are_refused(tmp_path: Path, busy_timeout: object) -> None:
    with pytest.raises(ConfigurationError):
        SqliteJournal(tmp_path / "journal.db", busy_timeout=busy_timeout)  # type: ignore[arg-type]


@pytest.mark.anyio
async def test_a_file_that_is_not_a_database_is_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_bytes(b"this is not sqlite" * 100)
    journal = SqliteJournal(path)
    try:
        with pytest.raises(ConfigurationError):
            await journal.entries()
    finally:
        await journal.aclose()


# --------------------------------------------------------------------------- busy


@pytest.mark.anyio
async def test_a_lock_held_for_a_while_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    journal = await _journal_at(path, "k1", S.PLANNED)
    try:
        async with write_locked(path) as release:
            timer = threading.Timer(0.2, release.set)
            timer.start()
            entry = await journal.advance("k1", S.RESERVED, hold={"hold_id": "h1"})
            timer.join(10)
        assert entry.state is S.RESERVED
    finally:
        await journal.aclose()


@pytest.mark.anyio
async def test_a_persistent_lock_is_a_ledger_unavailable_error_not_sqlite_busy(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    journal = await _journal_at(path, "k1", S.PLANNED)
    await journal.aclose()
    journal = SqliteJournal(path, busy_timeout=0.05)
    async with write_locked(path):
        with pytest.raises(LedgerUnavailableError, match="locked") as info:
            await journal.claim("k2", "events.unlock", REQUEST, estimate=1)
        assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    try:
        claim = await journal.claim("k2", "events.unlock", REQUEST, estimate=1)
        assert claim.owned is True
    finally:
        await journal.aclose()
