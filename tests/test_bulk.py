"""The bulk runner: bounded workers, one budget, per-item results, graceful stops, resume."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from lensmor_async._client import AsyncLensmor
from lensmor_async.bulk import (
    BUDGET_SPENT,
    BulkCheckpoint,
    BulkProgress,
    BulkReport,
    checkpoint_rows,
    result_rows,
    run_bulk,
    write_csv,
    write_jsonl,
)
from lensmor_async.errors import (
    BudgetExceededError,
    InsufficientCreditsError,
    InvalidRequestError,
    NotFoundError,
)
from lensmor_async.guard import CreditGuard, always_confirm
from lensmor_async.models import Page
from lensmor_async.testing import FakeLensmor, FaultKind, FaultSchedule

pytestmark = pytest.mark.anyio

SEARCH_PRICE = 50
BULK_ITEMS = 1000
BULK_BUDGET = 20_000
BULK_FAULTS = {
    FaultKind.HTTP_500_BEFORE: 0.02,
    FaultKind.HTTP_503_BEFORE: 0.02,
    FaultKind.RESET_BEFORE: 0.01,
    FaultKind.COMMIT_THEN_DROP: 0.01,
    FaultKind.HTTP_500_AFTER: 0.01,
}


def _companies(count: int) -> list[str]:
    return [f"bulk company {n:04d}" for n in range(count)]


def _exhibiting(fake: FakeLensmor, count: int) -> FakeLensmor:
    """Give each bulk company an exhibitor, so its search finds it and is charged (0.24+)."""
    for name in _companies(count):
        fake.state.add_exhibitor(name.title())
    return fake


def _client(fake: FakeLensmor, guard: CreditGuard) -> AsyncLensmor:
    return AsyncLensmor(fake.api_key, base_url=fake.url, guard=guard, testing=True)


def _search_work(client: AsyncLensmor, calls: Counter[str]) -> Callable[[str], Any]:
    async def work(name: str) -> Page[Any]:
        calls[name] += 1
        return await client.exhibitors.search_by_company_name(name)

    return work


@pytest.fixture
async def fake() -> AsyncIterator[FakeLensmor]:
    async with FakeLensmor(task_step_seconds=0.01) as server:
        yield _exhibiting(server, 40)


# --------------------------------------------------------------------------- the figure


async def test_a_thousand_items_with_faults_respect_the_budget_and_report_every_item() -> None:
    names = _companies(BULK_ITEMS)
    calls: Counter[str] = Counter()
    progress: list[BulkProgress] = []
    schedule = FaultSchedule(seed=7, rates=BULK_FAULTS)
    async with FakeLensmor(task_step_seconds=0.01, faults=schedule) as server:
        _exhibiting(server, BULK_ITEMS)
        guard = CreditGuard(confirm=always_confirm, budget=BULK_BUDGET)
        async with _client(server, guard) as client:
            report = await run_bulk(
                names, _search_work(client, calls), guard=guard, on_progress=progress.append
            )
        server_net = server.truth.net()
        duplicates = server.truth.duplicate_intents(include_repeatable=True)
        faults = len(server.faults_injected)
    line = (
        f"bulk items={report.total} ok={report.ok} failed={report.failed} "
        f"skipped_budget={report.skipped_budget} spent={report.spent} budget={BULK_BUDGET} "
        f"server_net={server_net} faults={faults}"
    )
    print(line)

    # Every item is reported exactly once, in input order.
    assert [result.key for result in report.results] == names, line
    assert [result.item for result in report.results] == names, line
    assert report.ok + report.failed + report.skipped_budget == BULK_ITEMS, line
    assert report.skipped_done == 0, line
    # work ran at most once per item, and only for items not skipped for the budget.
    assert max(calls.values()) == 1, line
    assert all(
        (calls[result.key] == 1) == (result.status != "skipped_budget" or result.error is not None)
        for result in report.results
    ), line
    # The budget held, judged by the server's own ledger; nothing was bought twice.
    assert server_net <= BULK_BUDGET, line
    assert report.spent == guard.spent <= BULK_BUDGET, line
    assert server_net >= report.ok * SEARCH_PRICE, line
    assert duplicates == {}, line
    # Demand exceeded the budget, so the run stopped; faults failed some items.
    assert report.ok <= BULK_BUDGET // SEARCH_PRICE, line
    assert report.skipped_budget > 0, line
    assert report.stopped is not None, line
    assert faults > 0, line
    assert report.failed > 0, line
    assert all(result.error is not None for result in report.by_status("failed")), line
    # Progress only moves forward and reaches 100%.
    dones = [snapshot.done for snapshot in progress]
    assert dones == sorted(dones), line
    assert (progress[-1].done, progress[-1].total, progress[-1].fraction) == (1000, 1000, 1.0)
    assert progress[-1].ok == report.ok, line
    assert progress[-1].spent == report.spent, line


# --------------------------------------------------------------------------- failures


async def test_one_failing_item_does_not_sink_the_batch() -> None:
    async def work(n: int) -> int:
        if n == 3:
            raise ValueError("bad item")
        if n == 5:
            raise NotFoundError("no such event")
        await anyio.lowlevel.checkpoint()
        return n * 10

    report = await run_bulk(range(8), work, concurrency=3)

    assert [result.status for result in report.results] == [
        "ok", "ok", "ok", "failed", "ok", "failed", "ok", "ok",
    ]  # fmt: skip
    assert [result.value for result in report.by_status("ok")] == [0, 10, 20, 40, 60, 70]
    assert isinstance(report.results[3].error, ValueError)
    assert isinstance(report.results[5].error, NotFoundError)
    assert (report.ok, report.failed, report.stopped, report.spent) == (6, 2, None, 0)
    assert report.summary().startswith("bulk items=8 ok=6 failed=2 skipped_budget=0")


async def test_cancellation_propagates_and_is_never_reported_as_a_failure() -> None:
    started: list[int] = []
    outcome: list[object] = []
    with anyio.CancelScope() as scope:

        async def work(n: int) -> int:
            started.append(n)
            if n == 2:
                scope.cancel()
            await anyio.sleep(0.01)
            return n

        outcome.append(await run_bulk(range(50), work, concurrency=4))
    assert scope.cancelled_caught
    assert outcome == []
    assert len(started) < 50


# --------------------------------------------------------------------------- stops


async def test_a_server_402_stops_new_paid_work_gracefully(fake: FakeLensmor) -> None:
    names = _companies(10)
    calls: Counter[str] = Counter()
    guard = CreditGuard(confirm=always_confirm)
    async with _client(fake, guard) as client:
        # The guard now caches a large balance; the server's real one drops behind its back.
        fake.state.add_exhibitor("Primer Company")
        await client.exhibitors.search_by_company_name("primer company")
        fake.set_balance(subscription=2 * SEARCH_PRICE, gift=0)
        report = await run_bulk(names, _search_work(client, calls), concurrency=1, guard=guard)

    assert [result.status for result in report.results] == ["ok", "ok"] + ["skipped_budget"] * 8
    refused = report.results[2].error
    assert isinstance(refused, InsufficientCreditsError)
    assert (refused.status, refused.preflight) == (402, False)
    assert all(result.error is None for result in report.results[3:])
    assert sum(calls.values()) == 3
    assert report.stopped == "InsufficientCreditsError"
    assert fake.truth.net() == 3 * SEARCH_PRICE


async def test_the_guards_balance_check_stops_the_run_before_the_server_refuses(
    fake: FakeLensmor,
) -> None:
    fake.set_balance(subscription=2 * SEARCH_PRICE + 20, gift=0)
    guard = CreditGuard(confirm=always_confirm)
    calls: Counter[str] = Counter()
    async with _client(fake, guard) as client:
        report = await run_bulk(
            _companies(40), _search_work(client, calls), concurrency=4, guard=guard
        )

    assert (report.ok, report.failed, report.skipped_budget) == (2, 0, 38)
    assert sum(calls.values()) == 4
    preflight = [r.error for r in report.results if r.error is not None]
    assert len(preflight) == 2
    assert all(isinstance(e, InsufficientCreditsError) and e.preflight for e in preflight)
    assert fake.truth.net() == 2 * SEARCH_PRICE
    assert fake.request_count("/external/exhibitors/search-by-company-name") == 2


async def test_a_spent_budget_skips_the_rest_without_calling_work(fake: FakeLensmor) -> None:
    guard = CreditGuard(confirm=always_confirm, budget=2 * SEARCH_PRICE)
    calls: Counter[str] = Counter()
    async with _client(fake, guard) as client:
        report = await run_bulk(
            _companies(12), _search_work(client, calls), concurrency=1, guard=guard
        )

    assert (report.ok, report.skipped_budget, report.stopped) == (2, 10, BUDGET_SPENT)
    assert sum(calls.values()) == 2
    assert all(result.error is None for result in report.by_status("skipped_budget"))
    assert report.spent == fake.truth.net() == 2 * SEARCH_PRICE


async def test_a_budget_refusal_in_flight_is_skipped_budget_with_its_error(
    fake: FakeLensmor,
) -> None:
    guard = CreditGuard(confirm=always_confirm, budget=3 * SEARCH_PRICE)
    async with _client(fake, guard) as client:
        report = await run_bulk(
            _companies(30), _search_work(client, Counter()), concurrency=8, guard=guard
        )

    assert report.ok == 3
    refused = [r for r in report.results if isinstance(r.error, BudgetExceededError)]
    assert refused
    assert all(r.status == "skipped_budget" for r in refused)
    assert report.stopped == "BudgetExceededError"
    assert fake.truth.net() == report.spent == 3 * SEARCH_PRICE


# --------------------------------------------------------------------------- resume


async def test_resume_skips_items_a_checkpoint_has_done(fake: FakeLensmor, tmp_path: Path) -> None:
    names = _companies(30)
    first_calls: Counter[str] = Counter()
    second_calls: Counter[str] = Counter()
    path = tmp_path / "bulk.db"

    def summarize(page: Page[Any]) -> dict[str, int]:
        return {"items": len(page.items)}

    first_guard = CreditGuard(confirm=always_confirm, budget=10 * SEARCH_PRICE)
    async with (
        _client(fake, first_guard) as client,
        BulkCheckpoint(path, summarize=summarize) as checkpoint,
    ):
        first = await run_bulk(
            names, _search_work(client, first_calls), guard=first_guard, resume=checkpoint
        )
    second_guard = CreditGuard(confirm=always_confirm)
    async with (
        _client(fake, second_guard) as client,
        BulkCheckpoint(path, summarize=summarize) as checkpoint,
    ):
        second = await run_bulk(
            names, _search_work(client, second_calls), guard=second_guard, resume=checkpoint
        )

    done_first = {r.key: r.summary for r in first.by_status("ok")}
    assert len(done_first) == 10
    assert all(set(summary) == {"items"} for summary in done_first.values())
    assert {r.key: r.summary for r in second.by_status("skipped_done")} == done_first
    assert all(r.value is None for r in second.by_status("skipped_done"))
    assert second.ok == 20
    assert set(second_calls).isdisjoint(done_first)
    assert set(second_calls) | set(done_first) == set(names)
    # The server sold each company search exactly once across both runs.
    assert Counter(fake.truth.charges_by_intent().values()) == {1: 30}
    assert second.spent == 20 * SEARCH_PRICE


async def test_failed_and_skipped_items_run_again_on_resume(tmp_path: Path) -> None:
    attempts: Counter[int] = Counter()

    async def flaky(n: int) -> int:
        attempts[n] += 1
        if n % 3 == 0 and attempts[n] == 1:
            raise ValueError("first attempt fails")
        return n

    async with BulkCheckpoint(tmp_path / "bulk.db") as checkpoint:
        first = await run_bulk(range(9), flaky, resume=checkpoint)
        second = await run_bulk(range(9), flaky, resume=checkpoint)

    assert (first.ok, first.failed) == (6, 3)
    assert (second.ok, second.skipped_done, second.failed) == (3, 6, 0)
    assert [r.key for r in second.by_status("ok")] == ["0", "3", "6"]
    assert attempts == dict.fromkeys(range(9), 1) | {0: 2, 3: 2, 6: 2}


async def test_checkpoint_file_is_private_and_keeps_json_summaries(tmp_path: Path) -> None:
    path = tmp_path / "bulk.db"
    old_umask = os.umask(0o000)
    try:
        async with BulkCheckpoint(path) as checkpoint:
            await checkpoint.mark_done("a", {"n": [1, 2], "name": "Zürich"})
            await checkpoint.mark_done("b")
            await checkpoint.mark_done("a", {"n": 3})
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
    async with BulkCheckpoint(path) as reopened:
        assert await reopened.completed() == {"a": {"n": 3}, "b": None}
        assert await reopened.forget("a", "missing") == 1
        assert await reopened.completed() == {"b": None}
        assert await reopened.forget() == 1
        assert await reopened.completed() == {}


async def test_a_summary_that_cannot_be_stored_stops_the_run_and_is_raised(
    tmp_path: Path,
) -> None:
    started: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        await anyio.lowlevel.checkpoint()
        return n

    async with BulkCheckpoint(tmp_path / "bulk.db", summarize=lambda n: object()) as checkpoint:
        with pytest.raises(InvalidRequestError, match="JSON"):
            await run_bulk(range(100), work, concurrency=2, resume=checkpoint)
        assert await checkpoint.completed() == {}
    assert len(started) <= 3


# --------------------------------------------------------------------------- bounds, progress


async def test_concurrency_bound_is_respected_by_a_fixed_pool_of_workers() -> None:
    active = peak = 0
    tasks: set[int] = set()

    async def work(n: int) -> int:
        nonlocal active, peak
        tasks.add(anyio.get_current_task().id)
        active += 1
        peak = max(peak, active)
        for _ in range(3):
            await anyio.lowlevel.checkpoint()
        active -= 1
        return n

    report = await run_bulk(range(200), work, concurrency=7)

    assert report.ok == 200
    assert peak == 7
    assert len(tasks) == 7


async def test_progress_is_reported_once_per_item_and_reaches_total() -> None:
    progress: list[BulkProgress] = []

    async def work(n: int) -> int:
        if n == 4:
            raise ValueError("boom")
        return n

    await run_bulk(range(10), work, concurrency=3, on_progress=progress.append)

    assert [p.done for p in progress] == list(range(11))
    assert progress[0] == BulkProgress(done=0, total=10, ok=0, failed=0, skipped=0, spent=0)
    assert (progress[-1].ok, progress[-1].failed, progress[-1].fraction) == (9, 1, 1.0)


def test_progress_rate_and_eta_count_only_the_items_worked_in_this_run() -> None:
    progress = BulkProgress(
        done=14, total=30, ok=14, failed=0, skipped=10, spent=0, elapsed=2.0, resumed=10
    )
    assert progress.rate == 2.0  # 4 items worked in 2 s; the 10 resumed ones cost nothing
    assert progress.eta == 8.0  # 16 left at 2 per second


def test_progress_has_no_rate_before_the_first_item_and_no_eta_left_when_done() -> None:
    start = BulkProgress(
        done=3, total=9, ok=0, failed=0, skipped=3, spent=0, elapsed=0.5, resumed=3
    )
    assert (start.rate, start.eta) == (None, None)
    end = BulkProgress(done=9, total=9, ok=9, failed=0, skipped=0, spent=0, elapsed=3.0)
    assert (end.rate, end.eta) == (3.0, 0.0)


async def test_progress_snapshots_carry_a_growing_elapsed_time() -> None:
    progress: list[BulkProgress] = []

    async def work(n: int) -> int:
        await anyio.sleep(0.01)
        return n

    await run_bulk(range(5), work, concurrency=2, on_progress=progress.append)

    elapsed = [p.elapsed for p in progress]
    assert elapsed == sorted(elapsed)
    assert elapsed[-1] > 0
    assert progress[-1].rate is not None
    assert progress[-1].eta == 0.0


async def test_an_empty_run_still_reports_complete_progress() -> None:
    progress: list[BulkProgress] = []

    async def work(n: int) -> int:
        return n

    nothing: list[int] = []
    report = await run_bulk(nothing, work, on_progress=progress.append)

    assert report.results == ()
    assert progress == [BulkProgress(done=0, total=0, ok=0, failed=0, skipped=0, spent=0)]
    assert progress[0].fraction == 1.0


async def test_a_progress_callback_error_stops_the_run_and_is_raised() -> None:
    calls: list[int] = []

    def on_progress(progress: BulkProgress) -> None:
        if progress.done == 2:
            raise RuntimeError("display broke")

    async def work(n: int) -> int:
        calls.append(n)
        return n

    with pytest.raises(RuntimeError, match="display broke"):
        await run_bulk(range(50), work, concurrency=1, on_progress=on_progress)
    assert calls == [0, 1]


# --------------------------------------------------------------------------- arguments


async def test_duplicate_keys_are_refused_before_any_work() -> None:
    calls: list[str] = []

    async def work(item: str) -> str:
        calls.append(item)
        return item

    with pytest.raises(InvalidRequestError, match="share the key"):
        await run_bulk(["a", "b", "a"], work)
    assert calls == []


@pytest.mark.parametrize("concurrency", [0, -1, True, 2.5])
async def test_bad_concurrency_is_refused(concurrency: object) -> None:
    async def work(n: int) -> int:
        return n

    with pytest.raises(InvalidRequestError, match="concurrency"):
        await run_bulk([1], work, concurrency=concurrency)  # type: ignore[arg-type]


async def test_keys_must_be_strings() -> None:
    async def work(n: int) -> int:
        return n

    with pytest.raises(InvalidRequestError, match="must return a str"):
        await run_bulk([1, 2], work, key=lambda n: n)  # type: ignore[arg-type,return-value]


# -- exports ----------------------------------------------------------------------------------


async def _mixed_report() -> BulkReport[int, Page[int]]:
    async def work(n: int) -> Page[int]:
        if n == 1:
            raise ValueError("no such company")
        return Page(items=(n, n + 1), total=2, page=1, page_size=2, total_pages=1, has_more=False)

    return await run_bulk(range(3), work)


async def test_results_export_as_one_json_object_per_item(tmp_path: Path) -> None:
    report = await _mixed_report()
    path = tmp_path / "results.jsonl"
    assert write_jsonl(result_rows(report.results), path) == 3
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(row["key"], row["status"]) for row in rows] == [
        ("0", "ok"),
        ("1", "failed"),
        ("2", "ok"),
    ]
    assert rows[0]["value"]["items"] == [0, 1]
    assert rows[1]["value"] is None
    assert rows[1]["error"] == "ValueError: no such company"


async def test_results_export_as_csv_with_nested_values_as_json_text(tmp_path: Path) -> None:
    report = await _mixed_report()
    path = tmp_path / "results.csv"
    assert write_csv(result_rows(report.results), path) == 3
    with path.open(encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["key", "status", "value", "error", "summary"]
    assert json.loads(rows[2]["value"])["items"] == [2, 3]
    assert (rows[1]["status"], rows[1]["value"], rows[1]["error"]) == (
        "failed",
        "",
        "ValueError: no such company",
    )


async def test_a_checkpoint_exports_its_finished_items_to_an_open_file(tmp_path: Path) -> None:
    async with BulkCheckpoint(tmp_path / "bulk.db") as checkpoint:
        await checkpoint.mark_done("acme", {"events": 3})
        await checkpoint.mark_done("globex")
        completed = await checkpoint.completed()
    out = io.StringIO()
    assert write_csv(checkpoint_rows(completed), out) == 2
    assert out.getvalue().splitlines() == ["key,summary", 'acme,"{""events"":3}"', "globex,"]
    out = io.StringIO()
    assert write_jsonl(checkpoint_rows(completed), out) == 2
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {"key": "acme", "summary": {"events": 3}},
        {"key": "globex", "summary": None},
    ]


def test_an_empty_export_writes_nothing(tmp_path: Path) -> None:
    assert write_csv([], tmp_path / "empty.csv") == 0
    assert (tmp_path / "empty.csv").read_text() == ""
