"""The shared store: every operation of the store interface in Redis or Valkey, atomic across
every worker and replica that uses the same database (``--state redis://HOST:PORT/DB``).

Imported only when asked for (the ``redis`` package is the optional ``claude-mockserver[redis]``).
What needs more than one command is one Lua script, so it is atomic in Redis:

- ``take`` (scenario ``times``): increment while below the limit;
- token buckets: refilled and taken all-or-nothing in one script, on Redis's clock (``TIME``),
  so every process agrees on time; a bucket's key expires when it would be full again;
- capped logs (the journal): one global sequence, entries and bytes trimmed in the same script;
- versioned documents (run-time rules and limits): compare-and-set, with a change log;
- batches: a batch's requests, results and counts move in one script per chunk, and a lease
  (``SET NX PX``) says which process works a batch off;
- files: the content goes in chunk by chunk under a key that expires if the upload is abandoned,
  and the file becomes visible (row, id, listing) in one transaction.

Keys start with ``mockserver:``; a namespace's own keys then with ``<namespace>:`` (namespaces
have no ``#``), the store's own with ``#``. Every script that writes a namespace's key lists it in
the namespace's index (``#keys:<namespace>``, scored by when it expires), and gives counters and
journals an idle TTL (``idle_ttl``) unless the namespace is kept (:meth:`RedisStore.retain`):
a reset deletes what the index lists, never scanning the keyspace, and a namespace nobody writes
goes away by itself. docs/deployment.md lists every key and what it costs. Any Redis error
becomes :class:`~mockserver.store.base.StoreUnavailable`: the caller answers 503 naming the
store, and the store logs when it goes away and when it is back. With a manual clock (tests),
time comes from the caller, and nothing expires on Redis's clock (but idle namespaces still do).
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from typing import Any, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping, NoReturn, Sequence, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import RedisError

from mockserver.store.base import IDLE_TTL, BatchRecords, BucketSpec, BucketTake, FileRecords, LogLimits, StoreUnavailable, keep_none
from mockserver.store.records import RESULT_KINDS, BatchRow, FileRow

log = logging.getLogger("mockserver.store")
T = TypeVar("T")
PREFIX = "mockserver:"
CHANGES_KEPT = 1000  # document changes kept in the change log
SCAN_COUNT = 1000
CHUNK = 1000  # batch requests sent per command when creating a batch
FILE_CHUNK = 1 << 20  # the largest piece of a file's content one list item holds
UPLOAD_TTL = 3600  # seconds an unfinished upload's content outlives the process that wrote it
MANUAL_KEEP_MS = 86_400_000  # with a manual clock, keys live this long on Redis's clock
FORGET_CHUNK = 500  # keys one reset script deletes at most

# -- scripts ----------------------------------------------------------------------------------------
_NOW = """
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
"""

# Every script that writes a namespace's keys ends its KEYS with the namespace's index (a sorted
# set of the keys it wrote, each scored by when it expires, in ms on Redis's clock; +inf: never)
# and the namespace's batch and file listings (a namespace that has some is kept). One that calls
# idle() also ends its ARGV with '1' when the namespace is kept for another reason (rules or
# limits set at run time) and the idle TTL in ms (0: never); the others (buckets, cached prefixes:
# keys that expire by themselves) pass neither. A reset finds the namespace's keys in its index,
# not in the keyspace.
_TRACK = """
local _nk = #KEYS - 3
local _index = KEYS[_nk + 1]
local _t = redis.call('TIME')
local _ms = tonumber(_t[1]) * 1000 + math.floor(tonumber(_t[2]) / 1000)
local function expires_in(key, ms)
  redis.call('ZADD', _index, _ms + ms, key)
end
local function untrack(key)
  redis.call('ZREM', _index, key)
end
local _kept, _idle
local function idle(key)
  if _kept == nil then
    _idle = tonumber(ARGV[#ARGV])
    _kept = _idle <= 0 or ARGV[#ARGV - 1] == '1' or redis.call('EXISTS', KEYS[_nk + 2], KEYS[_nk + 3]) > 0
  end
  if _kept then
    redis.call('PERSIST', key)
    redis.call('ZADD', _index, '+inf', key)
  else
    redis.call('PEXPIRE', key, _idle)
    redis.call('ZADD', _index, _ms + _idle, key)
  end
end
local function settle()
  redis.call('ZREMRANGEBYSCORE', _index, '-inf', '(' .. _ms)
  local last = redis.call('ZRANGE', _index, -1, -1, 'WITHSCORES')
  if not last[1] then return end
  if last[2] == 'inf' then
    redis.call('PERSIST', _index)
  else
    redis.call('PEXPIREAT', _index, math.ceil(tonumber(last[2])))
  end
end
"""

INCR = _TRACK + """
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
idle(KEYS[1])
settle()
return v
"""

TAKE = _TRACK + """
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v >= tonumber(ARGV[1]) then return false end
v = redis.call('INCR', KEYS[1])
idle(KEYS[1])
settle()
return v
"""

# ARGV: now ('' = Redis's clock), then per bucket: capacity, period, amount, need
_BUCKET = _NOW + """
local function level_of(key, cap, period)
  local h = redis.call('HMGET', key, 'l', 't', 'c')
  if not h[1] or tonumber(h[3]) ~= cap then return cap end
  local level, updated = tonumber(h[1]), tonumber(h[2])
  if now > updated then level = math.min(cap, level + (now - updated) * cap / period) end
  return level
end
-- the ms until the key expires (nil: a full bucket has no key)
local function store(key, level, cap, period)
  if level >= cap then redis.call('DEL', key) return nil end
  redis.call('HSET', key, 'l', tostring(level), 't', tostring(now), 'c', tostring(cap))
  local ms = %d
  if ARGV[1] == '' then ms = math.ceil((cap - level) / (cap / period) * 1000) + 1000 end
  redis.call('PEXPIRE', key, ms)
  return ms
end
local function listed(key, ms)
  if ms then expires_in(key, ms) else untrack(key) end
end
""" % MANUAL_KEEP_MS

TAKE_BUCKETS = _TRACK + _BUCKET + """
local n = _nk
local levels, ok = {}, true
for i = 1, n do
  local b = 1 + (i - 1) * 4
  levels[i] = level_of(KEYS[i], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]))
  if levels[i] < tonumber(ARGV[b + 4]) then ok = false end
end
local out = {ok and 1 or 0}
for i = 1, n do
  local b = 1 + (i - 1) * 4
  local cap, period = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])
  if ok then levels[i] = levels[i] - tonumber(ARGV[b + 3]) end
  listed(KEYS[i], store(KEYS[i], levels[i], cap, period))
  out[i + 1] = tostring(levels[i])
end
settle()
return out
"""

ADJUST_BUCKET = _TRACK + _BUCKET + """
local cap, period = tonumber(ARGV[2]), tonumber(ARGV[3])
local level = level_of(KEYS[1], cap, period) - tonumber(ARGV[4])
listed(KEYS[1], store(KEYS[1], level, cap, period))
settle()
return tostring(level)
"""

# ARGV: now, then per bucket: capacity, period (as _BUCKET's, without amount and need)
BUCKET_LEVELS = _BUCKET + """
local out = {}
for i = 1, #KEYS do
  local b = 1 + (i - 1) * 2
  out[i] = tostring(level_of(KEYS[i], tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2])))
end
return out
"""

# KEYS: the prompt cache's keys, then the namespace's (_TRACK); ARGV: per key its value and its
# TTL in ms
SET_EXPIRING = _TRACK + """
for i = 1, _nk do
  local ms = tonumber(ARGV[2 * i])
  redis.call('SET', KEYS[i], ARGV[2 * i - 1], 'PX', ms)
  expires_in(KEYS[i], ms)
end
settle()
return 1
"""

# KEYS: the keys to forget (found in the index), then the index
FORGET = """
local n = #KEYS - 1
redis.call('UNLINK', unpack(KEYS, 1, n))
redis.call('ZREM', KEYS[#KEYS], unpack(KEYS, 1, n))
return n
"""

# KEYS: log, its byte count, the global sequence, then _TRACK's; ARGV: size, payload, max
# entries, max bytes, then _TRACK's
APPEND = _TRACK + """
local seq = redis.call('INCR', KEYS[3])
redis.call('RPUSH', KEYS[1], seq .. ':' .. ARGV[1] .. ':' .. ARGV[2])
local bytes = redis.call('INCRBY', KEYS[2], ARGV[1])
local maxn, maxb = tonumber(ARGV[3]), tonumber(ARGV[4])
local n = redis.call('LLEN', KEYS[1])
while n > 0 and (n > maxn or bytes > maxb) do
  local old = redis.call('LPOP', KEYS[1])
  local a = string.find(old, ':', 1, true)
  local b = string.find(old, ':', a + 1, true)
  bytes = redis.call('INCRBY', KEYS[2], -tonumber(string.sub(old, a + 1, b - 1)))
  n = n - 1
end
if n == 0 then
  redis.call('DEL', KEYS[2])
  untrack(KEYS[1])
  untrack(KEYS[2])
else
  idle(KEYS[1])
  idle(KEYS[2])
end
settle()
return seq
"""

# KEYS: the document, the save count, the change log, the set of documents; ARGV: expected
# version, value, '1' to delete, the document's name
SAVE_DOC = """
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current ~= tonumber(ARGV[1]) then return false end
local v = redis.call('INCR', KEYS[2])
if ARGV[3] == '1' then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[4], ARGV[4])
else
  redis.call('HSET', KEYS[1], 'v', v, 'd', ARGV[2])
  redis.call('SADD', KEYS[4], ARGV[4])
end
redis.call('RPUSH', KEYS[3], v .. ' ' .. ARGV[4])
if redis.call('LLEN', KEYS[3]) > %d then redis.call('LPOP', KEYS[3]) end
return v
""" % CHANGES_KEPT

# KEYS: the save count, the change log, the set of documents, the epoch; ARGV: since, a new epoch
# -> {count, everything (0/1), epoch, names...}
DOC_CHANGES = """
local epoch = redis.call('GET', KEYS[4])
if not epoch then
  redis.call('SET', KEYS[4], ARGV[2])
  epoch = ARGV[2]
end
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local since = tonumber(ARGV[1])
if count == since then return {count, 0, epoch} end
local out = {count, 0, epoch}
local entries = redis.call('LRANGE', KEYS[2], 0, -1)
local first = entries[1] and tonumber(string.match(entries[1], '^(%d+)')) or (count + 1)
if count < since or first > since + 1 then
  out[2] = 1
  for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do out[#out + 1] = name end
  return out
end
for _, entry in ipairs(entries) do
  local v, name = string.match(entry, '^(%d+) (.*)$')
  if tonumber(v) > since then out[#out + 1] = name end
end
return out
"""

SET_CANCELING = """
if redis.call('HGET', KEYS[1], 'status') == 'in_progress' then
  redis.call('HSET', KEYS[1], 'status', 'canceling', 'cancel_initiated_at', ARGV[1])
end
return 1
"""

# KEYS: row, pending (zset), params, custom ids; ARGV: limit -> {idx, custom_id, params, ...}
PENDING = """
local out = {}
for _, idx in ipairs(redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)) do
  out[#out + 1] = idx
  out[#out + 1] = redis.call('HGET', KEYS[4], idx)
  out[#out + 1] = redis.call('HGET', KEYS[3], idx)
end
return out
"""

_END_IF_DONE = """
local function end_if_done(ended_at)
  local r = redis.call('HMGET', KEYS[1], 'status', 'total', 'succeeded', 'errored', 'canceled', 'expired')
  if not r[1] or r[1] == 'ended' then return 0 end
  if tonumber(r[2]) ~= tonumber(r[3]) + tonumber(r[4]) + tonumber(r[5]) + tonumber(r[6]) then return 0 end
  redis.call('HSET', KEYS[1], 'status', 'ended', 'ended_at', ended_at)
  redis.call('ZREM', KEYS[7], ARGV[2])
  return 1
end
"""

# KEYS: row, pending, params, custom ids, results, done (zset), the active set;
# ARGV: ended_at, seq, then per result: idx, custom_id, kind, line
RECORD = _END_IF_DONE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local counts = {}
for i = 3, #ARGV, 4 do
  local idx = ARGV[i]
  if redis.call('ZREM', KEYS[2], idx) == 1 then
    redis.call('HDEL', KEYS[3], idx)
    redis.call('HDEL', KEYS[4], idx)
    redis.call('HSET', KEYS[5], idx, ARGV[i + 3])
    redis.call('ZADD', KEYS[6], tonumber(idx), idx)
    counts[ARGV[i + 2]] = (counts[ARGV[i + 2]] or 0) + 1
  end
end
for kind, n in pairs(counts) do redis.call('HINCRBY', KEYS[1], kind, n) end
return end_if_done(ARGV[1])
"""

# KEYS: as RECORD; ARGV: ended_at, seq, kind
FINISH_REMAINING = _END_IF_DONE + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local kind = ARGV[3]
local n = 0
for _, idx in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local cid = redis.call('HGET', KEYS[4], idx)
  redis.call('HSET', KEYS[5], idx, '{"custom_id":' .. cjson.encode(cid) .. ',"result":{"type":"' .. kind .. '"}}')
  redis.call('ZADD', KEYS[6], tonumber(idx), idx)
  n = n + 1
end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
if n > 0 then redis.call('HINCRBY', KEYS[1], kind, n) end
return end_if_done(ARGV[1])
"""

# KEYS: results, done; ARGV: after index, limit -> {idx, line, ...}
RESULT_PAGE = """
local out = {}
for _, idx in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. ARGV[1], '+inf', 'LIMIT', 0, tonumber(ARGV[2]))) do
  out[#out + 1] = idx
  out[#out + 1] = redis.call('HGET', KEYS[1], idx)
end
return out
"""

CLAIM = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


def shown(url: str) -> str:
    """The URL without its password, to name the store in messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _glob(text: str) -> str:
    """``text`` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _namespace(key: str) -> str:
    """The namespace a feature's key starts with (``<namespace>:…``)."""
    return key.partition(":")[0]


def _float(raw: bytes | str | None) -> float | None:
    return float(raw) if raw is not None else None


def _b(value: Any) -> bytes:
    """A reply as bytes (the client decodes nothing; its types allow str too)."""
    return value if isinstance(value, bytes) else str(value).encode()


class RedisStore:
    """The store interface on one Redis/Valkey database."""

    shared = True

    def __init__(self, url: str, *, server_time: bool = True, prefix: str = PREFIX, idle_ttl: float = IDLE_TTL) -> None:
        """``idle_ttl``: seconds a namespace's counters and journal outlive its last write, unless
        the namespace is kept (see :meth:`retain`); 0: they never expire."""
        if not idle_ttl >= 0:
            raise ValueError(f"idle_ttl must be 0 (never) or more seconds, not {idle_ttl!r}")
        self.description = shown(url)
        scheme, _, rest = url.partition("://")
        if scheme.lower() in ("valkey", "valkeys"):
            url = ("rediss" if scheme.lower() == "valkeys" else "redis") + "://" + rest
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=2.0,
            socket_timeout=5.0,
            # one quick retry: a connection the server closed (a restart) is replaced at once
            retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
        )
        self.server_time = server_time
        self.p = prefix
        self._idle_ms = str(math.ceil(idle_ttl * 1000))
        self._keep: Callable[[str], bool] = keep_none
        self._down: str | None = None
        self._appends: list[tuple[list[str], list[bytes | int | str], asyncio.Future[int]]] = []  # to send this turn
        self._sending: set[asyncio.Task[None]] = set()
        client = self.client
        self._incr = client.register_script(INCR)
        self._take = client.register_script(TAKE)
        self._set_expiring = client.register_script(SET_EXPIRING)
        self._forget = client.register_script(FORGET)
        self._take_buckets = client.register_script(TAKE_BUCKETS)
        self._adjust_bucket = client.register_script(ADJUST_BUCKET)
        self._bucket_levels = client.register_script(BUCKET_LEVELS)
        self._append = client.register_script(APPEND)
        self._save_doc = client.register_script(SAVE_DOC)
        self._doc_changes = client.register_script(DOC_CHANGES)
        self._batches = RedisBatches(self)
        self._files = RedisFiles(self)
        self.epoch: bytes | None = None  # the documents' epoch last seen: a new one means the data was lost

    # -- errors ------------------------------------------------------------------------------------
    async def call(self, awaitable: Awaitable[T]) -> T:
        """Await one Redis round trip; a failure becomes :class:`StoreUnavailable`."""
        try:
            result = await awaitable
        except RedisError as exc:
            self.failed(exc)
        except OSError as exc:
            self.failed(exc)
        if self._down is not None:
            log.warning("mockserver: state store %s is reachable again", self.description)
            self._down = None
        return result

    def failed(self, exc: BaseException) -> NoReturn:
        detail = str(exc) or type(exc).__name__
        if self._down is None:
            log.warning("mockserver: state store %s is unavailable: %s", self.description, detail)
        self._down = detail
        raise StoreUnavailable(self.description, detail) from None

    def _now(self, now: float) -> str:
        return "" if self.server_time else repr(now)

    async def open(self) -> None:
        await self.call(self.client.ping())

    # -- namespaces --------------------------------------------------------------------------------
    def index_key(self, namespace: str) -> str:
        """The sorted set of the keys ``namespace`` wrote, scored by when each expires."""
        return f"{self.p}#keys:{namespace}"

    def _tracked(self, namespace: str, keys: Sequence[str]) -> list[str]:
        """The Redis keys of ``keys`` (all of ``namespace``: the caller has found it once), then
        what a tracking script needs: the namespace's index and its batch and file listings."""
        p = self.p
        return [*(p + key for key in keys), self.index_key(namespace), self._batches._ns_key(namespace), self._files._ns_key(namespace)]

    def _tracking(self, namespace: str) -> list[str]:
        """The last arguments of a script that calls idle(): whether the namespace is kept, the
        idle TTL."""
        return ["1" if self._keep(namespace) else "0", self._idle_ms]

    # -- counters ----------------------------------------------------------------------------------
    async def incr(self, key: str, amount: int = 1) -> int:
        namespace = _namespace(key)
        return int(await self.call(self._incr(keys=self._tracked(namespace, [key]), args=[amount, *self._tracking(namespace)])))

    async def take(self, key: str, limit: int) -> int | None:
        namespace = _namespace(key)
        value = await self.call(self._take(keys=self._tracked(namespace, [key]), args=[limit, *self._tracking(namespace)]))
        return int(value) if value is not None else None

    async def get_int(self, key: str) -> int:
        value = await self.call(self.client.get(self.p + key))
        return int(value) if value is not None else 0

    async def get_ints(self, keys: Sequence[str]) -> list[int]:
        if not keys:
            return []
        values = await self.call(self.client.mget([self.p + key for key in keys]))
        return [int(v) if v is not None else 0 for v in values]

    # -- token buckets -----------------------------------------------------------------------------
    def _bucket_args(self, specs: Sequence[BucketSpec], amounts: Sequence[float], needs: Sequence[float], now: float) -> list[str]:
        args = [self._now(now)]
        for spec, amount, need in zip(specs, amounts, needs):
            args += [repr(float(spec.capacity)), repr(float(spec.period)), repr(float(amount)), repr(float(need))]
        return args

    async def take_buckets(self, specs: Sequence[BucketSpec], amounts: Sequence[float], needs: Sequence[float], now: float) -> BucketTake:
        if not specs:
            return BucketTake(True, ())
        namespace = _namespace(specs[0].key)
        if any(_namespace(spec.key) != namespace for spec in specs):
            raise ValueError(f"one call writes one namespace's keys: {[spec.key for spec in specs]!r}")
        keys = self._tracked(namespace, [spec.key for spec in specs])
        args = self._bucket_args(specs, amounts, needs, now)
        out = await self.call(self._take_buckets(keys=keys, args=args))
        return BucketTake(bool(int(out[0])), tuple(float(v) for v in out[1:]))

    async def adjust_bucket(self, spec: BucketSpec, amount: float, now: float) -> float:
        args = [self._now(now), repr(float(spec.capacity)), repr(float(spec.period)), repr(float(amount))]
        return float(await self.call(self._adjust_bucket(keys=self._tracked(_namespace(spec.key), [spec.key]), args=args)))

    async def bucket_levels(self, specs: Sequence[BucketSpec], now: float) -> tuple[float, ...]:
        keys = [self.p + spec.key for spec in specs]
        args = [self._now(now)]
        for spec in specs:
            args += [repr(float(spec.capacity)), repr(float(spec.period))]
        out = await self.call(self._bucket_levels(keys=keys, args=args))
        return tuple(float(v) for v in out)

    # -- expiring keys -----------------------------------------------------------------------------
    async def live(self, keys: Sequence[str], now: float) -> list[float | None]:
        if not keys:
            return []
        values = await self.call(self.client.mget([self.p + key for key in keys]))
        out: list[float | None] = []
        for value in values:
            if value is None:
                out.append(None)
                continue
            until, _, ttl = _b(value).partition(b" ")
            out.append(float(ttl) if self.server_time or float(until) > now else None)
        return out

    async def set_expiring(self, items: Iterable[tuple[str, float]], now: float) -> None:
        """One script per namespace (the prompt cache writes one namespace's keys at a time):
        Redis expires each key itself, so no call looks through the others."""
        by_namespace: dict[str, tuple[list[str], list[str]]] = {}
        for key, ttl in items:
            keep = max(1, math.ceil(ttl * 1000)) if self.server_time else MANUAL_KEEP_MS + math.ceil(ttl * 1000)
            keys, args = by_namespace.setdefault(_namespace(key), ([], []))
            keys.append(key)
            args += [f"{now + ttl!r} {ttl!r}", str(keep)]
        if len(by_namespace) == 1:
            [(namespace, (keys, args))] = by_namespace.items()
            await self.call(self._set_expiring(keys=self._tracked(namespace, keys), args=args))
        elif by_namespace:
            pipe = self.client.pipeline(transaction=False)
            for namespace, (keys, args) in by_namespace.items():
                await self._set_expiring(keys=self._tracked(namespace, keys), args=args, client=pipe)
            await self.call(pipe.execute())

    # -- capped logs -------------------------------------------------------------------------------
    async def append(self, log: str, item: Any, size: int, limits: LogLimits, encode: Callable[[Any], bytes]) -> int:
        """Appends made in one turn of the event loop go to Redis together (one pipeline: one
        round trip for a busy server's many journal entries), in the order they were made."""
        namespace = _namespace(log)
        keys = self._tracked(namespace, [log, log + ":bytes"])
        keys.insert(2, self.p + "#seq")
        args: list[bytes | int | str] = [size, encode(item), limits.entries, limits.bytes, *self._tracking(namespace)]
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        self._appends.append((keys, args, done))
        if len(self._appends) == 1:
            loop.call_soon(self._send_appends)
        return await done

    def _send_appends(self) -> None:
        batch, self._appends = self._appends, []
        task = asyncio.get_running_loop().create_task(self._append_all(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _append_all(self, batch: list[tuple[list[str], list[bytes | int | str], "asyncio.Future[int]"]]) -> None:
        try:
            if len(batch) == 1:
                keys, args, _ = batch[0]
                results: list[Any] = [await self.call(self._append(keys=keys, args=args))]
            else:
                pipe = self.client.pipeline(transaction=False)
                for keys, args, _ in batch:
                    await self._append(keys=keys, args=args, client=pipe)
                results = await self.call(pipe.execute())
        except BaseException as exc:
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        for (_, _, done), seq in zip(batch, results):
            if not done.done():
                done.set_result(int(seq))

    async def read(self, log: str, since: int, limit: int | None, decode: Callable[[bytes], Any]) -> list[tuple[int, Any]]:
        raw = await self.call(self.client.lrange(self.p + log, 0, -1))
        items = []
        for entry in raw:
            seq, _, rest = _b(entry).partition(b":")
            if int(seq) <= since:
                continue
            _, _, payload = rest.partition(b":")
            items.append((int(seq), payload))
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return [(seq, decode(payload)) for seq, payload in items]

    # -- versioned documents ------------------------------------------------------------------------
    async def load_doc(self, key: str) -> tuple[int, bytes | None]:
        version, value = await self.call(self.client.hmget(self.p + "#doc:" + key, ["v", "d"]))
        return (int(version), _b(value)) if version is not None else (0, None)

    async def save_doc(self, key: str, expected: int, value: bytes | None) -> int | None:
        p = self.p
        keys = [p + "#doc:" + key, p + "#docs:count", p + "#docs:log", p + "#docs:names"]
        saved = await self.call(self._save_doc(keys=keys, args=[expected, value or b"", "1" if value is None else "0", key]))
        return int(saved) if saved is not None else None

    async def doc_changes(self, since: int) -> tuple[int, list[str], bool]:
        p = self.p
        keys = [p + "#docs:count", p + "#docs:log", p + "#docs:names", p + "#docs:epoch"]
        out = await self.call(self._doc_changes(keys=keys, args=[since, secrets.token_hex(8)]))
        count, everything, epoch = int(out[0]), bool(int(out[1])), out[2]
        if self.epoch is not None and epoch != self.epoch:  # the data was lost (a restart without persistence)
            everything = True
            if count == since:
                names = await self.call(self.client.smembers(p + "#docs:names"))
                out = [*out[:3], *names]
        self.epoch = epoch
        return count, list(dict.fromkeys(_b(name).decode() for name in out[3:])), everything

    # -- the lot -----------------------------------------------------------------------------------
    async def clear(self, prefix: str) -> None:
        """A namespace's keys (``prefix`` is ``<namespace>:…``) are found in its index: the cost
        is the keys that namespace wrote, not the keyspace, and no other namespace is looked at.
        A prefix without a ``:`` (every batch or file there is: ``#batch``, ``#file``) is
        looked for in the whole keyspace (SCAN), as no index lists it."""
        if ":" in prefix:
            await self._clear_namespace(prefix)
            return
        client = self.client
        keys: list[Any] = []
        async def flush() -> None:
            if keys:
                await self.call(client.unlink(*keys))
                keys.clear()

        cursor = 0
        pattern = _glob(self.p + prefix) + "*"
        while True:
            cursor, found = await self.call(client.scan(cursor, match=pattern, count=SCAN_COUNT))
            keys.extend(found)
            if len(keys) >= SCAN_COUNT:
                await flush()
            if cursor == 0:
                break
        await flush()

    async def _clear_namespace(self, prefix: str) -> None:
        """The index's members that start with the prefix (ZSCAN: the index only), each chunk
        deleted with its index entries in one script. A key written meanwhile is either among
        those found (and goes) or stays listed; none is left behind unlisted."""
        client, index = self.client, self.index_key(_namespace(prefix))
        pattern = _glob(self.p + prefix) + "*"
        cursor = 0
        while True:
            cursor, found = await self.call(client.zscan(index, cursor, match=pattern, count=SCAN_COUNT))
            members: list[bytes | str] = [_b(member) for member, _ in found]
            for start in range(0, len(members), FORGET_CHUNK):
                chunk = members[start : start + FORGET_CHUNK]
                await self.call(self._forget(keys=[*chunk, index]))
            if cursor == 0:
                break

    def check(self) -> None:
        """Nothing to check before :meth:`open` connects."""

    def retain(self, keep: Callable[[str], bool], forgotten: Callable[[str], None]) -> None:
        """Nothing is forgotten to make room (Redis holds every namespace), so nobody is told;
        but a namespace's counters and journal expire ``idle_ttl`` after its last write unless
        ``keep(namespace)`` (rules or limits set at run time) or it has batches or files: those
        are written without a TTL. Buckets and cached prefixes expire by themselves either way."""
        self._keep = keep

    def batch_records(self, *, create: bool) -> BatchRecords | None:
        return self._batches

    def file_records(self, *, create: bool) -> FileRecords | None:
        return self._files

    async def close(self) -> None:
        try:
            await self.client.aclose()
        except RedisError:
            pass


# -- Message Batches --------------------------------------------------------------------------------
_ROW_FIELDS = (
    "seq", "id", "beta", "api_version", "anthropic_beta", "request_id", "created_at", "expires_at", "ended_at",
    "cancel_initiated_at", "status", "total", "succeeded", "errored", "canceled", "expired", "namespace",
)


def _row_mapping(row: BatchRow) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _ROW_FIELDS:
        value = getattr(row, name)
        if value is None:
            continue
        out[name] = int(value) if isinstance(value, bool) else (repr(value) if isinstance(value, float) else value)
    return out


def _row(raw: Mapping[Any, Any]) -> BatchRow | None:
    if not raw:
        return None
    get = {_b(k).decode(): _b(v).decode() for k, v in raw.items()}.get
    return BatchRow(
        seq=int(get("seq") or 0), id=get("id") or "", beta=get("beta") == "1", api_version=get("api_version"),
        anthropic_beta=get("anthropic_beta"), request_id=get("request_id") or "", created_at=float(get("created_at") or 0),
        expires_at=float(get("expires_at") or 0), ended_at=_float(get("ended_at")),
        cancel_initiated_at=_float(get("cancel_initiated_at")), status=get("status") or "in_progress",
        total=int(get("total") or 0), succeeded=int(get("succeeded") or 0), errored=int(get("errored") or 0),
        canceled=int(get("canceled") or 0), expired=int(get("expired") or 0), namespace=get("namespace") or "default",
    )


class RedisBatches:
    """Message Batches in Redis: rows as hashes, pending requests and results by index."""

    shared = True

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        client = store.client
        self.p = store.p + "#batch"
        self._set_canceling = client.register_script(SET_CANCELING)
        self._pending = client.register_script(PENDING)
        self._record = client.register_script(RECORD)
        self._finish = client.register_script(FINISH_REMAINING)
        self._result_page = client.register_script(RESULT_PAGE)
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)

    # keys
    def _row_key(self, seq: int) -> str:
        return f"{self.p}:{seq}"

    def _keys(self, seq: int) -> list[str]:
        base = self._row_key(seq)
        return [base, base + ":pending", base + ":params", base + ":cid", base + ":results", base + ":done", self.p + "es:active"]

    def _ns_key(self, namespace: str) -> str:
        return f"{self.p}es:ns:{namespace}"

    def _id_key(self, batch_id: str) -> str:
        return f"{self.p}-id:{batch_id}"

    async def _rows(self, seqs: Iterable[Any]) -> list[BatchRow]:
        pipe = self.store.client.pipeline(transaction=False)
        for seq in seqs:
            pipe.hgetall(self._row_key(int(seq)))
        rows = [_row(raw) for raw in await self.store.call(pipe.execute())]
        return [row for row in rows if row is not None]

    # -- batches -----------------------------------------------------------------------------------
    async def has_id(self, batch_id: str) -> bool:
        return bool(await self.store.call(self.store.client.exists(self._id_key(batch_id))))

    async def create(self, row: BatchRow, requests: Iterable[tuple[str, bytes]]) -> BatchRow:
        client = self.store.client
        row.seq = seq = int(await self.store.call(client.incr(self.p + "es:seq")))
        keys = self._keys(seq)
        pipe = client.pipeline(transaction=True)  # all of it, or none of it
        pipe.hset(keys[0], mapping=cast(Any, _row_mapping(row)))
        pipe.set(self._id_key(row.id), seq)
        pipe.zadd(self._ns_key(row.namespace), {str(seq): seq})
        params: dict[str, bytes] = {}
        cids: dict[str, str] = {}
        order: dict[str, int] = {}

        def flush() -> None:
            if order:
                pipe.hset(keys[2], mapping=cast(Any, params))  # redis-py's mapping types are invariant
                pipe.hset(keys[3], mapping=cast(Any, cids))
                pipe.zadd(keys[1], cast(Any, order))
                params.clear()
                cids.clear()
                order.clear()

        for index, (custom_id, body) in enumerate(requests):
            params[str(index)], cids[str(index)], order[str(index)] = body, custom_id, index
            if len(order) >= CHUNK:
                flush()
        flush()
        pipe.zadd(keys[6], {str(seq): seq})
        await self.store.call(pipe.execute())
        return row

    async def get(self, batch_id: str) -> BatchRow | None:
        client = self.store.client
        seq = await self.store.call(client.get(self._id_key(batch_id)))
        if seq is None:
            return None
        return _row(await self.store.call(client.hgetall(self._row_key(int(seq)))))

    async def active(self) -> list[BatchRow]:
        seqs = await self.store.call(self.store.client.zrange(self.p + "es:active", 0, -1))
        return await self._rows(seqs)

    async def page(
        self, *, limit: int, after_id: str | None, before_id: str | None, namespace: str = "default"
    ) -> tuple[list[BatchRow], bool] | None:
        client, store, key = self.store.client, self.store, self._ns_key(namespace)
        if after_id is not None or before_id is not None:
            cursor = await self.get(after_id or before_id or "")
            if cursor is None or cursor.namespace != namespace:
                return None
            if after_id is not None:
                seqs = await store.call(client.zrevrangebyscore(key, f"({cursor.seq}", "-inf", start=0, num=limit + 1))
            else:
                seqs = await store.call(client.zrangebyscore(key, f"({cursor.seq}", "+inf", start=0, num=limit + 1))
        else:
            seqs = await store.call(client.zrevrange(key, 0, limit))
        rows = await self._rows(seqs)
        has_more = len(rows) > limit
        rows = rows[:limit]
        if before_id is not None:
            rows.reverse()
        return rows, has_more

    async def set_canceling(self, seq: int, at: float) -> None:
        await self.store.call(self._set_canceling(keys=[self._row_key(seq)], args=[repr(at)]))

    async def delete(self, seq: int) -> None:
        client = self.store.client
        raw = await self.store.call(client.hmget(self._row_key(seq), ["id", "namespace"]))
        pipe = client.pipeline(transaction=True)
        keys = self._keys(seq)
        pipe.delete(*keys[:6], keys[0] + ":lease")
        pipe.zrem(keys[6], str(seq))
        if raw[0] is not None:
            pipe.delete(self._id_key(_b(raw[0]).decode()))
            pipe.zrem(self._ns_key(_b(raw[1] or b"default").decode()), str(seq))
        await self.store.call(pipe.execute())

    async def clear(self, namespace: str | None = None) -> None:
        client = self.store.client
        if namespace is None:
            await self.store.clear("#batch")
            return
        seqs = await self.store.call(client.zrange(self._ns_key(namespace), 0, -1))
        for seq in seqs:
            await self.delete(int(_b(seq)))
        await self.store.call(client.delete(self._ns_key(namespace)))

    async def claim(self, seq: int, owner: str, ttl: float) -> bool:
        key = self._row_key(seq) + ":lease"
        return bool(int(await self.store.call(self._claim(keys=[key], args=[owner, max(1, int(ttl * 1000))]))))

    async def release(self, seq: int, owner: str) -> None:
        await self.store.call(self._release(keys=[self._row_key(seq) + ":lease"], args=[owner]))

    # -- processing ----------------------------------------------------------------------------------
    async def pending(self, seq: int, limit: int) -> list[tuple[int, str, bytes]]:
        out = await self.store.call(self._pending(keys=self._keys(seq)[:4], args=[limit]))
        return [(int(out[i]), _b(out[i + 1]).decode(), _b(out[i + 2])) for i in range(0, len(out), 3)]

    async def record(self, seq: int, results: list[tuple[int, str, str, bytes]], *, ended_at: float) -> bool:
        args: list[Any] = [repr(ended_at), str(seq)]
        for index, custom_id, kind, line in results:
            assert kind in RESULT_KINDS
            args += [str(index), custom_id, kind, line]
        return bool(int(await self.store.call(self._record(keys=self._keys(seq), args=args))))

    async def finish_remaining(self, seq: int, kind: str, *, ended_at: float) -> None:
        assert kind in ("canceled", "expired")
        await self.store.call(self._finish(keys=self._keys(seq), args=[repr(ended_at), str(seq), kind]))

    # -- results -----------------------------------------------------------------------------------
    async def result_page(self, seq: int, after_index: int, limit: int = 500) -> list[tuple[int, bytes]]:
        keys = self._keys(seq)
        out = await self.store.call(self._result_page(keys=[keys[4], keys[5]], args=[after_index, limit]))
        return [(int(out[i]), _b(out[i + 1])) for i in range(0, len(out), 2)]


# -- Files ------------------------------------------------------------------------------------------
_FILE_FIELDS = ("seq", "id", "filename", "mime_type", "size_bytes", "created_at", "expires_at", "downloadable", "sha256", "facts")


def _file_mapping(row: FileRow, namespace: str) -> dict[str, Any]:
    out: dict[str, Any] = {"namespace": namespace}
    for name in _FILE_FIELDS:
        value = getattr(row, name)
        if value is not None:
            out[name] = int(value) if isinstance(value, bool) else (repr(value) if isinstance(value, float) else value)
    return out


def _file_row(raw: Mapping[Any, Any]) -> tuple[str, FileRow] | None:
    """``(namespace, row)`` from a stored hash."""
    if not raw:
        return None
    values = {_b(k).decode(): _b(v) for k, v in raw.items()}

    def text(name: str) -> str:
        return values[name].decode() if name in values else ""

    row = FileRow(
        seq=int(text("seq") or 0), id=text("id"), filename=text("filename"), mime_type=text("mime_type"),
        size_bytes=int(text("size_bytes") or 0), created_at=float(text("created_at") or 0),
        expires_at=_float(text("expires_at") or None), downloadable=text("downloadable") == "1", sha256=text("sha256"),
        facts=values.get("facts", b"{}"),
    )
    return text("namespace") or "default", row


class RedisFiles:
    """Files in Redis: each a hash (its row) and a list of content chunks, listed per namespace in
    a sorted set by creation order; ids map to their file across namespaces."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.p = store.p + "#file"

    def _row_key(self, seq: int) -> str:
        return f"{self.p}:{seq}"

    def _ns_key(self, namespace: str) -> str:
        return f"{self.p}s:ns:{namespace}"

    def _id_key(self, file_id: str) -> str:
        return f"{self.p}-id:{file_id}"

    async def _find(self, namespace: str, file_id: str) -> FileRow | None:
        client, call = self.store.client, self.store.call
        seq = await call(client.get(self._id_key(file_id)))
        if seq is None:
            return None
        found = _file_row(await call(client.hgetall(self._row_key(int(seq)))))
        return found[1] if found is not None and found[0] == namespace else None

    async def _rows(self, namespace: str, seqs: Iterable[Any]) -> list[FileRow]:
        pipe = self.store.client.pipeline(transaction=False)
        for seq in seqs:
            pipe.hgetall(self._row_key(int(seq)))
        found = [_file_row(raw) for raw in await self.store.call(pipe.execute())]
        return [row for entry in found if entry is not None and entry[0] == namespace for row in (entry[1],)]

    # -- files -----------------------------------------------------------------------------------
    async def has_id(self, file_id: str) -> bool:
        return bool(await self.store.call(self.store.client.exists(self._id_key(file_id))))

    async def create(self, namespace: str, row: FileRow, content: AsyncIterable[bytes]) -> FileRow:
        """The content first (a key that expires unless the upload finishes), then the row, its id
        and its place in the listing in one transaction: visible whole or not at all."""
        client, call = self.store.client, self.store.call
        seq = int(await call(client.incr(self.p + "s:seq")))
        key = self._row_key(seq)
        chunks = key + ":chunks"
        try:
            async for piece in content:
                for start in range(0, len(piece), FILE_CHUNK):
                    pipe = client.pipeline(transaction=False)
                    pipe.rpush(chunks, piece[start : start + FILE_CHUNK])
                    pipe.expire(chunks, UPLOAD_TTL)
                    await call(pipe.execute())
            row.seq = seq
            pipe = client.pipeline(transaction=True)
            pipe.persist(chunks)
            pipe.hset(key, mapping=cast(Any, _file_mapping(row, namespace)))
            pipe.set(self._id_key(row.id), seq)
            pipe.zadd(self._ns_key(namespace), {str(seq): seq})
            await call(pipe.execute())
        except BaseException:
            try:
                await client.delete(chunks)
            except (RedisError, OSError):
                pass  # it expires by itself
            raise
        return row

    async def get(self, namespace: str, file_id: str) -> FileRow | None:
        return await self._find(namespace, file_id)

    async def get_many(self, namespace: str, file_ids: Sequence[str]) -> list[FileRow]:
        if not file_ids:
            return []
        seqs = await self.store.call(self.store.client.mget([self._id_key(i) for i in file_ids]))
        return await self._rows(namespace, [seq for seq in seqs if seq is not None])

    async def page(
        self, namespace: str, *, limit: int, after_id: str | None = None, before_id: str | None = None
    ) -> tuple[list[FileRow], bool] | None:
        client, call, key = self.store.client, self.store.call, self._ns_key(namespace)
        if after_id is not None or before_id is not None:
            cursor = await self._find(namespace, after_id or before_id or "")
            if cursor is None:
                return None
            if after_id is not None:
                seqs = await call(client.zrevrangebyscore(key, f"({cursor.seq}", "-inf", start=0, num=limit + 1))
            else:
                seqs = await call(client.zrangebyscore(key, f"({cursor.seq}", "+inf", start=0, num=limit + 1))
        else:
            seqs = await call(client.zrevrange(key, 0, limit))
        rows = await self._rows(namespace, seqs)
        has_more = len(rows) > limit
        rows = rows[:limit]
        if before_id is not None:
            rows.reverse()
        return rows, has_more

    async def content(self, namespace: str, file_id: str) -> AsyncIterator[bytes]:
        """A chunk per round trip; a file deleted meanwhile ends early."""
        row = await self._find(namespace, file_id)
        if row is None:
            return
        chunks = self._row_key(row.seq) + ":chunks"
        index = 0
        while True:
            chunk = await self.store.call(self.store.client.lindex(chunks, index))
            if chunk is None:
                return
            yield _b(chunk)
            index += 1

    async def delete(self, namespace: str, file_id: str) -> bool:
        row = await self._find(namespace, file_id)
        if row is None:
            return False
        key = self._row_key(row.seq)
        pipe = self.store.client.pipeline(transaction=True)
        pipe.delete(key, key + ":chunks", self._id_key(file_id))
        pipe.zrem(self._ns_key(namespace), str(row.seq))
        await self.store.call(pipe.execute())
        return True

    async def clear(self, namespace: str | None = None) -> None:
        """Forget the files of ``namespace`` (or every file there is)."""
        if namespace is None:
            await self.store.clear("#file")
            return
        client, call = self.store.client, self.store.call
        seqs = await call(client.zrange(self._ns_key(namespace), 0, -1))
        pipe = client.pipeline(transaction=True)
        for row in await self._rows(namespace, seqs):
            key = self._row_key(row.seq)
            pipe.delete(key, key + ":chunks", self._id_key(row.id))
        pipe.delete(self._ns_key(namespace))
        await call(pipe.execute())
