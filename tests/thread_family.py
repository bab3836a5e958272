"""Run one program in several threads at once, each with its own stdout and environment.

The docs' sync twins read ``LENSMOR_API_KEY``/``LENSMOR_BASE_URL`` from the environment
and print what they see. Run from 8 threads at once, each copy needs its own fake account
(the environment) and its own output, and so does every thread a copy starts (the sync
client's loop thread, where confirm callbacks and hooks run; a ``FakeLensmor``'s thread).
:class:`ThreadFamily` records which thread started which, so a write or an environment
read is attributed to the copy whose thread started it, however deep.
"""

from __future__ import annotations

import io
import os
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

import pytest


class ThreadFamily:
    """Which copy (a root thread) every thread started during a run belongs to."""

    def __init__(self) -> None:
        self._parents: dict[threading.Thread, threading.Thread] = {}
        self._lock = threading.Lock()

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        original = threading.Thread.start
        family = self

        def start(thread: threading.Thread) -> None:
            with family._lock:
                family._parents[thread] = threading.current_thread()
            original(thread)

        monkeypatch.setattr(threading.Thread, "start", start)

    def root_of(self, roots: Mapping[threading.Thread, Any]) -> Any:
        """The value of the root thread the current thread descends from (None: none)."""
        thread: threading.Thread | None = threading.current_thread()
        while thread is not None:
            if thread in roots:
                return roots[thread]
            with self._lock:
                thread = self._parents.get(thread)
        return None


class FamilyStdout(io.TextIOBase):
    """``sys.stdout`` that sends each copy's writes to its own buffer."""

    def __init__(self, family: ThreadFamily, fallback: TextIO) -> None:
        self.family = family
        self.fallback = fallback
        self.buffers: dict[threading.Thread, io.StringIO] = {}

    def write(self, text: str) -> int:
        buffer = self.family.root_of(self.buffers)
        return (buffer if buffer is not None else self.fallback).write(text)

    def flush(self) -> None:
        self.fallback.flush()


class FamilyEnviron(dict[str, str]):
    """``os.environ`` with per-copy overrides (the copy's own fake account)."""

    def __init__(self, family: ThreadFamily, base: Mapping[str, str]) -> None:
        super().__init__(base)
        self.family = family
        self.overrides: dict[threading.Thread, dict[str, str]] = {}

    def _own(self) -> dict[str, str]:
        own = self.family.root_of(self.overrides)
        return own if own is not None else {}

    def __getitem__(self, key: str) -> str:
        own = self._own()
        return own[key] if key in own else super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        own = self._own()
        return own[key] if key in own else super().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._own() or super().__contains__(key)


@contextmanager
def copies_in_threads(
    monkeypatch: pytest.MonkeyPatch, environments: list[dict[str, str]]
) -> Iterator[Callable[[Callable[[], None]], list[str]]]:
    """``run(program)`` runs one copy per environment, all at once; returns their outputs."""
    family = ThreadFamily()
    family.install(monkeypatch)
    stdout = FamilyStdout(family, sys.stdout)
    environ = FamilyEnviron(family, os.environ)
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(os, "environ", environ)

    def run(program: Callable[[], None]) -> list[str]:
        failures: list[BaseException] = []
        start = threading.Barrier(len(environments))

        def copy() -> None:
            start.wait()  # all copies at once, not one after another
            try:
                program()
            except BaseException as exc:  # reported below, in the test's thread
                failures.append(exc)

        threads = [threading.Thread(target=copy) for _ in environments]
        for thread, environment in zip(threads, environments, strict=True):
            stdout.buffers[thread] = io.StringIO()
            environ.overrides[thread] = environment
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return [stdout.buffers[thread].getvalue() for thread in threads]

    yield run
