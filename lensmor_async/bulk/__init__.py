"""Bulk research for worker pools: bounded concurrency, one budget, per-item results.

::

    guard = CreditGuard(confirm=always_confirm, budget=20_000)
    async with AsyncLensmor(guard=guard) as client, BulkCheckpoint("job.db") as checkpoint:
        report = await run_bulk(
            companies,
            client.exhibitors.search_by_company_name,
            concurrency=16,
            guard=guard,
            resume=checkpoint,
        )
    print(report.summary())
    write_jsonl(result_rows(report.results), "results.jsonl")  # or write_csv(...)
"""

from __future__ import annotations

from lensmor_async.bulk._checkpoint import BulkCheckpoint
from lensmor_async.bulk._export import checkpoint_rows, result_rows, write_csv, write_jsonl
from lensmor_async.bulk._results import BulkProgress, BulkReport, ItemResult, ItemStatus
from lensmor_async.bulk._runner import BUDGET_SPENT, run_bulk

__all__ = [
    "BUDGET_SPENT",
    "BulkCheckpoint",
    "BulkProgress",
    "BulkReport",
    "ItemResult",
    "ItemStatus",
    "checkpoint_rows",
    "result_rows",
    "run_bulk",
    "write_csv",
    "write_jsonl",
]
