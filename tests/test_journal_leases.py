"""Journal leases on both backends: fencing tokens, renewal, take-over, stale owners fenced out.

Every test runs on the SQLite journal and on a ``RedisJournal`` against a real
redis-server (``ledger_backends``). Two journal objects with different ``host_id``
stand for two hosts sharing one journal.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from ledger_backends import closed_port

from lensmor_async.errors import (
    ConfigurationError,
    CreditError,
    InvalidRequestError,
    LeaseLostError,
    LedgerUnavailableError,
)
from lensmor_async.guard import Journal, JournalState, RedisJournal, SqliteJournal

pytestmark = pytest.mark.anyio
S = JournalState
REQUEST = {"path": "/external/events/101/unlock", "body": {"event_id": "101"}}
SHORT = 0.3
"""A lease short enough to watch expire."""

JournalMaker = Callable[..., Journal]


@pytest.fixture(params=["sqlite", "redis"])
async def make_journal(
    request: pytest.FixtureRequest, tmp_path: Path, anyio_backend: str
) -> AsyncIterator[JournalMaker]:
    """``make_journal(host_id=..., lease_ttl=...)``: another handle on ONE shared journal."""
    made: list[Journal] = []
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    key = f"lensmor-test:{uuid.uuid4().hex}"

    def make(**options: Any) -> Journal:
        journal: Journal
        if url is None:
            journal = SqliteJournal(tmp_path / "journal.db", **options)
        else:
            journal = RedisJournal(url, key=key, **options)
        made.append(journal)
        return journal

    try:
        yield make
    finally:
        for journal in made:
            await journal.aclose()


async def test_a_claim_carries_fence_one_a_future_lease_and_the_host_id(
    make_journal: JournalMaker,
) -> None:
    journal = make_journal(host_id="host-a")
    claim = await journal.claim("k1", "events.unlock", REQUEST, estimate=2000)
    entry = claim.entry
    assert claim.owned
    assert entry.fence == 1
    assert entry.owner.startswith("host-a:")
    assert entry.lease_expires_at > entry.updated_at
    assert (entry.state, entry.request, entry.estimate) == (S.PLANNED, REQUEST, 2000)


async def test_the_same_intent_claimed_from_two_hosts_has_one_owner(
    make_journal: JournalMaker,
) -> None:
    a, b = make_journal(host_id="host-a"), make_journal(host_id="host-b")
    first = await a.claim("k1", "events.unlock", REQUEST, estimate=2000)
    second = await b.claim("k1", "events.unlock", REQUEST, estimate=2000)
    assert (first.owned, second.owned) == (True, False)
    assert second.entry.owner == first.entry.owner


async def test_a_live_lease_is_not_taken_over_an_expired_one_is_with_a_higher_fence(
    make_journal: JournalMaker,
) -> None:
    a, b = make_journal(host_id="host-a", lease_ttl=SHORT), make_journal(host_id="host-b")
    await a.claim("k1", "events.unlock", REQUEST, estimate=2000)
    await a.advance("k1", S.SENDING, fence=1)
    assert await b.take_over("k1") is None
    await anyio.sleep(SHORT + 0.1)
    taken = await b.take_over("k1")
    assert taken is not None
    assert (taken.fence, taken.state) == (2, S.SENDING)
    assert taken.owner.startswith("host-b:")
    assert await b.take_over("missing-key") is None


async def test_a_stale_owner_cannot_write_renew_or_advance_after_a_take_over(
    make_journal: JournalMaker,
) -> None:
    a, b = make_journal(host_id="host-a"), make_journal(host_id="host-b")
    await a.claim("k1", "events.unlock", REQUEST, estimate=2000)
    taken = await b.take_over("k1", force=True)
    assert taken is not None
    with pytest.raises(LeaseLostError, match="fence 1"):
        await a.advance("k1", S.SUCCEEDED, fence=1, actual=2000)
    assert await a.renew("k1", 1) is False
    row = await b.get("k1")
    assert row is not None
    assert (row.state, row.actual, row.fence) == (S.PLANNED, None, 2)  # nothing written
    assert await b.renew("k1", 2) is True
    done = await b.advance("k1", S.FAILED_NO_CHARGE, fence=2, reason="never sent")
    assert done.state is S.FAILED_NO_CHARGE


async def test_renewing_and_fenced_writes_push_the_lease_forward(
    make_journal: JournalMaker,
) -> None:
    a, b = make_journal(host_id="host-a", lease_ttl=SHORT), make_journal(host_id="host-b")
    await a.claim("k1", "events.unlock", REQUEST, estimate=2000)
    for _ in range(3):
        await anyio.sleep(SHORT / 2)
        assert await a.renew("k1", 1)
    await anyio.sleep(SHORT / 2)
    await a.advance("k1", S.RESERVED, fence=1)
    await anyio.sleep(SHORT / 2)
    assert await b.take_over("k1") is None  # 0.6 s after the claim, still held


async def test_a_new_claim_of_a_no_charge_row_starts_afresh_with_the_next_fence(
    make_journal: JournalMaker,
) -> None:
    a, b = make_journal(host_id="host-a"), make_journal(host_id="host-b")
    await a.claim("k1", "events.unlock", REQUEST, estimate=2000)
    await a.advance("k1", S.FAILED_NO_CHARGE, fence=1, reason="budget")
    again = await b.claim("k1", "events.unlock", REQUEST, estimate=1500)
    assert again.owned
    entry = again.entry
    assert (entry.fence, entry.state, entry.estimate, entry.reason) == (2, S.PLANNED, 1500, None)
    assert [row.intent_key for row in await a.entries()] == ["k1"]


async def test_rows_keep_their_fields_order_and_forward_only_moves(
    make_journal: JournalMaker,
) -> None:
    journal = make_journal()
    hold = {"hold_id": "h", "intent_key": "k2", "amount": 15, "fence": 3, "expires_at": 1.5}
    for key in ("k2", "k1", "k3"):
        await journal.claim(key, "contacts.unlock", REQUEST, estimate=15)
    await journal.advance("k2", S.RESERVED, fence=1, hold=hold)
    await journal.advance("k2", S.ACKNOWLEDGED, task_id="task-9")
    await journal.advance("k1", S.IN_DOUBT, reason="lost answer")
    await journal.advance("k3", S.SUCCEEDED, actual=15, hold=None)
    with pytest.raises(CreditError, match="cannot move from acknowledged to reserved"):
        await journal.advance("k2", S.RESERVED)
    with pytest.raises(InvalidRequestError, match="needs a reason"):
        await journal.advance("k2", S.IN_DOUBT)
    with pytest.raises(CreditError, match="no intent"):
        await journal.advance("nope", S.SENDING)
    rows = await journal.entries()
    assert [(r.intent_key, r.state) for r in rows] == [
        ("k2", S.ACKNOWLEDGED),
        ("k1", S.IN_DOUBT),
        ("k3", S.SUCCEEDED),
    ]
    assert (rows[0].hold, rows[0].task_id) == (hold, "task-9")
    assert (rows[1].reason, rows[2].actual, rows[2].hold) == ("lost answer", 15, None)
    assert [r.intent_key for r in await journal.unfinished()] == ["k2"]


async def test_the_default_host_id_is_the_machine_and_a_bad_one_is_refused(
    make_journal: JournalMaker,
) -> None:
    assert make_journal().owner.rpartition(":")[0] == socket.gethostname()
    with pytest.raises(ConfigurationError, match="host_id"):
        make_journal(host_id="a:b")
    with pytest.raises(ConfigurationError, match="lease_ttl"):
        make_journal(lease_ttl=0)


async def test_an_unreachable_redis_journal_fails_closed_without_secrets(
    anyio_backend: str,
) -> None:
    url = f"redis://:hunter2-secret@127.0.0.1:{closed_port()}/0"
    journal = RedisJournal(url, key="unreachable", socket_timeout=2)
    try:
        with pytest.raises(LedgerUnavailableError) as info:
            await journal.claim("k1", "events.unlock", REQUEST, estimate=1)
        assert "hunter2" not in str(info.value)
        assert info.value.__cause__ is not None
    finally:
        await journal.aclose()
