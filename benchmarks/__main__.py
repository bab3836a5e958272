"""``python -m benchmarks``: run the whole harness (see ``benchmarks/run.py``)."""

from __future__ import annotations

from benchmarks.run import main

raise SystemExit(main())
