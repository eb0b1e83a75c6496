"""The one outbound HTTP client of an instance: httpx's API on aiohttp's transport.

Why not a plain ``httpx.AsyncClient``: its connection pool rescans every connection on each request,
which costs ~2 ms of CPU per request under concurrency; the ``httpx-aiohttp`` transport keeps
httpx's API at ~0.36 ms (design.md, measured facts). The transport choice lives only here.

A client is bound to the event loop it was built on. A serverless instance runs one loop, so it
builds one client; keeping them per loop also lets tests run several gateways in one process.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
_transports: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncBaseTransport] = weakref.WeakKeyDictionary()
# A provider's ``proxy``: one client per (loop, proxy URL), built on first use; the direct client above is untouched.
_proxied: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, tuple[httpx.AsyncClient, httpx.AsyncBaseTransport]]] = (
    weakref.WeakKeyDictionary())


def _build(proxy: str | None = None) -> httpx.AsyncClient:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # httpx logs every request at INFO: not on our hot path
    import aiohttp
    import httpx
    from httpx_aiohttp import AiohttpTransport

    if proxy is not None and proxy.split(":", 1)[0].lower().startswith("socks"):
        from aiohttp_socks import ProxyConnector  # socks4/socks5/socks5h: aiohttp speaks only http proxies itself

        connector: aiohttp.TCPConnector = ProxyConnector.from_url(proxy, rdns=proxy.lower().startswith("socks5h"), limit=0,
                                                                  ttl_dns_cache=300, keepalive_timeout=30)
        session = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    else:
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, keepalive_timeout=30),
                                        auto_decompress=False, proxy=proxy)
    # verify=False only skips the SSL context the transport would build and never use (30-50 ms):
    # connections are made by the session's connector, which verifies certificates (ssl=True default).
    transport = AiohttpTransport(client=session, verify=False)
    client = httpx.AsyncClient(transport=transport, timeout=None)
    if proxy is None:
        _transports[asyncio.get_running_loop()] = transport
    else:
        _proxied.setdefault(asyncio.get_running_loop(), {})[proxy] = (client, transport)
    return client


def get_client(proxy: str | None = None) -> httpx.AsyncClient:
    loop = asyncio.get_running_loop()
    if proxy is not None:
        built = _proxied.get(loop, {}).get(proxy)
        if built is not None:
            return built[0]
        try:
            return _build(proxy)
        except ValueError:  # e.g. a port that is not a number: a failed connection of that provider, not a crash
            raise ConnectionError("the provider's proxy URL cannot be used") from None
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = _build()
    return client


async def send(method: str, url: str, headers: dict[str, str], content: bytes, timeout: float,
               proxy: str | None = None) -> httpx.Response:
    """Send one upstream request on the shared transport and return the response unread (streaming).

    This is httpx's API one level down: an ``httpx.Request`` handed straight to the transport, as
    ``AsyncClient.send`` would after its cookie, auth, redirect and event-hook steps, none of which an
    upstream call uses. Skipping them saves a measured ~15% of the gateway's CPU per request.
    ``timeout`` bounds the connect and every read (for a stream: each gap between chunks).
    """
    import httpx

    loop = asyncio.get_running_loop()
    transport: httpx.AsyncBaseTransport | None
    if proxy is not None:
        get_client(proxy)
        transport = _proxied[loop][proxy][1]
    else:
        transport = _transports.get(loop)
        if transport is None:
            get_client()
            transport = _transports[loop]
    request = httpx.Request(method, url, headers=headers, content=content,
                            extensions={"timeout": {"connect": min(timeout, 10.0), "read": timeout, "write": timeout, "pool": timeout}})
    return await transport.handle_async_request(request)


async def close_client() -> None:
    """Close this loop's client (on shutdown), so no connection or session is left open."""
    loop = asyncio.get_running_loop()
    _transports.pop(loop, None)
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()
    for proxied, _ in (_proxied.pop(loop, None) or {}).values():
        await proxied.aclose()
