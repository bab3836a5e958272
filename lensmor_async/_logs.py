"""``LENSMOR_LOG=info|debug``: turn on the ``lensmor_async`` logger without touching logging.

Like ``OPENAI_LOG``: a script or notebook sets one variable and sees what the SDK does.
The records are the same ones a configured application already gets; this only attaches
a stderr handler and sets the level, once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from lensmor_async.errors import ConfigurationError

ENV_VAR = "LENSMOR_LOG"
_LEVELS = {"info": logging.INFO, "debug": logging.DEBUG}
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _EnvHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler ``LENSMOR_LOG`` adds (recognised so it is added only once)."""


def configure_from_env(environ: Mapping[str, str] = os.environ) -> None:
    """Apply ``LENSMOR_LOG`` (unset or empty: leave logging alone)."""
    value = environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return
    level = _LEVELS.get(value)
    if level is None:
        raise ConfigurationError(f"{ENV_VAR} must be 'info' or 'debug', got {value!r}")
    logger = logging.getLogger("lensmor_async")
    logger.setLevel(level)
    if not any(isinstance(handler, _EnvHandler) for handler in logger.handlers):
        handler = _EnvHandler()
        handler.setFormatter(logging.Formatter(_FORMAT))
        logger.addHandler(handler)
