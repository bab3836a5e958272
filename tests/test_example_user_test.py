"""An example of testing your own code with the lensmor_async pytest plugin.

Copy this file into your project: the fixtures come from the plugin that ships with
lensmor-async (no conftest needed). ``unlock_if_worth_it`` stands in for your code.
"""

from __future__ import annotations

import pytest

from lensmor_async import (
    AsyncLensmor,
    CreditGuard,
    InsufficientCreditsError,
    SpendDeclinedError,
    SpendInDoubtError,
    SpendRequest,
)
from lensmor_async.testing import FakeLensmor, FaultKind, TruthLedger, UnlockOutcome

pytestmark = pytest.mark.anyio

UNLOCK_ROUTE = "/external/events/{id}/unlock"
PERSONNEL_ROUTE = "/external/personnel/list"


# --- the code under test (yours) --------------------------------------------------------


async def unlock_if_worth_it(client: AsyncLensmor, event_id: str, *, min_people: int) -> bool:
    """Unlock an event only when its preview shows at least ``min_people`` people."""
    preview = await client.personnel.list(event_id, page_size=1)
    counts = preview.semantics.counts if preview.semantics is not None else None
    people = counts.actual_total if counts is not None else preview.total
    if not preview.unlock_required or people is None or people < min_people:
        return False
    await client.events.unlock(event_id)
    return True


# --- the tests ----------------------------------------------------------------------------


async def test_a_big_locked_event_is_unlocked_and_paid_once(
    lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    assert await unlock_if_worth_it(lensmor_client, "101", min_people=100)
    assert await unlock_if_worth_it(lensmor_client, "101", min_people=100) is False

    # Judge by what the server charged, not by what the SDK thinks it spent.
    assert lensmor_truth.net() == 2000
    assert lensmor_truth.charges_by_intent() == {("events.unlock", "101"): 1}


async def test_a_small_event_costs_nothing(
    lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    assert await unlock_if_worth_it(lensmor_client, "107", min_people=100) is False
    assert lensmor_truth.entries == []


async def test_seeded_event_with_enough_people_is_unlocked(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    event = fake_lensmor.add_event("My Expo 2026", personnel=150)

    assert await unlock_if_worth_it(lensmor_client, event.id, min_people=100)
    page = await lensmor_client.personnel.list(event.id)
    assert page.access_mode == "full"
    assert lensmor_truth.for_intent(("events.unlock", event.id))[0].amount == 2000


async def test_a_short_balance_refuses_before_anything_is_charged(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    fake_lensmor.set_balance(subscription=500, gift=0)

    with pytest.raises(InsufficientCreditsError) as caught:
        await unlock_if_worth_it(lensmor_client, "101", min_people=100)

    assert caught.value.required == 2000
    assert lensmor_truth.entries == []
    assert fake_lensmor.request_count(UNLOCK_ROUTE) == 0


@pytest.mark.lensmor_fake(subscription_balance=1000, gift_balance=0)
async def test_the_marker_configures_the_fake_server(lensmor_client: AsyncLensmor) -> None:
    balance = await lensmor_client.credits.balance()
    assert balance.total_balance == 1000


async def test_transient_errors_on_free_reads_are_retried_without_sleeping(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor
) -> None:
    fake_lensmor.inject(FaultKind.HTTP_503_BEFORE, count=2, route=PERSONNEL_ROUTE)

    assert await unlock_if_worth_it(lensmor_client, "101", min_people=100)
    # Two 503s, then the successful attempt: testing mode made the backoff instant.
    assert fake_lensmor.request_count(PERSONNEL_ROUTE) == 3
    assert [fault.kind for fault in fake_lensmor.faults_injected] == [FaultKind.HTTP_503_BEFORE] * 2


async def test_a_lost_response_is_reconciled_not_paid_twice(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    # The server unlocks (and charges), then the connection drops before the answer.
    fake_lensmor.inject(FaultKind.COMMIT_THEN_DROP, route=UNLOCK_ROUTE)

    with pytest.raises(SpendInDoubtError):
        await unlock_if_worth_it(lensmor_client, "101", min_people=100)

    assert fake_lensmor.request_count(UNLOCK_ROUTE) == 1  # never re-sent
    assert lensmor_truth.duplicate_intents() == {}
    assert lensmor_client.guard.spent == lensmor_truth.net() == 2000


async def test_contact_unlock_report_matches_the_server(
    fake_lensmor: FakeLensmor, lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger
) -> None:
    fake_lensmor.set_unlock_outcome("700002", UnlockOutcome.FAILED)

    handle = await lensmor_client.contacts.unlock(
        event_id="101", personnel_ids=["700001", "700002"]
    )
    report = await handle.wait()

    assert [contact.personnel_id for contact in report.delivered] == ["700001"]
    assert [(f.personnel_id, f.error_code) for f in report.failed] == [("700002", "TASK_FAILED")]
    # Both were charged at submit; the failed one was refunded when the task ended.
    assert lensmor_truth.total_charged() == 30
    assert lensmor_truth.total_refunded() == 15
    assert report.credits_spent == lensmor_truth.net() == 15


class TestWhenThePersonDeclines:
    """Overriding ``lensmor_guard`` changes the guard of ``lensmor_client`` in this scope."""

    @pytest.fixture
    def asked(self) -> list[SpendRequest]:
        return []

    @pytest.fixture
    def lensmor_guard(self, asked: list[SpendRequest]) -> CreditGuard:
        def decline(request: SpendRequest) -> bool:
            asked.append(request)
            return False

        return CreditGuard(confirm=decline)

    async def test_nothing_is_spent(
        self, lensmor_client: AsyncLensmor, lensmor_truth: TruthLedger, asked: list[SpendRequest]
    ) -> None:
        with pytest.raises(SpendDeclinedError):
            await unlock_if_worth_it(lensmor_client, "101", min_people=100)

        assert [request.expected_credits for request in asked] == [2000]
        assert lensmor_truth.entries == []
