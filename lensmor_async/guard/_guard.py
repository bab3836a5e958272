"""CreditGuard: the pipeline step every paid call goes through, and its public face.

One paid call is one :class:`Purchase`, driven down one path by the ``Buyer``::

    settle an earlier doubt → replay unrecorded spends → attach to another worker's row?
    → price (policy) → plan (``_core.spend``) → claim the journal row → admit and hold
    → confirm (bounded) → send once → settle from the evidence (uncancellable)

The decisions (plan, admission, settlement arithmetic) are pure functions in
``_core/spend.py``; per-route knowledge is in ``_policies``; the guard's books are
collaborators: ``Account`` (ledger, balance, holds), ``History`` (records and journal
rows), ``Doubts`` (reconciling lost outcomes), ``TaskBook`` (unlock tasks) and
``Recovery`` (what crashed processes left), ``Settler`` (what came back from a send)
and ``Attacher`` (another worker's purchase of the same intent). Cleanup that records
money runs through ``_cleanup.finish``, which no cancellation of the caller can cut short.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import anyio

from lensmor_async._call import Approval, Call, Sender
from lensmor_async._core import spend
from lensmor_async._core.costs import CostTable
from lensmor_async._core.reconciliation import NOT_EXECUTED_GRACE
from lensmor_async._core.validation import is_seconds
from lensmor_async._hooks import Hooks
from lensmor_async.errors import (
    ConfigurationError,
    ConfirmationRequiredError,
    LensmorError,
    QuoteReplayedError,
    QuoteTamperedError,
    SpendDeclinedError,
)
from lensmor_async.guard._account import Account
from lensmor_async.guard._attach import Attacher
from lensmor_async.guard._books import Books
from lensmor_async.guard._buyer import Buyer
from lensmor_async.guard._confirm import ConfirmCallback, ask
from lensmor_async.guard._gate import Lanes
from lensmor_async.guard._history import History
from lensmor_async.guard._in_doubt import Doubts
from lensmor_async.guard._journal_common import DEFAULT_LEASE_TTL
from lensmor_async.guard._journal_protocol import Journal
from lensmor_async.guard._journaling import DEFAULT_DEDUPE_WINDOW, IntentJournal, open_journal
from lensmor_async.guard._ledger_memory import InMemoryLedger
from lensmor_async.guard._ledger_protocol import Ledger
from lensmor_async.guard._policies import PaidPolicy, build_policies
from lensmor_async.guard._purchase import Purchase
from lensmor_async.guard._quote import (
    ApprovedQuote,
    Quote,
    group_request,
    method_at,
    record_call,
    run_quoted,
)
from lensmor_async.guard._records import SpendRecord
from lensmor_async.guard._recovery import Recovery, RecoveryReport
from lensmor_async.guard._seal import (
    SealedQuote,
    UsedTokens,
    canonical_call,
    secret_bytes,
    unseal,
    verify,
)
from lensmor_async.guard._services import GuardServices
from lensmor_async.guard._settle import Settler
from lensmor_async.guard._singleflight import SingleFlight
from lensmor_async.guard._state import UnlockState
from lensmor_async.guard._task_book import TaskBook
from lensmor_async.guard._tasks import TaskKind, UnlockTaskHandle

if TYPE_CHECKING:
    from lensmor_async.models import UnlockSubmission

T = TypeVar("T")
P = ParamSpec("P")
PrecheckMode = Literal["auto", "always", "never"]
logger = logging.getLogger("lensmor_async")


class CreditGuard:
    """Guards every paid call: never overspends, never pays twice, records everything.

    ``confirm`` approves each spend (sync or async, given a :class:`SpendRequest`);
    without it paid calls fail closed with ``ConfirmationRequiredError``. ``budget``
    caps what this guard (or every guard sharing ``ledger``) may spend. A confirm
    callback gets at most ``confirm_timeout`` seconds and never more than the call's
    deadline; running out is a decline. The budget caps *net* spending: credits the
    server refunds (a failed contact, a released hold) are available again.

    A ``ledger`` passed in stays the caller's to close, unless ``own_ledger=True`` hands
    it to the guard: then :meth:`aclose` (and so ``AsyncLensmor.aclose()``) closes it.
    ``quote_secret`` (the app's, at least 16 bytes) signs sealed quotes (``Quote.seal``)
    and verifies them (``execute_quote``). With a ``journal``, identical paid searches
    within ``dedupe_window`` seconds (default 300; 0: off) are bought once and their
    answer shared, across every process and host sharing the journal.
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
        confirm_timeout: float | None = None,
        journal: Journal | str | os.PathLike[str] | None = None,
        checkpoint: Callable[[str], None] | None = None,
        own_ledger: bool = False,
        quote_secret: str | bytes | None = None,
        dedupe_window: float = DEFAULT_DEDUPE_WINDOW,
    ) -> None:
        if precheck not in ("auto", "always", "never"):
            raise ConfigurationError("precheck must be 'auto', 'always' or 'never'")
        if not is_seconds(dedupe_window, allow_zero=True):
            raise ConfigurationError("dedupe_window must be a number of seconds >= 0")
        if confirm_timeout is not None and not confirm_timeout > 0:
            raise ConfigurationError("confirm_timeout must be a number of seconds > 0")
        self._confirm = confirm
        self.quote_secret = None if quote_secret is None else secret_bytes(quote_secret)
        self._confirm_timeout = confirm_timeout
        self.costs = costs or CostTable.default()
        self._account = Account(
            _choose_ledger(ledger, budget), hold_ttl=hold_ttl, balance_ttl=balance_ttl
        )
        self._journal = IntentJournal(open_journal(journal))
        self._journal.dedupe_window = float(dedupe_window)
        # A journal opened here from a path is ours to close; a passed-in one is not.
        self._owns_journal = journal is not None and not isinstance(journal, Journal)
        # A passed-in ledger may be shared by many guards: closed here only when handed over.
        self._owns_ledger = own_ledger and ledger is not None
        self._checkpoint_hook = checkpoint
        self._services: GuardServices | None = None
        self._policies = build_policies(self.costs, UnlockState(), precheck)
        self._flights = SingleFlight()
        self._used_tokens = UsedTokens(self._journal)
        self._lanes = Lanes()
        self._history = History(self._journal)
        self._books = books = Books(
            self._account, self._history, self._journal, self._require_services, self._checkpoint
        )
        self._doubts = Doubts(books, self._flights)
        self._tasks = TaskBook(
            books,
            self._doubts,
            costs=self.costs,
            state=self._policies["events.unlock"].state,
            charge_failed_contacts=charge_failed_contacts,
        )
        self._recovery = Recovery(books, self._doubts, self._tasks, self._policies)
        self._buyer = Buyer(
            books,
            self._doubts,
            Settler(books, self._doubts, self._tasks),
            Attacher(self._journal, self._recovery),
            confirm=confirm,
            confirm_free=confirm_free,
            confirm_timeout=confirm_timeout,
        )

    @classmethod
    def for_redis(
        cls,
        url: str,
        *,
        budget: int | None = None,
        key: str = "lensmor",
        lease_ttl: float = DEFAULT_LEASE_TTL,
        host_id: str | None = None,
        hold_ttl: float = 3600.0,
        **options: Any,
    ) -> CreditGuard:
        """A guard for a fleet: the budget ledger and the intent journal on one Redis.

        Every host of the fleet passes the same ``url``, ``key`` and ``budget``; the
        ledger lives under ``{key}:ledger``, the journal under ``{key}:journal``. The
        guard owns both and closes them in :meth:`aclose`. ``lease_ttl``: seconds a
        claimed intent's lease lasts unless renewed (default 10; a dead host's intents
        are taken over after it). ``host_id``: this host's name in owner ids (default:
        the machine's host name). ``hold_ttl``: seconds a ledger hold lasts. Other
        keyword arguments (``confirm``, ``costs``, ...) are the guard's own.
        """
        from lensmor_async.guard._journal_redis import RedisJournal
        from lensmor_async.guard._ledger_redis import RedisLedger

        journal = RedisJournal(url, key=f"{key}:journal", lease_ttl=lease_ttl, host_id=host_id)
        ledger = RedisLedger(url, key=f"{key}:ledger", budget=budget, hold_ttl=hold_ttl)
        guard = cls(ledger=ledger, journal=journal, hold_ttl=hold_ttl, **options)
        guard._owns_journal = guard._owns_ledger = True
        return guard

    def __repr__(self) -> str:
        return f"CreditGuard(budget={self.budget}, spent={self.spent}, reserved={self.reserved})"

    # -- public state -----------------------------------------------------------------

    @property
    def budget(self) -> int | None:
        """The spending cap held by the ledger (None: no cap)."""
        return self._account.ledger.budget

    @property
    def ledger(self) -> Ledger:
        """Where holds and spending are recorded (shared across processes if configured)."""
        return self._account.ledger

    @property
    def history(self) -> tuple[SpendRecord, ...]:
        """Every paid intent this guard handled, in order."""
        return self._history.records()

    @property
    def spent(self) -> int:
        """Credits spent: settled ones plus in-doubt intents at their estimate.

        A credit that may have left the account is spent until evidence says otherwise.
        """
        return self._account.settled + self._account.doubtful

    @property
    def reserved(self) -> int:
        """Credits held for calls in flight and tasks still running (not in-doubt ones)."""
        return self._account.held - self._account.doubtful

    @property
    def in_doubt(self) -> tuple[SpendRecord, ...]:
        """Intents whose outcome could not be established (each with its reason)."""
        return self._doubts.records()

    @property
    def unrecorded(self) -> int:
        """Charged credits the ledger has not taken yet (an outage); replayed before spending."""
        return sum(spend.actual for spend in self._account.unrecorded)

    @property
    def balance_refreshes(self) -> int:
        """How many balance requests the guard made (single-flight, cached)."""
        return self._account.refreshes

    @property
    def poll_intervals(self) -> tuple[float, ...]:
        """Seconds between task polls (set by the client from its config)."""
        return self._tasks.poll_intervals

    @property
    def charge_failed_contacts(self) -> bool:
        return self._tasks.charge_failed_contacts

    # -- wiring -------------------------------------------------------------------------

    def bind(
        self,
        services: GuardServices,
        *,
        poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0),
        account: str = "default",
        doubt_grace: float = NOT_EXECUTED_GRACE,
        hook: Hooks | None = None,
    ) -> None:
        """Attach the client's free calls (done by ``AsyncLensmor``; one client per guard).

        ``account`` is a fingerprint of the API key (never the key): it scopes journal
        intent keys to one account. ``doubt_grace`` is how long after a send its
        absence of effect starts to mean "not executed" (see ``_core.reconciliation``).
        ``hook``: the client's observability hooks, told each spend step.
        """
        if self._services is not None and self._services is not services:
            raise ConfigurationError("a CreditGuard belongs to one client; create one per client")
        self._services = services
        self._tasks.poll_intervals = poll_intervals
        self._doubts.grace = doubt_grace
        self._journal.fingerprint = account
        self._account.bind(self._fetch_balance)
        self._history.hook = hook

    async def _fetch_balance(self) -> int:
        return int((await self._require_services().balance()).total_balance)

    def _require_services(self) -> GuardServices:
        if self._services is None:
            raise ConfigurationError("this CreditGuard is not attached to a client")
        return self._services

    def _checkpoint(self, name: str) -> None:
        """A durability checkpoint; crash tests hook here (``CreditGuard(checkpoint=...)``)."""
        if self._checkpoint_hook is not None:
            self._checkpoint_hook(name)

    async def aclose(self) -> None:
        """Close what the guard owns: a journal given as a path, a ledger given with
        ``own_ledger=True``, or what :meth:`for_redis` opened; idempotent.

        ``AsyncLensmor.aclose()`` calls this. Other ledgers and journals passed in are the
        caller's to close.
        """
        if self._owns_journal and self._journal.journal is not None:
            await self._journal.journal.aclose()
        if self._owns_ledger:
            await self._account.ledger.aclose()

    # -- recovery, reconciliation, tasks -------------------------------------------------

    async def recover(self, *, deadline: float = 30.0) -> RecoveryReport:
        """Finish intents a crashed process left in the journal, without re-sending them.

        Replays spends the ledger missed, resumes polling of acknowledged tasks,
        reconciles intents that were being sent, books what stays in doubt as spent at
        its estimate (releasing its hold), releases holds of intents never sent and
        purges expired holds.
        """
        return await self._recovery.run(deadline=deadline)

    async def reconcile(self) -> tuple[SpendRecord, ...]:
        """Settle this guard's in-doubt intents without re-sending them.

        Each is checked (precheck, access mode, contact state); a charged one is spent,
        an uncharged one releases its hold, an unknowable one stays in doubt (its hold
        still counts against the budget). Spends the ledger missed are replayed first.
        Returns the records that were settled.
        """
        await self._books.replay()
        return await self._doubts.reconcile()

    def task_handle(
        self, kind: TaskKind, intent: Any, submission: UnlockSubmission
    ) -> UnlockTaskHandle:
        """The handle for a submitted (or skipped) unlock batch."""
        return self._tasks.handle(kind, intent, submission)

    def task_handle_for_id(self, kind: TaskKind, task_id: str) -> UnlockTaskHandle:
        """A handle rebuilt from a task id (its requested ids come from the task itself)."""
        return self._tasks.handle_for_id(kind, task_id)

    # -- two-phase quotes ------------------------------------------------------------------

    async def quote(
        self, method: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> Quote[T]:
        """Price a paid SDK call without spending it.

        ``quote = await guard.quote(client.events.unlock, event_id)``.

        Show the quote to a person, then ``await quote.execute()``; executing re-checks
        and asks again only if the cost or balance moved. Quotes expire (``ttl``).
        ``method`` must be a paid method of this guard's client (a wrapper around one
        cannot be priced and is refused with ``ConfigurationError``).
        """
        call = record_call(method, args, kwargs)
        self._require_confirm(call)
        request = await self._buyer.price(call, self._policy_of(call))
        return Quote(self, method, args, dict(kwargs), call, request)

    async def execute_quote(
        self, token: str | bytes, client: object, *, secret: str | bytes | None = None
    ) -> Any:
        """Execute a sealed quote (``Quote.seal``), possibly sealed in another process.

        ``client`` is the ``AsyncLensmor`` this guard guards. Before any network I/O the
        token is verified (``QuoteTamperedError``: altered, foreign or not a token;
        ``QuoteExpiredError``), the call is rebuilt from it and must equal the sealed
        one, and its nonce is recorded (``QuoteReplayedError`` if it was used: each token
        buys at most once; see ``UsedTokens`` for the scope). Then the call runs like
        ``Quote.execute()``: re-priced, and the confirm callback is asked again only if
        the cost or the balance moved since the person looked.
        """
        sealed = unseal(
            token, secret_bytes(self.quote_secret if secret is None else secret), now=time.time()
        )
        if getattr(client, "guard", None) is not self:
            raise ConfigurationError("execute_quote needs the client this guard guards")
        method = method_at(client, sealed.method)
        call = record_call(method, sealed.args, sealed.kwargs)
        if canonical_call(call) != sealed.call:
            raise QuoteTamperedError("the quote token does not match the call it names")
        self._require_confirm(call)
        if not await self._used_tokens.use(sealed.nonce, sealed.expires_at, now=time.time()):
            raise QuoteReplayedError("this quote token was executed already; nothing was spent")
        approval = None
        if sealed.priced:
            approval = ApprovedQuote(sealed.credits, sealed.balance)
        return await run_quoted(method, sealed.args, sealed.kwargs, call, approval)

    def read_quote(self, token: str | bytes, *, secret: str | bytes | None = None) -> SealedQuote:
        """What an authentic token says (to show it again), even once expired; no I/O.

        Raises ``QuoteTamperedError`` for anything not sealed with the secret.
        """
        return verify(token, secret_bytes(self.quote_secret if secret is None else secret))

    async def discard_quote(self, token: str | bytes, *, secret: str | bytes | None = None) -> None:
        """Mark a token as used without executing it (a person declined): it can never buy.

        Raises ``QuoteReplayedError`` if it was executed or discarded already.
        """
        sealed = self.read_quote(token, secret=secret)
        if not await self._used_tokens.use(sealed.nonce, sealed.expires_at, now=time.time()):
            raise QuoteReplayedError("this quote token was used already")

    async def confirm_quotes(
        self,
        quotes: Sequence[Quote[Any]],
        *,
        description: str,
        confirm: ConfirmCallback | None = None,
    ) -> None:
        """Ask the confirm callback once for the total of ``quotes`` (one operation).

        On yes, each quote stands approved at the balance the group's earlier members
        leave, so executing them in order asks nothing more unless a price or the
        balance moves otherwise. On no (or a timeout or an error) raises
        ``SpendDeclinedError``; nothing was held, so nothing is recorded. ``confirm``
        asks instead of the guard's callback (e.g. the CLI's prompt); a ``LensmorError``
        it raises (a refusal with its own reason) is raised as it is.
        """
        paid = [q for q in quotes if q.request is not None]
        if not paid:
            return
        requests = [q.request for q in paid if q.request is not None]
        request = group_request(requests, description)
        callback = confirm or self._confirm
        if callback is None:
            raise ConfirmationRequiredError(
                f"{description} spends credits: pass a confirm callback"
            )
        try:
            with anyio.fail_after(self._confirm_timeout):
                approved = await ask(callback, request)
        except LensmorError:
            raise
        except Exception as exc:  # a timeout or a failing callback is a decline
            raise SpendDeclinedError(f"spend declined: {description}: {exc!r}") from exc
        if not approved:
            raise SpendDeclinedError(f"spend declined: {description}")
        staged = spend.staged_balances(
            request.current_balance, [r.expected_credits for r in requests]
        )
        for quote, balance in zip(paid, staged, strict=True):
            quote.approved_balance = balance

    # -- the paid path -------------------------------------------------------------------

    async def run_paid(
        self,
        call: Call[T],
        send: Sender,
        *,
        deadline: float | None,
        approval: Approval | None = None,
    ) -> T:
        """Run one paid call through the guard (the pipeline calls this)."""
        self._require_confirm(call)
        purchase = Purchase(call, self._policy_of(call), send, deadline, approval)
        lane = purchase.policy.lane(call)
        result: T = await self._flights.run(purchase.intent.key, partial(self._buy, lane, purchase))
        return result

    async def _buy(self, lane: str | None, purchase: Purchase) -> Any:
        # Inside the single-flight: identical intents share one purchase, and different
        # purchases of one lane (layers of one event) run one after the other.
        async with self._lanes.hold(lane):
            return await self._buyer.buy(purchase)

    def _require_confirm(self, call: Call[Any]) -> None:
        if self._confirm is None:
            raise ConfirmationRequiredError(
                f"{call.operation.name} spends credits and no confirm callback is configured: "
                "pass CreditGuard(confirm=...) to the client "
                "(e.g. always_confirm, confirm_up_to(n))"
            )

    def _policy_of(self, call: Call[Any]) -> PaidPolicy:
        return self._policies[call.operation.name]


def _choose_ledger(ledger: Ledger | None, budget: int | None) -> Ledger:
    if ledger is None:
        return InMemoryLedger(budget=budget)
    if budget is not None and ledger.budget != budget:
        raise ConfigurationError(
            "give the budget to the ledger (it holds the shared budget), not both"
        )
    return ledger
