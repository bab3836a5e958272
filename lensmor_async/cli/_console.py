"""Where the CLI writes: results to stdout, everything for people to stderr, the key nowhere."""

from __future__ import annotations

import sys
from typing import TextIO

_MIN_SECRET = 4


class Console:
    """Writes lines to stdout/stderr, masking the API key should any text ever carry it.

    The SDK already keeps the key out of its messages; this is the last line of
    defence, because a CLI's output ends up in terminals, logs and CI artefacts.
    Streams are looked up on every write so that redirected ``sys.stdout`` works.
    """

    def __init__(self, secret: str | None = None) -> None:
        self._secret = secret if secret and len(secret) >= _MIN_SECRET else None

    def redact(self, text: str) -> str:
        """``text`` with every occurrence of the key replaced by ``****``."""
        if self._secret is None:
            return text
        return text.replace(self._secret, "****")

    @property
    def stdout(self) -> TextIO:
        return sys.stdout

    @property
    def stderr(self) -> TextIO:
        return sys.stderr

    def out(self, text: str = "") -> None:
        """A result line (stdout)."""
        self._write(self.stdout, text + "\n")

    def err(self, text: str = "", *, end: str = "\n") -> None:
        """A message for the person at the terminal (stderr): quotes, prompts, progress, errors."""
        self._write(self.stderr, text + end)

    def stderr_is_tty(self) -> bool:
        return _isatty(self.stderr)

    def stdin_is_tty(self) -> bool:
        return _isatty(sys.stdin)

    def read_answer(self) -> str:
        """One line from stdin ('' at end of input)."""
        return sys.stdin.readline()

    def _write(self, stream: TextIO, text: str) -> None:
        stream.write(self.redact(text))
        stream.flush()


def _isatty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced streams are not terminals
        return False
