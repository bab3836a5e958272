"""The shared/exclusive gate for paid calls."""

from __future__ import annotations

import anyio
import pytest

from lensmor_async.guard._gate import PaidGate

pytestmark = pytest.mark.anyio

GUARD_SECONDS = 10  # deadlock guard only


class Holder:
    """Enters the gate, records that it is inside, and leaves when released."""

    def __init__(self, gate: PaidGate, log: list[str], name: str, *, exclusive: bool) -> None:
        self.gate, self.log, self.name, self.exclusive = gate, log, name, exclusive
        self.inside = False
        self.release = anyio.Event()

    async def __call__(self) -> None:
        async with self.gate.enter(exclusive=self.exclusive):
            self.inside = True
            self.log.append(f"{self.name} in")
            await self.release.wait()
            self.inside = False
            self.log.append(f"{self.name} out")


async def can_enter(gate: PaidGate, *, exclusive: bool) -> bool:
    """True if the gate can be entered now (checked while every other task is blocked)."""
    entered = False
    with anyio.move_on_after(GUARD_SECONDS):
        async with gate.enter(exclusive=exclusive):
            entered = True
    return entered


async def test_shared_holders_run_concurrently() -> None:
    gate = PaidGate()
    log: list[str] = []
    a = Holder(gate, log, "a", exclusive=False)
    b = Holder(gate, log, "b", exclusive=False)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a)
            tg.start_soon(b)
            await anyio.wait_all_tasks_blocked()
            assert a.inside
            assert b.inside
            a.release.set()
            b.release.set()
    assert sorted(log[:2]) == ["a in", "b in"]


@pytest.mark.parametrize("second_exclusive", [False, True], ids=["shared", "exclusive"])
async def test_an_exclusive_holder_keeps_every_later_caller_out(second_exclusive: bool) -> None:
    gate = PaidGate()
    log: list[str] = []
    first = Holder(gate, log, "1st", exclusive=True)
    second = Holder(gate, log, "2nd", exclusive=second_exclusive)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(first)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(second)
            await anyio.wait_all_tasks_blocked()
            assert first.inside
            assert not second.inside
            first.release.set()
            await anyio.wait_all_tasks_blocked()
            assert second.inside
            second.release.set()
    assert log == ["1st in", "1st out", "2nd in", "2nd out"]


async def test_shared_holders_keep_an_exclusive_caller_out() -> None:
    gate = PaidGate()
    log: list[str] = []
    r1 = Holder(gate, log, "r1", exclusive=False)
    r2 = Holder(gate, log, "r2", exclusive=False)
    writer = Holder(gate, log, "w", exclusive=True)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(r1)
            tg.start_soon(r2)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(writer)
            await anyio.wait_all_tasks_blocked()
            assert not writer.inside
            r1.release.set()
            await anyio.wait_all_tasks_blocked()
            assert not writer.inside  # one shared holder is still inside
            r2.release.set()
            await anyio.wait_all_tasks_blocked()
            assert writer.inside
            writer.release.set()
    assert log[-2:] == ["w in", "w out"]


@pytest.mark.parametrize("exclusive", [True, False], ids=["exclusive", "shared"])
async def test_cancelling_a_holder_releases_the_gate(exclusive: bool) -> None:
    gate = PaidGate()
    holder = Holder(gate, [], "h", exclusive=exclusive)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(holder)
            await anyio.wait_all_tasks_blocked()
            tg.cancel_scope.cancel()
        assert await can_enter(gate, exclusive=True)
        assert await can_enter(gate, exclusive=False)


async def test_cancelling_a_waiting_exclusive_caller_leaves_the_gate_usable() -> None:
    gate = PaidGate()
    log: list[str] = []
    reader = Holder(gate, log, "r", exclusive=False)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(reader)
            await anyio.wait_all_tasks_blocked()
            waiter_scope = anyio.CancelScope()

            async def waiter() -> None:
                with waiter_scope:
                    async with gate.enter(exclusive=True):
                        log.append("waiter in")

            tg.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            waiter_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert await can_enter(gate, exclusive=False)
            reader.release.set()
        assert await can_enter(gate, exclusive=True)
    assert "waiter in" not in log


async def test_cancelling_a_waiting_shared_caller_leaves_the_gate_usable() -> None:
    gate = PaidGate()
    log: list[str] = []
    writer = Holder(gate, log, "w", exclusive=True)
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(writer)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0):
                async with gate.enter(exclusive=False):
                    log.append("reader in")
            writer.release.set()
        assert await can_enter(gate, exclusive=True)
    assert "reader in" not in log


async def test_an_exception_inside_releases_the_gate() -> None:
    gate = PaidGate()
    with pytest.raises(RuntimeError):
        async with gate.enter(exclusive=True):
            raise RuntimeError("paid call failed")
    with anyio.fail_after(GUARD_SECONDS):
        assert await can_enter(gate, exclusive=True)
        assert await can_enter(gate, exclusive=False)
