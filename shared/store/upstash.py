"""Shared state in Upstash Redis over its REST API, with the ``upstash-redis`` async client.

How the client is configured, and why (from its source, upstash-redis 1.8.0):

* ``rest_retries=0``: by default it retries a failed request once after sleeping 3 s, far beyond
  any request's budget; the degraded mode (``resilient.py``) handles failures instead.
* No timeout exists in the client: every call is bounded by the caller (``ResilientStore``).
* ``allow_telemetry=False``: a self-hosted gateway sends no SDK/runtime/platform headers by default.
* ``rest_encoding="base64"`` (its default): results come back base64-encoded, so any byte survives JSON.
* Its HTTP: the client builds its own ``httpx.AsyncClient`` and has no parameter to pass one in. A
  plain httpx pool rescans every connection on each request (~2 ms CPU under concurrency, see
  ``http_client.py``), so before each call we point its ``_http._client`` at the instance's shared
  client (aiohttp transport, bound to the running loop). That attribute is private; the version is
  pinned and a test asserts the swap still takes effect, so an upgrade that moves it fails loudly.
  If the attribute is missing, the client's own pool is used (correct, just slower).

The client is built once per instance (at ``make_store``, outside any request's time budget: its
constructor loads a TLS context, 40-180 ms).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..http_client import get_client
from .lua import Script, ScriptStore


class UpstashStore(ScriptStore):
    name = "upstash"

    def __init__(self, url: str, token: str, prefix: str, clock: Callable[[], float] | None = None) -> None:
        super().__init__(prefix, clock)
        from upstash_redis.asyncio import Redis
        from upstash_redis.errors import UpstashError

        self._error = UpstashError
        self._redis = Redis(url.rstrip("/"), token, rest_encoding="base64", rest_retries=0, allow_telemetry=False)
        self._http: Any = getattr(self._redis, "_http", None)
        self._own_client = getattr(self._http, "_client", None)  # built by the library, closed in close()

    def _bind(self) -> None:
        """Send the client's requests through the instance's shared HTTP client (see the module doc)."""
        if self._own_client is not None:
            self._http._client = get_client()

    async def _script(self, script: Script, keys: list[str], args: list[str]) -> object:
        self._bind()
        try:
            return await self._redis.evalsha(script.sha, keys, args)
        except self._error as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
            return await self._redis.eval(script.source, keys, args)

    async def _hgetall(self, key: str) -> dict[str, str]:
        self._bind()
        return await self._redis.hgetall(key)

    async def close(self) -> None:
        # The shared client belongs to http_client; only the library's own (unused) one is ours to close.
        if self._own_client is not None:
            self._http._client = self._own_client
        await self._redis.close()
