"""A rate limit shared through Redis by every process that uses one API key.

Each step is one Lua script, so a grant, the count it checks and the answer it folds
in are one atomic step for every sharer on every host. The scripts mirror the pure
functions of ``_core/shared_pacing.py`` (``tests/test_shared_pacing.py`` runs both on
the same steps). Layout under ``{key:account}`` (one hash tag: one cluster slot),
where ``account`` is a digest of the API key, never the key itself::

    :state    hash    info, limit, remaining, reset, started, last, paused
    :sharers  hash    sharer id -> its concurrency (burst)
    :seen     zset    sharer id scored by its last ask; gone after ``sharer_ttl``
    :ticket:<id>  string  the window a start was granted in, or "returned"

Times are the askers' wall clocks (what ``X-RateLimit-Reset`` is read against), so
sharers on several hosts need synchronised clocks, as the headers already do.
Nothing here is money: every key expires an hour after its last use, and a lost
write costs at most some pacing. Client retries stay off as for the ledger; a
failure surfaces as :class:`~lensmor_async.errors.RateLimitStoreError`, and the
client paces on its own until the store answers again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lensmor_async._core.ratelimit import RateLimitInfo
from lensmor_async._core.shared_pacing import BOOK_AHEAD, GO, StartGrant
from lensmor_async._core.validation import is_seconds
from lensmor_async._rate_limit_store import StartRequest
from lensmor_async._redis import check_redis_target, redis_client
from lensmor_async.errors import ConfigurationError, RateLimitStoreError

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_RATE_LIMIT_KEY", "RedisRateLimitStore"]

DEFAULT_RATE_LIMIT_KEY = "lensmor:ratelimit"
_KEY_TTL_MS = 3_600_000
"""State of a key nobody asked about for an hour is dropped (it is re-learned)."""
_TICKET_TTL_MS = 30_000
"""Long enough to outlive any ask still on its way when its ticket is given back."""

_HELPERS = """
local function opt(v)
  if v == false or v == nil or v == '' then return nil end
  return tonumber(v)
end
local function stamp(t) return string.format('%.17g', t) end
-- Not '%d': header values reach 20 digits, and Lua's %d wraps those past 2^63 negative.
local function whole(n)
  if n == nil then return '' end
  return stamp(n)
end
"""

# KEYS: state, sharers, seen, ticket. ARGV: now, sharer, burst, has_answer, limit,
# remaining, reset, low_fraction, max_wait, force, sharer_ttl, ticket_ttl_ms, key_ttl_ms,
# book_ahead.
# share_answer then share_start (_core/shared_pacing.py), line for line.
_START = (
    _HELPERS
    + """
local state, sharers, seen, ticket = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if redis.call('EXISTS', ticket) == 1 then return {'returned'} end
local now, max_wait = tonumber(ARGV[1]), tonumber(ARGV[9])

-- The live sharers' concurrency together: what may be on its way uncounted.
redis.call('HSET', sharers, ARGV[2], ARGV[3])
redis.call('ZADD', seen, ARGV[1], ARGV[2])
local gone = '(' .. stamp(now - tonumber(ARGV[11]))
for _, id in ipairs(redis.call('ZRANGEBYSCORE', seen, '-inf', gone)) do
  redis.call('HDEL', sharers, id)
  redis.call('ZREM', seen, id)
end
local burst, live = 0, 0
for _, b in ipairs(redis.call('HVALS', sharers)) do burst, live = burst + tonumber(b), live + 1 end

local s = redis.call('HMGET', state, 'info', 'limit', 'remaining', 'reset', 'started', 'last',
  'paused')
local has_info = s[1] == '1'
local limit, remaining, reset = opt(s[2]), opt(s[3]), opt(s[4])
local started, last, paused = tonumber(s[5] or '0'), opt(s[6]), opt(s[7])

-- share_answer: adopt() the asker's newest headers.
if ARGV[4] == '1' then
  local a_limit, a_remaining, a_reset = opt(ARGV[5]), opt(ARGV[6]), opt(ARGV[7])
  local replace, new_remaining = true, a_remaining
  if has_info and reset ~= nil and a_reset ~= nil then
    if a_reset ~= reset then
      -- an answer from an earlier window is late: ignored, unless ours resets absurdly far off
      if a_reset < reset and reset - now <= max_wait then replace = false end
    elseif remaining ~= nil and a_remaining ~= nil then
      local ours = remaining - started
      if a_remaining > ours then new_remaining = math.max(0, ours) end
    end
  end
  if replace then
    has_info, limit, remaining, reset, started = true, a_limit, new_remaining, a_reset, 0
  end
end

local function save()
  redis.call('HSET', state, 'info', has_info and '1' or '0', 'limit', whole(limit),
    'remaining', whole(remaining), 'reset', whole(reset), 'started', whole(started),
    'last', last and stamp(last) or '', 'paused', paused and stamp(paused) or '')
  for _, k in ipairs({state, sharers, seen}) do redis.call('PEXPIRE', k, ARGV[13]) end
end

-- share_start: pace() with in_flight = burst, for the whole key.
local function low_water()
  if limit == nil then return 1 end
  local low = limit * tonumber(ARGV[8])
  if low > 1 then return low end
  return 1
end
local function decide()
  if not has_info or remaining == nil or reset == nil then return 'none', 0 end
  local left = remaining - started - live  -- each live sharer leaves one unspent
  if left > burst and left > 2 * burst and left > low_water() then return 'none', 0 end
  local to_reset = reset - now
  if not (to_reset > 0) then return 'none', 0 end
  if left <= 0 then return 'wait', math.min(to_reset, max_wait) end
  return 'space', math.min(to_reset / left, max_wait)
end

-- a pause past the cap comes from a sharer whose clock runs ahead: cut to the cap
if paused ~= nil and paused > now + max_wait then paused = now + max_wait end
save()
if paused ~= nil and paused > now then return {'wait', stamp(paused - now)} end
local kind, value = decide()
if kind == 'wait' and value > 0 and ARGV[10] ~= '1' then return {'wait', stamp(value)} end
local delay = 0
if kind == 'space' and last ~= nil then
  delay = math.max(0, value - (now - last))
  -- not booked far ahead, nor across the reset (it would land in the next window)
  if delay > tonumber(ARGV[14]) or (reset ~= nil and delay > 0 and now + delay >= reset) then
    return {'wait', stamp(delay)}
  end
end
-- Granted: booked ``delay`` ahead (0: now), so the next spacing counts from it.
started, last = started + 1, now + delay
save()
redis.call('SET', ticket, reset and whole(reset) or 'none', 'PX', ARGV[12])
return {'go', stamp(delay)}
"""
)

# KEYS: state, ticket. ARGV: ticket_ttl_ms. give_back (_core/shared_pacing.py).
_GIVE_BACK = (
    _HELPERS
    + """
local state, ticket = KEYS[1], KEYS[2]
local granted = redis.call('GET', ticket)
-- Marked first: a start for this ticket still on its way now grants nothing.
redis.call('SET', ticket, 'returned', 'PX', ARGV[1])
if not granted or granted == 'returned' then return {'ok'} end
local s = redis.call('HMGET', state, 'info', 'limit', 'remaining', 'reset', 'started')
local has_info = s[1] == '1'
local reset = has_info and opt(s[4]) or nil
local granted_in = nil
if granted ~= 'none' then granted_in = tonumber(granted) end
if reset ~= granted_in then return {'ok'} end
local started = tonumber(s[5] or '0')
if started > 0 then
  redis.call('HSET', state, 'started', whole(started - 1))
  return {'ok'}
end
local limit, remaining = opt(s[2]), opt(s[3])
if not has_info or remaining == nil then return {'ok'} end
if limit ~= nil and remaining >= limit then return {'ok'} end
redis.call('HSET', state, 'remaining', whole(remaining + 1))
return {'ok'}
"""
)

# KEYS: state. ARGV: until, key_ttl_ms. share_pause (_core/shared_pacing.py).
_PAUSE = (
    _HELPERS
    + """
local paused = opt(redis.call('HGET', KEYS[1], 'paused'))
if paused == nil or paused < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'paused', stamp(tonumber(ARGV[1])))
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return {'ok'}
"""
)


def _answer_args(answer: RateLimitInfo | None) -> list[str]:
    if answer is None:
        return ["0", "", "", ""]
    values = (answer.limit, answer.remaining, answer.reset)
    return ["1", *("" if v is None else str(v) for v in values)]


class RedisRateLimitStore:
    """One rate limit per API key, shared by every client that uses this store.

    ``AsyncLensmor(api_key, rate_limit_store=RedisRateLimitStore(url))`` in every
    process that uses the key. The client closes its store (its connections live in
    the client's event loop), so give each client a store of its own.
    """

    def __init__(
        self,
        url: str,
        *,
        key: str = DEFAULT_RATE_LIMIT_KEY,
        socket_timeout: float = 2.0,
        max_connections: int = 8,
        sharer_ttl: float = 10.0,
    ) -> None:
        check_redis_target(url, key, "RedisRateLimitStore")
        if not is_seconds(sharer_ttl):
            raise ConfigurationError(f"sharer_ttl must be seconds > 0, got {sharer_ttl!r}")
        self._key = key
        self._sharer_ttl = repr(float(sharer_ttl))
        self._redis = redis_client(url, socket_timeout, max_connections, "RedisRateLimitStore")
        self._start = self._redis.register_script(_START)
        self._give_back = self._redis.register_script(_GIVE_BACK)
        self._pause = self._redis.register_script(_PAUSE)
        self._closed = False

    @property
    def key(self) -> str:
        """The key prefix the shared state lives under."""
        return self._key

    async def start(self, request: StartRequest, /) -> StartGrant:
        """A start counted for every sharer (now or booked a moment ahead), or a wait."""
        args = [repr(request.now), request.sharer, str(request.burst)]
        args += _answer_args(request.answer)
        args += [repr(request.low_fraction), repr(request.max_wait), "1" if request.force else "0"]
        args += [self._sharer_ttl, str(_TICKET_TTL_MS), str(_KEY_TTL_MS), repr(BOOK_AHEAD)]
        keys = [*self._keys(request.account), self._ticket(request)]
        reply = await self._call(self._start, keys, args)
        if reply[0] == "go":
            delay = float(reply[1])
            return StartGrant(granted=True, delay=delay) if delay > 0 else GO
        if reply[0] == "wait":
            return StartGrant(granted=False, delay=float(reply[1]))
        # "returned": this ticket was given back already (its asker was cancelled).
        return StartGrant(granted=False, delay=request.max_wait)

    async def give_back(self, request: StartRequest, /) -> None:
        """Return the start granted to ``request`` (if any); a late grant for it grants nothing."""
        keys = [self._keys(request.account)[0], self._ticket(request)]
        await self._call(self._give_back, keys, [str(_TICKET_TTL_MS)])

    async def pause_until(self, account: str, until: float, /) -> None:
        """No sharer of ``account`` starts before ``until`` (wall clock); a pause only grows."""
        await self._call(self._pause, self._keys(account)[:1], [repr(until), str(_KEY_TTL_MS)])

    async def aclose(self) -> None:
        """Close the client's connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._redis.aclose()

    def _keys(self, account: str) -> list[str]:
        tag = f"{{{self._key}:{account}}}"
        return [f"{tag}:state", f"{tag}:sharers", f"{tag}:seen"]

    def _ticket(self, request: StartRequest) -> str:
        return f"{{{self._key}:{request.account}}}:ticket:{request.ticket}"

    async def _call(self, script: AsyncScript, keys: list[str], args: list[str]) -> list[Any]:
        """Run one script; every redis failure becomes a RateLimitStoreError here."""
        from redis.exceptions import RedisError

        if self._closed:
            raise RateLimitStoreError("the Redis rate-limit store is closed")
        try:
            reply = await script(keys=keys, args=args)
        except (RedisError, OSError) as exc:
            # Never str(exc): connection errors can quote the host, and the URL may hold secrets.
            raise RateLimitStoreError(
                f"the Redis rate-limit store failed: {type(exc).__name__}"
            ) from exc
        if not isinstance(reply, list) or not reply:
            raise RateLimitStoreError("the Redis rate-limit store returned an unexpected reply")
        return reply
