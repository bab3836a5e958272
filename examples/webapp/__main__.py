"""``python -m examples.webapp [--fake] [--port N] [--budget N]``."""

from __future__ import annotations

from examples.webapp.app import main

raise SystemExit(main())
