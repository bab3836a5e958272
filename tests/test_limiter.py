"""The adaptive limiter: concurrency bound, pauses, pacing and cancellation safety."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import anyio
import pytest

from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._limiter import AdaptiveLimiter
from lensmor_async.errors import ConfigurationError

pytestmark = pytest.mark.anyio

WALL_START = 1_714_521_600.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A monotonic and a wall clock that only move when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL_START + (self.now - 1000.0)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await anyio.lowlevel.checkpoint()

    async def starts(self, limiter: AdaptiveLimiter, callers: int) -> list[float]:
        """When each of ``callers`` concurrent requests got through the limiter."""
        starts: list[float] = []

        async def request() -> None:
            async with limiter.slot():
                starts.append(self.now)

        async with anyio.create_task_group() as tg:
            for _ in range(callers):
                tg.start_soon(request)
        return starts

    def limiter(self, max_concurrency: int = 4, **kwargs: float) -> AdaptiveLimiter:
        return AdaptiveLimiter(
            max_concurrency, clock=self.clock, wall_clock=self.wall, sleep=self.sleep, **kwargs
        )


@pytest.fixture
def fake() -> FakeTime:
    return FakeTime()


async def test_in_flight_requests_never_exceed_max_concurrency() -> None:
    limiter = AdaptiveLimiter(3)
    active = 0
    peak = 0

    async def request() -> None:
        nonlocal active, peak
        async with limiter.slot():
            active += 1
            peak = max(peak, active)
            for _ in range(3):
                await anyio.lowlevel.checkpoint()
            active -= 1

    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(request)

    assert peak == 3
    assert limiter.in_flight == 0


async def test_free_slot_does_not_sleep(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.observe(RateLimitInfo(limit=120, remaining=119, reset=int(fake.wall()) + 30))
    async with limiter.slot():
        assert limiter.in_flight == 1
    assert fake.sleeps == []


async def test_pause_delays_the_next_request_until_it_ends(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.pause_for(5.0)
    assert limiter.paused
    async with limiter.slot():
        assert fake.now == 1005.0
    assert not limiter.paused
    async with limiter.slot():
        pass
    assert fake.sleeps == [5.0]


async def test_pause_until_reads_a_wall_clock_instant(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.pause_until(fake.wall() + 7.0)
    async with limiter.slot():
        assert fake.now == 1007.0


async def test_pause_in_the_past_is_ignored(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.pause_until(fake.wall() - 7.0)
    async with limiter.slot():
        pass
    assert fake.sleeps == []


async def test_pause_is_capped_at_max_pause(fake: FakeTime) -> None:
    limiter = fake.limiter(max_pause=10.0)
    limiter.pause_for(3600.0)
    async with limiter.slot():
        assert fake.now == 1010.0


async def test_a_shorter_pause_never_cuts_a_longer_one_short(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.pause_for(9.0)
    limiter.pause_for(2.0)
    async with limiter.slot():
        assert fake.now == 1009.0


async def test_pause_after_429_honours_retry_after(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.pause_after_429("12")
    async with limiter.slot():
        assert fake.now == 1012.0


async def test_low_remaining_spaces_request_starts_to_last_until_the_reset(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter()
    limiter.observe(RateLimitInfo(limit=120, remaining=4, reset=int(fake.wall()) + 8))
    starts = []
    for _ in range(4):
        async with limiter.slot():
            starts.append(fake.now)
    # Each turn spreads what is left (4 minus the starts since) over the time left:
    # the four starts share the 8 s evenly and none is left unused at the reset.
    assert starts == pytest.approx([1000.0, 1000 + 8 / 3, 1000 + 16 / 3, 1008.0])


async def test_plenty_remaining_lifts_spacing(fake: FakeTime) -> None:
    limiter = fake.limiter()
    reset = int(fake.wall()) + 8
    limiter.observe(RateLimitInfo(limit=120, remaining=4, reset=reset))
    # Plenty again comes with the next window: within one, the count only goes down.
    limiter.observe(RateLimitInfo(limit=120, remaining=100, reset=reset + 8))
    for _ in range(3):
        async with limiter.slot():
            pass
    assert fake.sleeps == []


async def test_concurrent_waiters_take_turns_spaced_apart(fake: FakeTime) -> None:
    limiter = fake.limiter(max_concurrency=10)
    limiter.observe(RateLimitInfo(limit=100, remaining=5, reset=int(fake.wall()) + 5))
    starts = await fake.starts(limiter, 3)
    # All three arrive at once: the first starts at once, the others take their turns
    # one at a time, each spreading what is left (5 over 5 s) instead of bursting.
    assert starts == [1000.0, 1001.25, 1002.5]


async def test_cancelled_waiter_for_a_slot_leaves_the_limiter_usable() -> None:
    limiter = AdaptiveLimiter(1)
    holder_in = anyio.Event()
    release_holder = anyio.Event()

    async def holder() -> None:
        async with limiter.slot():
            holder_in.set()
            await release_holder.wait()

    async with anyio.create_task_group() as tg:
        tg.start_soon(holder)
        await holder_in.wait()
        with anyio.move_on_after(0.01) as scope:
            async with limiter.slot():
                pytest.fail("entered a slot that was held")
        assert scope.cancelled_caught
        release_holder.set()

    assert limiter.in_flight == 0
    async with limiter.slot():
        assert limiter.in_flight == 1
    assert limiter.in_flight == 0


async def test_cancellation_during_a_pause_gives_the_slot_back() -> None:
    async def sleep_until_cancelled(_seconds: float) -> None:
        await anyio.sleep_forever()

    limiter = AdaptiveLimiter(2, sleep=sleep_until_cancelled)
    limiter.pause_for(30.0)
    with anyio.CancelScope() as scope:
        scope.cancel()
        async with limiter.slot():
            pytest.fail("entered a paused limiter")
    assert limiter.in_flight == 0


async def test_cancelled_waiter_in_pause_does_not_release_someone_elses_slot() -> None:
    started = anyio.Event()

    async def sleep_until_cancelled(_seconds: float) -> None:
        started.set()
        await anyio.sleep_forever()

    limiter = AdaptiveLimiter(2, sleep=sleep_until_cancelled)
    async with limiter.slot():
        limiter.pause_for(30.0)
        async with anyio.create_task_group() as tg:

            async def waiter() -> None:
                async with limiter.slot():
                    pytest.fail("entered a paused limiter")

            tg.start_soon(waiter)
            await started.wait()
            assert limiter.in_flight == 2
            tg.cancel_scope.cancel()
        assert limiter.in_flight == 1
    assert limiter.in_flight == 0


async def test_observing_nothing_changes_nothing(fake: FakeTime) -> None:
    limiter = fake.limiter()
    limiter.observe(None)
    async with limiter.slot():
        pass
    assert fake.sleeps == []


@pytest.mark.parametrize("value", [0, -1, True, 2.5])
def test_refuses_a_nonsense_concurrency(value: int) -> None:
    with pytest.raises(ConfigurationError):
        AdaptiveLimiter(value)


@pytest.mark.anyio
async def test_try_enter_takes_a_free_slot_and_release_gives_it_back() -> None:
    limiter = AdaptiveLimiter(1)
    assert limiter.try_enter() is True
    assert limiter.in_flight == 1
    assert limiter.try_enter() is False  # full: the caller must await enter()
    limiter.release()
    assert limiter.in_flight == 0


@pytest.mark.anyio
async def test_try_enter_refuses_while_pacing_applies_so_the_caller_waits() -> None:
    limiter = AdaptiveLimiter(4)
    limiter.pause_for(0.05)
    assert limiter.try_enter() is False
    await limiter.enter()  # waits the pause out
    assert limiter.in_flight == 1
    limiter.release()


# --- reaching the server's rate (issue 17) --------------------------------------------


async def _until(condition: Callable[[], bool]) -> None:
    """Let other tasks run until ``condition`` holds (a hang guard, not a timing)."""
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()


async def test_new_headers_reporting_plenty_let_paced_waiters_go_at_once() -> None:
    dozes: list[float] = []

    async def sleep_until_cancelled(seconds: float) -> None:
        dozes.append(seconds)
        await anyio.sleep_forever()

    limiter = AdaptiveLimiter(4, sleep=sleep_until_cancelled)
    reset = int(time.time()) + 30
    limiter.observe(RateLimitInfo(limit=100, remaining=2, reset=reset))
    started = 0

    async def request() -> None:
        nonlocal started
        async with limiter.slot():
            started += 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(request)
            await _until(lambda: bool(dozes))
            # One went at once; the next sleeps its turn (the one left, at the reset).
            assert started == 1
            assert len(dozes) == 1
            # The server now reports plenty left (a new window): the waiters must not
            # keep the schedule booked earlier.
            limiter.observe(RateLimitInfo(limit=100, remaining=90, reset=reset + 30))
    assert started == 3
    assert len(dozes) == 1  # woken, not slept out; nobody else waited


async def test_a_new_window_lifts_pacing_booked_in_the_old_one(fake: FakeTime) -> None:
    limiter = fake.limiter(max_concurrency=8)
    limiter.observe(RateLimitInfo(limit=200, remaining=1, reset=int(fake.wall()) + 1))
    fake.now += 1.0  # the window turns over with no answer in between
    assert await fake.starts(limiter, 8) == [1001.0] * 8
    assert fake.sleeps == []
    assert limiter.try_enter()  # back on the hot path
    limiter.release()


async def test_no_idle_gap_while_remaining_is_high_with_every_slot_held(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter(max_concurrency=16)
    reset = int(fake.wall()) + 1
    remaining = 200

    async def request() -> None:
        nonlocal remaining
        async with limiter.slot():
            await anyio.lowlevel.checkpoint()
            remaining -= 1
            limiter.observe(RateLimitInfo(limit=200, remaining=remaining, reset=reset))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(request)
    # 100 of 200 spent with 16 in flight: never below twice the slots, so no waiting.
    assert remaining == 100
    assert fake.sleeps == []


async def test_a_429_pauses_every_waiter_until_retry_after(fake: FakeTime) -> None:
    limiter = fake.limiter(max_concurrency=8)
    limiter.pause_after_429("3")
    starts = await fake.starts(limiter, 8)
    assert len(starts) == 8
    assert min(starts) >= 1003.0


async def test_a_429_during_a_paced_turn_holds_that_start_until_retry_after(
    fake: FakeTime,
) -> None:
    async def sleep_then_429(seconds: float) -> None:
        await fake.sleep(seconds)
        if fake.now < 1020:
            limiter.pause_after_429("20")  # a 429 arrives while the next one waits its turn

    limiter = AdaptiveLimiter(4, clock=fake.clock, wall_clock=fake.wall, sleep=sleep_then_429)
    limiter.observe(RateLimitInfo(limit=100, remaining=2, reset=int(fake.wall()) + 10))
    async with limiter.slot():
        pass  # the first paced start goes at once; the next one's turn is at the reset
    async with limiter.slot():
        assert fake.now == 1030.0  # its turn came at 1010, the 429's 20 s then ran out


async def test_the_first_answer_bounds_the_starts_before_its_reset(fake: FakeTime) -> None:
    # More callers than the window allows: once the first answer says 4 remain, no
    # more than 4 start before the reset; the rest start in the next window.
    limiter = fake.limiter(max_concurrency=8)
    limiter.observe(RateLimitInfo(limit=5, remaining=4, reset=int(fake.wall()) + 1))
    starts = await fake.starts(limiter, 8)
    assert len(starts) == 8
    # The 4 spread over the window (the last lands on the reset), the rest wait for it.
    assert starts[:4] == pytest.approx([1000.0, 1000 + 1 / 3, 1000 + 2 / 3, 1001.0])
    assert min(starts[4:]) == pytest.approx(1001.0)


async def test_429s_from_other_sharers_of_the_key_widen_the_paced_zone(fake: FakeTime) -> None:
    limiter = fake.limiter(max_concurrency=4)
    reset = int(fake.wall()) + 10
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset))
    assert limiter.try_enter()  # 11 left is plenty for 4 slots: no pacing
    limiter.release()
    limiter.pause_after_429("0")  # yet a 429 came: someone else spends from the key
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset))
    assert not limiter.try_enter()  # now paced: 11 is not plenty for two such clients


async def test_a_429_while_others_queue_for_their_turn_holds_them_too() -> None:
    # Real time, tiny pauses: everyone waits out a first pause; the first one through
    # gets a 429, and the others, queued for their turns, must wait for it as well.
    limiter = AdaptiveLimiter(8)
    limiter.pause_for(0.02)
    refused_at: list[float] = []
    starts: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            starts.append(time.monotonic())
            if not refused_at:
                refused_at.append(time.monotonic())
                limiter.pause_after_429("1")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(request)
    later = sorted(starts)[1:]
    assert all(t >= refused_at[0] + 1.0 for t in later)


async def test_after_a_429_pause_an_exhausted_window_still_waits_for_its_reset(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter()
    limiter.observe(RateLimitInfo(limit=100, remaining=1, reset=int(fake.wall()) + 10))
    # A 429: wait 1 s, and someone else spends from the key, so the last request of
    # this window is theirs: ours waits for the reset, not just for the Retry-After.
    limiter.pause_after_429("1")
    async with limiter.slot():
        assert fake.now == 1010.0


# --- review 17: bounded stalls, waking paced sleepers, cancellation --------------------


async def test_one_far_off_reset_stalls_once_and_later_windows_go_at_once(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter(max_pause=10.0)
    # A wrong clock or hostile header: remaining 0 until an hour from now.
    limiter.observe(RateLimitInfo(limit=120, remaining=0, reset=int(fake.wall()) + 3600))
    async with limiter.slot():
        assert fake.now == 1010.0  # stalls max_pause, no longer
    # The server then answers normally: fresh windows with plenty left.
    for _ in range(3):
        limiter.observe(RateLimitInfo(limit=120, remaining=119, reset=int(fake.wall()) + 1))
        async with limiter.slot():
            pass
    assert fake.now == 1010.0, f"later requests stalled: sleeps={fake.sleeps}"


@pytest.mark.parametrize(
    ("max_pause", "to_reset", "waited"),
    [(60.0, 20, 20.0), (10.0, 15, 10.0), (10.0, 3600, 10.0)],
)
async def test_an_exhausted_window_waits_for_its_reset_but_no_longer_than_max_pause_in_all(
    fake: FakeTime, max_pause: float, to_reset: int, waited: float
) -> None:
    limiter = fake.limiter(max_pause=max_pause)
    limiter.observe(RateLimitInfo(limit=120, remaining=0, reset=int(fake.wall()) + to_reset))
    async with limiter.slot():
        assert fake.now - 1000.0 == waited, f"sleeps={fake.sleeps}"


async def test_a_429_pause_is_honoured_in_full_even_after_a_capped_window_wait(
    fake: FakeTime,
) -> None:
    async def sleep_then_429(seconds: float) -> None:
        await fake.sleep(seconds)
        if len(fake.sleeps) == 1:
            limiter.pause_after_429("8")  # a 429 arrives during the window wait

    limiter = AdaptiveLimiter(
        4, clock=fake.clock, wall_clock=fake.wall, sleep=sleep_then_429, max_pause=10.0
    )
    limiter.observe(RateLimitInfo(limit=120, remaining=0, reset=int(fake.wall()) + 30))
    async with limiter.slot():
        # 10 s for the window (capped), then the whole Retry-After from the 429 at 1010.
        assert fake.now == 1018.0


async def test_a_late_answer_from_an_older_window_keeps_the_starts_counted_since(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter()
    reset = int(fake.wall()) + 10
    limiter.observe(RateLimitInfo(limit=100, remaining=2, reset=reset))
    async with limiter.slot():
        pass  # the first paced start: one request left in this window
    limiter.observe(RateLimitInfo(limit=100, remaining=50, reset=reset - 5))  # late, ignored
    async with limiter.slot():
        # The last request of the window still lands on its reset, not halfway there.
        assert fake.now == 1010.0


async def test_a_new_window_wakes_a_turn_paced_only_by_a_sharer_counted_at_a_429(
    fake: FakeTime,
) -> None:
    dozes: list[float] = []

    async def sleep(seconds: float) -> None:
        if seconds <= 1.0:
            await fake.sleep(seconds)  # the 429's pause runs out
        else:
            dozes.append(seconds)  # a paced turn: sleeps until cut short
            await anyio.sleep_forever()

    limiter = AdaptiveLimiter(4, clock=fake.clock, wall_clock=fake.wall, sleep=sleep)
    reset = int(fake.wall()) + 30
    # 11 left is plenty for 4 slots, so observe() sets no spacing...
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset))
    # ...then a 429: one more sharer, so the turns themselves pace (at 1001, 9 left over 29 s).
    limiter.pause_after_429("1")
    started = 0

    async def request() -> None:
        nonlocal started
        async with limiter.slot():
            started += 1

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(request)
            tg.start_soon(request)
            await _until(lambda: bool(dozes))
            assert started == 1
            limiter.observe(RateLimitInfo(limit=100, remaining=100, reset=reset + 30))
    assert started == 2
    assert dozes == [pytest.approx(29 / 9)]  # woken by the new window, not slept out


def _paced_now(limiter: AdaptiveLimiter) -> None:
    limiter.observe(RateLimitInfo(limit=100, remaining=2, reset=int(time.time()) + 30))


async def test_native_cancel_of_requests_waiting_for_their_turn_leaks_no_slot_or_turn() -> None:
    limiter = AdaptiveLimiter(3)
    _paced_now(limiter)
    entered: list[int] = []
    blocker = anyio.Event()

    async def request(n: int) -> None:
        async with limiter.slot():
            entered.append(n)
            await blocker.wait()

    tasks = [asyncio.create_task(request(n)) for n in range(3)]
    # One started; one dozes for its turn, one queues on the turn lock.
    await _until(lambda: bool(entered) and limiter._dozing is not None)
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError) for r in results)
    assert limiter.in_flight == 0
    assert limiter._turns is not None
    assert not limiter._turns.locked()
    assert limiter._dozing is None
    limiter.observe(RateLimitInfo(limit=100, remaining=100, reset=int(time.time()) + 60))
    with anyio.fail_after(2):
        async with limiter.slot():
            pass


async def test_a_cancel_arriving_as_pacing_relaxes_is_not_swallowed() -> None:
    limiter = AdaptiveLimiter(3)
    _paced_now(limiter)
    started: list[int] = []

    async def request(n: int) -> None:
        async with limiter.slot():
            started.append(n)

    first = asyncio.create_task(request(0))
    await _until(lambda: started == [0])
    second = asyncio.create_task(request(1))
    await _until(lambda: limiter._dozing is not None)  # the second dozes for its turn
    # In one loop step, new headers relax pacing (cancelling the doze) and the caller
    # cancels the request: the caller's cancellation must win.
    limiter.observe(RateLimitInfo(limit=100, remaining=100, reset=int(time.time()) + 60))
    second.cancel()
    result = await asyncio.gather(second, return_exceptions=True)
    await first
    assert isinstance(result[0], asyncio.CancelledError), (result, started)
    assert started == [0]
    assert limiter.in_flight == 0


async def test_a_window_spent_by_this_client_alone_forgets_a_sharer_counted_at_a_429(
    fake: FakeTime,
) -> None:
    limiter = fake.limiter(max_concurrency=4)
    reset = int(fake.wall()) + 10
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset))
    limiter.pause_after_429("0")  # one more sharer: 11 left is no longer plenty
    async with limiter.slot():
        pass
    # The next window: the key's use (100 - 98) is just our two answers.
    limiter.observe(RateLimitInfo(limit=100, remaining=99, reset=reset + 1))
    limiter.observe(RateLimitInfo(limit=100, remaining=98, reset=reset + 1))
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset + 2))
    assert limiter.try_enter()  # back to one client: 11 left is plenty for 4 slots
    limiter.release()
    limiter.pause_after_429("0")
    async with limiter.slot():
        pass
    # A window in which someone else spent 49 of the key: the sharer stays counted.
    limiter.observe(RateLimitInfo(limit=100, remaining=50, reset=reset + 3))
    limiter.observe(RateLimitInfo(limit=100, remaining=11, reset=reset + 4))
    assert not limiter.try_enter()  # still two sharers: paced
