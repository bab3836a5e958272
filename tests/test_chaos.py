"""The seeded chaos suite: the SDK under faults, judged by the fake server's truth ledger.

Each test prints its seed and a one-line summary of figures. Default CI runs a few
seeds; ``LENSMOR_CHAOS_SEEDS=1,2,3`` (a list) or ``LENSMOR_CHAOS_SEEDS=20`` (seeds
1..20) runs more; ``LENSMOR_CHAOS_STORM_SECONDS`` sets the 429 storm's length.
A failure names its seed: rerun with ``LENSMOR_CHAOS_SEEDS=<seed>`` to replay it
(fault schedules depend only on the seed and the request number).
"""

from __future__ import annotations

import gc
import inspect
import itertools
import logging
import os
import random
import time
import tracemalloc
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web
from chaos_support import (
    RouteSplitSchedule,
    StubServer,
    chaos_seeds,
    emit,
    env_float,
    fd_count,
    key_leaks,
    settled_client_sockets,
    settled_fd_count,
    summary_line,
)

from lensmor_async import (
    AsyncLensmor,
    ConfigurationError,
    ContactUnlockReport,
    CreditGuard,
    InvalidRequestError,
    LensmorError,
    MalformedResponseError,
    RateLimitError,
    RedirectRefusedError,
    RetryPolicy,
    SpendInDoubtError,
    SpendOutcome,
    SpendRecord,
    UnlockTaskHandle,
    always_confirm,
)
from lensmor_async.testing import FakeLensmor, FaultKind, FaultSchedule, FaultTuning

pytestmark = [pytest.mark.anyio, pytest.mark.chaos]

# ----------------------------------------------------------------------------- 1. mixed faults

MIXED_INTENTS = 2000
MIXED_WORKERS = 200
MIXED_BUDGET = 150_000
"""Demand is ~460k credits (see ``_mixed_specs``): the budget binds early."""
EMAIL_PRICE, SEARCH_PRICE, EVENT_PRICE = 15, 50, 2000

PAID_FAULTS = {
    FaultKind.COMMIT_THEN_TIMEOUT: 0.30,
    FaultKind.HTTP_500_BEFORE: 0.05,
    FaultKind.HTTP_500_AFTER: 0.05,
    FaultKind.RESET_BEFORE: 0.05,
    FaultKind.COMMIT_THEN_DROP: 0.05,
    FaultKind.MALFORMED_BODY: 0.10,
}
"""On paid sends: 30% commit-then-timeout, 10% 5xx, 10% resets, 10% malformed."""
READ_FAULTS = {
    FaultKind.HTTP_500_BEFORE: 0.03,
    FaultKind.HTTP_503_BEFORE: 0.03,
    FaultKind.RESET_BEFORE: 0.04,
}
"""On free calls (prechecks, balance, task polls): 10% retryable faults."""


@dataclass(slots=True)
class Spec:
    """One paid intent of the mixed run."""

    kind: str
    """``email``, ``event``, ``search_events`` or ``search_company``."""
    targets: tuple[str, ...]
    event_id: str | None = None

    @property
    def operation(self) -> str:
        return {
            "email": "contacts.unlock",
            "event": "events.unlock",
            "search_events": "exhibitors.search_events",
            "search_company": "exhibitors.search_by_company_name",
        }[self.kind]

    @property
    def identity(self) -> tuple[str, tuple[str, ...]]:
        return (self.operation, self.targets)


@dataclass(slots=True)
class Outcome:
    """What the caller saw for one intent."""

    spec: Spec
    error: BaseException | None = None
    report: ContactUnlockReport | None = None


@dataclass(slots=True)
class Ledgers:
    """Per-intent credits: what the server charged (net) and what the SDK settled."""

    server: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)
    sdk: Counter[tuple[str, tuple[str, ...]]] = field(default_factory=Counter)


def _mixed_specs(fake: FakeLensmor, seed: int) -> list[Spec]:
    """55% email batches (1-8 contacts), 35% searches, 10% event unlocks; all distinct."""
    rng = random.Random(seed)
    kinds = rng.choices(
        ["email", "search_events", "search_company", "event"],
        weights=[55, 18, 17, 10],
        k=MIXED_INTENTS,
    )
    contacts_event = fake.add_event("Chaos Contacts Expo")
    pool = iter(fake.add_personnel(contacts_event.id, 8 * MIXED_INTENTS))
    specs: list[Spec] = []
    for index, kind in enumerate(kinds):
        if kind == "email":
            ids = tuple(sorted(str(next(pool)) for _ in range(rng.randint(1, 8))))
            specs.append(Spec("email", ids, contacts_event.id))
        elif kind == "event":
            event = fake.add_event(f"Chaos Unlock Expo {index}", personnel=3)
            specs.append(Spec("event", (event.id,), event.id))
        else:
            specs.append(Spec(kind, (f"chaoscompany{seed}x{index}",)))
    return specs


async def _wait_patiently(handle: UnlockTaskHandle, attempts: int = 5) -> ContactUnlockReport:
    """What a careful caller does: a failed poll leaves the handle usable, so wait again."""
    for _ in range(attempts - 1):
        try:
            return await handle.wait(deadline=60)
        except LensmorError:
            continue
    return await handle.wait(deadline=60)


async def _run_intent(client: AsyncLensmor, spec: Spec) -> Outcome:
    outcome = Outcome(spec)
    try:
        if spec.kind == "email":
            assert spec.event_id is not None
            handle = await client.contacts.unlock(
                event_id=spec.event_id, personnel_ids=spec.targets
            )
            outcome.report = await _wait_patiently(handle)
        elif spec.kind == "event":
            await client.events.unlock(spec.targets[0])
        elif spec.kind == "search_events":
            await client.exhibitors.search_events(spec.targets[0])
        else:
            await client.exhibitors.search_by_company_name(spec.targets[0])
    except LensmorError as exc:
        outcome.error = exc
    return outcome


def _server_credits(fake: FakeLensmor, specs: list[Spec]) -> Counter[tuple[str, tuple[str, ...]]]:
    """Net credits the server took for each intent (charges minus refunds)."""
    by_contact = {pid: spec for spec in specs if spec.kind == "email" for pid in spec.targets}
    by_target = {spec.targets[0]: spec for spec in specs if spec.kind != "email"}
    credits: Counter[tuple[str, tuple[str, ...]]] = Counter()
    for entry in fake.truth.entries:
        target = entry.intent[-1]
        spec = by_contact.get(target) if entry.operation == "contacts.unlock" else None
        spec = spec or by_target.get(target)
        assert spec is not None, f"the server charged an intent nobody asked for: {entry}"
        credits[spec.identity] += entry.amount
    return credits


def _sdk_credits(record: SpendRecord | None) -> int:
    """What the SDK counts for an intent: what it settled, or the estimate it still holds."""
    if record is None:
        return 0
    if record.outcome is SpendOutcome.IN_DOUBT:
        return record.estimate or 0
    return record.actual or 0


def _records_by_intent(guard: CreditGuard) -> dict[tuple[str, tuple[str, ...]], list[SpendRecord]]:
    grouped: dict[tuple[str, tuple[str, ...]], list[SpendRecord]] = defaultdict(list)
    for record in guard.history:
        grouped[(record.intent.operation, record.intent.targets)].append(record)
    return grouped


def _gap_class(record: SpendRecord | None) -> str:
    """Why the SDK's figure for an intent may differ from the server's (for the summary)."""
    if record is None:
        return "no_record"
    if record.outcome is SpendOutcome.IN_DOUBT:
        reason = record.reason or ""
        return "in_doubt:" + ("cancelled" if "cancelled" in reason else reason.split(":")[0])
    if record.outcome is SpendOutcome.SUCCEEDED and "estimate" in (record.reason or ""):
        return "reconciled_at_estimate"
    return str(record.outcome.value)


def _final_state(outcome: Outcome, records: list[SpendRecord]) -> str:
    if records:
        return str(records[-1].outcome.value)
    if outcome.error is None:
        return "no_record_but_returned"
    return f"before_hold:{type(outcome.error).__name__}"


def _item_states(outcome: Outcome, state: str) -> dict[str, str]:
    """The one final state of each contact of an email batch."""
    if outcome.report is None:
        return dict.fromkeys(outcome.spec.targets, state)
    report = outcome.report
    states: dict[str, str] = {}
    groups = {
        "delivered": [d.personnel_id for d in report.delivered],
        "unlocked_without_email": list(report.unlocked_without_email),
        "failed": [f.personnel_id for f in report.failed],
        "unresolved": list(report.unresolved),
        "skipped": list(report.skipped),
    }
    for name, ids in groups.items():
        for pid in ids:
            assert pid not in states, f"contact {pid} is in two report categories"
            states[pid] = name
    return states


@pytest.mark.parametrize("seed", chaos_seeds(default=(1, 2, 3)))
async def test_mixed_faults_never_overspend_or_pay_twice_and_account_for_every_credit(
    seed: int, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="lensmor_async")
    schedule = RouteSplitSchedule(
        FaultSchedule(seed, PAID_FAULTS), FaultSchedule(seed + 7919, READ_FAULTS)
    )
    tuning = FaultTuning(stall_seconds=5.0)
    async with FakeLensmor(
        seed=seed,
        subscription_balance=10_000_000,
        task_step_seconds=0.01,
        faults=schedule,
        fault_tuning=tuning,
        record_requests=False,
    ) as fake:
        specs = _mixed_specs(fake, seed)
        guard = CreditGuard(always_confirm, budget=MIXED_BUDGET)
        outcomes: list[Outcome] = []
        port = int(fake.url.rsplit(":", 1)[1])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = AsyncLensmor(
                fake.api_key, base_url=fake.url, guard=guard, timeout=0.5, testing=True
            )
            queue: Iterator[Spec] = iter(specs)

            async def worker() -> None:
                for spec in queue:
                    outcomes.append(await _run_intent(client, spec))

            with anyio.fail_after(240):
                async with anyio.create_task_group() as tg:
                    for _ in range(MIXED_WORKERS):
                        tg.start_soon(worker)
                # In-doubt intents keep their holds until reconciled without re-sending.
                await guard.reconcile()
            await client.aclose()
            leaked = await settled_client_sockets(port)
            gc.collect()
        unclosed = [
            w for w in caught if "nclosed" in str(w.message) or w.category is ResourceWarning
        ]

        figures = _mixed_figures(fake, guard, specs, outcomes, caplog.records)
        figures["leaked_conns"] = leaked
        figures["resource_warnings"] = len(unclosed)
        line = summary_line("chaos-mixed", seed, figures)
        emit(line, capsys)

    where = f"(replay: LENSMOR_CHAOS_SEEDS={seed}) {line}"
    assert figures["intents"] == MIXED_INTENTS, where
    assert figures["over_budget"] == 0, where
    assert figures["duplicates"] == 0, where
    assert figures["state_errors"] == 0, where
    assert figures["item_errors"] == 0, where
    assert figures["under_reported"] == 0, where
    assert figures["unexplained_gap"] == 0, where
    assert figures["leaked_conns"] == 0, where
    assert figures["resource_warnings"] == 0, where
    assert figures["key_leaks"] == 0, where
    # Nothing is merely reserved at the end: intents that stay in doubt count as spent at
    # their estimates (and keep their holds in the ledger).
    assert guard.reserved == 0, where


def _mixed_figures(
    fake: FakeLensmor,
    guard: CreditGuard,
    specs: list[Spec],
    outcomes: list[Outcome],
    records: list[logging.LogRecord],
) -> dict[str, object]:
    server = _server_credits(fake, specs)
    history = _records_by_intent(guard)
    states: Counter[str] = Counter()
    gaps: Counter[str] = Counter()
    gap_credits: Counter[str] = Counter()
    state_errors = item_errors = under_reported = items = 0
    sdk_settled = sdk_in_doubt = 0
    for outcome in outcomes:
        spec = outcome.spec
        found = history.get(spec.identity, [])
        state_errors += len(found) > 1 or (not found and outcome.error is None)
        final = _final_state(outcome, found)
        states[final] += 1
        record = found[-1] if found else None
        sdk = _sdk_credits(record)
        if record is not None and record.outcome is SpendOutcome.IN_DOUBT:
            sdk_in_doubt += sdk
        elif record is not None:
            sdk_settled += sdk
        charged = server[spec.identity]
        if sdk < charged:
            under_reported += 1
        elif sdk > charged:
            gaps[_gap_class(record)] += 1
            gap_credits[_gap_class(record)] += sdk - charged
        if spec.kind == "email":
            item_states = _item_states(outcome, final)
            items += len(item_states)
            item_errors += set(item_states) != set(spec.targets)
    explained = {"in_doubt:", "reconciled_at_estimate"}
    unexplained = sum(
        credits for name, credits in gap_credits.items() if not name.startswith(tuple(explained))
    )
    net = fake.truth.net()
    return {
        "intents": len(outcomes),
        "granted": states["succeeded"] + states["free"],
        "refused": states["refused"],
        "failed_no_charge": states["failed_no_charge"],
        "in_doubt": len(guard.in_doubt),
        "items": items,
        "charged": net,
        "sdk_reported": guard.spent + guard.reserved,
        "sdk_settled": sdk_settled,
        "sdk_in_doubt": sdk_in_doubt,
        "gap": guard.spent + guard.reserved - net,
        "gap_classes": ",".join(f"{k}:{gaps[k]}/{gap_credits[k]}" for k in sorted(gaps)) or "-",
        "over_budget": max(0, net - MIXED_BUDGET) + max(0, guard.spent - MIXED_BUDGET),
        "duplicates": len(fake.truth.duplicate_intents(include_repeatable=True)),
        "state_errors": state_errors,
        "item_errors": item_errors,
        "under_reported": under_reported,
        "unexplained_gap": unexplained
        + abs(guard.spent - sdk_settled - sdk_in_doubt)
        + abs(guard.reserved),
        "faults": len(fake.faults_injected),
        "states": ",".join(f"{k}:{v}" for k, v in sorted(states.items())),
        "key_leaks": key_leaks(
            fake.api_key, records, [o.error for o in outcomes if o.error is not None]
        ),
    }


# ----------------------------------------------------------------------------- 2. 429 storm

STORM_WORKERS = 300
STORM_SECONDS_ENV = "LENSMOR_CHAOS_STORM_SECONDS"
EARLY_TOLERANCE = 0.05
"""A request may start at most 50 ms before the Retry-After it was given ran out."""


class StormSchedule(FaultSchedule):
    """Every request is a 429 until the storm ends; the Retry-After form is seeded."""

    def __init__(self, seed: int, seconds: float) -> None:
        super().__init__(seed=seed)
        self.seconds = seconds
        self.ends_at: float | None = None

    def fault_for(self, request_no: int, route: str) -> FaultKind | None:
        now = time.monotonic()
        if self.ends_at is None:
            self.ends_at = now + self.seconds
        if now >= self.ends_at:
            return None
        draw = random.Random(f"{self.seed}:{request_no}").random()
        if draw < 0.1:
            return FaultKind.RATE_LIMIT_GARBAGE
        return FaultKind.RATE_LIMIT_DATE if draw < 0.2 else FaultKind.RATE_LIMIT_SECONDS


@dataclass(slots=True)
class Exchange:
    """One HTTP attempt as the client saw it (monotonic seconds)."""

    url: str
    sent: float
    received: float | None = None
    status: int | None = None
    retry_after: float | None = None


def _retry_after_seconds(value: str | None) -> float | None:
    """The server's Retry-After in seconds, parsed independently of the SDK."""
    import email.utils

    if value is None:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        return email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None


def _tracing(exchanges: list[Exchange]) -> aiohttp.TraceConfig:
    """Record when each request left and when (and how) its answer came back."""
    trace = aiohttp.TraceConfig()

    async def sent(
        session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestHeadersSentParams
    ) -> None:
        del session
        exchange = Exchange(str(params.url), time.monotonic())
        exchanges.append(exchange)
        ctx.exchange = exchange  # type: ignore[attr-defined]

    async def ended(
        session: aiohttp.ClientSession, ctx: object, params: aiohttp.TraceRequestEndParams
    ) -> None:
        del session
        exchange: Exchange | None = getattr(ctx, "exchange", None)
        if exchange is None:
            return
        exchange.received = time.monotonic()
        exchange.status = params.response.status
        exchange.retry_after = _retry_after_seconds(params.response.headers.get("Retry-After"))

    trace.on_request_headers_sent.append(sent)
    trace.on_request_end.append(ended)
    return trace


def _storm_figures(exchanges: list[Exchange], calls: int) -> dict[str, object]:
    by_call: dict[str, list[Exchange]] = defaultdict(list)
    for exchange in exchanges:
        by_call[exchange.url].append(exchange)
    early_same_call = 0
    for chain in by_call.values():
        for before, after in itertools.pairwise(chain):
            if before.status == 429 and before.retry_after and before.received is not None:
                early_same_call += (
                    after.sent < before.received + before.retry_after - EARLY_TOLERANCE
                )
    refusals = sorted(
        (e.received, e.retry_after)
        for e in exchanges
        if e.status == 429 and e.retry_after and e.received is not None
    )
    early_any = 0
    for exchange in exchanges:
        # Requests already past the limiter when a 429 arrived are excused for 50 ms.
        early_any += any(
            got + EARLY_TOLERANCE < exchange.sent < got + wait - EARLY_TOLERANCE
            for got, wait in refusals
            if got < exchange.sent
        )
    successes = sum(1 for e in exchanges if e.status is not None and 200 <= e.status < 300)
    return {
        "requests": len(exchanges),
        "rate_limited": sum(1 for e in exchanges if e.status == 429),
        "calls": calls,
        "sdk_retries": len(exchanges) - calls,
        "successes": successes,
        "early_same_call": early_same_call,
        "early_any": early_any,
    }


@pytest.mark.parametrize("seed", chaos_seeds(default=(1,)))
async def test_429_storm_honours_retry_after_stays_in_the_retry_budget_and_recovers(
    seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds = env_float(STORM_SECONDS_ENV, 10.0)
    exchanges: list[Exchange] = []
    calls = completed = 0
    budget = RetryPolicy()
    async with FakeLensmor(
        seed=seed,
        faults=StormSchedule(seed, seconds),
        fault_tuning=FaultTuning(retry_after_seconds=1),
        record_requests=False,
    ) as fake:
        session = aiohttp.ClientSession(trace_configs=[_tracing(exchanges)])
        client = AsyncLensmor(fake.api_key, base_url=fake.url, session=session, retry=budget)

        async def worker(index: int) -> None:
            nonlocal calls, completed
            while True:
                calls += 1
                try:
                    await client.events.list(keyword=f"storm {seed} {index}")
                except RateLimitError as exc:
                    # What a well-behaved caller does: wait as told, then try again.
                    await anyio.sleep(exc.retry_after if exc.retry_after else 0.5)
                    continue
                completed += 1
                return

        try:
            with anyio.fail_after(seconds + 60):
                async with anyio.create_task_group() as tg:
                    for index in range(STORM_WORKERS):
                        tg.start_soon(worker, index)
        finally:
            await client.aclose()
            await session.close()
        tokens = client._pipeline.retry_budget.tokens
    figures = _storm_figures(exchanges, calls)
    figures.update(storm_s=seconds, completed=completed, budget_tokens_left=tokens)
    line = summary_line("chaos-429-storm", seed, figures)
    emit(line, capsys)
    where = f"(replay: LENSMOR_CHAOS_SEEDS={seed}) {line}"
    assert completed == STORM_WORKERS, where
    assert figures["early_same_call"] == 0, where
    assert figures["early_any"] == 0, where
    retries = int(str(figures["sdk_retries"]))
    successes = int(str(figures["successes"]))
    # botocore-style bucket: 500 tokens, 5 per retry, +1 per clean success.
    assert retries * 5 <= 500 + successes, where


# ----------------------------------------------------------------------------- 3. cancellation

CANCELLATIONS = 1000
CANCEL_WORKERS = 100


def _cancel_specs(fake: FakeLensmor, seed: int) -> list[Spec]:
    """A small pool of intents, drawn at random (so cancelled intents get re-issued)."""
    rng = random.Random(seed)
    contacts_event = fake.add_event("Cancel Contacts Expo")
    pool = iter(fake.add_personnel(contacts_event.id, 2000))
    specs: list[Spec] = []
    for index in range(300):
        draw = rng.random()
        if draw < 0.5:
            ids = tuple(sorted(str(next(pool)) for _ in range(rng.randint(1, 5))))
            specs.append(Spec("email", ids, contacts_event.id))
        elif draw < 0.75:
            event = fake.add_event(f"Cancel Unlock Expo {index}", personnel=2)
            specs.append(Spec("event", (event.id,), event.id))
        else:
            specs.append(Spec("search_events", (f"cancelco{seed}x{index}",)))
    return specs


@pytest.mark.parametrize("seed", chaos_seeds(default=(1, 2)))
async def test_random_cancellations_of_paid_calls_never_pay_twice_or_leak_holds(
    seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    cancelled = calls = settled_tasks = 0
    swallowed: list[BaseException] = []
    async with FakeLensmor(
        seed=seed, subscription_balance=10_000_000, task_step_seconds=0.01, record_requests=False
    ) as fake:
        specs = _cancel_specs(fake, seed)
        guard = CreditGuard(always_confirm, budget=5_000_000)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=guard, testing=True
        ) as client:

            async def worker(index: int) -> None:
                nonlocal cancelled, calls
                rng = random.Random(f"{seed}:{index}")
                while cancelled < CANCELLATIONS:
                    spec = rng.choice(specs)
                    calls += 1
                    with anyio.move_on_after(rng.expovariate(1 / 0.06)) as scope:
                        outcome = await _run_intent(client, spec)
                        if outcome.error is not None and not isinstance(
                            outcome.error, SpendInDoubtError
                        ):
                            swallowed.append(outcome.error)
                    cancelled += scope.cancelled_caught

            with anyio.fail_after(240):
                async with anyio.create_task_group() as tg:
                    for index in range(CANCEL_WORKERS):
                        tg.start_soon(worker, index)
            # Tasks whose wait() was cancelled still hold credits: finish them now.
            for record in guard.history:
                if record.outcome is SpendOutcome.PENDING_TASK and record.task_id:
                    await client.contacts.unlock_task_handle(record.task_id).wait(deadline=30)
                    settled_tasks += 1
            # Cancelled-after-send intents hold their estimates until reconciled.
            await guard.reconcile()
            snapshot = await guard.ledger.snapshot()
        figures: dict[str, object] = {"calls": calls, "cancelled": cancelled}
        figures.update(_cancel_figures(fake, guard, specs))
        figures.update(
            pending_settled_after=settled_tasks,
            reserved=guard.reserved,
            ledger_holds=snapshot.holds,
            ledger_reserved=snapshot.reserved,
            # In-doubt intents count in guard.spent while the ledger still holds them.
            ledger_spent_matches=snapshot.spent + snapshot.reserved == guard.spent,
            errors=len(swallowed),
        )
    line = summary_line("chaos-cancel", seed, figures)
    emit(line, capsys)
    where = f"(replay: LENSMOR_CHAOS_SEEDS={seed}) {line}"
    assert cancelled >= CANCELLATIONS, where
    assert figures["duplicates"] == 0, where
    # What the ledger still holds is exactly the intents that stay in doubt, and the
    # guard counts them as spent, not as merely reserved.
    assert figures["reserved"] == 0, where
    assert figures["ledger_holds"] == figures["in_doubt"], where
    assert figures["ledger_reserved"] == figures["in_doubt_credits"], where
    assert figures["under_reported"] == 0, where
    assert figures["unexplained_gap"] == 0, where
    assert figures["ledger_spent_matches"] is True, where


def _cancel_figures(fake: FakeLensmor, guard: CreditGuard, specs: list[Spec]) -> dict[str, object]:
    """Per intent: the SDK's settled credits (every call of it) against the server's net."""
    server = _server_credits(fake, specs)
    history = _records_by_intent(guard)
    under = unexplained = 0
    for spec in specs:
        records = history.get(spec.identity, [])
        sdk = sum(_sdk_credits(r) for r in records if r.outcome is not SpendOutcome.FREE)
        doubtful = any(r.outcome is SpendOutcome.IN_DOUBT for r in records)
        under += sdk < server[spec.identity]
        if sdk < server[spec.identity] and os.environ.get("LENSMOR_CHAOS_DEBUG"):
            print("UNDER", spec.identity, server[spec.identity], records)
        unexplained += sdk > server[spec.identity] and not doubtful
        if sdk > server[spec.identity] and not doubtful and os.environ.get("LENSMOR_CHAOS_DEBUG"):
            print("OVER", spec.identity, server[spec.identity], records)
    net = fake.truth.net()
    in_doubt = guard.in_doubt
    return {
        "in_doubt": len(in_doubt),
        "cancelled_after_send": sum(1 for r in in_doubt if "cancelled" in (r.reason or "")),
        "in_doubt_credits": sum(_sdk_credits(r) for r in in_doubt),
        "charged": net,
        "sdk_reported": guard.spent + guard.reserved,
        "gap": guard.spent + guard.reserved - net,
        "under_reported": under,
        "unexplained_gap": unexplained,
        "duplicates": len(fake.truth.duplicate_intents()),
    }


# ----------------------------------------------------------------------------- 4. soak

SOAK_CALLS = 10_000
SOAK_WARMUP = 1_000
SOAK_WORKERS = 50
SOAK_GROWTH_LIMIT = 5 * 1024 * 1024
SOAK_FAULTS = {
    FaultKind.HTTP_500_BEFORE: 0.06,
    FaultKind.HTTP_503_BEFORE: 0.04,
    FaultKind.RESET_BEFORE: 0.05,
    FaultKind.RATE_LIMIT_SECONDS: 0.03,
    FaultKind.MALFORMED_BODY: 0.02,
}


async def _soak_call(client: AsyncLensmor, rng: random.Random, number: int) -> str:
    draw = rng.random()
    try:
        if draw < 0.45:
            await client.events.list(page=rng.randint(1, 3))
        elif draw < 0.75:
            await client.events.get(rng.choice(("101", "102", "103", "104")))
        elif draw < 0.95:
            await client.credits.balance()
        else:
            await client.exhibitors.search_events(f"soakco{number % 50}")
    except LensmorError as exc:
        return type(exc).__name__
    return "ok"


@pytest.mark.parametrize("seed", chaos_seeds(default=(1,)))
async def test_soak_with_faults_keeps_memory_flat_and_leaks_no_descriptors(
    seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    fds_before = fd_count()
    results: Counter[str] = Counter()
    async with FakeLensmor(
        seed=seed,
        subscription_balance=10_000_000,
        faults=FaultSchedule(seed, SOAK_FAULTS),
        fault_tuning=FaultTuning(retry_after_seconds=0),
        record_requests=False,
    ) as fake:
        guard = CreditGuard(always_confirm)
        async with AsyncLensmor(
            fake.api_key, base_url=fake.url, guard=guard, testing=True
        ) as client:

            async def run(calls: range) -> None:
                numbers = iter(calls)

                async def worker(index: int) -> None:
                    rng = random.Random(f"{seed}:{calls.start}:{index}")
                    for number in numbers:
                        results[await _soak_call(client, rng, number)] += 1

                async with anyio.create_task_group() as tg:
                    for index in range(SOAK_WORKERS):
                        tg.start_soon(worker, index)

            with anyio.fail_after(240):
                await run(range(SOAK_WARMUP))
                gc.collect()
                tracemalloc.start()
                try:
                    await run(range(SOAK_WARMUP, SOAK_CALLS))
                    gc.collect()
                    growth = tracemalloc.get_traced_memory()[0]
                finally:
                    tracemalloc.stop()
        faults = len(fake.faults_injected)
        requests = fake.state  # keep the server alive until the client is closed
        del requests
    fds_after = await settled_fd_count(fds_before)
    figures: dict[str, object] = {
        "calls": sum(results.values()),
        "ok": results["ok"],
        "failed": sum(results.values()) - results["ok"],
        "faults": faults,
        "growth_kib": growth // 1024,
        "fd_before": fds_before,
        "fd_after": fds_after,
        "fd_leaks": max(0, fds_after - fds_before),
        "errors": ",".join(f"{k}:{v}" for k, v in sorted(results.items()) if k != "ok") or "-",
    }
    line = summary_line("chaos-soak", seed, figures)
    emit(line, capsys)
    where = f"(replay: LENSMOR_CHAOS_SEEDS={seed}) {line}"
    assert figures["calls"] == SOAK_CALLS, where
    assert growth < SOAK_GROWTH_LIMIT, where
    assert figures["fd_leaks"] == 0, where


# ----------------------------------------------------------------------------- 5. bad input

TOO_MANY_IDS = [str(n) for n in range(1000, 3001)]  # 2001: one over the 0.24+ limit


Case = Callable[[AsyncLensmor], object]


def _client_side_cases(fake: FakeLensmor) -> dict[str, Case]:
    """Calls the SDK must refuse before any I/O: API calls, or building a client."""

    def build(key: str = fake.api_key, **options: Any) -> Case:
        options.setdefault("base_url", fake.url)
        return lambda _client: AsyncLensmor(key, **options)

    return {
        "traversal ../admin": lambda c: c.events.get("../admin"),
        "encoded %2e%2e": lambda c: c.events.get("%2e%2e"),
        "dot-dot": lambda c: c.events.get(".."),
        "dot": lambda c: c.events.get("."),
        "slash in id": lambda c: c.events.get("101/unlock"),
        "NUL in id": lambda c: c.events.get("101\x00"),
        "full-width digits": lambda c: c.events.get("\uff11\uff10\uff11"),
        "over-long id": lambda c: c.events.get("1" * 101),
        "paid traversal": lambda c: c.events.unlock("../admin"),
        "paid encoded event": lambda c: c.contacts.unlock(event_id="%2e%2e", personnel_ids=["1"]),
        "paid traversal contact": lambda c: c.contacts.unlock(
            event_id="101", personnel_ids=["../x"]
        ),
        "oversized unlock batch": lambda c: c.contacts.unlock(
            event_id="101", personnel_ids=TOO_MANY_IDS
        ),
        "oversized phone batch": lambda c: c.contacts.unlock_phone(
            event_id="101", personnel_ids=TOO_MANY_IDS
        ),
        "oversized rank batch": lambda c: c.events.rank(TOO_MANY_IDS),
        "task id traversal": lambda c: c.contacts.get_unlock_task("../901"),
        "CR/LF in query text": lambda c: c.contacts.search("acme\r\nX-Evil: 1"),
        "page size over max": lambda c: c.personnel.list("101", page_size=51),
        "javascript url": lambda c: c.exhibitors.search(company_url="javascript:alert(1)"),
        "CR/LF in api key": build(key=fake.api_key + "\r\nX-Evil: 1"),
        "LF in api key": build(key="uak_test\nInjected: yes"),
        "CR/LF in call source": build(call_source="api\r\nX-Evil: 1"),
        "non-loopback http": build(base_url="http://api.example.com"),
        "non-loopback http ip": build(base_url="http://10.0.0.1:8080"),
        "credentials in url": build(base_url=fake.url.replace("//", "//user:pw@")),
    }


async def _deep_json(request: web.Request) -> web.StreamResponse:
    del request
    return web.Response(body=b"[" * 5000 + b"]" * 5000, content_type="application/json")


@pytest.mark.parametrize("seed", chaos_seeds(default=(1,)))
async def test_bad_input_is_refused_before_io_with_typed_errors(
    seed: int, capsys: pytest.CaptureFixture[str]
) -> None:
    refused = typed = 0
    wrong: list[str] = []
    async with StubServer() as other, StubServer(_deep_json) as deep:
        tuning = FaultTuning(redirect_location=f"{other.url}/steal", oversized_bytes=256 * 1024)
        async with FakeLensmor(seed=seed, fault_tuning=tuning) as fake:
            guard = CreditGuard(always_confirm)
            async with AsyncLensmor(
                fake.api_key,
                base_url=fake.url,
                guard=guard,
                testing=True,
                max_body_bytes=64 * 1024,
            ) as client:
                cases = _client_side_cases(fake)
                for name, case in cases.items():
                    try:
                        made = case(client)
                        if inspect.isawaitable(made):
                            await made
                        elif isinstance(made, AsyncLensmor):
                            await made.aclose()
                        wrong.append(f"{name}: accepted")
                    except (InvalidRequestError, ConfigurationError):
                        typed += 1
                    except LensmorError as exc:
                        wrong.append(f"{name}: {type(exc).__name__}")
                    refused += not fake.requests
                client_side_requests = len(fake.requests)

                server_side = {
                    FaultKind.MALFORMED_BODY: MalformedResponseError,
                    FaultKind.TRUNCATED_BODY: MalformedResponseError,
                    FaultKind.OVERSIZED_BODY: MalformedResponseError,
                    FaultKind.REDIRECT_CROSS_ORIGIN: RedirectRefusedError,
                }
                for kind, expected in server_side.items():
                    fake.reset_requests()
                    fake.inject(kind, route="/external/events/list")
                    with pytest.raises(expected):
                        await client.events.list()
                    assert fake.request_count("/external/events/list") == 1, kind
                    typed += 1
            async with AsyncLensmor(fake.api_key, base_url=deep.url, testing=True) as deep_client:
                with pytest.raises(MalformedResponseError):
                    await deep_client.events.list()
                typed += 1
    figures: dict[str, object] = {
        "client_side_cases": len(cases),
        "refused_before_io": refused,
        "server_side_cases": len(server_side) + 1,
        "typed_errors": typed,
        "requests_sent": client_side_requests,
        "other_origin_requests": len(other.seen),
        "deep_json_requests": len(deep.seen),
        "wrong": ";".join(wrong) or "-",
    }
    line = summary_line("chaos-bad-input", seed, figures)
    emit(line, capsys)
    assert wrong == [], line
    assert refused == len(cases), line
    assert client_side_requests == 0, line
    assert typed == len(cases) + len(server_side) + 1, line
    assert other.seen == [], line
    assert len(deep.seen) == 1, line
