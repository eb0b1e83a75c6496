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
import json
import math
import secrets
import time
from collections.abc import Callable
from typing import Any, cast

from . import keys as layout
from .base import AdmitRequest, AdmitResult, LimitCheck, StoredConfig, Usage, WindowState
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
--       then the spend counter when the last ARGV is a cap, then the config version key when ARGV[9] is a version
-- ARGV: now_us|'', member, counter_ttl, nL, nU, nR, nK, nC, config_version|'', nL x (limit, seconds),
--       nU x (limit, seconds), credits|''
-- Reply: allowed (1, 0, 2: the key's credits are spent, or 3: the store holds another config version, with
--        nothing counted), retry_us, windows, counters, cooldowns, usage reads, then the spend when credits were given
local nL, nU, nR, nK, nC = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
if ARGV[9] ~= '' then
  -- a store without a config (0: first boot, or a Redis that lost its data) refuses nothing
  local stored = tonumber(redis.call('GET', KEYS[#KEYS]) or '0')
  if stored ~= 0 and stored ~= tonumber(ARGV[9]) then return {3, stored} end
end
local credits = tonumber(ARGV[#ARGV])
local spent = 0
if credits then
  spent = tonumber(redis.call('GET', KEYS[nL + nU + nR + nK + nC + 1]) or '0')
  if spent >= credits then return {2, 0, spent} end
end
local a = 10
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
-- KEYS: cooldown keys, then the recent-failures list when ARGV[1] is a note
-- ARGV: note (JSON)|'', failures kept, milliseconds for each cooldown key. A mark is never shortened.
local n = #KEYS
if ARGV[1] ~= '' then
  n = n - 1
  redis.call('LPUSH', KEYS[#KEYS], ARGV[1])
  redis.call('LTRIM', KEYS[#KEYS], 0, tonumber(ARGV[2]) - 1)
  redis.call('EXPIRE', KEYS[#KEYS], 604800)
end
for i = 1, n do
  local ms = tonumber(ARGV[i + 2])
  if ms > 0 and redis.call('PTTL', KEYS[i]) < ms then
    redis.call('SET', KEYS[i], '1', 'PX', ARGV[i + 2])
  end
end
return n
"""

RECORD_USAGE = _PRELUDE + """
-- KEYS: nW window keys, then the usage hash (when ARGV[4] == '1'), then the spend counter (when a cost follows)
-- ARGV: now_us|'', member, nW, has_usage, usage_ttl, nW x (limit, seconds), model, prompt_tokens, completion_tokens,
--       provider|'', cost
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
  local provider = ARGV[a + 3]
  if provider ~= '' then
    local p = 'p:' .. provider .. ':' .. model
    redis.call('HINCRBY', h, p .. ':requests', 1)
    redis.call('HINCRBY', h, p .. ':prompt_tokens', ARGV[a + 1])
    redis.call('HINCRBY', h, p .. ':completion_tokens', ARGV[a + 2])
  end
  redis.call('EXPIRE', h, ARGV[5])
  if ARGV[a + 4] then redis.call('INCRBY', KEYS[nW + 2], ARGV[a + 4]) end
end
return nW
"""


class Script:
    """A script and its SHA1, computed once (backends send EVALSHA and fall back to EVAL)."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


# The admin side: the config document (a compare-and-set on its version), lists, small values with expiry.
PUT_CONFIG = """
-- KEYS: version, document, audit list; ARGV: expected version, document JSON (written with version + 1),
--       audit entry JSON|'', entries kept. Reply: {1, new version} or {0, the stored version}.
local v = tonumber(redis.call('GET', KEYS[1]) or '0')
if v ~= tonumber(ARGV[1]) then return {0, v} end
redis.call('SET', KEYS[1], v + 1)
redis.call('SET', KEYS[2], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[3], ARGV[3])
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
end
return {1, v + 1}
"""

GET = "return redis.call('GET', KEYS[1])"
VERSION = "return tonumber(redis.call('GET', KEYS[1]) or '0')"
LIST = "return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)"
DELETE = "return redis.call('DEL', KEYS[1])"
KV_SET = """
-- ARGV: value, milliseconds|'' (no expiry), 'NX'|''
local args = {'SET', KEYS[1], ARGV[1]}
if ARGV[2] ~= '' then args[#args + 1] = 'PX'; args[#args + 1] = ARGV[2] end
if ARGV[3] ~= '' then args[#args + 1] = 'NX' end
if redis.call(unpack(args)) then return 1 end
return 0
"""

SCRIPTS = {s.name: s for s in (
    Script("admit", ADMIT), Script("mark_failure", MARK_FAILURE), Script("record_usage", RECORD_USAGE),
    Script("put_config", PUT_CONFIG), Script("get", GET), Script("version", VERSION), Script("list", LIST),
    Script("delete", DELETE), Script("kv_set", KV_SET),
)}


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
        version = request.config_version
        args = [self._now_arg(), self._member(request.request_id), str(COUNTER_TTL), str(len(windows)), str(len(reads)),
                "1" if request.rotation else "0", str(len(request.key_rotations)), str(len(request.cooldown_ids)),
                "" if version is None else str(version)]
        for _, w in windows + reads:
            args += [str(w.limit), layout.format_seconds(w.seconds)]
        spend = request.spend
        if spend is not None:
            keys.append(self.prefix + spend.counter)
        if version is not None:
            keys.append(self.prefix + layout.CONFIG_VERSION)
        args.append(str(spend.credits) if spend is not None else "")
        # The admit script answers with one flat array of integers, read in order below.
        reply = [int(x) for x in cast("list[int | str]", await self._script(SCRIPTS["admit"], keys, args))]

        if reply[0] == 3:
            return AdmitResult(allowed=False, config_changed=True, config_version=reply[1])
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

    async def mark_failure(self, marks: list[tuple[str, float]], note: dict[str, Any] | None = None) -> None:
        marks = [(cid, s) for cid, s in marks if s > 0]
        if not marks and note is None:
            return
        keys = [self.prefix + layout.cooldown_key(cid) for cid, _ in marks]
        args = ["", str(layout.FAILURES_KEPT)]
        if note is not None:
            keys.append(self.prefix + layout.RECENT_FAILURES)
            now = self._clock() if self._clock is not None else time.time()
            args[0] = json.dumps({**note, "at": round(now, 3)}, separators=(",", ":"))
        await self._script(SCRIPTS["mark_failure"], keys, args + [str(math.ceil(s * 1000)) for _, s in marks])

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
            args += [usage.model, str(int(usage.prompt_tokens)), str(int(usage.completion_tokens)), usage.provider]
            if usage.spend_counter:
                keys.append(self.prefix + usage.spend_counter)
                args.append(str(int(usage.cost)))
        await self._script(SCRIPTS["record_usage"], keys, args)

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        return {k: int(v) for k, v in (await self._hgetall(self._usage_key(key_id, day))).items()}

    async def config_version(self) -> int:
        return int(cast("int", await self._script(SCRIPTS["version"], [self.prefix + layout.CONFIG_VERSION], [])))

    async def get_config(self) -> StoredConfig | None:
        raw = await self._script(SCRIPTS["get"], [self.prefix + layout.CONFIG_DOCUMENT], [])
        if raw is None:
            return None
        data = json.loads(cast("str", raw))
        return StoredConfig(int(data["version"]), data["document"], data.get("meta") or {})

    async def put_config(self, expected_version: int, document: dict[str, Any], meta: dict[str, Any],
                         audit: dict[str, Any] | None) -> int | None:
        new = expected_version + 1
        doc = json.dumps({"version": new, "document": document, "meta": meta}, separators=(",", ":"))
        entry = json.dumps({**audit, "version": new}, separators=(",", ":")) if audit is not None else ""
        keys = [self.prefix + layout.CONFIG_VERSION, self.prefix + layout.CONFIG_DOCUMENT, self.prefix + layout.AUDIT_LOG]
        reply = cast("list[int]", await self._script(SCRIPTS["put_config"], keys, [str(expected_version), doc, entry,
                                                                                      str(layout.AUDIT_KEPT)]))
        return int(reply[1]) if int(reply[0]) == 1 else None

    async def _list(self, key: str, limit: int) -> list[dict[str, Any]]:
        items = cast("list[str] | None", await self._script(SCRIPTS["list"], [self.prefix + key], [str(max(1, limit))]))
        return [json.loads(item) for item in items or []]

    async def get_audit(self, limit: int) -> list[dict[str, Any]]:
        return await self._list(layout.AUDIT_LOG, limit)

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        return await self._list(layout.RECENT_FAILURES, limit)

    async def kv_get(self, key: str) -> str | None:
        return cast("str | None", await self._script(SCRIPTS["get"], [self.prefix + layout.kv_key(key)], []))

    async def kv_set(self, key: str, value: str, ttl_seconds: float | None, only_if_absent: bool = False) -> bool:
        ms = str(max(1, math.ceil(ttl_seconds * 1000))) if ttl_seconds else ""
        reply = await self._script(SCRIPTS["kv_set"], [self.prefix + layout.kv_key(key)], [value, ms, "NX" if only_if_absent else ""])
        return int(cast("int", reply)) == 1

    async def kv_delete(self, key: str) -> None:
        await self._script(SCRIPTS["delete"], [self.prefix + layout.kv_key(key)], [])
