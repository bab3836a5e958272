"""Following a contact-unlock task: polls with growing intervals, a spinner on a terminal.

On a terminal (stderr is a TTY) a one-line spinner shows the task state and the time
waited; anywhere else (pipes, CI logs, the demo) one line is written per state change,
so logs stay readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

import anyio

from lensmor_async.cli import _render as render

if TYPE_CHECKING:  # annotations only: free commands need not load the guard or bulk
    from lensmor_async.bulk import BulkProgress
    from lensmor_async.guard import ContactUnlockReport, UnlockTaskHandle

POLL_INTERVALS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 10.0)
"""Seconds between polls; the last value repeats (a CLI user wants the first answer soon)."""
FRAME_SECONDS = 0.1
"""How often the spinner moves while waiting for the next poll."""
DEFAULT_DEADLINE = 900.0
"""Stop following after this long; the report then lists the unresolved contacts."""
_FRAMES = "|/-\\"


class Progress(Protocol):
    """What :func:`follow_task` reports to."""

    def update(self, state: str) -> None:
        """The task's state after a poll."""

    def tick(self) -> None:
        """Time passes between polls."""

    def finish(self) -> None:
        """Following has ended (normally or not)."""


class LineProgress:
    """One line per state change: ``task 901: processing``."""

    def __init__(self, write: Callable[[str], None], label: str) -> None:
        self._write = write
        self._label = label
        self._last: str | None = None

    def update(self, state: str) -> None:
        if state != self._last:
            self._write(f"{self._label}: {state}")
            self._last = state

    def tick(self) -> None:
        """Nothing to animate in a log."""

    def finish(self) -> None:
        """Every state change is already on its own line."""


class SpinnerProgress:
    """A spinner redrawn in place on a terminal: ``/ task 901: processing (4s)``."""

    def __init__(self, write: Callable[[str], None], label: str) -> None:
        self._write = write
        self._label = label
        self._state = "submitted"
        self._frame = 0
        self._started = time.monotonic()
        self._width = 0

    def update(self, state: str) -> None:
        self._state = state
        self._draw()

    def tick(self) -> None:
        self._frame += 1
        self._draw()

    def finish(self) -> None:
        # Replace the spinner with a plain final line so the scrollback stays clean.
        self._write("\r" + " " * self._width + "\r" + f"{self._label}: {self._state}\n")

    def _draw(self) -> None:
        waited = time.monotonic() - self._started
        frame = _FRAMES[self._frame % len(_FRAMES)]
        text = f"{frame} {self._label}: {self._state} ({waited:.0f}s)"
        self._width = max(self._width, len(text))
        self._write("\r" + text.ljust(self._width))


async def follow_task(
    handle: UnlockTaskHandle,
    progress: Progress,
    *,
    intervals: Sequence[float] | None = None,
    deadline: float = DEFAULT_DEADLINE,
) -> ContactUnlockReport:
    """Poll ``handle`` until its task ends (or ``deadline`` seconds pass), reporting each state.

    Each step is ``handle.wait(deadline=0)``: exactly one poll, and once the task
    has ended the same call settles the guard's hold and returns the final report.
    """
    schedule = tuple(intervals) if intervals else POLL_INTERVALS
    started = time.monotonic()
    attempt = 0
    try:
        while True:
            report = await handle.wait(deadline=0)
            progress.update(report.task_status or "nothing was submitted")
            if _finished(handle, report) or time.monotonic() - started >= deadline:
                return report
            await _wait(progress, schedule[min(attempt, len(schedule) - 1)])
            attempt += 1
    finally:
        progress.finish()


def _finished(handle: UnlockTaskHandle, report: ContactUnlockReport) -> bool:
    # Imported here: only an unlock follows a task, and `lensmor balance` need not load it.
    from lensmor_async.models.contacts import TERMINAL_TASK_STATUSES

    return handle.task_id is None or report.task_status in TERMINAL_TASK_STATUSES


async def _wait(progress: Progress, seconds: float) -> None:
    """Sleep ``seconds`` in spinner-frame slices."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        await anyio.sleep(min(FRAME_SECONDS, left))
        progress.tick()


class BulkBar:
    """``run_bulk``'s ``on_progress``: a bar redrawn in place on a terminal; elsewhere (logs,
    the demo) one line per quarter of the way, so a long run does not flood the log.

    Hand-written rather than rich or tqdm: one line of text on stderr is all it draws, and
    the SDK keeps its dependency set small.
    """

    def __init__(self, write: Callable[[str], None], *, tty: bool, width: int = 20) -> None:
        self._write = write
        self._tty = tty
        self._width = width
        self._quarter = -1

    def __call__(self, progress: BulkProgress) -> None:
        line = render.bulk_progress_line(progress, self._width)
        done = progress.done >= progress.total
        if self._tty:
            self._write("\r" + line + ("\n" if done else ""))
            return
        quarter = int(progress.fraction * 4)
        if quarter != self._quarter:
            self._quarter = quarter
            self._write(line)
