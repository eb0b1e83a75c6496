"""The in-process store: the embedded default for one local process, and the fallback when a
shared store is unreachable. Not shared between instances (the README says so).

Rate limits are exact sliding-window logs: each window keeps the timestamps of the requests it
admitted, at most ``limit`` of them, so no window of ``seconds`` ever holds more than ``limit``.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from collections.abc import Callable

from . import keys as layout
from .base import AdmitRequest, AdmitResult, LimitCheck, Usage, WindowState


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

    def _log(self, bucket: str, seconds: int, now: float) -> deque[float]:
        log = self._logs.setdefault(layout.window_key(bucket, seconds), deque())
        while log and log[0] <= now - seconds:
            log.popleft()
        return log

    async def admit(self, request: AdmitRequest) -> AdmitResult:
        now = self._clock()
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

    async def mark_failure(self, marks: list[tuple[str, float]]) -> None:
        now = self._clock()
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
                name = f"{usage.model}:{field}"
                counters[name] = counters.get(name, 0) + value
            if usage.spend_counter:
                self._counters[usage.spend_counter] = self._counters.get(usage.spend_counter, 0) + usage.cost

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        return dict(self._usage.get((key_id, day), {}))

    async def close(self) -> None:
        return None
