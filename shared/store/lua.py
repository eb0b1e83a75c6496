"""The Redis side of the store: three Lua scripts (one per coarse operation) and the Store logic on
top of them, shared by the TCP and the Upstash REST backends.

Why scripts: each operation must be atomic across instances (check *and* count every rate-limit
window, or none) and cost one round trip. A backend only has to know how to run a script
(EVALSHA, EVAL on NOSCRIPT) and read a hash; everything else lives here, once.

Rate limits are exact sliding-window logs, like the in-process store: one sorted set per
(bucket, window) whose members are the admitted requests, scored by their time in microseconds.
``admit`` drops entries older than the window, and admits only if every window holds fewer than
``limit`` entries; then it adds one entry to each. Since a script runs atomically on the one Redis
primary, no ``seconds``-long window ever admits more than ``limit`` requests across all instances.
Denied requests add nothing, so they consume no quota. Memory cost: at most ``limit`` entries per
window (a member is ~30 bytes plus the score, so ~60-100 bytes with Redis' overhead), e.g. a
``500/day`` key keeps at most 500 entries.

Time comes from the Redis server (``TIME`` inside the script), so clock skew between instances
cannot widen or narrow a window. Tests may pass a clock instead (then the caller's time is sent).
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from typing import cast

from . import keys as layout
from .base import AdmitRequest, AdmitResult, LimitCheck, Usage, WindowState
from .memory import day_of

COUNTER_TTL = 86400  # rotation counters: a day without requests resets them, harmlessly
USAGE_TTL = 90 * 86400  # daily usage counters are kept for 90 days after their last update

# Redis < 5 replicates scripts verbatim and refuses writes after TIME unless told to replicate
# effects; Redis >= 5 does that by default and keeps the call as a no-op.
_PRELUDE = """
pcall(redis.replicate_commands)
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local member = ARGV[2]
-- numbers go to Redis as exact integer strings (tostring() would round microsecond times)
local function int(x) return string.format('%.0f', x) end
"""

ADMIT = _PRELUDE + """
-- KEYS: nL window keys, nU usage-read window keys, nR rotation key, nK key-rotation keys, nC cooldown keys,
--       then the spend counter when the last ARGV is a cap
-- ARGV: now_us|'', member, counter_ttl, nL, nU, nR, nK, nC, nL x (limit, seconds), nU x (limit, seconds), credits|''
-- Reply: allowed (1, 0, or 2: the key's credits are spent), retry_us, windows, counters, cooldowns, usage reads,
--        then the spend so far when credits were given
local nL, nU, nR, nK, nC = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local credits = tonumber(ARGV[#ARGV])
local spent = 0
if credits then
  spent = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
  if spent >= credits then return {2, 0, spent} end
end
local a = 9
local counts, spans, limits = {}, {}, {}
local retry = 0
for i = 1, nL do
  local key = KEYS[i]
  local limit, span = tonumber(ARGV[a]), tonumber(ARGV[a + 1]) * 1000000
  a = a + 2
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - span))
  local n = redis.call('ZCARD', key)
  counts[i], spans[i], limits[i] = n, span, limit
  if n >= limit then
    -- the entry whose expiry lets this request in
    local e = redis.call('ZRANGE', key, int(n - limit), int(n - limit), 'WITHSCORES')
    local wait = tonumber(e[2]) + span - now
    if wait > retry then retry = wait end
  end
end
local out = {}
if retry > 0 then
  out[1], out[2] = 0, retry
  for i = 1, nL do
    local reset = 0
    if counts[i] > 0 then
      local e = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
      reset = tonumber(e[2]) + spans[i] - now
    end
    out[#out + 1] = math.max(0, limits[i] - counts[i])
    out[#out + 1] = reset
  end
  return out
end
out[1], out[2] = 1, 0
for i = 1, nL do
  local key = KEYS[i]
  redis.call('ZADD', key, int(now), member .. ':' .. i)
  redis.call('PEXPIRE', key, int(math.ceil(spans[i] / 1000)))
  local e = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  out[#out + 1] = limits[i] - counts[i] - 1
  out[#out + 1] = tonumber(e[2]) + spans[i] - now
end
local k = nL + nU
if nR == 1 then
  k = k + 1
  out[#out + 1] = redis.call('INCR', KEYS[k])
  redis.call('EXPIRE', KEYS[k], ARGV[3])
end
for _ = 1, nK do
  k = k + 1
  out[#out + 1] = redis.call('INCR', KEYS[k])
  redis.call('EXPIRE', KEYS[k], ARGV[3])
end
for _ = 1, nC do
  k = k + 1
  out[#out + 1] = redis.call('PTTL', KEYS[k])
end
for i = 1, nU do
  local key = KEYS[nL + i]
  local limit, span = tonumber(ARGV[a]), tonumber(ARGV[a + 1]) * 1000000
  a = a + 2
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - span))
  out[#out + 1] = redis.call('ZCARD', key)
end
if credits then out[#out + 1] = spent end
return out
"""

MARK_FAILURE = """
-- KEYS: cooldown keys; ARGV: milliseconds for each. A mark is never shortened.
for i, key in ipairs(KEYS) do
  local ms = tonumber(ARGV[i])
  if ms > 0 and redis.call('PTTL', key) < ms then
    redis.call('SET', key, '1', 'PX', ARGV[i])
  end
end
return #KEYS
"""

RECORD_USAGE = _PRELUDE + """
-- KEYS: nW window keys, then the usage hash (when ARGV[4] == '1'), then the spend counter (when a cost follows)
-- ARGV: now_us|'', member, nW, has_usage, usage_ttl, nW x (limit, seconds), model, prompt_tokens, completion_tokens, cost
local nW, has_usage = tonumber(ARGV[3]), ARGV[4]
local a = 6
for i = 1, nW do
  local key = KEYS[i]
  local limit, span = tonumber(ARGV[a]), tonumber(ARGV[a + 1]) * 1000000
  a = a + 2
  redis.call('ZADD', key, int(now), member .. ':' .. i)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now - span))
  -- keep the newest `limit` entries: "is this window full?" gets the same answer, memory stays bounded
  redis.call('ZREMRANGEBYRANK', key, 0, int(-(limit + 1)))
  redis.call('PEXPIRE', key, int(math.ceil(span / 1000)))
end
if has_usage == '1' then
  local h, model = KEYS[nW + 1], ARGV[a]
  redis.call('HINCRBY', h, model .. ':requests', 1)
  redis.call('HINCRBY', h, model .. ':prompt_tokens', ARGV[a + 1])
  redis.call('HINCRBY', h, model .. ':completion_tokens', ARGV[a + 2])
  redis.call('EXPIRE', h, ARGV[5])
  if ARGV[a + 3] then redis.call('INCRBY', KEYS[nW + 2], ARGV[a + 3]) end
end
return nW
"""


class Script:
    """A script and its SHA1, computed once (backends send EVALSHA and fall back to EVAL)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


SCRIPTS = {s.name: s for s in (Script("admit", ADMIT), Script("mark_failure", MARK_FAILURE), Script("record_usage", RECORD_USAGE))}


class ScriptStore:
    """The Store operations on top of ``_script`` and ``_hgetall``, which each backend implements.

    Key layout (all under ``prefix``, names from :mod:`.keys`): sorted sets for windows, rotation
    counters, cooldown marks and usage hashes. Every key gets a TTL when written.
    """

    name = "redis"

    def __init__(self, prefix: str, clock: Callable[[], float] | None = None) -> None:
        self.prefix = prefix
        self._clock = clock  # None: the Redis server's clock

    async def _script(self, script: Script, keys: list[str], args: list[str]) -> object:
        raise NotImplementedError

    async def _hgetall(self, key: str) -> dict[str, str]:
        raise NotImplementedError

    def _now_arg(self) -> str:
        return "" if self._clock is None else str(int(self._clock() * 1_000_000))

    def _member(self, request_id: str) -> str:
        """Unique per call: sorted-set members must not collide across instances."""
        return f"{request_id}.{secrets.token_hex(8)}" if request_id else secrets.token_hex(8)

    def _window_key(self, bucket: str, seconds: float) -> str:
        return self.prefix + layout.window_key(bucket, seconds)

    def _usage_key(self, key_id: str, day: str) -> str:
        return self.prefix + layout.usage_key(key_id, day)

    async def admit(self, request: AdmitRequest) -> AdmitResult:
        windows = [(c.bucket, w) for c in request.limits for w in c.windows]
        reads = [(c.bucket, w) for c in request.usage_reads for w in c.windows]
        keys = [self._window_key(b, w.seconds) for b, w in windows] + [self._window_key(b, w.seconds) for b, w in reads]
        if request.rotation:
            keys.append(self.prefix + request.rotation)
        keys += [self.prefix + name for name in request.key_rotations]
        keys += [self.prefix + layout.cooldown_key(cid) for cid in request.cooldown_ids]
        args = [self._now_arg(), self._member(request.request_id), str(COUNTER_TTL), str(len(windows)), str(len(reads)),
                "1" if request.rotation else "0", str(len(request.key_rotations)), str(len(request.cooldown_ids))]
        for _, w in windows + reads:
            args += [str(w.limit), layout.format_seconds(w.seconds)]
        spend = request.spend
        if spend is not None:
            keys.append(self.prefix + spend.counter)
        args.append(str(spend.credits) if spend is not None else "")
        # The admit script answers with one flat array of integers, read in order below.
        reply = [int(x) for x in cast("list[int | str]", await self._script(SCRIPTS["admit"], keys, args))]

        if reply[0] == 2:
            return AdmitResult(allowed=False, spent=reply[2], credits_exhausted=True)
        states, i = [], 2
        for _, w in windows:
            states.append(WindowState(w.limit, reply[i], reply[i + 1] / 1_000_000))
            i += 2
        if not reply[0]:
            return AdmitResult(allowed=False, retry_after=reply[1] / 1_000_000, windows=states)
        result = AdmitResult(allowed=True, windows=states)
        if request.rotation:
            result.rotation = reply[i]
            i += 1
        for name in request.key_rotations:
            result.key_rotations[name] = reply[i]
            i += 1
        for cid in request.cooldown_ids:
            if reply[i] > 0:
                result.cooled[cid] = reply[i] / 1000
            i += 1
        for bucket, w in reads:
            if reply[i] >= w.limit:
                result.at_limit.add(bucket)
            result.counts[bucket] = reply[i]
            i += 1
        if spend is not None:
            result.spent = reply[i]
        return result

    async def mark_failure(self, marks: list[tuple[str, float]]) -> None:
        marks = [(cid, s) for cid, s in marks if s > 0]
        if not marks:
            return
        await self._script(SCRIPTS["mark_failure"], [self.prefix + layout.cooldown_key(cid) for cid, _ in marks],
                           [str(math.ceil(s * 1000)) for _, s in marks])

    async def record_usage(self, uses: list[LimitCheck], usage: Usage | None, request_id: str = "") -> None:
        windows = [(c.bucket, w) for c in uses for w in c.windows]
        if not windows and usage is None:
            return
        keys = [self._window_key(b, w.seconds) for b, w in windows]
        args = [self._now_arg(), self._member(request_id), str(len(windows)), "1" if usage else "0", str(USAGE_TTL)]
        for _, w in windows:
            args += [str(w.limit), layout.format_seconds(w.seconds)]
        if usage is not None:
            keys.append(self._usage_key(usage.key_id, day_of((self._clock or time.time)())))
            args += [usage.model, str(int(usage.prompt_tokens)), str(int(usage.completion_tokens))]
            if usage.spend_counter:
                keys.append(self.prefix + usage.spend_counter)
                args.append(str(int(usage.cost)))
        await self._script(SCRIPTS["record_usage"], keys, args)

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        return {k: int(v) for k, v in (await self._hgetall(self._usage_key(key_id, day))).items()}
