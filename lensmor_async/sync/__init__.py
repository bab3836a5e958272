"""The sync client: ``Lensmor``, the same surface as ``AsyncLensmor`` over the same code.

>>> from lensmor_async.sync import Lensmor
"""

from __future__ import annotations

from lensmor_async.sync._bulk import SyncBulkCheckpoint, SyncLedger
from lensmor_async.sync._client import Lensmor
from lensmor_async.sync._handles import SyncPageIterator, SyncQuote, SyncUnlockTaskHandle
from lensmor_async.sync._portal import SyncIterator

__all__ = [
    "Lensmor",
    "SyncBulkCheckpoint",
    "SyncIterator",
    "SyncLedger",
    "SyncPageIterator",
    "SyncQuote",
    "SyncUnlockTaskHandle",
]
