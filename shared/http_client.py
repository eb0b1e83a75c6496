"""The one outbound HTTP client of an instance: httpx's API on aiohttp's transport.

Why not a plain ``httpx.AsyncClient``: its connection pool rescans every connection on each request,
which costs ~2 ms of CPU per request under concurrency; the ``httpx-aiohttp`` transport keeps
httpx's API at ~0.36 ms (design.md, measured facts). The transport choice lives only here.

A client is bound to the event loop it was built on. A serverless instance runs one loop, so it
builds one client; keeping them per loop also lets tests run several gateways in one process.

Answers are read with a size cap on both the bytes on the wire and the decoded bytes
(:func:`body_chunks`, :func:`read_body`). The session does not decompress (``auto_decompress=False``)
and httpx's own decoders inflate a whole network chunk in one call (a 16 KiB piece of a gzip bomb
is 16 MB), so gzip and deflate are inflated here, at most :data:`INFLATE_STEP` bytes per call, and
the cap is checked between steps: a bomb costs one step of memory, not its decoded size. Only
``gzip`` and ``deflate`` are asked for (``accept-encoding``); any other encoding is refused. Each
wait for the next piece of a body is bounded (:class:`_ReadGuard`), and :func:`transport_failure`
names whatever the transport raised, so the dispatcher can turn it into a failed attempt.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
import zlib
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, cast

from .providers.base import UpstreamError

if TYPE_CHECKING:
    import httpx

ACCEPT_ENCODING = "gzip, deflate"  # what upstreams may compress with: the encodings inflated here, in bounded steps
INFLATE_STEP = 1024 * 1024  # decoded bytes produced per decompression call
POLL_SECONDS = 0.5  # how often waiting body reads are checked (see _ReadGuard)

log = logging.getLogger("gateway")

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

    if not any(name.lower() == "accept-encoding" for name in headers):
        headers = {**headers, "accept-encoding": ACCEPT_ENCODING}  # never br/zstd: they could not be bounded here
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


class _Inflater:
    """gzip or deflate, decoded in steps of at most :data:`INFLATE_STEP` bytes."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._gzip = encoding in ("gzip", "x-gzip")
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        try:
            while data:
                try:
                    out = self._z.decompress(data, INFLATE_STEP)
                except zlib.error:
                    if self._gzip or self._started:
                        raise
                    self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent raw, without its zlib header
                    out = self._z.decompress(data, INFLATE_STEP)
                self._started = True
                data = self._z.unconsumed_tail
                if out:
                    yield out
        except zlib.error as exc:
            raise UpstreamError(502, f"the upstream's {self.encoding} body does not decode ({exc})") from None

    def flush(self) -> bytes:
        try:
            return self._z.flush()
        except zlib.error as exc:
            raise UpstreamError(502, f"the upstream's {self.encoding} body does not decode ({exc})") from None


def _inflater(headers: Mapping[str, str]) -> _Inflater | None:
    encoding = (headers.get("content-encoding") or "").strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater(encoding)
    raise UpstreamError(502, f"the upstream answered with content-encoding {encoding[:40]!r}, which the gateway does not accept")


def _too_large(limit: int, what: str, setting: str) -> UpstreamError:
    return UpstreamError(502, f"the upstream {what} is larger than {limit} bytes ({setting})")


class _ReadGuard:
    """Bounds each wait for the next piece of an upstream body.

    The session's own read timeout is not enough. When aiohttp fails to parse the framing in the
    middle of a body (a chunk size that is not hex, an oversized chunk line: a hostile or broken
    upstream), it closes the connection and drops its read timeout without waking the reader,
    which then waits forever. So the loop's :class:`_Watchdog` looks at every waiting read each
    :data:`POLL_SECONDS`:

    * the connection is gone but the body neither ended nor failed: that aiohttp case; the reader
      is woken with ``ClientPayloadError`` at once (pinned to aiohttp 3.14's internals: response
      ``connection.protocol.transport``; tests/test_hostile_upstream.py proves it);
    * the read has waited ``timeout`` seconds: the reading task is cancelled the way
      ``asyncio.timeout`` does it (``uncancel`` tells this cancellation from a client's) and the
      read raises ``TimeoutError``.

    A guard is a plain object in the watchdog's set, and a read costs two attribute writes: an
    ``asyncio.timeout`` per read would cost ~3 µs per chunk, a timer per body ~2 µs per request.
    """

    __slots__ = ("fired", "response", "since", "task", "timeout")

    def __init__(self, response: httpx.Response, timeout: float) -> None:
        self.response = response
        self.timeout = timeout
        self.task: asyncio.Task[object] | None = None
        self.since = 0.0  # loop time the current read started waiting; 0 between reads
        self.fired = False

    def check(self, now: float) -> None:
        if not self.since or self.response.is_closed:
            return
        if now - self.since >= self.timeout and self.task is not None:
            self.fired = True
            self.task.cancel()
            return
        import aiohttp

        raw = getattr(self.response.stream, "_aiohttp_response", None)
        protocol = getattr(getattr(raw, "connection", None), "protocol", None)
        if raw is None or protocol is None or getattr(protocol, "transport", True) is not None:
            return
        content = raw.content
        if not content.is_eof() and content.exception() is None:
            content.set_exception(aiohttp.ClientPayloadError("the connection was closed in the middle of the body "
                                                             "(the upstream broke the HTTP framing)"))

    def timed_out(self) -> bool:
        """After a read was cancelled: was it this guard (then the task's cancellation is undone)?"""
        return self.fired and self.task is not None and self.task.uncancel() == 0


class _Watchdog:
    """One periodic check per event loop over the guards of the bodies being read. It keeps no
    reference to its loop (it is stored per loop, in a weak mapping) and runs only while there
    are guards."""

    def __init__(self) -> None:
        self.guards: set[_ReadGuard] = set()
        self.scheduled = False

    def add(self, guard: _ReadGuard) -> None:
        self.guards.add(guard)
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_later(POLL_SECONDS, self._tick)

    def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for guard in list(self.guards):
            try:
                guard.check(now)
            except Exception:  # a check must never stop the loop's timer
                log.debug("read guard check failed", exc_info=True)
        self.scheduled = bool(self.guards)
        if self.scheduled:
            loop.call_later(POLL_SECONDS, self._tick)


_watchdogs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watchdog] = weakref.WeakKeyDictionary()


def _watchdog() -> _Watchdog:
    loop = asyncio.get_running_loop()
    dog = _watchdogs.get(loop)
    if dog is None:
        dog = _watchdogs[loop] = _Watchdog()
    return dog


async def body_chunks(response: httpx.Response, limit: int, what: str = "answer", setting: str = "MAX_UPSTREAM_BYTES",
                      idle_timeout: float = 0.0) -> AsyncGenerator[bytes, None]:
    """The decoded body as it arrives, and the response closed at its end; an :class:`UpstreamError`
    once the bytes received or the bytes decoded pass ``limit`` (0: no limit). A declared
    ``content-length`` over the limit is refused before anything is read. With ``idle_timeout``,
    a wait of that long for the next piece raises ``TimeoutError`` (see :class:`_ReadGuard`).

    The transport's byte stream is read directly (what ``Response.aiter_raw`` wraps, minus its
    per-chunk bookkeeping: this loop runs once per chunk of every stream)."""
    headers = response.headers
    inflater = _inflater(headers) if "content-encoding" in headers else None
    if limit:
        declared = headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit, what, setting)
    stream = cast("AsyncIterator[bytes]", response.stream)
    raw = stream.__aiter__()
    received = decoded = 0
    guard = dog = None
    if idle_timeout:
        loop = asyncio.get_running_loop()
        guard, dog = _ReadGuard(response, idle_timeout), _watchdog()
        dog.add(guard)
    try:
        while True:
            try:
                if guard is None:
                    chunk = await raw.__anext__()
                else:
                    guard.task, guard.since = asyncio.current_task(), loop.time()
                    try:
                        chunk = await raw.__anext__()
                    finally:
                        guard.since = 0.0
            except StopAsyncIteration:
                break
            except asyncio.CancelledError:
                if guard is not None and guard.timed_out():
                    raise TimeoutError(f"no data from the upstream for {idle_timeout:g}s") from None
                raise
            received += len(chunk)
            if limit and received > limit:
                raise _too_large(limit, what, setting)
            if inflater is None:
                yield chunk
                continue
            for piece in inflater.decode(chunk):
                decoded += len(piece)
                if limit and decoded > limit:
                    raise _too_large(limit, what, setting)
                yield piece
    finally:
        if dog is not None:
            dog.guards.discard(guard)
    if inflater is not None:
        tail = inflater.flush()
        if limit and decoded + len(tail) > limit:
            raise _too_large(limit, what, setting)
        if tail:
            yield tail
    await response.aclose()


async def read_body(response: httpx.Response, limit: int, truncate: bool = False, idle_timeout: float = 0.0) -> bytes:
    """The whole decoded body, at most ``limit`` bytes: past that an :class:`UpstreamError`, or with
    ``truncate`` the first ``limit`` bytes (enough to read an error body without trusting its size)."""
    parts: list[bytes] = []
    size = 0
    chunks = body_chunks(response, 0 if truncate else limit, idle_timeout=idle_timeout)
    try:
        async for piece in chunks:
            parts.append(piece)
            size += len(piece)
            if truncate and size >= limit:
                break
    finally:
        await chunks.aclose()
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    return body[:limit] if truncate else body


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]


def transport_failure(exc: Exception) -> tuple[int, str]:
    """``(status, reason)`` for anything an upstream exchange raised other than an
    :class:`UpstreamError`: 504 for a read timeout, else 502.

    The transport maps some aiohttp errors to httpx's (``ClientPayloadError`` → ``ReadError``:
    a bad chunk or a Content-Length the body does not match) but lets others through: a reply
    that is not HTTP, a bad chunk size or an oversized header line arrive as aiohttp's
    ``ClientResponseError``. Anything else (``ValueError``, ``KeyError``, ``TypeError``,
    ``UnicodeDecodeError``, ``RecursionError``...) came from reading content of a shape nobody
    expected. None of these is the client's fault, and none may become a 500.
    """
    import aiohttp
    import httpx

    text = _one_line(str(exc))
    if isinstance(exc, TimeoutError) or (isinstance(exc, httpx.TimeoutException) and not isinstance(exc, httpx.ConnectTimeout)):
        return 504, f"{type(exc).__name__}: {text or 'timed out'}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return 502, f"the upstream's answer is not valid HTTP ({_one_line(exc.message) or exc.status})"
    if isinstance(exc, (httpx.HTTPError, aiohttp.ClientError, OSError)):
        return 502, f"{type(exc).__name__}: {text or 'connection failed'}"
    return 502, f"the upstream's answer could not be read ({type(exc).__name__}: {text})"


async def close_client() -> None:
    """Close this loop's client (on shutdown), so no connection or session is left open."""
    loop = asyncio.get_running_loop()
    _transports.pop(loop, None)
    client = _clients.pop(loop, None)
    if client is not None:
        await client.aclose()
    for proxied, _ in (_proxied.pop(loop, None) or {}).values():
        await proxied.aclose()
