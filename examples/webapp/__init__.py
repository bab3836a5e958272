"""A web app that confirms spending with the SDK's two-phase quotes (see ``app.py``)."""

from __future__ import annotations

from examples.webapp.app import *  # noqa: F403 - the package is a thin door to app.py
from examples.webapp.app import __all__ as __all__
