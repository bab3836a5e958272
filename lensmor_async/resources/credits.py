"""``client.credits``: the shared credit balance."""

from __future__ import annotations

from lensmor_async._core import operations as ops
from lensmor_async.models import CreditBalance
from lensmor_async.resources._base import Resource, model_decoder

_BALANCE = model_decoder(CreditBalance)


class Credits(Resource):
    """Read the credit balance of the key's owner (shared with the Lensmor app)."""

    async def balance(self) -> CreditBalance:
        """``GET /external/credits/balance``: subscription, gift and total balance."""
        return await self._run(ops.CREDITS_BALANCE, _BALANCE)
