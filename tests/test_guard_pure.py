"""CreditGuard decisions without a network: stub services, stub sender, real guard.

The guard's pipeline step (``CreditGuard.run_paid``) is driven directly with hand-made
``Call`` objects. Services (balance, precheck, task polls) and the send step are stubs
that count what they were asked, so every assertion here is about the guard's own
arithmetic and verdicts: settlement, in-doubt handling, 402 latching, cancellation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
import attrs
import pytest
from guard_helpers import CountingLedger, Recorder

from lensmor_async._call import Call, SendProbe
from lensmor_async._core import operations as ops
from lensmor_async._core import spend as spend_checks
from lensmor_async._core.operations import Operation
from lensmor_async.errors import (
    ActionNotAllowedError,
    APIConnectionError,
    BudgetExceededError,
    ConfigurationError,
    ConfirmationRequiredError,
    InsufficientCreditsError,
    NotFoundError,
    ServerError,
    SpendDeclinedError,
    SpendInDoubtError,
)
from lensmor_async.guard import (
    CostTable,
    CreditGuard,
    Intent,
    SpendOutcome,
    SpendRequest,
    always_confirm,
)
from lensmor_async.guard._tasks import EMAIL
from lensmor_async.models import (
    BalanceAfter,
    CreditBalance,
    EventRef,
    EventUnlockResult,
    LinkedinActivityUnlockItem,
    LinkedinActivityUnlockResult,
    Page,
    PrecheckDetail,
    PrecheckResult,
    UnlockSubmission,
    UnlockTask,
    UnlockTaskItem,
)

pytestmark = pytest.mark.anyio

SEARCH = ops.EXHIBITORS_SEARCH_EVENTS
GUARD_SECONDS = 10  # deadlock guard only, never a timing assertion


# --------------------------------------------------------------------------- stubs


def balance_of(total: int) -> CreditBalance:
    return CreditBalance(
        total_amount=total,
        total_balance=total,
        subscription_amount=total,
        subscription_balance=total,
        gift_amount=0,
        gift_balance=0,
    )


def precheck_answer(
    reason: str = "ok",
    *,
    allowed: bool = True,
    credits: int = 2000,
    should_charge: bool = True,
    access_mode: str | None = None,
    personnel_ids: tuple[str, ...] | None = None,
) -> PrecheckResult:
    return PrecheckResult(
        ok=True,
        action_type="unlock_event_contacts",
        allowed=allowed,
        should_charge=should_charge,
        credits=credits if should_charge else 0,
        reason_code=reason,
        biz_code="",
        detail=PrecheckDetail(access_mode=access_mode, personnel_ids=personnel_ids),
    )


class StubServices:
    """The guard's free calls: balances from a script, prechecks from a queue."""

    def __init__(self, balances: list[int] | int = 100_000) -> None:
        self._balances = [balances] if isinstance(balances, int) else list(balances)
        self.balance_calls = 0
        self.prechecks: list[PrecheckResult] = []
        self.tasks = {}
        self.precheck_calls: list[tuple[str, dict[str, Any]]] = []

    tasks: dict[str, UnlockTask]

    def set_balance(self, total: int) -> None:
        self._balances = [total]

    async def balance(self) -> CreditBalance:
        self.balance_calls += 1
        # Each fetch consumes one scripted value; the last one repeats forever.
        total = self._balances.pop(0) if len(self._balances) > 1 else self._balances[0]
        return balance_of(total)

    async def precheck(self, action_type: str, params: Mapping[str, Any]) -> PrecheckResult:
        self.precheck_calls.append((action_type, dict(params)))
        if len(self.prechecks) > 1:
            return self.prechecks.pop(0)
        return self.prechecks[0] if self.prechecks else precheck_answer()

    async def unlock_task(self, phone: bool, task_id: str) -> UnlockTask:
        return self.tasks.get(task_id) or UnlockTask(
            task_id=task_id, task_status="processing", items=()
        )

    def finish_task(
        self, task_id: str, *, unlocked: tuple[str, ...], failed: tuple[str, ...]
    ) -> None:
        items = [
            UnlockTaskItem(personnel_id=pid, status="unlocked", email=f"{pid}@x.test")
            for pid in unlocked
        ]
        items += [
            UnlockTaskItem(personnel_id=pid, status="failed", error_code="TASK_FAILED")
            for pid in failed
        ]
        self.tasks[task_id] = UnlockTask(
            task_id=task_id, task_status="completed", items=tuple(items)
        )


SEARCH_HIT: Page[str] = Page(
    items=("hit",), total=1, page=1, page_size=20, total_pages=1, has_more=False
)


def default_answer(call: Call[Any]) -> Any:
    """A paid search finds something (so it is charged); other calls echo their body."""
    return SEARCH_HIT if call.operation.name.startswith("exhibitors.search") else {"ok": call.body}


class StubSender:
    """The send step: records calls; answers, raises, or blocks as told."""

    def __init__(
        self,
        answer: Callable[[Call[Any]], Any] | None = None,
        *,
        error: BaseException | None = None,
        block: anyio.Event | None = None,
        block_after_start: bool = True,
    ) -> None:
        self.answer = answer or default_answer
        self.error = error
        self.block = block
        self.block_after_start = block_after_start
        self.calls: list[Call[Any]] = []

    async def __call__(
        self, call: Call[Any], *, deadline: float | None, probe: SendProbe | None = None
    ) -> Any:
        self.calls.append(call)
        if self.block is not None and not self.block_after_start:
            await self.block.wait()
        if probe is not None:
            probe.started = True
        if self.block is not None and self.block_after_start:
            await self.block.wait()
        if self.error is not None:
            raise self.error
        return self.answer(call)


# --------------------------------------------------------------------------- calls


def search_call(company: str = "acme") -> Call[Any]:
    return Call(
        operation=SEARCH,
        path=SEARCH.route,
        decode=lambda data: data,
        body={"company_name": company},
        intent=Intent(operation=SEARCH.name, targets=(company,)),
    )


def event_call(event_id: str = "101") -> Call[Any]:
    op = ops.EVENTS_UNLOCK
    return Call(
        operation=op,
        path=f"/external/events/{event_id}/unlock",
        decode=lambda data: data,
        intent=Intent(operation=op.name, targets=(event_id,), event_id=event_id),
    )


def item_call(op: Operation, ids: tuple[str, ...]) -> Call[Any]:
    return Call(
        operation=op,
        path=op.route,
        decode=lambda data: data,
        body={"personnel_ids": list(ids)},
        intent=Intent(operation=op.name, targets=tuple(sorted(ids))),
    )


def contact_call(ids: list[str], event_id: str = "103") -> Call[Any]:
    op = ops.CONTACTS_UNLOCK
    return Call(
        operation=op,
        path=op.route,
        decode=lambda data: data,
        body={"personnel_ids": ids, "event_id": event_id},
        intent=Intent(operation=op.name, targets=tuple(sorted(set(ids))), event_id=event_id),
    )


def unlock_result(used: int, after: int | None) -> EventUnlockResult:
    return EventUnlockResult(
        success=True,
        already_unlocked=used == 0,
        credits_used=used,
        event=EventRef(id="101", event_id="139574"),
        balance_after=None if after is None else BalanceAfter(total_balance=after),
    )


def linkedin_result(call: Call[Any]) -> LinkedinActivityUnlockResult:
    items = tuple(
        LinkedinActivityUnlockItem(personnel_id=pid, success=True, already_unlocked=False)
        for pid in call.body["personnel_ids"]
    )
    return LinkedinActivityUnlockResult(items=items)


def bound(
    services: StubServices,
    confirm: Any = always_confirm,
    **options: Any,
) -> CreditGuard:
    guard = CreditGuard(confirm, **options)
    guard.bind(services)
    return guard


async def paid(guard: CreditGuard, call: Call[Any], sender: StubSender) -> Any:
    """The pipeline's view of the guard step (no deadline)."""
    return await guard.run_paid(call, sender, deadline=None)


async def run(guard: CreditGuard, call: Call[Any], sender: StubSender) -> Any:
    with anyio.fail_after(GUARD_SECONDS):
        return await guard.run_paid(call, sender, deadline=None)


def outcomes(guard: CreditGuard) -> list[SpendOutcome]:
    return [record.outcome for record in guard.history]


async def paid_or_collect(
    guard: CreditGuard,
    call: Call[Any],
    sender: StubSender,
    errors: list[BaseException],
    expected: type[BaseException],
) -> None:
    """A paid call whose ``expected`` error is collected instead of raised (in a task group)."""
    try:
        await guard.run_paid(call, sender, deadline=None)
    except expected as exc:
        errors.append(exc)


async def cancel_once_blocked(guard: CreditGuard, sender: StubSender) -> int:
    """Start a paid search, cancel it once every task is blocked; returns what was held then."""
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(paid, guard, search_call(), sender)
            await anyio.wait_all_tasks_blocked()
            held = guard.reserved
            tg.cancel_scope.cancel()
    return held


# --------------------------------------------------------------------------- fail closed


async def test_no_confirm_callback_fails_closed_before_any_service_or_send() -> None:
    services = StubServices()
    guard = bound(services, confirm=None)
    sender = StubSender()
    with pytest.raises(ConfirmationRequiredError):
        await run(guard, search_call(), sender)
    assert sender.calls == []
    assert services.balance_calls == 0
    assert services.precheck_calls == []


async def test_a_truthy_answer_that_is_not_true_declines_and_releases_the_hold() -> None:
    for answer in (1, "yes", [True], None):
        guard = bound(StubServices(), confirm=Recorder(answer))
        sender = StubSender()
        with pytest.raises(SpendDeclinedError):
            await run(guard, search_call(), sender)
        assert sender.calls == []
        assert guard.reserved == 0
        assert (await guard.ledger.snapshot()).holds == 0
        assert outcomes(guard) == [SpendOutcome.DECLINED]


async def test_an_async_confirm_callback_is_awaited_and_sees_the_spend_request() -> None:
    seen: list[SpendRequest] = []

    async def confirm(request: SpendRequest) -> bool:
        await anyio.lowlevel.checkpoint()
        seen.append(request)
        return True

    guard = bound(StubServices(5000), confirm=confirm, budget=1000)
    sender = StubSender()
    await run(guard, search_call("acme"), sender)
    assert len(sender.calls) == 1
    (request,) = seen
    assert request.operation == SEARCH.name
    assert request.targets == ("acme",)
    assert request.expected_credits == 50
    assert request.current_balance == 5000
    assert request.budget_remaining == 1000
    assert request.requote is False


# --------------------------------------------------------------------------- settlement


async def test_actual_charge_comes_from_the_response_and_its_balance_is_adopted() -> None:
    services = StubServices(10_000)
    recorder = Recorder()
    guard = bound(services, confirm=recorder)
    sender = StubSender(lambda call: unlock_result(1800, 8200))
    await run(guard, event_call("101"), sender)
    assert guard.spent == 1800
    assert guard.reserved == 0
    snapshot = await guard.ledger.snapshot()
    assert (snapshot.spent, snapshot.reserved, snapshot.holds) == (1800, 0, 0)
    (record,) = guard.history
    assert (record.outcome, record.estimate, record.actual) == (SpendOutcome.SUCCEEDED, 2000, 1800)
    # The next check uses balanceAfter (8200) without fetching the balance again.
    await run(guard, search_call(), StubSender())
    assert services.balance_calls == 1
    assert recorder.requests[-1].current_balance == 8200


async def test_a_settled_spend_is_subtracted_locally_instead_of_refetching() -> None:
    services = StubServices(1000)
    recorder = Recorder()
    guard = bound(services, confirm=recorder)
    for name in ("a", "b", "c"):
        await run(guard, search_call(name), StubSender())
    assert services.balance_calls == 1
    assert [r.current_balance for r in recorder.requests] == [1000, 950, 900]
    assert guard.spent == 150


async def test_unknown_price_is_measured_from_the_balance_before_and_after() -> None:
    services = StubServices([1000, 970])
    recorder = Recorder()
    guard = bound(services, confirm=recorder)
    await run(
        guard,
        item_call(ops.PERSONNEL_UNLOCK_LINKEDIN, ("1", "2", "3")),
        StubSender(linkedin_result),
    )
    assert recorder.requests[0].expected_credits is None
    assert guard.spent == 30
    assert guard.history[-1].actual == 30


async def test_two_measured_spends_in_a_row_are_both_measured_correctly() -> None:
    services = StubServices([1000, 970, 950])
    guard = bound(services)
    linkedin = ops.PERSONNEL_UNLOCK_LINKEDIN
    await run(guard, item_call(linkedin, ("1", "2", "3")), StubSender(linkedin_result))
    await run(guard, item_call(linkedin, ("4", "5")), StubSender(linkedin_result))
    assert [record.actual for record in guard.history] == [30, 20]
    assert guard.spent == 50


async def test_priced_item_route_settles_per_newly_unlocked_item() -> None:
    costs = CostTable.default().with_prices(personnel__unlock_linkedin_activity=10)
    guard = bound(StubServices(1000), costs=costs)

    def answer(call: Call[Any]) -> LinkedinActivityUnlockResult:
        ids = call.body["personnel_ids"]
        return LinkedinActivityUnlockResult(
            items=tuple(
                LinkedinActivityUnlockItem(
                    personnel_id=pid, success=pid != "3", already_unlocked=pid == "2"
                )
                for pid in ids
            )
        )

    await run(guard, item_call(ops.PERSONNEL_UNLOCK_LINKEDIN, ("1", "2", "3")), StubSender(answer))
    (record,) = guard.history
    assert (record.estimate, record.actual) == (30, 10)
    assert guard.spent == 10


# --------------------------------------------------------------------------- admission


async def test_holds_of_calls_in_flight_count_against_the_balance() -> None:
    costs = CostTable.default().with_prices(exhibitors__search_events=600)
    services = StubServices(1000)
    guard = bound(services, costs=costs)
    release = anyio.Event()
    sender = StubSender(block=release)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(paid, guard, search_call("first"), sender)
            await anyio.wait_all_tasks_blocked()
            assert guard.reserved == 600
            with pytest.raises(InsufficientCreditsError) as caught:
                await guard.run_paid(search_call("second"), sender, deadline=None)
            release.set()
    assert (caught.value.required, caught.value.available, caught.value.preflight) == (
        600,
        400,
        True,
    )
    assert len(sender.calls) == 1
    assert guard.spent == 600
    assert guard.reserved == 0


async def test_a_call_admitted_while_another_settles_never_exceeds_the_balance() -> None:
    ledger = CountingLedger()
    services = StubServices(100)
    guard = bound(services, ledger=ledger)
    release_b = anyio.Event()
    fast = StubSender()
    slow = StubSender(block=release_b)
    late = StubSender()
    late_error: list[BaseException] = []
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(paid, guard, search_call("b"), slow)  # holds 50, in flight
            await anyio.wait_all_tasks_blocked()
            ledger.commit_gate = anyio.Event()
            tg.start_soon(paid, guard, search_call("a"), fast)  # spends 50, settling
            await ledger.in_commit.wait()
            # 100 - 50 spent - 50 held: nothing is left for the late call.
            tg.start_soon(
                paid_or_collect, guard, search_call("c"), late, late_error, InsufficientCreditsError
            )
            await anyio.wait_all_tasks_blocked()
            ledger.commit_gate.set()
            release_b.set()
    assert late.calls == []
    assert len(late_error) == 1


async def test_budget_refusal_is_recorded_and_leaves_nothing_held() -> None:
    guard = bound(StubServices(1000), budget=40)
    sender = StubSender()
    with pytest.raises(BudgetExceededError) as caught:
        await run(guard, search_call(), sender)
    assert caught.value.required == 50
    assert caught.value.available == 40
    assert sender.calls == []
    assert guard.reserved == 0
    assert guard.history[-1].outcome is SpendOutcome.REFUSED
    assert guard.history[-1].reason == "budget"


async def test_unknown_price_under_a_budget_is_refused_as_a_configuration_error() -> None:
    guard = bound(StubServices(1000), budget=500)
    sender = StubSender(linkedin_result)
    with pytest.raises(ConfigurationError):
        await run(guard, item_call(ops.PERSONNEL_UNLOCK_LINKEDIN, ("1",)), sender)
    assert sender.calls == []
    assert guard.reserved == 0


# --------------------------------------------------------------------------- precheck verdicts


async def test_precheck_already_unlocked_sends_without_confirm_or_hold() -> None:
    services = StubServices(1000)
    services.prechecks = [precheck_answer("already_unlocked", allowed=False, should_charge=False)]
    ledger = CountingLedger()
    recorder = Recorder()
    guard = bound(services, confirm=recorder, ledger=ledger)
    sender = StubSender(lambda call: unlock_result(0, None))
    result = await run(guard, event_call("102"), sender)
    assert result.already_unlocked is True
    assert recorder.requests == []
    assert ledger.reserves == 0
    assert len(sender.calls) == 1
    assert outcomes(guard) == [SpendOutcome.FREE]
    assert guard.spent == 0
    # The guard now knows: a repeat needs no precheck either.
    await run(guard, event_call("102"), sender)
    assert len(services.precheck_calls) == 1


async def test_precheck_reason_that_forbids_the_action_refuses_without_sending() -> None:
    services = StubServices(1000)
    services.prechecks = [
        precheck_answer("no_contacts_available", allowed=False, should_charge=False)
    ]
    guard = bound(services)
    sender = StubSender()
    with pytest.raises(ActionNotAllowedError) as caught:
        await run(guard, event_call("104"), sender)
    assert caught.value.reason_code == "no_contacts_available"
    assert sender.calls == []
    assert outcomes(guard) == [SpendOutcome.REFUSED]


async def test_contact_batch_is_trimmed_to_the_chargeable_ids_and_held_until_the_task_ends() -> (
    None
):
    services = StubServices(1000)
    services.prechecks = [
        precheck_answer("already_unlocked", allowed=False, credits=30, personnel_ids=("c", "d"))
    ]
    recorder = Recorder()
    guard = bound(services, confirm=recorder)
    sender = StubSender(lambda call: UnlockSubmission(status="accepted", task_id="t1"))
    await run(guard, contact_call(["a", "c", "d", "b"]), sender)
    (sent,) = sender.calls
    assert sent.body["personnel_ids"] == ["c", "d"]
    assert recorder.requests[0].expected_credits == 30
    assert guard.reserved == 30
    assert guard.spent == 0
    assert outcomes(guard) == [SpendOutcome.PENDING_TASK]
    services.finish_task("t1", unlocked=("c",), failed=("d",))
    report = await guard.task_handle_for_id(EMAIL, "t1").wait()
    assert report.credits_spent == 15
    assert (guard.spent, guard.reserved) == (15, 0)
    assert outcomes(guard) == [SpendOutcome.SUCCEEDED]  # the pending record was replaced


async def test_failed_contacts_are_charged_only_when_configured() -> None:
    services = StubServices(1000)
    services.prechecks = [precheck_answer(credits=30, personnel_ids=("c", "d"))]
    guard = bound(services, charge_failed_contacts=True)
    sender = StubSender(lambda call: UnlockSubmission(status="accepted", task_id="t9"))
    await run(guard, contact_call(["c", "d"]), sender)
    services.finish_task("t9", unlocked=("c",), failed=("d",))
    assert (await guard.task_handle_for_id(EMAIL, "t9").wait()).credits_spent == 30
    assert guard.spent == 30


# --------------------------------------------------------------------------- failures and doubt


async def test_error_before_the_request_left_releases_the_hold() -> None:
    guard = bound(StubServices(1000))
    sender = StubSender(error=APIConnectionError("refused", request_sent=False))
    with pytest.raises(APIConnectionError):
        await run(guard, search_call(), sender)
    assert (guard.spent, guard.reserved) == (0, 0)
    assert outcomes(guard) == [SpendOutcome.FAILED_NO_CHARGE]
    assert guard.in_doubt == ()


async def test_a_4xx_answer_releases_the_hold() -> None:
    guard = bound(StubServices(1000))
    sender = StubSender(error=NotFoundError("no such event", status=404))
    with pytest.raises(NotFoundError):
        await run(guard, search_call(), sender)
    assert (guard.spent, guard.reserved) == (0, 0)
    assert outcomes(guard) == [SpendOutcome.FAILED_NO_CHARGE]


async def test_lost_response_with_event_now_unlocked_is_settled_as_charged() -> None:
    services = StubServices(10_000)
    services.prechecks = [
        precheck_answer(),  # the quote: locked, 2000
        precheck_answer("already_unlocked", allowed=False, should_charge=False, access_mode="full"),
    ]
    guard = bound(services)
    sender = StubSender(error=APIConnectionError("reset", request_sent=True))
    with pytest.raises(SpendInDoubtError):
        await run(guard, event_call("101"), sender)
    assert guard.spent == 2000
    assert guard.reserved == 0
    assert outcomes(guard) == [SpendOutcome.SUCCEEDED]
    assert guard.in_doubt == ()
    assert len(sender.calls) == 1  # reconciled by precheck, never re-sent


async def test_lost_response_with_event_still_locked_releases_the_hold() -> None:
    services = StubServices(10_000)
    services.prechecks = [precheck_answer(), precheck_answer()]
    guard = bound(services)
    sender = StubSender(error=APIConnectionError("reset", request_sent=True))
    with pytest.raises(APIConnectionError):
        await run(guard, event_call("101"), sender)
    assert (guard.spent, guard.reserved) == (0, 0)
    assert outcomes(guard) == [SpendOutcome.FAILED_NO_CHARGE]
    assert len(sender.calls) == 1


async def test_unknowable_outcome_stays_in_doubt_and_counts_against_the_budget() -> None:
    guard = bound(StubServices(10_000), budget=90)
    sender = StubSender(error=ServerError("boom", status=500))
    with pytest.raises(SpendInDoubtError) as caught:
        await run(guard, search_call("a"), sender)
    assert caught.value.intent == search_call("a").intent
    # Not released: it counts as spent (at its estimate), and its hold keeps counting
    # against the budget until reconcile() settles it.
    assert guard.spent == 50
    assert guard.reserved == 0
    (doubt,) = guard.in_doubt
    assert doubt.outcome is SpendOutcome.IN_DOUBT
    assert (await guard.ledger.snapshot()).reserved == 50
    with pytest.raises(BudgetExceededError):
        await run(guard, search_call("b"), StubSender())


# --------------------------------------------------------------------------- 402 latch


async def _reject_with_402(guard: CreditGuard) -> InsufficientCreditsError:
    sender = StubSender(error=InsufficientCreditsError("Insufficient credits", status=402))
    with pytest.raises(InsufficientCreditsError) as caught:
        await run(guard, search_call("rejected"), sender)
    return caught.value


async def _latched_guard(
    monkeypatch: pytest.MonkeyPatch, recheck_seconds: float
) -> tuple[StubServices, CreditGuard]:
    """A guard whose 402 latch is set, rechecking the balance after ``recheck_seconds``."""
    monkeypatch.setattr(spend_checks, "LATCH_RECHECK_SECONDS", recheck_seconds)
    services = StubServices(10_000)
    guard = bound(services)
    await _reject_with_402(guard)
    return services, guard


async def test_a_402_is_reported_with_the_estimate_and_charges_nothing() -> None:
    guard = bound(StubServices(10_000))
    error = await _reject_with_402(guard)
    assert error.status == 402
    assert error.required == 50
    assert error.preflight is False
    assert "Insufficient credits" in str(error)
    assert (guard.spent, guard.reserved) == (0, 0)
    assert outcomes(guard) == [SpendOutcome.REJECTED_402]


async def test_after_a_402_paid_calls_are_refused_before_sending(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, guard = await _latched_guard(monkeypatch, 3600.0)
    sender = StubSender()
    for name in ("x", "y"):
        with pytest.raises(InsufficientCreditsError) as caught:
            await run(guard, search_call(name), sender)
        assert caught.value.preflight is True
    assert sender.calls == []
    assert guard.history[-1].reason == "server_402_latched"


async def test_the_402_latch_holds_while_a_recheck_shows_too_little(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, guard = await _latched_guard(monkeypatch, 0.0)
    services.set_balance(20)
    sender = StubSender()
    with pytest.raises(InsufficientCreditsError):
        await run(guard, search_call("x"), sender)
    assert sender.calls == []


async def test_the_402_latch_lifts_when_a_recheck_shows_enough(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, guard = await _latched_guard(monkeypatch, 0.0)
    services.set_balance(5000)
    sender = StubSender()
    await run(guard, search_call("x"), sender)
    assert len(sender.calls) == 1
    assert guard.spent == 50


async def test_a_balance_refresh_the_guard_makes_is_never_ignored_by_the_latch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    services, guard = await _latched_guard(monkeypatch, 3600.0)
    services.set_balance(5000)
    fetched_before = services.balance_calls
    sender = StubSender()
    try:
        await run(guard, search_call("x"), sender)
    except InsufficientCreditsError:
        # Refusing is fine only if the guard did not fetch a balance that shows enough.
        assert services.balance_calls == fetched_before
    else:
        assert len(sender.calls) == 1


# --------------------------------------------------------------------------- cancellation


async def test_cancelled_while_confirm_blocks_releases_the_hold_and_sends_nothing() -> None:
    never = anyio.Event()

    async def confirm(request: SpendRequest) -> bool:
        await never.wait()
        return True

    guard = bound(StubServices(1000), confirm=confirm)
    sender = StubSender()
    assert await cancel_once_blocked(guard, sender) == 50  # held while the person decides
    assert sender.calls == []
    assert (guard.spent, guard.reserved) == (0, 0)
    snapshot = await guard.ledger.snapshot()
    assert (snapshot.reserved, snapshot.holds, snapshot.spent) == (0, 0, 0)


async def test_cancelled_before_the_request_left_is_recorded_as_cancelled() -> None:
    guard = bound(StubServices(1000))
    sender = StubSender(block=anyio.Event(), block_after_start=False)
    await cancel_once_blocked(guard, sender)
    assert len(sender.calls) == 1
    assert (guard.spent, guard.reserved) == (0, 0)
    assert outcomes(guard) == [SpendOutcome.CANCELLED]
    assert (await guard.ledger.snapshot()).holds == 0


async def test_cancelled_after_the_request_left_is_marked_in_doubt_and_counted() -> None:
    guard = bound(StubServices(1000), budget=1000)
    sender = StubSender(block=anyio.Event(), block_after_start=True)
    await cancel_once_blocked(guard, sender)
    assert outcomes(guard) == [SpendOutcome.IN_DOUBT]
    (doubt,) = guard.in_doubt
    assert doubt.actual is None
    assert doubt.estimate == 50
    assert (guard.spent, guard.reserved) == (50, 0)  # in doubt: spent at its estimate
    snapshot = await guard.ledger.snapshot()
    assert (snapshot.spent, snapshot.reserved) == (0, 50)


# --------------------------------------------------------------------------- single-flight


async def test_identical_concurrent_intents_share_one_send_and_one_result() -> None:
    guard = bound(StubServices(1000))
    release = anyio.Event()
    # A new answer object per send: sharing shows as every caller getting the same one.
    sender = StubSender(lambda call: attrs.evolve(SEARCH_HIT), block=release)
    results: list[Any] = []

    async def caller() -> None:
        results.append(await guard.run_paid(search_call("same"), sender, deadline=None))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert len(sender.calls) == 1
    assert len(results) == 10
    assert all(result is results[0] for result in results)
    assert guard.spent == 50


async def test_followers_of_a_failed_flight_get_the_same_error_and_nothing_is_resent() -> None:
    guard = bound(StubServices(1000))
    release = anyio.Event()
    sender = StubSender(error=NotFoundError("gone", status=404), block=release)
    errors: list[BaseException] = []
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(
                    paid_or_collect, guard, search_call("same"), sender, errors, NotFoundError
                )
            await anyio.wait_all_tasks_blocked()
            release.set()
    assert len(errors) == 5
    assert len(sender.calls) == 1
    assert guard.reserved == 0
