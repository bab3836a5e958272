"""A ledger in Redis, shared by every process on every host that can reach it.

Why it stays atomic: reserve, commit, release, release_intent, purge and snapshot
are each one Lua script, and Redis runs a script with nothing interleaved, so the
budget check and the update are one step for every client everywhere.

Layout under ``key`` (one hash tag, so a cluster keeps them in one slot)::

    {key}:meta    hash   budget ("none" or an int), spent, reserved, fence
    {key}:holds   hash   hold_id -> "amount:fence:intent_key"
    {key}:expiry  zset   hold_id scored by its expiry time
    {key}:committed:<hold_id>  string  "fence:actual", expiring after the commit retention
    {key}:intent:<intent_key>  set     ids of that intent's live holds

The per-intent sets let ``release_intent`` find an intent's holds in O(its holds).
Every script that drops a hold (commit, release, release_intent and the purge of
expired holds) removes its id from its set, and Redis deletes an emptied set; as a
backstop, each set expires a second after the longest hold added to it. The purge
cannot name in ``KEYS`` the sets of the holds it will find expired, so it derives
their names from ``{key}:meta``: they carry the same hash tag, so on a cluster they
live in the script's slot. Holds reserved by an SDK version without these sets are
not found by ``release_intent``; they still expire with their TTL.

Holds expire: every script first purges holds whose expiry has passed (subtracting
them from ``reserved``), so an abandoned hold stops counting. Commits are fenced:
each reserve takes the next value of a monotonic counter (``HINCRBY fence``), and a
commit must name a live hold with that exact fence, else ``StaleHoldError``.

Commits are idempotent per hold: the script that drops a hold also writes its
``committed`` marker (with a ``PX`` expiry, so Redis itself bounds what is kept), and a
repeated commit with the same fence finds the marker and changes nothing.

Clock: the scripts read the *server's* clock (``TIME``), never the client's, so
clients on hosts with skewed clocks all agree on when a hold expires. A
:class:`Hold`'s ``expires_at`` is therefore in the Redis server's wall-clock time.
Reading ``TIME`` in a script that writes needs effects replication (Redis ≥ 5).

The budget lives in Redis: the first user of a key stores it, and every later user
must pass the same ``budget`` (``None`` included) or gets a ``ConfigurationError``.

Client retries are switched off on purpose: a re-sent commit would now be harmless
(see above), but a re-sent reserve whose reply was lost would take a second hold. Network
failures surface as :class:`~lensmor_async.errors.LedgerUnavailableError` (fail closed);
connections idle for a while are health-checked before use instead.

``redis`` is an optional dependency (``pip install 'lensmor-async[redis]'``), imported
only when a ``RedisLedger`` is created. One ledger serves one event loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lensmor_async._redis import check_redis_target, redis_client
from lensmor_async.errors import ConfigurationError, LedgerUnavailableError
from lensmor_async.guard._ledger_common import (
    DEFAULT_COMMIT_RETENTION,
    DEFAULT_HOLD_TTL,
    budget_exceeded,
    check_amount,
    check_budget,
    check_hold,
    check_hold_id,
    check_intent_key,
    check_open,
    check_reserve,
    check_retention,
    check_settle,
    check_ttl,
    new_hold_id,
)
from lensmor_async.guard._ledger_protocol import Hold, LedgerSnapshot, StaleHoldError

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_REDIS_KEY", "RedisLedger"]

DEFAULT_REDIS_KEY = "lensmor:ledger"

# Shared by every script. KEYS: meta, holds, expiry (+ a hold's committed marker for the
# settle and committed scripts, or an intent's set for reserve and release_intent).
# ARGV[1]: the expected budget.
_PRELUDE = """
local meta, holds, expiry = KEYS[1], KEYS[2], KEYS[3]
-- "{key}:meta" minus "meta": the prefix (and hash tag) every key of this ledger shares.
local prefix = string.sub(meta, 1, -5)

local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function stamp(t)
  return string.format('%.6f', t)
end

-- The first user of the key stores the budget; returns the stored one on mismatch.
local function budget_mismatch(expected)
  redis.call('HSETNX', meta, 'budget', expected)
  local stored = redis.call('HGET', meta, 'budget')
  if stored ~= expected then return stored end
  return false
end

-- An entry is "amount:fence:intent_key"; the intent key may itself contain ':'.
local function intent_of(entry)
  return string.match(entry, '^%d+:%d+:(.*)$')
end

local function drop(id, entry)
  local amount = string.match(entry, '^(%d+):')
  redis.call('HDEL', holds, id)
  redis.call('ZREM', expiry, id)
  -- SREM of the last member deletes the set, so settled intents leave nothing behind.
  redis.call('SREM', prefix .. 'intent:' .. intent_of(entry), id)
  -- HINCRBY refuses '-0', so a zero hold leaves the total alone.
  if amount ~= '0' then redis.call('HINCRBY', meta, 'reserved', '-' .. amount) end
end

-- Expired holds (expiry <= now) stop counting: drop them before anything else.
local function purge(t)
  local purged = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', stamp(t))) do
    local entry = redis.call('HGET', holds, id)
    if entry then
      drop(id, entry)
      purged = purged + 1
    else
      redis.call('ZREM', expiry, id)
    end
  end
  return purged
end

local function number(field)
  return tonumber(redis.call('HGET', meta, field) or '0')
end

local stored = budget_mismatch(ARGV[1])
if stored then return {'budget', stored} end
local t = now()
local purged = purge(t)
"""

# KEYS[4]: the intent's set. ARGV: budget, amount, ttl, hold_id, intent_key
_RESERVE = (
    _PRELUDE
    + """
if ARGV[1] ~= 'none' then
  local available = tonumber(ARGV[1]) - number('spent') - number('reserved')
  if available < 0 then available = 0 end
  if tonumber(ARGV[2]) > available then return {'refused', string.format('%d', available)} end
end
local fence = string.format('%d', redis.call('HINCRBY', meta, 'fence', 1))
local expires = stamp(t + tonumber(ARGV[3]))
redis.call('HSET', holds, ARGV[4], ARGV[2] .. ':' .. fence .. ':' .. ARGV[5])
redis.call('ZADD', expiry, expires, ARGV[4])
redis.call('HINCRBY', meta, 'reserved', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[4])
-- The set outlives its longest hold by a second (capped so PEXPIRE cannot overflow).
local keep = math.min(math.ceil(tonumber(ARGV[3]) * 1000) + 1000, 2 ^ 52)
if redis.call('PTTL', KEYS[4]) < keep then
  redis.call('PEXPIRE', KEYS[4], string.format('%d', keep))
end
return {'ok', fence, expires}
"""
)

# KEYS[4]: the hold's committed marker. ARGV: budget, hold_id, fence, actual ('' for a
# release), retention in milliseconds.
_SETTLE = (
    _PRELUDE
    + """
local entry = redis.call('HGET', holds, ARGV[2])
if entry and string.match(entry, '^%d+:(%d+):') == ARGV[3] then
  drop(ARGV[2], entry)
  if ARGV[4] ~= '' then
    redis.call('HINCRBY', meta, 'spent', ARGV[4])
    redis.call('SET', KEYS[4], ARGV[3] .. ':' .. ARGV[4], 'PX', ARGV[5])
  end
  return {'ok'}
end
-- No live hold: a release is done either way; a commit is a no-op if this hold committed.
if ARGV[4] == '' then return {'ok'} end
local marker = redis.call('GET', KEYS[4])
if marker and string.match(marker, '^(%d+):') == ARGV[3] then return {'again'} end
return {'stale'}
"""
)

# KEYS[4]: the hold's committed marker. ARGV: budget
_COMMITTED = (
    _PRELUDE
    + """
local marker = redis.call('GET', KEYS[4])
if not marker then return {'none'} end
return {'ok', string.match(marker, ':(%d+)$')}
"""
)

# KEYS[4]: the intent's set. ARGV: budget, intent_key
_RELEASE_INTENT = (
    _PRELUDE
    + """
local released = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[4])) do
  local entry = redis.call('HGET', holds, id)
  -- Hold ids are unique, so this always matches; checking keeps a stray id harmless.
  if entry and intent_of(entry) == ARGV[2] then
    drop(id, entry)
    released = released + 1
  end
end
-- Whatever is left names holds that are already gone.
redis.call('DEL', KEYS[4])
return {'ok', released}
"""
)

# ARGV: budget, actual
_RECORD = (
    _PRELUDE
    + """
redis.call('HINCRBY', meta, 'spent', ARGV[2])
return {'ok'}
"""
)

# ARGV: budget
_PURGE = _PRELUDE + "\nreturn {'ok', purged}\n"

# ARGV: budget
_SNAPSHOT = (
    _PRELUDE
    + """
return {'ok', string.format('%d', number('spent')), string.format('%d', number('reserved')),
        redis.call('HLEN', holds)}
"""
)


def _encode_budget(budget: int | None) -> str:
    return "none" if budget is None else str(budget)


class RedisLedger:
    """A budget ledger in Redis, safe across processes and hosts."""

    def __init__(
        self,
        url: str,
        *,
        key: str = DEFAULT_REDIS_KEY,
        budget: int | None = None,
        hold_ttl: float = DEFAULT_HOLD_TTL,
        commit_retention: float = DEFAULT_COMMIT_RETENTION,
        socket_timeout: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        check_redis_target(url, key, "RedisLedger")
        self._budget = check_budget(budget)
        self._budget_arg = _encode_budget(self._budget)
        self._hold_ttl = check_ttl(hold_ttl, DEFAULT_HOLD_TTL)
        # PX needs whole milliseconds > 0.
        self._retention_ms = max(1, round(check_retention(commit_retention) * 1000))
        self._key = key
        self._keys = [f"{{{key}}}:meta", f"{{{key}}}:holds", f"{{{key}}}:expiry"]
        self._redis = redis_client(url, float(socket_timeout), max_connections, "RedisLedger")
        self._reserve = self._redis.register_script(_RESERVE)
        self._settle = self._redis.register_script(_SETTLE)
        self._committed = self._redis.register_script(_COMMITTED)
        self._release_intent = self._redis.register_script(_RELEASE_INTENT)
        self._record = self._redis.register_script(_RECORD)
        self._purge = self._redis.register_script(_PURGE)
        self._snapshot = self._redis.register_script(_SNAPSHOT)
        self._closed = False

    @property
    def budget(self) -> int | None:
        """The spending cap, or None for no cap (equal to the one stored in Redis)."""
        return self._budget

    @property
    def key(self) -> str:
        """The key prefix this ledger's data lives under."""
        return self._key

    async def reserve(self, intent_key: str, amount: int, *, ttl: float | None = None) -> Hold:
        """Hold ``amount`` credits, or raise ``BudgetExceededError(required, available)``."""
        intent_key, amount, seconds = check_reserve(intent_key, amount, ttl, self._hold_ttl)
        hold_id = new_hold_id()
        reply = await self._call(
            self._reserve,
            amount,
            repr(seconds),
            hold_id,
            intent_key,
            extra_key=self._intent_key(intent_key),
        )
        if reply[0] == "refused":
            assert self._budget is not None  # only a capped ledger refuses
            raise budget_exceeded(amount, self._budget, int(reply[1]))
        return Hold(hold_id, intent_key, amount, int(reply[1]), float(reply[2]))

    async def commit(self, hold: Hold, actual: int) -> None:
        """Spend ``actual`` and drop the hold; a repeated commit of it is a no-op.

        StaleHoldError if the hold expired or was released without a commit.
        """
        hold, actual = check_settle(hold, actual)
        reply = await self._settle_hold(hold, actual)
        if reply[0] == "stale":
            raise StaleHoldError(f"hold {hold.hold_id} expired or was released")

    async def committed(self, hold_id: str) -> int | None:
        """The actual committed for ``hold_id`` within the retention, or None."""
        hold_id = check_hold_id(hold_id)
        reply = await self._call(self._committed, extra_key=self._marker_key(hold_id))
        return int(reply[1]) if reply[0] == "ok" else None

    async def release(self, hold: Hold) -> None:
        """Drop the hold without spending; a missing or committed hold is left alone."""
        hold = check_hold(hold)
        await self._settle_hold(hold, "")

    async def release_intent(self, intent_key: str) -> int:
        """Drop every live hold filed under ``intent_key`` in one script; count them.

        Committed holds are no longer in the intent's set, so they cannot be touched.
        """
        intent_key = check_intent_key(intent_key)
        reply = await self._call(
            self._release_intent, intent_key, extra_key=self._intent_key(intent_key)
        )
        return int(reply[1])

    async def record_unheld(self, intent_key: str, actual: int) -> None:
        """Record a spend whose hold expired, so ``spent`` stays truthful."""
        check_intent_key(intent_key)
        actual = check_amount("actual", actual)
        await self._call(self._record, actual)

    async def release_expired(self) -> int:
        """Drop every expired hold; return how many were dropped."""
        reply = await self._call(self._purge)
        return int(reply[1])

    async def snapshot(self) -> LedgerSnapshot:
        """Current totals, counting live holds only (expired ones are purged first)."""
        reply = await self._call(self._snapshot)
        return LedgerSnapshot(self._budget, int(reply[1]), int(reply[2]), int(reply[3]))

    async def aclose(self) -> None:
        """Close the client's connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._redis.aclose()

    def _marker_key(self, hold_id: str) -> str:
        # Under the same hash tag as the other keys, so every script stays in one slot.
        return f"{{{self._key}}}:committed:{hold_id}"

    def _intent_key(self, intent_key: str) -> str:
        # The scripts derive the same name from the meta key when they drop a hold.
        return f"{{{self._key}}}:intent:{intent_key}"

    async def _settle_hold(self, hold: Hold, actual: int | str) -> list[Any]:
        marker = self._marker_key(hold.hold_id)
        return await self._call(
            self._settle, hold.hold_id, hold.fence, actual, self._retention_ms, extra_key=marker
        )

    async def _call(
        self, script: AsyncScript, *args: str | int, extra_key: str | None = None
    ) -> list[Any]:
        """Run one script; translate redis errors and a budget mismatch at this boundary.

        ``extra_key`` is the script's ``KEYS[4]`` (a commit marker or an intent's set).
        """
        from redis.exceptions import RedisError

        check_open(self._closed)
        keys = self._keys if extra_key is None else [*self._keys, extra_key]
        try:
            reply = await script(keys=keys, args=[self._budget_arg, *args])
        except RedisError as exc:
            # Never str(exc): connection errors can quote the host, and the URL may hold secrets.
            raise LedgerUnavailableError(f"the Redis ledger failed: {type(exc).__name__}") from exc
        if not isinstance(reply, list) or not reply:
            raise LedgerUnavailableError("the Redis ledger returned an unexpected reply")
        if reply[0] == "budget":
            raise ConfigurationError(
                f"the Redis ledger {self._key!r} was created with budget={reply[1]}; "
                f"this client passed budget={self._budget_arg} (they must match)"
            )
        return reply
