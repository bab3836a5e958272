"""Exit codes scripts can rely on, and how each ``LensmorError`` maps to one."""

from __future__ import annotations

from lensmor_async.errors import (
    ConfirmationRequiredError,
    InsufficientCreditsError,
    InvalidRequestError,
    LensmorError,
    SpendDeclinedError,
)

EXIT_OK = 0
"""The command did what it was asked."""
EXIT_API_ERROR = 1
"""The API (or the connection to it) failed: 4xx/5xx answers, timeouts, lost responses."""
EXIT_USAGE = 2
"""Bad arguments or configuration (argparse's own code), e.g. LENSMOR_API_KEY unset."""
EXIT_DECLINED = 3
"""A spend was declined: at the prompt, or refused for want of a TTY and ``--yes``."""
EXIT_NO_CREDITS = 4
"""Not enough credits, or the spend would cross ``--max-credits``; nothing was charged."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (the shell convention, 128 + SIGINT)."""

EXIT_CODES_HELP = f"""\
exit codes:
  {EXIT_OK}  success
  {EXIT_API_ERROR}  API error (error answer, timeout, connection failure)
  {EXIT_USAGE}  usage error (bad arguments, LENSMOR_API_KEY not set)
  {EXIT_DECLINED}  spend declined (answered no, or no TTY and no --yes)
  {EXIT_NO_CREDITS}  insufficient credits, or the cost is above --max-credits
"""


def exit_code_for(error: LensmorError) -> int:
    """The exit code for an SDK error (the order matters: subclasses come first)."""
    if isinstance(error, ConfirmationRequiredError | SpendDeclinedError):
        return EXIT_DECLINED
    if isinstance(error, InsufficientCreditsError):  # BudgetExceededError included
        return EXIT_NO_CREDITS
    if isinstance(error, InvalidRequestError):  # ConfigurationError included
        return EXIT_USAGE
    return EXIT_API_ERROR
