"""Bulk results (and a checkpoint's finished items) as JSON Lines or CSV files.

Rows are plain mappings, so one pair of writers serves both sources::

    write_jsonl(result_rows(report.results), "results.jsonl")
    write_csv(checkpoint_rows(await checkpoint.completed()), "done.csv")

The writers are synchronous (they write a local file); for a very large export from
async code, run them in a thread (``anyio.to_thread.run_sync``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any

from lensmor_async.bulk._results import ItemResult
from lensmor_async.errors import sanitize_message
from lensmor_async.models.converter import to_jsonable

Target = str | os.PathLike[str] | IO[str]
"""A path (created or replaced) or an open text file (left open)."""


def result_rows(results: Iterable[ItemResult[Any, Any]]) -> Iterator[dict[str, Any]]:
    """One row per item: ``key``, ``status``, ``value``, ``error``, ``summary``."""
    for result in results:
        error = result.error
        yield {
            "key": result.key,
            "status": result.status,
            "value": to_jsonable(result.value),
            "error": None if error is None else f"{type(error).__name__}: {_text(error)}",
            "summary": to_jsonable(result.summary),
        }


def checkpoint_rows(completed: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per finished item of a checkpoint (``await checkpoint.completed()``)."""
    for key, summary in completed.items():
        yield {"key": key, "summary": to_jsonable(summary)}


def write_jsonl(rows: Iterable[Mapping[str, Any]], target: Target) -> int:
    """Write one JSON object per line; returns how many rows were written."""
    count = 0
    with _opened(target) as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
            count += 1
    return count


def write_csv(rows: Iterable[Mapping[str, Any]], target: Target) -> int:
    """Write a header (the first row's keys) and one line per row; returns the row count.

    Nested values (a model, a list) are written as compact JSON text in their cell,
    ``None`` as an empty cell.
    """
    count = 0
    with _opened(target) as out:
        writer: Any = None
        for row in rows:
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(row), lineterminator="\n")
                writer.writeheader()
            writer.writerow({name: _cell(value) for name, value in row.items()})
            count += 1
    return count


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return value


def _text(error: BaseException) -> str:
    return sanitize_message(str(error), 500)


@contextlib.contextmanager
def _opened(target: Target) -> Iterator[IO[str]]:
    if isinstance(target, str | os.PathLike):
        with open(target, "w", encoding="utf-8", newline="") as out:
            yield out
    else:
        yield target
