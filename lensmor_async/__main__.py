"""``python -m lensmor_async`` runs the ``lensmor`` command line."""

from __future__ import annotations

from lensmor_async.cli import main

raise SystemExit(main())
