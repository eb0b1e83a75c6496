"""The in-process store: the embedded default for one local process, and the fallback when a
shared store is unreachable. Not shared between instances (the README says so).

Rate limits are exact sliding-window logs: each window keeps the timestamps of the requests it
admitted, at most ``limit`` of them, so no window of ``seconds`` ever holds more than ``limit``.
"""

from __future__ import annotations

import copy
import functools
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from . import keys as layout
from .base import AdmitRequest, AdmitResult, LimitCheck, StoredConfig, Usage, WindowState


@functools.lru_cache(maxsize=4)
def _day(day_number: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(day_number * 86400))


def day_of(now: float) -> str:
    """The UTC date of a timestamp (usage counters are per day); formatted once per day, not per request."""
    return _day(int(now // 86400))


class MemoryStore:
    name = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._logs: dict[str, deque[float]] = {}
        self._counters: dict[str, int] = {}
        self._cooldowns: dict[str, float] = {}  # id -> expiry time
        self._usage: dict[tuple[str, str], dict[str, int]] = {}
        self._config: StoredConfig | None = None
        self._audit: deque[dict[str, Any]] = deque(maxlen=layout.AUDIT_KEPT)
        self._failures: deque[dict[str, Any]] = deque(maxlen=layout.FAILURES_KEPT)
        self._kv: dict[str, tuple[str, float | None]] = {}  # key -> (value, expiry time)

    def _log(self, bucket: str, seconds: int, now: float) -> deque[float]:
        log = self._logs.setdefault(layout.window_key(bucket, seconds), deque())
        while log and log[0] <= now - seconds:
            log.popleft()
        return log

    async def admit(self, request: AdmitRequest) -> AdmitResult:
        now = self._clock()
        if request.config_version is not None:
            stored = self._config.version if self._config is not None else 0
            if stored and stored != request.config_version:  # no config stored (0) refuses nothing
                return AdmitResult(allowed=False, config_changed=True, config_version=stored)
        spent = None
        if request.spend is not None:
            spent = self._counters.get(request.spend.counter, 0)
            if spent >= request.spend.credits:
                return AdmitResult(allowed=False, spent=spent, credits_exhausted=True)
        windows = [(check.bucket, w) for check in request.limits for w in check.windows]
        logs = [self._log(bucket, w.seconds, now) for bucket, w in windows]
        retry_after = 0.0
        for (_, w), log in zip(windows, logs, strict=True):
            if len(log) >= w.limit:
                # The slot that frees first is the one that would let this request in.
                retry_after = max(retry_after, log[len(log) - w.limit] + w.seconds - now)
        if retry_after > 0:
            states = [WindowState(w.limit, max(0, w.limit - len(log)), log[0] + w.seconds - now if log else 0.0)
                      for (_, w), log in zip(windows, logs, strict=True)]
            return AdmitResult(allowed=False, retry_after=retry_after, windows=states)
        for log in logs:
            log.append(now)
        states = [WindowState(w.limit, w.limit - len(log), log[0] + w.seconds - now) for (_, w), log in zip(windows, logs, strict=True)]
        result = AdmitResult(allowed=True, windows=states, spent=spent)
        if request.rotation:
            result.rotation = self._counters[request.rotation] = self._counters.get(request.rotation, 0) + 1
        for name in request.key_rotations:
            result.key_rotations[name] = self._counters[name] = self._counters.get(name, 0) + 1
        for cid in request.cooldown_ids:
            expiry = self._cooldowns.get(cid)
            if expiry is not None:
                if expiry > now:
                    result.cooled[cid] = expiry - now
                else:
                    del self._cooldowns[cid]
        for check in request.usage_reads:
            for w in check.windows:
                count = result.counts[check.bucket] = len(self._log(check.bucket, w.seconds, now))
                if count >= w.limit:
                    result.at_limit.add(check.bucket)
        return result

    async def mark_failure(self, marks: list[tuple[str, float]], note: dict[str, Any] | None = None) -> None:
        now = self._clock()
        if note is not None:
            self._failures.appendleft({**note, "at": round(now, 3)})
        for cid, seconds in marks:
            if seconds > 0:
                self._cooldowns[cid] = max(self._cooldowns.get(cid, 0.0), now + seconds)

    async def record_usage(self, uses: list[LimitCheck], usage: Usage | None, request_id: str = "") -> None:
        now = self._clock()
        for check in uses:
            for w in check.windows:
                self._log(check.bucket, w.seconds, now).append(now)
        if usage is not None:
            counters = self._usage.setdefault((usage.key_id, day_of(now)), {})
            for field, value in (("requests", 1), ("prompt_tokens", usage.prompt_tokens), ("completion_tokens", usage.completion_tokens)):
                names = [f"{usage.model}:{field}"]
                if usage.provider:
                    names.append(f"p:{usage.provider}:{usage.model}:{field}")
                for name in names:
                    counters[name] = counters.get(name, 0) + value
            if usage.spend_counter:
                self._counters[usage.spend_counter] = self._counters.get(usage.spend_counter, 0) + usage.cost

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        return dict(self._usage.get((key_id, day), {}))

    async def config_version(self) -> int:
        return self._config.version if self._config is not None else 0

    async def get_config(self) -> StoredConfig | None:
        # a deep copy, like a document read back from Redis: callers may change theirs freely
        return copy.deepcopy(self._config)

    async def put_config(self, expected_version: int, document: dict[str, Any], meta: dict[str, Any],
                         audit: dict[str, Any] | None) -> int | None:
        if (self._config.version if self._config is not None else 0) != expected_version:
            return None
        self._config = StoredConfig(expected_version + 1, copy.deepcopy(document), dict(meta))
        if audit is not None:
            self._audit.appendleft({**audit, "version": expected_version + 1})
        return expected_version + 1

    async def get_audit(self, limit: int) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._audit)[:limit])

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        return copy.deepcopy(list(self._failures)[:limit])

    def _kv_live(self, key: str) -> str | None:
        item = self._kv.get(key)
        if item is None:
            return None
        if item[1] is not None and item[1] <= self._clock():
            del self._kv[key]
            return None
        return item[0]

    async def kv_get(self, key: str) -> str | None:
        return self._kv_live(key)

    async def kv_set(self, key: str, value: str, ttl_seconds: float | None, only_if_absent: bool = False) -> bool:
        if only_if_absent and self._kv_live(key) is not None:
            return False
        self._kv[key] = (value, self._clock() + ttl_seconds if ttl_seconds else None)
        return True

    async def kv_delete(self, key: str) -> None:
        self._kv.pop(key, None)

    async def close(self) -> None:
        return None
