"""The guard's books: the ledger, the balance cache, holds, spending and in-doubt credits.

``spent`` means what the guard's docs promise: a credit that may have left the account
is spent until evidence says otherwise, so in-doubt intents count at their estimate
(their holds stay in the ledger, so budget checks count them too).

A settlement the ledger could not take (an outage) is kept and replayed: until the
replay succeeds, no new paid call is admitted (fail closed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import attrs

from lensmor_async._core import spend
from lensmor_async._core.spend import AccountView, Admission, admit_view, balance_source
from lensmor_async.errors import ConfigurationError, LedgerUnavailableError
from lensmor_async.guard._balance import BalanceCache
from lensmor_async.guard._ledger_protocol import Hold, Ledger, StaleHoldError

logger = logging.getLogger("lensmor_async")
_FRESH_SECONDS = 1.0
"""How old a balance may be to measure a spend by (the one the last settlement fetched)."""


@attrs.frozen(slots=True)
class UnrecordedSpend:
    """A spend the server charged that the ledger has not taken yet (replayed later)."""

    hold: Hold | None
    intent_key: str
    actual: int
    journal_key: str | None


class Account:
    """Holds, spending and the balance, as this guard sees them; the ledger is the shared truth."""

    def __init__(self, ledger: Ledger, *, hold_ttl: float, balance_ttl: float) -> None:
        self.ledger = ledger
        self.hold_ttl = hold_ttl
        self._balance_ttl = balance_ttl
        self._balance: BalanceCache | None = None
        self.held = 0
        """Credits held for calls in flight, running tasks and in-doubt intents."""
        self.settled = 0
        """Credits settled as spent."""
        self.doubtful = 0
        """The part of ``held`` that belongs to in-doubt intents (counted as spent)."""
        self.latched_402 = False
        self._latch_checked = float("-inf")
        self.unrecorded: list[UnrecordedSpend] = []
        self.unreleased: list[Hold] = []
        """Holds the ledger could not drop (an outage): dropped on the next replay."""

    # -- the balance --------------------------------------------------------------------

    def bind(self, fetch: Callable[[], Awaitable[int]]) -> None:
        self._balance = BalanceCache(fetch, ttl=self._balance_ttl)

    @property
    def balance(self) -> BalanceCache:
        if self._balance is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._balance

    @property
    def refreshes(self) -> int:
        return 0 if self._balance is None else self._balance.refreshes

    async def view(self, required: int, *, fresh: bool = False) -> AccountView:
        """The account as admission sees it (may refresh the balance).

        ``fresh``: the spend will be measured from the balance, so the figure before it
        must not be a cached one (a top-up since would hide the spend).
        """
        now = time.monotonic()
        source = balance_source(
            latched_402=self.latched_402,
            latch_checked_at=self._latch_checked,
            now=now,
            recheck=spend.LATCH_RECHECK_SECONDS,
        )
        if source == "cache":
            total = await self.balance.current(max_age=_FRESH_SECONDS if fresh else None)
        elif source == "latched":
            total = self.balance.known or 0  # refuse without I/O until the next recheck
        else:
            self._latch_checked = now
            total = await self.balance.current(max_age=0)
            self.latched_402 = total - self.held < required
        return AccountView(
            balance=total,
            held=self.held,
            latched_402=self.latched_402,
            budget=self.ledger.budget,
            spent=self.settled,
        )

    def latch_402(self) -> None:
        self.latched_402 = True
        self._latch_checked = time.monotonic()
        self.balance.invalidate()

    # -- holds ---------------------------------------------------------------------------

    def hold_locally(self, view: AccountView, required: int) -> Admission:
        """Admit and count ``required`` in one synchronous step.

        No await between the view and this call keeps check-and-hold atomic on the loop;
        the holds and spending are read again here, as others may have settled meanwhile.
        """
        now = attrs.evolve(view, held=self.held, spent=self.settled)
        verdict = admit_view(required, now)
        if verdict.ok:
            self.held += required
        return verdict

    async def reserve(self, key: str, amount: int) -> Hold:
        """Hold ``amount`` in the ledger (already counted locally by :meth:`hold_locally`)."""
        try:
            return await self.ledger.reserve(key, amount, ttl=self.hold_ttl)
        except BaseException:
            self.held -= amount
            raise

    async def release(self, hold: Hold) -> None:
        """Drop ``hold``; during a ledger outage it is dropped on the next replay.

        Until then the ledger still counts it against the budget (the safe side).
        """
        self.held -= hold.amount
        try:
            await self.ledger.release(hold)
        except LedgerUnavailableError as exc:
            logger.warning("ledger unavailable while releasing a hold (%s); replayed later", exc)
            self.unreleased.append(hold)

    def adopt(self, hold: Hold) -> None:
        """Count a hold this guard took over (a dead process's task) as its own."""
        self.held += hold.amount

    def doubt(self, amount: int) -> None:
        self.doubtful += amount

    def undoubt(self, amount: int) -> None:
        self.doubtful -= amount

    # -- spending ------------------------------------------------------------------------

    async def commit(
        self,
        hold: Hold,
        actual: int,
        *,
        journal_key: str | None = None,
        balance_after: int | None = None,
        adjust_balance: bool = True,
    ) -> bool:
        """Spend ``actual`` against ``hold``; False when the ledger must take it later.

        The cached balance drops in the same synchronous step as the local hold, so no
        concurrent admission can see the hold gone but the balance not yet lowered.
        """
        if balance_after is not None:
            self.balance.observe(balance_after)
        elif adjust_balance:
            self.balance.spend(actual)
        self.held -= hold.amount
        self.settled += actual
        return await self._ledger_commit(
            UnrecordedSpend(hold, hold.intent_key, actual, journal_key)
        )

    async def commit_recovered(self, hold: Hold | None, intent_key: str, actual: int) -> bool:
        """Spend for an intent a dead process left (its hold is not in this guard's count)."""
        if hold is not None and await self.ledger.committed(hold.hold_id) is not None:
            return True  # It settled before the crash; only the journal missed it.
        self.settled += actual
        return await self._ledger_commit(UnrecordedSpend(hold, intent_key, actual, None))

    async def commit_unheld(self, intent_key: str, actual: int) -> bool:
        """A charge that had no hold (e.g. the quote said free): count it anyway."""
        self.settled += actual
        self.balance.invalidate()
        return await self._ledger_commit(UnrecordedSpend(None, intent_key, actual, None))

    async def _ledger_commit(self, spend: UnrecordedSpend) -> bool:
        try:
            await self._write(spend)
        except BaseException as exc:
            # Whatever interrupted the write, its outcome is unknown: keep the spend for
            # the replay (a commit is idempotent per hold), then let anything but an
            # outage propagate.
            self.unrecorded.append(spend)
            if not isinstance(exc, LedgerUnavailableError):
                raise
            logger.warning(
                "ledger unavailable while recording %s credits for %s (%s); replayed later, "
                "paid calls refused until then",
                spend.actual,
                spend.intent_key,
                exc,
            )
            return False
        return True

    async def _write(self, spend: UnrecordedSpend) -> None:
        if spend.hold is None:
            await self.ledger.record_unheld(spend.intent_key, spend.actual)
            return
        try:
            await self.ledger.commit(spend.hold, spend.actual)
        except StaleHoldError:
            # The hold expired meanwhile, but the spend happened: keep ``spent`` truthful.
            await self.ledger.record_unheld(spend.intent_key, spend.actual)

    async def replay(self) -> list[UnrecordedSpend]:
        """Give the ledger the spends it missed; raise while it is still unavailable.

        Returns the spends recorded now (their journal rows can drop their holds).
        """
        while self.unreleased:
            try:
                await self.ledger.release(self.unreleased[0])
            except LedgerUnavailableError as exc:
                raise LedgerUnavailableError(
                    "the ledger is unavailable and holds await release; paid calls are "
                    "refused until it is back (nothing was sent)"
                ) from exc
            self.unreleased.pop(0)
        done: list[UnrecordedSpend] = []
        while self.unrecorded:
            spend = self.unrecorded[0]
            try:
                await self._write(spend)
            except LedgerUnavailableError as exc:
                raise LedgerUnavailableError(
                    f"the ledger is unavailable and {len(self.unrecorded)} charged spends "
                    "await recording; paid calls are refused until it is back (nothing was "
                    "sent)"
                ) from exc
            done.append(self.unrecorded.pop(0))
        return done
