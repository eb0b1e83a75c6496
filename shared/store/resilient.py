"""Degraded mode: a shared store wrapped so that its outage never stops a request.

Every call to the shared store gets a strict time budget (``STORE_TIMEOUT_SECONDS``). When it
fails or runs out of time, the call is served by an in-process ``MemoryStore`` instead: rate
limits then hold per instance only, cooldowns and rotation are local, and ``admit`` says
``degraded=True`` (the proxy adds ``x-gateway-store: degraded``). A warning is logged once per
instance, not once per request, so an outage does not flood the logs.

After a failure the shared store is left alone for ``STORE_RETRY_SECONDS``; the first call after
that probes it again (the others keep using memory meanwhile), so a dead store costs at most one
time budget per back-off period, not one per request.

Rate limits fail open by default (served on the per-instance limits of memory). With the global
preference ``rate_limit_fail_closed: true``, a degraded ``admit`` for a request that has rate
limits is denied, because only the shared store can enforce a limit across instances.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .base import AdmitRequest, AdmitResult, LimitCheck, Store, Usage
from .memory import MemoryStore

log = logging.getLogger("gateway")
T = TypeVar("T")


class ResilientStore:
    def __init__(self, shared: Store, timeout: float = 0.5, retry_after: float = 5.0, fallback: MemoryStore | None = None) -> None:
        self.shared = shared
        self.fallback = fallback or MemoryStore()
        self.name = shared.name
        self.timeout = timeout
        self.retry_after = retry_after
        self._down_until = 0.0  # monotonic time before which the shared store is not tried
        self._down = False
        self._warned = False

    async def _try(self, op: str, call: Callable[..., Awaitable[T]], *args: Any) -> tuple[bool, T | None]:
        """Run one shared-store call within the budget: (True, result), or (False, None) on failure."""
        now = time.monotonic()
        if now < self._down_until:
            return False, None
        if self._down:
            self._down_until = now + self.retry_after  # this call is the probe; others stay on memory
        try:
            async with asyncio.timeout(self.timeout):
                result = await call(*args)
        except Exception as exc:  # a store outage has many faces: timeouts, refused connections, HTTP, auth
            self._failed(op, exc)
            return False, None
        if self._down:
            self._down, self._down_until = False, 0.0
            log.info("shared state store %s reachable again", self.name)
        return True, result

    def _failed(self, op: str, exc: Exception) -> None:
        self._down, self._down_until = True, time.monotonic() + self.retry_after
        reason = f"no answer within {self.timeout:.2f}s" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"[:300]
        if not self._warned:
            self._warned = True
            log.warning("shared state store %s unavailable (%s during %s): serving from the in-process store, "
                        "so rate limits, rotation and cooldowns hold per instance only; retrying every %gs "
                        "(this warning is logged once per instance)", self.name, reason, op, self.retry_after)
        else:
            log.debug("shared state store %s still unavailable (%s during %s)", self.name, reason, op)

    async def admit(self, request: AdmitRequest) -> AdmitResult:
        ok, result = await self._try("admit", self.shared.admit, request)
        if ok and result is not None:
            return result
        if request.fail_closed and request.limits:
            return AdmitResult(allowed=False, retry_after=max(1.0, self._down_until - time.monotonic()), degraded=True,
                                store_unavailable=True)
        result = await self.fallback.admit(request)
        result.degraded = True
        return result

    async def mark_failure(self, marks: list[tuple[str, float]]) -> None:
        ok, _ = await self._try("mark_failure", self.shared.mark_failure, marks)
        if not ok:
            await self.fallback.mark_failure(marks)

    async def record_usage(self, uses: list[LimitCheck], usage: Usage | None, request_id: str = "") -> None:
        ok, _ = await self._try("record_usage", self.shared.record_usage, uses, usage, request_id)
        if not ok:
            await self.fallback.record_usage(uses, usage, request_id)

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        ok, result = await self._try("get_usage", self.shared.get_usage, key_id, day)
        return result if ok and result is not None else await self.fallback.get_usage(key_id, day)

    async def close(self) -> None:
        try:
            await self.shared.close()
        finally:
            await self.fallback.close()
