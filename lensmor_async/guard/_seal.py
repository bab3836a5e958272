"""Sealed quotes: a priced call as an opaque, signed token another process can execute.

A token is ``lq1.<payload>.<mac>``: the payload is canonical JSON (sorted keys) of the
SDK method and its arguments, the exact call they make (operation, path, query, body,
intent), the price and balance the person saw, the expiry and a random nonce; the mac
is HMAC-SHA256 with the app's secret over ``lq1.<payload>`` *as text*, so changing any
character of the token (even base64 padding bits that decode to the same bytes) is
refused. Everything here is checked before any network I/O.

The executing process rebuilds the call by running the same SDK method with the sealed
arguments (that is where the call's decoder comes from) and refuses the token unless the
rebuilt call is byte-for-byte the sealed one: a token never buys anything it does not
name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

import attrs
import orjson

from lensmor_async._call import Call
from lensmor_async.errors import (
    ConfigurationError,
    QuoteExpiredError,
    QuoteTamperedError,
)
from lensmor_async.guard._journal_protocol import JournalState
from lensmor_async.guard._journaling import IntentJournal, request_record

TOKEN_VERSION = "lq1"
MIN_SECRET_BYTES = 16
# The journal row that records a used token (never a paid operation, never reconciled).
USED_TOKEN_OPERATION = "quote.token"


@attrs.frozen(slots=True)
class SealedQuote:
    """What a verified token says (only ever built from an authentic token).

    ``credits`` and ``balance`` are what the person saw (None when ``priced`` is False:
    the quote said the call costs nothing now).
    """

    method: str
    """``<resource>.<method>`` on the client, e.g. ``events.unlock``."""
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    call: Mapping[str, Any]
    """The call's canonical parameters (:func:`canonical_call`)."""
    priced: bool
    """False when the quote said "costs nothing now" (no approval is carried)."""
    credits: int | None
    balance: int | None
    expires_at: float
    nonce: str

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_at

    @property
    def target(self) -> str | None:
        """The first id (or name) the sealed call buys, e.g. the event id of an unlock."""
        targets = self.call.get("intent", {}).get("targets", ())
        return str(targets[0]) if targets else None


def secret_bytes(secret: str | bytes | None) -> bytes:
    """The app's signing secret, refused when missing or too short to be one."""
    if secret is None:
        raise ConfigurationError(
            "sealing quotes needs the app's secret: CreditGuard(quote_secret=...) or secret=..."
        )
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"a quote secret needs at least {MIN_SECRET_BYTES} bytes")
    return raw


def canonical_call(call: Call[Any]) -> dict[str, Any]:
    """What the call sends and buys, in the JSON form a token carries (no key, no headers)."""
    record = request_record(call)
    record["query"] = [list(pair) for pair in call.query]
    # Through JSON once, so tuples and lists compare alike on both sides of a process.
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(record, option=orjson.OPT_SORT_KEYS))
    return loaded


def seal(
    secret: bytes,
    *,
    method: str,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    call: Call[Any],
    approval: tuple[int | None, int | None] | None,
    expires_at: float,
) -> str:
    """A token for one quote; ``approval`` is (credits, balance) the person saw, or None."""
    payload = {
        "v": 1,
        "method": method,
        "args": list(args),
        "kwargs": dict(kwargs),
        "call": canonical_call(call),
        "priced": approval is not None,
        "credits": None if approval is None else approval[0],
        "balance": None if approval is None else approval[1],
        "exp": expires_at,
        "nonce": secrets.token_urlsafe(16),
    }
    try:
        body = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise ConfigurationError(
            "only quotes of JSON arguments (str, int, lists of str) can be sealed"
        ) from exc
    signed = f"{TOKEN_VERSION}.{_b64(body)}"
    return f"{signed}.{_mac(secret, signed)}"


def verify(token: str | bytes, secret: bytes) -> SealedQuote:
    """Read an authentic token (expired or not); raises before any I/O."""
    text = _ascii(token)
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise QuoteTamperedError("not a sealed quote token")
    expected = _mac(secret, f"{parts[0]}.{parts[1]}")
    if not hmac.compare_digest(expected.encode(), parts[2].encode()):
        raise QuoteTamperedError("the quote token was altered or sealed with another secret")
    return _read(parts[1])


def unseal(token: str | bytes, secret: bytes, *, now: float) -> SealedQuote:
    """Verify a token (authentic, unexpired) and read it; raises before any I/O."""
    sealed = verify(token, secret)
    if now >= sealed.expires_at:
        raise QuoteExpiredError("this quote token expired; ask for a new quote before spending")
    return sealed


def _ascii(token: str | bytes) -> str:
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise QuoteTamperedError("not a sealed quote token") from None
    if not isinstance(token, str) or not token.isascii():
        raise QuoteTamperedError("not a sealed quote token")
    return token


def _read(encoded: str) -> SealedQuote:
    """The payload of an authentic token (a shape error means a foreign signer)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
        return SealedQuote(
            method=str(data["method"]),
            args=tuple(data["args"]),
            kwargs=dict(data["kwargs"]),
            call=dict(data["call"]),
            priced=bool(data["priced"]),
            credits=_optional_int(data["credits"]),
            balance=_optional_int(data["balance"]),
            expires_at=float(data["exp"]),
            nonce=str(data["nonce"]),
        )
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise QuoteTamperedError("the quote token's payload is unreadable") from exc


def _optional_int(value: Any) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    raise TypeError("expected an int or null")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, signed: str) -> str:
    return _b64(hmac.new(secret, signed.encode("ascii"), hashlib.sha256).digest())


class UsedTokens:
    """The nonces of executed tokens: each token buys at most once.

    Scope: this guard's memory (until the token expires), plus its journal when it has
    one, so guards sharing a journal (workers of one app, processes on one machine
    sharing an SQLite journal) refuse a token any of them executed. Without a journal,
    another process could execute the same token again; the intent's journal row and
    the server's "already unlocked" answer still keep unlocks from being paid twice,
    but repeatable searches would be bought again, so share a journal across workers.
    """

    def __init__(self, journal: IntentJournal) -> None:
        self._journal = journal
        self._seen: dict[str, float] = {}

    async def use(self, nonce: str, expires_at: float, *, now: float) -> bool:
        """Record the nonce as used; False when it already was (here or in the journal)."""
        for old in [n for n, until in self._seen.items() if until <= now]:
            del self._seen[old]
        if nonce in self._seen:
            return False
        self._seen[nonce] = expires_at  # before any await: a concurrent twin loses here
        journal = self._journal.journal
        if journal is None:
            return True
        key = "quote-token:" + hashlib.sha256(nonce.encode()).hexdigest()[:40]
        claim = await journal.claim(
            key, USED_TOKEN_OPERATION, {"expires_at": expires_at}, estimate=0
        )
        if not claim.owned:
            return False
        await journal.advance(key, JournalState.SUCCEEDED, actual=0, reason="quote token executed")
        return True
