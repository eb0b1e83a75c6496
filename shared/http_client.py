"""The one outbound HTTP client of an instance: httpx's API on aiohttp's transport.

Why not a plain ``httpx.AsyncClient``: its connection pool rescans every connection on each request,
which costs ~2 ms of CPU per request under concurrency; the ``httpx-aiohttp`` transport keeps
httpx's API at ~0.36 ms (design.md, measured facts). The transport choice lives only here.

The client is bound to the event loop it was built on; serverless adapters may run each
invocation on a new loop, so a client from a closed loop is replaced.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_client: "httpx.AsyncClient | None" = None
_loop: asyncio.AbstractEventLoop | None = None


def _build() -> "httpx.AsyncClient":
    logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs every request at INFO: not on our hot path
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
        auto_decompress=False,
    )
    return httpx.AsyncClient(transport=AiohttpTransport(client=session), timeout=None)


def get_client() -> "httpx.AsyncClient":
    global _client, _loop
    loop = asyncio.get_running_loop()
    if _client is None or _loop is not loop:
        _client, _loop = _build(), loop
    return _client


async def close_client() -> None:
    global _client, _loop
    if _client is not None:
        client, _client, _loop = _client, None, None
        await client.aclose()
