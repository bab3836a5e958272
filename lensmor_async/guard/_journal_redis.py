"""The spend journal in Redis: one intent journal for a fleet of hosts.

It lives on the same Redis server as :class:`~lensmor_async.guard.RedisLedger`, so
one URL gives a fleet both its budget and its "one intent, one payment" record.

Why it stays atomic: claim, advance, renew and take-over are each one Lua script;
Redis runs a script with nothing interleaved, so the read-check-write of a row (is it
taken? is this fence still the owner's? is the move legal?) is one step for every
client on every host. Lease times come from the server's clock (``TIME``), so hosts
with skewed clocks agree on when a lease has expired.

Layout under ``key`` (one hash tag, so a cluster keeps them in one slot)::

    {key}:row:<intent_key>  hash  operation, state, request, owner, estimate, actual,
                                  hold, task_id, reason, updated_at, fence, lease, result
    {key}:order             zset  intent keys by first claim (``entries()`` order)
    {key}:meta              hash  seq (the order counter)

Durability is Redis's: run it with AOF (``appendonly yes``, ``appendfsync everysec`` or
``always``); see docs/bulk.md for what a restart that lost writes means. Network
failures surface as :class:`~lensmor_async.errors.LedgerUnavailableError` before any
send (paid calls fail closed). ``entries()`` and ``unfinished()`` read every row: fine
for the rows of a job, not for years of history under one key (rotate ``key``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from lensmor_async._redis import check_redis_target, redis_client
from lensmor_async.errors import CreditError, LedgerUnavailableError
from lensmor_async.guard._journal_common import (
    DEFAULT_LEASE_TTL,
    RANK,
    TAKEOVER,
    check_fence,
    check_host_id,
    check_lease_ttl,
    check_operation,
    check_state,
    encode_fields,
    encode_request,
    illegal_move,
    lease_lost,
    legal_transition,
    optional_amount,
    owner_of,
)
from lensmor_async.guard._journal_protocol import Claim, JournalEntry, JournalState
from lensmor_async.guard._ledger_common import check_intent_key, check_open

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

__all__ = ["DEFAULT_JOURNAL_KEY", "RedisJournal"]

DEFAULT_JOURNAL_KEY = "lensmor:journal"

# KEYS: row, order, meta. Each script answers {status, flat row fields...}.
_PRELUDE = """
local row, order, meta = KEYS[1], KEYS[2], KEYS[3]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function stamp(t) return string.format('%.6f', t) end
local function reply(status)
  local out = {status}
  for _, v in ipairs(redis.call('HGETALL', row)) do table.insert(out, v) end
  return out
end
local function member(list, value)
  for word in string.gmatch(list, '%S+') do if word == value then return true end end
  return false
end
local t = now()
"""

# ARGV: operation, request, owner, estimate ('' none), lease ttl, intent key, takeover states
_CLAIM = (
    _PRELUDE
    + """
local state = redis.call('HGET', row, 'state')
if state and not member(ARGV[7], state) then return reply('existing') end
local fence = tonumber(redis.call('HGET', row, 'fence') or '0') + 1
redis.call('HDEL', row, 'actual', 'hold', 'task_id', 'reason', 'estimate', 'result')
redis.call('HSET', row, 'operation', ARGV[1], 'state', 'planned', 'request', ARGV[2],
  'owner', ARGV[3], 'updated_at', stamp(t), 'fence', fence,
  'lease', stamp(t + tonumber(ARGV[5])))
if ARGV[4] ~= '' then redis.call('HSET', row, 'estimate', ARGV[4]) end
if not state then
  redis.call('ZADD', order, redis.call('HINCRBY', meta, 'seq', 1), ARGV[6])
end
return reply('owned')
"""
)

# ARGV: state, fence ('' unfenced), lease ttl, states it may come from, then field/value
# pairs ('' clears the field: every set value is non-empty).
_ADVANCE = (
    _PRELUDE
    + """
local state = redis.call('HGET', row, 'state')
if not state then return {'missing'} end
if ARGV[2] ~= '' and redis.call('HGET', row, 'fence') ~= ARGV[2] then return {'stale'} end
if not member(ARGV[4], state) then return {'illegal', state} end
redis.call('HSET', row, 'state', ARGV[1], 'updated_at', stamp(t))
for i = 5, #ARGV, 2 do
  if ARGV[i + 1] == '' then redis.call('HDEL', row, ARGV[i])
  else redis.call('HSET', row, ARGV[i], ARGV[i + 1]) end
end
if ARGV[2] ~= '' then redis.call('HSET', row, 'lease', stamp(t + tonumber(ARGV[3]))) end
return reply('ok')
"""
)

# ARGV: fence, lease ttl
_RENEW = (
    _PRELUDE
    + """
if redis.call('HGET', row, 'fence') ~= ARGV[1] then return {'stale'} end
redis.call('HSET', row, 'lease', stamp(t + tonumber(ARGV[2])))
return {'ok'}
"""
)

# ARGV: owner, lease ttl, force ('1' or '0')
_TAKE_OVER = (
    _PRELUDE
    + """
if redis.call('EXISTS', row) == 0 then return {'missing'} end
if ARGV[3] ~= '1' and tonumber(redis.call('HGET', row, 'lease') or '0') > t then
  return {'held'}
end
redis.call('HSET', row, 'owner', ARGV[1], 'lease', stamp(t + tonumber(ARGV[2])),
  'fence', tonumber(redis.call('HGET', row, 'fence') or '0') + 1)
return reply('ok')
"""
)

_TAKEOVER_STATES = " ".join(state.value for state in TAKEOVER)


def _optional_int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _entry(key: str, flat: Sequence[Any] | Mapping[str, Any]) -> JournalEntry:
    data = flat if isinstance(flat, Mapping) else dict(zip(flat[::2], flat[1::2], strict=True))
    hold, result = data.get("hold"), data.get("result")
    return JournalEntry(
        intent_key=key,
        operation=data["operation"],
        state=JournalState(data["state"]),
        request=orjson.loads(data["request"]),
        owner=data["owner"],
        estimate=_optional_int(data.get("estimate")),
        actual=_optional_int(data.get("actual")),
        hold=None if hold is None else orjson.loads(hold),
        task_id=data.get("task_id"),
        reason=data.get("reason"),
        updated_at=float(data.get("updated_at", 0.0)),
        fence=int(data.get("fence", 0)),
        lease_expires_at=float(data.get("lease", 0.0)),
        result=None if result is None else orjson.loads(result),
    )


def _encode_value(value: Any) -> str:
    return "" if value is None else str(value)


class RedisJournal:
    """A :class:`~lensmor_async.guard._journal_protocol.Journal` in Redis, for fleets.

    ``key``: the prefix its data lives under (one journal per key; use the same key on
    every host of a fleet). ``lease_ttl``: seconds an owner's lease lasts unless renewed
    (default 10). ``host_id``: this host's name in owner ids (default: the machine's
    host name; set it in containers whose host names are not unique or not stable).
    """

    def __init__(
        self,
        url: str,
        *,
        key: str = DEFAULT_JOURNAL_KEY,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        host_id: str | None = None,
        socket_timeout: float = 5.0,
        max_connections: int = 32,
    ) -> None:
        check_redis_target(url, key, "RedisJournal")
        self._lease_ttl = check_lease_ttl(lease_ttl)
        self._host_id = check_host_id(host_id)
        self._key = key
        self._redis = redis_client(url, socket_timeout, max_connections, "RedisJournal")
        self._claim = self._redis.register_script(_CLAIM)
        self._advance = self._redis.register_script(_ADVANCE)
        self._renew = self._redis.register_script(_RENEW)
        self._take_over = self._redis.register_script(_TAKE_OVER)
        self._closed = False

    @property
    def key(self) -> str:
        return self._key

    @property
    def owner(self) -> str:
        """``host_id:pid`` of this process."""
        return owner_of(self._host_id)

    @property
    def lease_ttl(self) -> float:
        return self._lease_ttl

    async def claim(
        self, intent_key: str, operation: str, request: Mapping[str, Any], *, estimate: int | None
    ) -> Claim:
        """Create the row in ``planned`` (owned, new fence and lease), or return the existing one.

        A row that ended without a charge (failed_no_charge, rejected_402) is started afresh.
        """
        key = check_intent_key(intent_key)
        args = (
            check_operation(operation),
            encode_request(request),
            self.owner,
            _encode_value(optional_amount("estimate", estimate)),
            repr(self._lease_ttl),
            key,
            _TAKEOVER_STATES,
        )
        reply = await self._run(self._claim, key, *args)
        return Claim(_entry(key, reply[1:]), owned=reply[0] == "owned")

    async def advance(
        self, intent_key: str, state: JournalState, *, fence: int | None = None, **fields: Any
    ) -> JournalEntry:
        """Move a row forward (as the SQLite journal does), fenced like it; see the protocol."""
        key = check_intent_key(intent_key)
        state = check_state(state)
        fenced = check_fence(fence)
        columns = encode_fields(state, fields)
        sources = " ".join(s.value for s in JournalState if legal_transition(s, state))
        pairs = [part for name, value in columns.items() for part in (name, _encode_value(value))]
        args = (state.value, _encode_value(fenced), repr(self._lease_ttl), sources, *pairs)
        reply = await self._run(self._advance, key, *args)
        if reply[0] == "missing":
            raise CreditError(f"the spend journal has no intent {key}")
        if reply[0] == "stale":
            assert fenced is not None
            raise lease_lost(key, fenced)
        if reply[0] == "illegal":
            raise CreditError(illegal_move(key, JournalState(reply[1]), state))
        return _entry(key, reply[1:])

    async def renew(self, intent_key: str, fence: int) -> bool:
        """Extend the lease held under ``fence``; False once another owner took the row."""
        key = check_intent_key(intent_key)
        fenced = check_fence(fence)
        reply = await self._run(self._renew, key, str(fenced), repr(self._lease_ttl))
        return bool(reply[0] == "ok")

    async def take_over(self, intent_key: str, *, force: bool = False) -> JournalEntry | None:
        """Own the row if its lease expired (or ``force``); None while the lease is held."""
        key = check_intent_key(intent_key)
        flag = "1" if force else "0"
        reply = await self._run(self._take_over, key, self.owner, repr(self._lease_ttl), flag)
        return _entry(key, reply[1:]) if reply[0] == "ok" else None

    async def get(self, intent_key: str) -> JournalEntry | None:
        """The row for ``intent_key``, or None."""
        key = check_intent_key(intent_key)
        rows = await self._rows([key])
        return rows[0] if rows else None

    async def unfinished(self) -> list[JournalEntry]:
        """Rows not in a terminal state, oldest first (what ``recover()`` works through)."""
        return [entry for entry in await self.entries() if entry.state in RANK]

    async def entries(self) -> list[JournalEntry]:
        """Every row, oldest first (a taken-over row keeps its place)."""
        order = f"{{{self._key}}}:order"
        keys = await self._guarded(lambda: self._redis.zrange(order, 0, -1))
        return await self._rows([str(k) for k in keys])

    async def aclose(self) -> None:
        """Close the client's connections (idempotent)."""
        if self._closed:
            return
        self._closed = True
        await self._redis.aclose()

    def _keys(self, intent_key: str) -> list[str]:
        base = f"{{{self._key}}}"
        return [f"{base}:row:{intent_key}", f"{base}:order", f"{base}:meta"]

    async def _rows(self, keys: list[str]) -> list[JournalEntry]:
        pipe = self._redis.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(self._keys(key)[0])
        found = await self._guarded(pipe.execute)
        return [_entry(key, data) for key, data in zip(keys, found, strict=True) if data]

    async def _run(self, script: AsyncScript, intent_key: str, *args: str) -> list[Any]:
        keys = self._keys(intent_key)
        reply = await self._guarded(lambda: script(keys=keys, args=list(args)))
        if not isinstance(reply, list) or not reply:
            raise LedgerUnavailableError("the Redis journal returned an unexpected reply")
        return reply

    async def _guarded(self, command: Callable[[], Awaitable[Any]]) -> Any:
        """Run a Redis command; translate its errors at this boundary (fail closed)."""
        from redis.exceptions import RedisError

        check_open(self._closed)
        try:
            return await command()
        except RedisError as exc:
            # Never str(exc): connection errors can quote the host, and the URL may hold secrets.
            raise LedgerUnavailableError(f"the Redis journal failed: {type(exc).__name__}") from exc
