"""The free calls the guard makes on its own (precheck, balance, task polls).

The client implements this; the guard sees only the protocol, so the guard's
logic can be tested with a stub and never imports the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lensmor_async.models import CreditBalance, PrecheckResult, UnlockTask


class GuardServices(Protocol):
    """Free API calls the guard needs."""

    async def precheck(self, action_type: str, params: Mapping[str, Any]) -> PrecheckResult: ...

    async def balance(self) -> CreditBalance: ...

    async def unlock_task(self, phone: bool, task_id: str) -> UnlockTask: ...
