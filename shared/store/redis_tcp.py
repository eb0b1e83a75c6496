"""Shared state in any Redis over TCP (``REDIS_URL``: ``redis://`` or ``rediss://``), via
``redis.asyncio``.

Configured for a request path with a strict time budget: no client-side retries (redis-py retries
three times with exponential back-off by default; the degraded mode in ``resilient.py`` decides
what happens instead; the pool already replaces a pooled connection found closed when it is
checked out, e.g. after a Redis restart, which a test proves). Socket timeouts equal to the
budget, and a bare connection handshake: RESP2 (redis-py 8 defaults to RESP3, whose ``HELLO 3`` costs a round trip per new
connection and fails on Redis < 6) and no ``CLIENT SETINFO``.

Connections belong to the event loop that opened them; serverless adapters may run invocations
on a fresh loop, so the client is rebuilt when the running loop changes (as in ``http_client``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from .lua import Script, ScriptStore

if TYPE_CHECKING:  # imported for real only when the client is built (cold start)
    import redis.asyncio as aioredis


class RedisStore(ScriptStore):
    name = "redis"

    def __init__(self, url: str, prefix: str, timeout: float = 5.0, clock: Callable[[], float] | None = None) -> None:
        super().__init__(prefix, clock)
        self._url = url
        self._timeout = timeout
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._noscript: type[Exception] = Exception

    def _redis(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import NoScriptError

            self._noscript = NoScriptError
            self._client = aioredis.Redis.from_url(
                self._url, decode_responses=True, socket_connect_timeout=self._timeout, socket_timeout=self._timeout,
                retry=Retry(NoBackoff(), 0), driver_info=None, protocol=2,
            )
            self._loop = loop
        return self._client

    async def _script(self, script: Script, keys: list[str], args: list[str]) -> object:
        client = self._redis()
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except self._noscript:  # the server lost its script cache (restart, SCRIPT FLUSH): EVAL caches it again
            return await client.eval(script.source, len(keys), *keys, *args)

    async def _hgetall(self, key: str) -> dict[str, str]:
        # decode_responses=True makes keys and values str; redis-py's types cannot know that.
        return cast("dict[str, str]", await self._redis().hgetall(key))

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None and self._loop is asyncio.get_running_loop():
            await client.aclose()
