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
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .base import AdmitRequest, AdmitResult, LimitCheck, Store, StoredConfig, StoreUnavailable, Usage
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
        if request.config_version is not None:  # the fallback holds no config: keep running the one we have
            request = dataclasses.replace(request, config_version=None)
        result = await self.fallback.admit(request)
        result.degraded = True
        return result

    async def mark_failure(self, marks: list[tuple[str, float]], note: dict[str, Any] | None = None) -> None:
        ok, _ = await self._try("mark_failure", self.shared.mark_failure, marks, note)
        if not ok:
            await self.fallback.mark_failure(marks, note)

    async def record_usage(self, uses: list[LimitCheck], usage: Usage | None, request_id: str = "") -> None:
        ok, _ = await self._try("record_usage", self.shared.record_usage, uses, usage, request_id)
        if not ok:
            await self.fallback.record_usage(uses, usage, request_id)

    async def get_usage(self, key_id: str, day: str) -> dict[str, int]:
        ok, result = await self._try("get_usage", self.shared.get_usage, key_id, day)
        return result if ok and result is not None else await self.fallback.get_usage(key_id, day)

    async def _admin(self, op: str, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """An admin-side call: the shared store's answer, or :class:`StoreUnavailable` (never memory's)."""
        ok, result = await self._try(op, call, *args)
        if not ok:
            raise StoreUnavailable(f"shared state store {self.name} unavailable ({op})")
        return result  # type: ignore[return-value]  # ok: the call returned this

    async def config_version(self) -> int:
        return await self._admin("config_version", self.shared.config_version)

    async def get_config(self) -> StoredConfig | None:
        return await self._admin("get_config", self.shared.get_config)

    async def put_config(self, expected_version: int, document: dict[str, Any], meta: dict[str, Any],
                         audit: dict[str, Any] | None) -> int | None:
        return await self._admin("put_config", self.shared.put_config, expected_version, document, meta, audit)

    async def get_audit(self, limit: int) -> list[dict[str, Any]]:
        return await self._admin("get_audit", self.shared.get_audit, limit)

    async def recent_failures(self, limit: int) -> list[dict[str, Any]]:
        ok, result = await self._try("recent_failures", self.shared.recent_failures, limit)
        return result if ok and result is not None else await self.fallback.recent_failures(limit)

    async def kv_get(self, key: str) -> str | None:
        return await self._admin("kv_get", self.shared.kv_get, key)

    async def kv_set(self, key: str, value: str, ttl_seconds: float | None, only_if_absent: bool = False) -> bool:
        return await self._admin("kv_set", self.shared.kv_set, key, value, ttl_seconds, only_if_absent)

    async def kv_delete(self, key: str) -> None:
        await self._admin("kv_delete", self.shared.kv_delete, key)

    async def close(self) -> None:
        try:
            await self.shared.close()
        finally:
            await self.fallback.close()
