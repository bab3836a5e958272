"""What "a sync twin has the async signature" means, for the tests that check it.

A sync method takes the async method's parameters (names, kinds, defaults) and returns
its result, with the async names in them replaced by their sync faces.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

# An async name in an annotation (a whole name, as a string) and its sync face.
SYNC_FORMS = {
    "AsyncIterator": "SyncIterator",
    "PageIterator": "SyncPageIterator",
    "UnlockTaskHandle": "SyncUnlockTaskHandle",
    "Awaitable[R]": "R",  # the bulk runner's work: a plain function on the sync side
    "BulkCheckpoint": "SyncBulkCheckpoint",
}
_PATTERN = re.compile("|".join(rf"(?<!\w){re.escape(name)}(?!\w)" for name in SYNC_FORMS))


def sync_form(annotation: Any) -> Any:
    """``list[UnlockTaskHandle]`` → ``list[SyncUnlockTaskHandle]`` (non-strings unchanged)."""
    if not isinstance(annotation, str):
        return annotation
    return _PATTERN.sub(lambda match: SYNC_FORMS[match.group(0)], annotation)


def assert_sync_twin(sync_method: Callable[..., Any], async_method: Callable[..., Any]) -> None:
    """Same parameters and result, in their sync form (a class: its constructor's parameters)."""
    want = inspect.signature(async_method)
    got = inspect.signature(sync_method)
    expected = [p.replace(annotation=sync_form(p.annotation)) for p in want.parameters.values()]
    assert list(got.parameters.values()) == expected, sync_method
    if not isinstance(async_method, type):  # a constructor's twin returns the sync face
        assert got.return_annotation == sync_form(want.return_annotation), sync_method
