"""``contacts.unlock_all``: any number of contacts in guarded batches, one confirmation."""

from __future__ import annotations

import pytest
from guard_helpers import Recorder, assert_books_match, connect

from lensmor_async import InvalidRequestError, SpendDeclinedError
from lensmor_async.guard import CreditGuard
from lensmor_async.testing import FakeLensmor

pytestmark = pytest.mark.anyio

EVENT = "101"  # 237 people
UNLOCK_ROUTE = "/external/contacts/unlock"


async def test_batches_are_confirmed_once_for_the_total_and_each_is_guarded(
    fake: FakeLensmor,
) -> None:
    ids = list(fake.state.rosters[EVENT])
    recorder = Recorder()
    guard = CreditGuard(recorder)
    async with connect(fake, guard) as client:
        handles = await client.contacts.unlock_all(
            personnel_ids=ids, event_id=EVENT, batch_size=100
        )
        reports = [await handle.wait() for handle in handles]
    (asked,) = recorder.requests
    assert asked.expected_credits == 15 * len(ids)
    assert len(asked.targets) == len(ids)
    sent = [len(r.json["personnel_ids"]) for r in fake.requests_for(UNLOCK_ROUTE)]
    assert sent == [100, 100, len(ids) - 200]
    assert sum(
        len(r.delivered) + len(r.unlocked_without_email) + len(r.failed) for r in reports
    ) == len(ids)
    assert guard.spent == fake.truth.net()
    assert_books_match(guard, fake)


async def test_more_than_the_api_limit_is_split_at_2000(fake: FakeLensmor) -> None:
    ids = [str(i) for i in fake.add_personnel(EVENT, 2100)]
    fake.set_balance(subscription=100_000)
    guard = CreditGuard(Recorder())
    async with connect(fake, guard) as client:
        handles = await client.contacts.unlock_all(personnel_ids=ids)
        for handle in handles:
            await handle.wait()
    sent = [len(r.json["personnel_ids"]) for r in fake.requests_for(UNLOCK_ROUTE)]
    assert sent == [2000, 100]
    assert 0 < guard.spent == fake.truth.net() <= 15 * 2100  # failed contacts are refunded
    assert_books_match(guard, fake)


async def test_a_declined_total_sends_nothing(fake: FakeLensmor) -> None:
    guard = CreditGuard(Recorder(answer=False))
    async with connect(fake, guard) as client:
        with pytest.raises(SpendDeclinedError):
            await client.contacts.unlock_all(
                personnel_ids=list(fake.state.rosters[EVENT]), batch_size=100
            )
    assert fake.requests_for(UNLOCK_ROUTE) == []
    assert (guard.spent, guard.reserved, len(fake.truth)) == (0, 0, 0)


@pytest.mark.parametrize("size", [0, 2001, True, 1.5])
async def test_a_bad_batch_size_is_refused_before_any_request(
    fake: FakeLensmor, size: object
) -> None:
    async with connect(fake, CreditGuard(Recorder())) as client:
        with pytest.raises(InvalidRequestError):
            await client.contacts.unlock_all(personnel_ids=["700001"], batch_size=size)  # type: ignore[arg-type]
    assert fake.requests == []
