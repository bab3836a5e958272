"""The lensmor-async performance harness (issue 6).

Run everything with one command from the project root::

    python -m benchmarks            # full run, a few minutes; writes benchmarks/RESULTS.md
    python -m benchmarks --quick    # about a minute

The client side runs pinned to CPU 0 and every server runs in its own process pinned
to CPU 1, talking over loopback only. Ratios are measured side by side in the same
run, interleaved over several rounds, and reported as medians. See
``docs/performance.md`` for what each measurement means.
"""

from __future__ import annotations
