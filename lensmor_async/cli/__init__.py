"""The ``lensmor`` command line."""

from __future__ import annotations

from lensmor_async.cli._main import main

__all__ = ["main"]
