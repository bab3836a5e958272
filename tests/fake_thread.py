"""A FakeLensmor serving from its own event loop in a daemon thread.

For code that runs its own loop (docs examples call ``anyio.run``) or none at all (the
sync client): the server cannot share the caller's loop.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from lensmor_async.testing import FakeLensmor

_READY_SECONDS = 30.0


class FakeInThread:
    """A FakeLensmor serving from its own event loop in a daemon thread.

    Examples call ``anyio.run(main)`` themselves, so the server cannot share their loop.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="docs-fake", daemon=True)
        self.fake: FakeLensmor | None = None

    def __enter__(self) -> FakeLensmor:
        self._thread.start()
        if not self._ready.wait(_READY_SECONDS):
            raise RuntimeError("FakeLensmor did not start in time")
        if self._failure is not None or self.fake is None:
            raise RuntimeError("FakeLensmor failed to start") from self._failure
        return self.fake

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_READY_SECONDS)

    def _serve(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            self.fake = FakeLensmor(**self._options)
            loop.run_until_complete(self.fake.start())
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self.fake.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
