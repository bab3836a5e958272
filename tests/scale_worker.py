"""A worker process for the scale and crash tests, and the parent-side helper that runs it.

Child side — ``python tests/scale_worker.py '<json config>'`` builds::

    AsyncLensmor(key, base_url=url, testing=True, guard=CreditGuard(
        confirm=always_confirm, ledger=<SqliteLedger|RedisLedger>,
        journal=<SqliteJournal, RedisJournal or None>, checkpoint=<crash hook>,
        costs=<price map>))

does its intents and prints ONE JSON result line on stdout. Config keys:

* ``url``, ``api_key``, ``budget``, ``prices`` (operation → credits for the guard's table);
* ``ledger``: ``{"kind": "sqlite", "path": ...}`` or ``{"kind": "redis", "url": ..., "key": ...}``;
* ``journal``: a path (SQLite), ``{"kind": "redis", "url": ..., "key": ...}``, or null for
  no journal; ``host_id`` and ``lease_ttl`` (optional) configure it, so one machine can
  play several hosts of a fleet;
* ``barrier``: ``{"dir": ..., "parties": n}`` — wait until n workers are ready, so they race;
* ``crash``: ``{"point": <checkpoint name>, "call": n}`` — SIGKILL itself at the first
  ``point`` checkpoint once the n-th paid call has reserved (``after_reserve`` count);
* ``dedupe_window``: the guard's search dedupe window (default 300 s);
* ``poll_intervals``: task poll intervals (default: the testing ones, 0.01 s);
* ``recover``: call ``client.recover(deadline=recover_deadline or 30)`` first and report
  what it did;
* ``mode``: ``search`` (``searches``: company names, ``concurrency``), ``same_unlock``
  (``coroutines`` callers of one ``contacts.unlock(event_id, personnel_ids)``), or
  ``plan`` (``plan``: sequential steps ``{"op": "events.unlock", "event_id"}`` or
  ``{"op": "contacts.unlock", "event_id", "personnel_ids"}``).

Parent side — :func:`run_worker` starts one with ``anyio.open_process`` (the fake server
in the pytest process keeps serving), drains its output, optionally SIGKILLs it when a
condition becomes true, bounds everything with a timeout and never leaves it running.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import attrs
import orjson

from lensmor_async import AsyncLensmor
from lensmor_async.errors import BudgetExceededError, LensmorError
from lensmor_async.guard import (
    CostTable,
    CreditGuard,
    Journal,
    JournalEntry,
    Ledger,
    LedgerSnapshot,
    RedisJournal,
    RedisLedger,
    SqliteJournal,
    SqliteLedger,
    UnlockTaskHandle,
    always_confirm,
)

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve()
TASK_WAIT_SECONDS = 30.0
BARRIER_SECONDS = 60.0

Config = Mapping[str, Any]

# --------------------------------------------------------------------------- child side


def open_ledger(spec: Config, budget: int) -> Ledger:
    """The ledger a ``{"kind": "sqlite"|"redis", ...}`` spec names."""
    if spec["kind"] == "sqlite":
        # A generous busy timeout: 8 processes queue for one write lock.
        return SqliteLedger(spec["path"], budget=budget, busy_timeout=30)
    return RedisLedger(spec["url"], key=spec["key"], budget=budget)


def open_journal(spec: str | Config | None, config: Config | None = None) -> Journal | None:
    """The journal a path or a ``{"kind": "redis", ...}`` spec names (None: no journal)."""
    if spec is None:
        return None
    options: dict[str, Any] = {}
    for name in ("host_id", "lease_ttl"):
        if config is not None and config.get(name) is not None:
            options[name] = config[name]
    if isinstance(spec, str):
        return SqliteJournal(spec, **options)
    return RedisJournal(spec["url"], key=spec["key"], **options)


def _crash_hook(crash: Config | None) -> Callable[[str], None] | None:
    """SIGKILL this process at ``point`` once the ``call``-th paid call has reserved."""
    if crash is None:
        return None
    point, call = str(crash["point"]), int(crash["call"])
    reserved = 0

    def hook(name: str) -> None:
        nonlocal reserved
        if name == "after_reserve":
            reserved += 1
        if name == point and reserved >= call:
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


async def _barrier(spec: Config | None) -> None:
    """Every worker touches a file, then waits for all of them (so they really race)."""
    if spec is None:
        return
    folder = Path(spec["dir"])
    _mark_ready(folder)
    with anyio.fail_after(BARRIER_SECONDS):
        while True:
            if _ready_count(folder) >= int(spec["parties"]):
                return
            await anyio.sleep(0.01)


def _mark_ready(folder: Path) -> None:
    (folder / f"ready-{os.getpid()}").touch()


def _ready_count(folder: Path) -> int:
    return len(list(folder.glob("ready-*")))


def _error(exc: BaseException) -> dict[str, Any]:
    # The tail of the traceback (cause included) makes a failing run diagnosable.
    trace = "".join(traceback.format_exception(exc))[-3000:]
    return {"ok": False, "error": type(exc).__name__, "message": str(exc), "trace": trace}


async def _search_mode(client: AsyncLensmor, config: Config) -> dict[str, Any]:
    limiter = anyio.CapacityLimiter(int(config.get("concurrency", 4)))
    counts = {"grants": 0, "refused": 0}
    errors: list[dict[str, Any]] = []

    async def one(name: str) -> None:
        async with limiter:
            try:
                await client.exhibitors.search_by_company_name(name)
            except BudgetExceededError:
                counts["refused"] += 1
                return
            except LensmorError as exc:
                errors.append(_error(exc))
                return
            counts["grants"] += 1

    async with anyio.create_task_group() as group:
        for name in config["searches"]:
            group.start_soon(one, name)
    return {**counts, "errors": errors}


def _report(handle: UnlockTaskHandle, report: Any) -> dict[str, Any]:
    return {
        "ok": True,
        "task_id": handle.task_id,
        "complete": report.complete,
        "delivered": len(report.delivered),
        "without_email": len(report.unlocked_without_email),
        "failed": len(report.failed),
        "unresolved": len(report.unresolved),
        "skipped": len(report.skipped),
        "credits_spent": report.credits_spent,
    }


async def _unlock_contacts(client: AsyncLensmor, step: Config) -> dict[str, Any]:
    handle = await client.contacts.unlock(
        event_id=step["event_id"], personnel_ids=step["personnel_ids"]
    )
    return _report(handle, await handle.wait(deadline=TASK_WAIT_SECONDS))


async def _same_unlock_mode(client: AsyncLensmor, config: Config) -> dict[str, Any]:
    results: list[dict[str, Any]] = []

    async def caller() -> None:
        try:
            results.append(await _unlock_contacts(client, config))
        except LensmorError as exc:
            results.append(_error(exc))

    async with anyio.create_task_group() as group:
        for _ in range(int(config["coroutines"])):
            group.start_soon(caller)
    return {"callers": results}


async def _step(client: AsyncLensmor, step: Config) -> dict[str, Any]:
    if step["op"] == "events.unlock":
        result = await client.events.unlock(step["event_id"])
        return {"ok": True, "credits_used": result.credits_used}
    return await _unlock_contacts(client, step)


async def _plan_mode(client: AsyncLensmor, config: Config) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    for step in config["plan"]:
        try:
            results.append({"op": step["op"], **await _step(client, step)})
        except LensmorError as exc:
            results.append({"op": step["op"], **_error(exc)})
    return {"steps": results}


_MODES = {"search": _search_mode, "same_unlock": _same_unlock_mode, "plan": _plan_mode}


async def _recover(client: AsyncLensmor, deadline: float) -> dict[str, Any]:
    started = time.monotonic()
    report = await client.recover(deadline=deadline)
    return {
        "summary": report.summary(),
        "actions": [attrs.asdict(action) for action in report.actions],
        "skipped_live": list(report.skipped_live),
        "expired_holds_released": report.expired_holds_released,
        "seconds": round(time.monotonic() - started, 3),
    }


async def worker_main(config: Config) -> dict[str, Any]:
    """Build the client as configured, do the work, return the JSON-able result."""
    ledger = open_ledger(config["ledger"], config["budget"])
    journal = open_journal(config.get("journal"), config)
    guard = CreditGuard(
        confirm=always_confirm,
        ledger=ledger,
        journal=journal,
        checkpoint=_crash_hook(config.get("crash")),
        costs=CostTable.default().with_price_map(config.get("prices", {})),
        dedupe_window=float(config.get("dedupe_window", 300.0)),
    )
    out: dict[str, Any] = {"pid": os.getpid()}
    try:
        intervals = config.get("poll_intervals")
        async with AsyncLensmor(
            config["api_key"],
            base_url=config["url"],
            guard=guard,
            testing=True,
            poll_intervals=None if intervals is None else tuple(intervals),
        ) as client:
            if config.get("recover"):
                out["recovery"] = await _recover(client, float(config.get("recover_deadline", 30)))
            await _barrier(config.get("barrier"))
            started = time.monotonic()
            out.update(await _MODES[config["mode"]](client, config))
            out["seconds"] = round(time.monotonic() - started, 3)
    finally:
        await ledger.aclose()
        if journal is not None:
            await journal.aclose()
    return out


def main(argv: list[str]) -> int:
    config = orjson.loads(argv[1])
    result = anyio.run(worker_main, config)
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    sys.stdout.flush()
    return 0


# --------------------------------------------------------------------------- parent side


@attrs.frozen
class WorkerRun:
    """How a worker process ended, and what it printed."""

    returncode: int | None
    stdout: str
    stderr: str

    @property
    def killed(self) -> bool:
        return self.returncode == -signal.SIGKILL

    @property
    def result(self) -> dict[str, Any]:
        """The worker's JSON result line (fails loudly with its stderr if there is none)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if self.returncode != 0 or not lines:
            raise AssertionError(
                f"worker exited {self.returncode} without a result; stderr:\n{self.stderr[-4000:]}"
            )
        parsed: dict[str, Any] = orjson.loads(lines[-1])
        return parsed


async def _drain(stream: anyio.abc.ByteReceiveStream | None, into: bytearray) -> None:
    if stream is None:
        return
    async for chunk in stream:
        into.extend(chunk)


async def _kill_when(process: anyio.abc.Process, condition: Callable[[], bool]) -> None:
    while process.returncode is None:
        if condition():
            process.kill()  # SIGKILL: no cleanup, no flush, exactly like a crash
            return
        await anyio.sleep(0.01)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


async def run_worker(
    config: Config, *, seconds: float = 90.0, kill_when: Callable[[], bool] | None = None
) -> WorkerRun:
    """Run one worker to its end (or SIGKILL it once ``kill_when()`` is true), in ``seconds``.

    The process is reaped before this returns: an unreaped (zombie) pid still answers
    ``kill(pid, 0)``, so recovery would take its dead owner for a live one.
    """
    out, err = bytearray(), bytearray()
    command = [sys.executable, str(WORKER), orjson.dumps(config).decode()]
    process = await anyio.open_process(command, cwd=ROOT, env=_env())
    try:
        with anyio.fail_after(seconds):
            async with anyio.create_task_group() as group:
                group.start_soon(_drain, process.stdout, out)
                group.start_soon(_drain, process.stderr, err)
                if kill_when is not None:
                    group.start_soon(_kill_when, process, kill_when)
                await process.wait()
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(15):
            if process.returncode is None:
                process.kill()
            await process.aclose()
    return WorkerRun(process.returncode, out.decode(errors="replace"), err.decode(errors="replace"))


async def ledger_snapshot(spec: Config, budget: int) -> LedgerSnapshot:
    """The shared ledger's totals, read from the parent."""
    ledger = open_ledger(spec, budget)
    try:
        return await ledger.snapshot()
    finally:
        await ledger.aclose()


async def journal_rows(spec: str | os.PathLike[str] | Config) -> list[JournalEntry]:
    """Every row of the shared journal (a path or a Redis spec), read from the parent."""
    journal = open_journal(spec if isinstance(spec, Mapping) else os.fspath(spec))
    assert journal is not None
    try:
        return await journal.entries()
    finally:
        await journal.aclose()


async def run_workers(configs: Sequence[Config], *, seconds: float = 150.0) -> list[WorkerRun]:
    """Run several workers at once and return their runs in config order."""
    runs: list[WorkerRun | None] = [None] * len(configs)

    async def one(index: int, config: Config) -> None:
        runs[index] = await run_worker(config, seconds=seconds)

    async with anyio.create_task_group() as group:
        for index, config in enumerate(configs):
            group.start_soon(one, index, config)
    return [run for run in runs if run is not None]


if __name__ == "__main__":
    sys.exit(main(sys.argv))
