"""lensmor-async: the async-first, typed, credit-safe SDK for the Lensmor API.

>>> from lensmor_async import AsyncLensmor, CreditGuard, always_confirm
>>> from lensmor_async import Lensmor  # the sync client
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async._client import AsyncLensmor
from lensmor_async._config import ClientConfig, Secret
from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.retry import RetryPolicy
from lensmor_async._hooks import Hook, RequestEvent, SpendEvent, SpendEventKind
from lensmor_async._lazy import lazy_attributes
from lensmor_async._response import RawResponse
from lensmor_async._version import __version__
from lensmor_async.errors import (
    ActionNotAllowedError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ConcurrencyLimitError,
    ConfigurationError,
    ConfirmationRequiredError,
    ConflictError,
    CreditError,
    DeadlineExceededError,
    FeatureNotAvailableError,
    InsufficientCreditsError,
    InvalidRequestError,
    LeaseLostError,
    LedgerUnavailableError,
    LensmorError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    QuoteExpiredError,
    QuoteReplayedError,
    QuoteTamperedError,
    QuoteTokenError,
    RateLimitError,
    RateLimitStoreError,
    RedirectRefusedError,
    ResponseError,
    ResponseValidationError,
    ServerError,
    SpendDeclinedError,
    SpendInDoubtError,
    TransportError,
    UnprocessableError,
)

if TYPE_CHECKING:
    from lensmor_async._rate_limit_redis import RedisRateLimitStore
    from lensmor_async._rate_limit_store import RateLimitStore, StartGrant, StartRequest
    from lensmor_async.bulk import BulkCheckpoint, BulkReport, run_bulk
    from lensmor_async.guard import (
        ContactUnlockReport,
        CostTable,
        CreditGuard,
        InMemoryLedger,
        Quote,
        RedisJournal,
        RedisLedger,
        SpendOutcome,
        SpendRecord,
        SpendRequest,
        SqliteJournal,
        SqliteLedger,
        UnlockTaskHandle,
        always_confirm,
        confirm_up_to,
    )
    from lensmor_async.models import Page
    from lensmor_async.sync import Lensmor

# Loaded on first use, so `import lensmor_async` stays close to its dependencies' cost
# (the guard also loads with the first AsyncLensmor).
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "BulkCheckpoint": "lensmor_async.bulk",
        "BulkReport": "lensmor_async.bulk",
        "run_bulk": "lensmor_async.bulk",
        "ContactUnlockReport": "lensmor_async.guard",
        "CostTable": "lensmor_async.guard",
        "CreditGuard": "lensmor_async.guard",
        "InMemoryLedger": "lensmor_async.guard",
        "Quote": "lensmor_async.guard",
        "RedisJournal": "lensmor_async.guard",
        "RedisLedger": "lensmor_async.guard",
        "SpendOutcome": "lensmor_async.guard",
        "SpendRecord": "lensmor_async.guard",
        "SpendRequest": "lensmor_async.guard",
        "SqliteJournal": "lensmor_async.guard",
        "SqliteLedger": "lensmor_async.guard",
        "UnlockTaskHandle": "lensmor_async.guard",
        "always_confirm": "lensmor_async.guard",
        "confirm_up_to": "lensmor_async.guard",
        "Page": "lensmor_async.models",
        "Lensmor": "lensmor_async.sync",
        "RateLimitStore": "lensmor_async._rate_limit_store",
        "StartGrant": "lensmor_async._rate_limit_store",
        "StartRequest": "lensmor_async._rate_limit_store",
        "RedisRateLimitStore": "lensmor_async._rate_limit_redis",
    },
)


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionNotAllowedError",
    "AsyncLensmor",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "BulkCheckpoint",
    "BulkReport",
    "ClientConfig",
    "ConcurrencyLimitError",
    "ConfigurationError",
    "ConfirmationRequiredError",
    "ConflictError",
    "ContactUnlockReport",
    "CostTable",
    "CreditError",
    "CreditGuard",
    "DeadlineExceededError",
    "FeatureNotAvailableError",
    "Hook",
    "InMemoryLedger",
    "InsufficientCreditsError",
    "InvalidRequestError",
    "LeaseLostError",
    "LedgerUnavailableError",
    "Lensmor",
    "LensmorError",
    "MalformedResponseError",
    "NotFoundError",
    "Page",
    "PermissionDeniedError",
    "Quote",
    "QuoteExpiredError",
    "QuoteReplayedError",
    "QuoteTamperedError",
    "QuoteTokenError",
    "RateLimitError",
    "RateLimitInfo",
    "RateLimitStore",
    "RateLimitStoreError",
    "RawResponse",
    "RedirectRefusedError",
    "RedisJournal",
    "RedisLedger",
    "RedisRateLimitStore",
    "RequestEvent",
    "ResponseError",
    "ResponseValidationError",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "SpendDeclinedError",
    "SpendEvent",
    "SpendEventKind",
    "SpendInDoubtError",
    "SpendOutcome",
    "SpendRecord",
    "SpendRequest",
    "SqliteJournal",
    "SqliteLedger",
    "StartGrant",
    "StartRequest",
    "TransportError",
    "UnlockTaskHandle",
    "UnprocessableError",
    "__version__",
    "always_confirm",
    "confirm_up_to",
    "run_bulk",
]
