"""The ``lensmor`` command line (also ``python -m lensmor_async``).

Exit codes scripts can rely on: 0 success, 1 API error, 2 usage error, 3 spend
declined, 4 insufficient credits or above ``--max-credits`` (130 on Ctrl-C).
"""

from __future__ import annotations

from lensmor_async.cli._exit import (
    EXIT_API_ERROR,
    EXIT_DECLINED,
    EXIT_INTERRUPTED,
    EXIT_NO_CREDITS,
    EXIT_OK,
    EXIT_USAGE,
    exit_code_for,
)
from lensmor_async.cli._main import build_parser, main

__all__ = [
    "EXIT_API_ERROR",
    "EXIT_DECLINED",
    "EXIT_INTERRUPTED",
    "EXIT_NO_CREDITS",
    "EXIT_OK",
    "EXIT_USAGE",
    "build_parser",
    "exit_code_for",
    "main",
]
