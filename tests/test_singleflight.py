"""Single-flight: concurrent identical intents share one in-flight call."""

from __future__ import annotations

import anyio
import pytest

from lensmor_async.guard._singleflight import SingleFlight

pytestmark = pytest.mark.anyio

# A deadlock guard, not a timing assertion: a broken implementation hangs instead of failing.
GUARD_SECONDS = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Gated:
    """An awaitable call that counts invocations and finishes only when released."""

    def __init__(self, result: object = "done", error: Exception | None = None) -> None:
        self.calls = 0
        self.release = anyio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> object:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


async def test_concurrent_same_key_callers_run_the_function_once_and_share_the_result() -> None:
    flight = SingleFlight()
    fn = Gated(result={"task": 1})
    results: list[object] = []

    async def caller() -> None:
        results.append(await flight.run("k", fn))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            assert len(flight) == 1
            fn.release.set()

    assert fn.calls == 1
    assert len(results) == 20
    assert all(r is fn.result for r in results)
    assert len(flight) == 0


async def test_errors_are_shared_with_every_follower() -> None:
    flight = SingleFlight()
    boom = ValueError("upstream failed")
    fn = Gated(error=boom)
    errors: list[BaseException] = []

    async def caller() -> None:
        try:
            await flight.run("k", fn)
        except ValueError as exc:
            errors.append(exc)

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(caller)
            await anyio.wait_all_tasks_blocked()
            fn.release.set()

    assert fn.calls == 1
    assert len(errors) == 5
    assert all(e is boom for e in errors)
    assert len(flight) == 0


async def test_a_cancelled_leader_hands_the_call_to_a_follower() -> None:
    flight = SingleFlight()
    leader_fn = Gated(result="leader")
    follower_fn = Gated(result="follower")
    follower_fn.release.set()
    results: list[object] = []

    async def follower() -> None:
        results.append(await flight.run("k", follower_fn))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            leader_scope = anyio.CancelScope()

            async def leader() -> None:
                with leader_scope:
                    await flight.run("k", leader_fn)

            tg.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            for _ in range(3):
                tg.start_soon(follower)
            await anyio.wait_all_tasks_blocked()
            leader_scope.cancel()

    assert leader_fn.calls == 1
    assert follower_fn.calls == 1
    assert results == ["follower"] * 3
    assert len(flight) == 0


async def test_different_keys_run_in_parallel() -> None:
    flight = SingleFlight()
    a_started, b_started = anyio.Event(), anyio.Event()

    async def call_a() -> str:
        a_started.set()
        await b_started.wait()
        return "a"

    async def call_b() -> str:
        b_started.set()
        await a_started.wait()
        return "b"

    results: dict[str, object] = {}

    async def run(key: str, fn: object) -> None:
        results[key] = await flight.run(key, fn)  # type: ignore[arg-type]

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "a", call_a)
            tg.start_soon(run, "b", call_b)

    assert results == {"a": "a", "b": "b"}


async def test_a_finished_call_is_not_cached() -> None:
    flight = SingleFlight()
    calls = 0

    async def fn() -> int:
        nonlocal calls
        calls += 1
        return calls

    assert await flight.run("k", fn) == 1
    assert await flight.run("k", fn) == 2
    assert len(flight) == 0


async def test_no_entry_is_left_behind_after_an_error() -> None:
    flight = SingleFlight()

    async def fn() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await flight.run("k", fn)
    assert len(flight) == 0


async def test_no_entry_is_left_behind_after_the_only_caller_is_cancelled() -> None:
    flight = SingleFlight()
    fn = Gated()
    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(flight.run, "k", fn)
            await anyio.wait_all_tasks_blocked()
            assert len(flight) == 1
            tg.cancel_scope.cancel()
    assert len(flight) == 0
    assert fn.calls == 1


async def test_a_cancelled_follower_does_not_disturb_the_leader() -> None:
    flight = SingleFlight()
    fn = Gated(result="ok")
    leader_result: list[object] = []

    async def leader() -> None:
        leader_result.append(await flight.run("k", fn))

    with anyio.fail_after(GUARD_SECONDS):
        async with anyio.create_task_group() as tg:
            tg.start_soon(leader)
            await anyio.wait_all_tasks_blocked()
            with anyio.move_on_after(0):
                await flight.run("k", fn)
            fn.release.set()

    assert leader_result == ["ok"]
    assert fn.calls == 1
    assert len(flight) == 0
