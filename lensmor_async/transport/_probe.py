"""Does this aiohttp still have the internals ``PooledTransport`` builds on?

The pooled transport drives aiohttp's non-public ``ResponseHandler`` protocol and reads
its ``StreamReader`` payloads; aiohttp may change either in any 3.x minor release. The
client probes them once, when it picks its transport, and falls back to the
``SessionTransport`` (public ``ClientSession`` API only) with one warning, rather than
failing every request of a user who upgraded aiohttp.
"""

from __future__ import annotations

import functools
import importlib
import warnings

# (module, class, the members our code calls on it)
_NEEDED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "aiohttp.client_proto",
        "ResponseHandler",
        ("set_response_params", "read", "should_close", "is_connected", "set_exception", "close"),
    ),
    ("aiohttp.streams", "StreamReader", ("is_eof", "read_nowait", "read", "iter_any")),
)


def missing_pooled_internals() -> str | None:
    """What the pooled transport needs and this aiohttp lacks (None: all present)."""
    for module_name, class_name, members in _NEEDED:
        try:
            cls = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            return f"{module_name}.{class_name}"
        absent = [name for name in members if not hasattr(cls, name)]
        if absent:
            return f"{module_name}.{class_name}.{absent[0]}"
    return None


@functools.cache
def warn_falling_back(missing: str) -> None:
    """One warning per process (and per missing internal), not one per client."""
    warnings.warn(
        f"lensmor-async: this aiohttp lacks {missing}, which the pooled transport needs; "
        "using the session-based transport instead (slower per request, same behaviour). "
        "Install a tested aiohttp version to get the pooled transport back.",
        RuntimeWarning,
        stacklevel=4,
    )
