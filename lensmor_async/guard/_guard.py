"""CreditGuard: the pipeline step every paid call goes through.

quote → check → reserve → confirm → execute once → settle → refresh → record.
Pure arithmetic lives in ``_core.admission``/``_core.costs``; per-route knowledge
in ``_policies``; the guard only orchestrates, with cancellation-safe cleanup. This
module holds its construction, public state and wiring; each concern is a part:

* ``_spend``: the pipeline step (quote, attach, spend, execute once, settle);
* ``_spend_checks``: precheck refusals, the balance and its 402 latch, holds, confirm;
* ``_in_doubt``: reconciling lost outcomes and settling in-doubt intents later;
* ``_guard_tasks``: unlock task handles, polls and settlement;
* ``_guard_recovery``: concluding what ``recover()`` finds;
* ``_settlement``: the shared state, ledger commits and spend records.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from lensmor_async._core.costs import CostTable
from lensmor_async._core.reconciliation import NOT_EXECUTED_GRACE
from lensmor_async.errors import ConfigurationError
from lensmor_async.guard._balance import BalanceCache
from lensmor_async.guard._confirm import ConfirmCallback
from lensmor_async.guard._gate import PaidGate
from lensmor_async.guard._guard_recovery import _RecoveryConclusions
from lensmor_async.guard._guard_tasks import _TaskMethods
from lensmor_async.guard._in_doubt import InDoubtBook
from lensmor_async.guard._journal_protocol import Journal
from lensmor_async.guard._journaling import IntentJournal, open_journal
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Ledger
from lensmor_async.guard._policies import build_policies
from lensmor_async.guard._quote import Quote, QuoteCaptured, QuoteMode, quote_mode
from lensmor_async.guard._records import SpendRecord
from lensmor_async.guard._recovery import RecoveryReport, recover
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._singleflight import SingleFlight
from lensmor_async.guard._spend import _SpendPath
from lensmor_async.guard._state import UnlockState

T = TypeVar("T")
PrecheckMode = Literal["auto", "always", "never"]


class CreditGuard(_SpendPath, _TaskMethods, _RecoveryConclusions):
    """Guards every paid call: never overspends, never pays twice, records everything.

    ``confirm`` approves each spend (sync or async, given a :class:`SpendRequest`);
    without it paid calls fail closed with ``ConfirmationRequiredError``. ``budget``
    caps what this guard (or every guard sharing ``ledger``) may spend.
    """

    def __init__(
        self,
        confirm: ConfirmCallback | None = None,
        *,
        budget: int | None = None,
        ledger: Ledger | None = None,
        costs: CostTable | None = None,
        precheck: PrecheckMode = "auto",
        balance_ttl: float = 30.0,
        hold_ttl: float = 3600.0,
        charge_failed_contacts: bool = False,
        confirm_free: bool = False,
        journal: Journal | str | os.PathLike[str] | None = None,
        checkpoint: Callable[[str], None] | None = None,
    ) -> None:
        if precheck not in ("auto", "always", "never"):
            raise ConfigurationError("precheck must be 'auto', 'always' or 'never'")
        self._ledger = _choose_ledger(ledger, budget)
        self._confirm = confirm
        self.costs = costs or CostTable.default()
        self.charge_failed_contacts = charge_failed_contacts
        self._confirm_free = confirm_free
        self._hold_ttl = hold_ttl
        self._balance_ttl = balance_ttl
        self._state = UnlockState()
        self._policies = build_policies(self.costs, self._state, precheck)
        self._flights = SingleFlight()
        self._gate = PaidGate()
        self._history = []
        self._record_slots = {}
        """History positions of records that a later settlement replaces."""
        self._pending = {}
        self._doubts = InDoubtBook()
        self._held = 0
        self._spent = 0
        self._latched_402 = False
        self._latch_checked = float("-inf")
        self._services = None
        self._balance = None
        self._journal = IntentJournal(open_journal(journal))
        # A journal opened here from a path is ours to close; a passed-in one is not.
        self._owns_journal = journal is not None and not isinstance(journal, Journal)
        self._checkpoint_hook = checkpoint
        self.poll_intervals = (3.0, 5.0, 10.0)
        self._doubt_grace = NOT_EXECUTED_GRACE

    def __repr__(self) -> str:
        return f"CreditGuard(budget={self.budget}, spent={self._spent}, reserved={self._held})"

    # -- public state -----------------------------------------------------------------

    @property
    def budget(self) -> int | None:
        """The spending cap held by the ledger (None: no cap)."""
        return self._ledger.budget

    @property
    def ledger(self) -> Ledger:
        """Where holds and spending are recorded (shared across processes if configured)."""
        return self._ledger

    @property
    def history(self) -> tuple[SpendRecord, ...]:
        """Every paid intent this guard handled, in order."""
        return tuple(self._history)

    @property
    def spent(self) -> int:
        """Credits this guard settled as spent (in-doubt intents count as spent)."""
        return self._spent

    @property
    def reserved(self) -> int:
        """Credits this guard currently holds for calls in flight or tasks still running."""
        return self._held

    @property
    def in_doubt(self) -> tuple[SpendRecord, ...]:
        """Intents whose outcome could not be established (each with its reason)."""
        return self._doubts.records()

    @property
    def balance_refreshes(self) -> int:
        """How many balance requests the guard made (single-flight, cached)."""
        return 0 if self._balance is None else self._balance.refreshes

    # -- wiring -------------------------------------------------------------------------

    def bind(
        self,
        services: GuardServices,
        *,
        poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0),
        account: str = "default",
        doubt_grace: float = NOT_EXECUTED_GRACE,
    ) -> None:
        """Attach the client's free calls (done by ``AsyncLensmor``; one client per guard).

        ``account`` is a fingerprint of the API key (never the key): it scopes journal
        intent keys to one account. ``doubt_grace`` is how long after a send its
        absence of effect starts to mean "not executed" (see ``_core.reconciliation``).
        """
        if self._services is not None and self._services is not services:
            raise ConfigurationError("a CreditGuard belongs to one client; create one per client")
        self._services = services
        self.poll_intervals = poll_intervals
        self._doubt_grace = doubt_grace
        self._journal.fingerprint = account
        self._balance = BalanceCache(self._fetch_balance, ttl=self._balance_ttl)

    async def _fetch_balance(self) -> int:
        return int((await self._require_services().balance()).total_balance)

    async def aclose(self) -> None:
        """Close what the guard opened itself (a journal given as a path); idempotent.

        ``AsyncLensmor.aclose()`` calls this. Ledgers and journals passed in are the
        caller's to close.
        """
        if self._owns_journal and self._journal.journal is not None:
            await self._journal.journal.aclose()

    # -- recovery ------------------------------------------------------------------------

    async def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """Finish intents a crashed process left in the journal, without re-sending them.

        Resumes polling of acknowledged tasks, reconciles intents that were being sent,
        releases holds of intents never sent and purges expired holds.
        """
        return await recover(self, deadline=deadline)

    # -- two-phase quotes ------------------------------------------------------------------

    async def quote(
        self, method: Callable[..., Awaitable[T]], /, *args: Any, **kwargs: Any
    ) -> Quote[T]:
        """Price a paid call without spending it.

        ``quote = await guard.quote(client.events.unlock, event_id)``.

        Show the quote to a person, then ``await quote.execute()``; executing re-checks
        and asks again only if the cost or balance moved. Quotes expire (``ttl``).
        """
        token = quote_mode.set(QuoteMode(capture=True))
        try:
            await method(*args, **kwargs)
        except QuoteCaptured as captured:
            return Quote(self, method, args, kwargs, captured.request)
        finally:
            quote_mode.reset(token)
        return Quote(self, method, args, kwargs, None)


def _choose_ledger(ledger: Ledger | None, budget: int | None) -> Ledger:
    if ledger is None:
        return InMemoryLedger(budget=budget)
    if budget is not None and ledger.budget != budget:
        raise ConfigurationError(
            "give the budget to the ledger (it holds the shared budget), not both"
        )
    return ledger
