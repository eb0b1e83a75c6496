"""A hostile upstream: a raw asyncio TCP server on 127.0.0.1 that breaks HTTP and the wire formats on
purpose, so the gateway can be shown to survive it (tests/test_hostile_upstream.py).

It is not a Starlette app because it must be able to send what no framework would: a reply that is
not HTTP, a bad chunk size, a 1 MiB header line, a Content-Length that lies, a reset connection.

The mode is the first path segment of the request, so one server serves every mode at once::

    base_url: {hostile.url}/<mode>/v1                 # OpenAI-compatible: POST /<mode>/v1/chat/completions
    base_url: {hostile.url}/<mode>/v1/messages        # Anthropic
    base_url: {hostile.url}/<mode>/v1beta             # Gemini: POST /<mode>/v1beta/models/<m>:generateContent

Whether the answer streams is read from the request (``"stream": true``, or Gemini's
``:streamGenerateContent``). Every reply closes the connection. ``MODES`` lists what each mode does;
``ok`` is a valid answer (``"hostile says: hi"``) in the flavour asked for.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
import zlib
from typing import Any

from .server import free_port

TEXT = "hostile says: hi"
BOMB_BYTES = 1 << 30  # the gzip bomb decompresses to 1 GiB of zeros
HUGE_BYTES = 200 << 20  # the huge body: 200 MiB
LONG_LINE_BYTES = 20 << 20  # one 20 MiB SSE line
STALL_SECONDS = 30.0  # a stall lasts longer than any test waits

MODES = {
    "ok": "a valid answer",
    "not-http": "a reply that is not HTTP at all",
    "bad-chunk-size": "a good chunk (a stream: the first event), then a chunk size that is not hex",
    "huge-header": "a 1 MiB header line",
    "huge-body": "a 200 MiB body without Content-Length (a stream: 200 MiB of valid events)",
    "gzip-bomb": "Content-Encoding: gzip, a ~5 MB body that decompresses to 1 GiB of zeros",
    "slow-drip": "the body one byte every 0.2 s",
    "stall-headers": "reads the request, then never answers",
    "stall-mid-stream": "headers and half the body (a stream: the first event), then silence",
    "length-mismatch": "Content-Length larger than the body, then the connection is closed",
    "retry-after-inf": "429 with Retry-After: inf",
    "retry-after-nan": "429 with Retry-After: nan",
    "retry-after-1e309": "429 with Retry-After: 1e309",
    "retry-after-negative": "429 with Retry-After: -5",
    "retry-after-ms-inf": "429 with retry-after-ms: inf",
    "retry-after-huge": "429 with Retry-After: 1e300 (finite, absurd)",
    "bad-usage": "a valid answer whose usage token counts are not numbers",
    "bad-shape": "JSON of an unexpected shape (choices not a list, content not a list, ...)",
    "malformed-mid-stream": "a stream whose third event is not JSON",
    "long-line": "one 20 MiB SSE line (not a stream: a 20 MiB JSON answer, which is valid)",
    "reset-mid-stream": "the first event (a whole answer: half of it), then a TCP reset",
}


def _gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip level 1: ~4.7 MB, made once per process (~1 s)."""
    compressor = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(16 << 20)
    parts = [compressor.compress(zeros) for _ in range(BOMB_BYTES // len(zeros))]
    parts.append(compressor.flush())
    return b"".join(parts)


_bomb: bytes | None = None
_bomb_lock = threading.Lock()


def gzip_bomb() -> bytes:
    global _bomb
    with _bomb_lock:
        if _bomb is None:
            _bomb = _gzip_bomb()
        return _bomb


# -- valid answers in each flavour -------------------------------------------------------------------

def openai_answer(usage: Any = None, choices: Any = None) -> bytes:
    return json.dumps({"id": "chatcmpl-hostile", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                       "choices": choices if choices is not None else [
                           {"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
                       "usage": usage or {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}}).encode()


def openai_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"id": "chatcmpl-hostile", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
                            "choices": [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]}
    body.update(extra)
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def openai_events(usage: Any = None) -> list[bytes]:
    words = TEXT.split(" ")
    events = [openai_chunk({"role": "assistant", "content": ""})]
    events += [openai_chunk({"content": (" " if i else "") + w}) for i, w in enumerate(words)]
    events.append(openai_chunk({}, "stop"))
    events.append(openai_chunk(None, usage=usage or {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4}))
    events.append(b"data: [DONE]\n\n")
    return events


def anthropic_answer(usage: Any = None, content: Any = None) -> bytes:
    return json.dumps({"id": "msg_hostile", "type": "message", "role": "assistant", "model": "claude",
                       "content": content if content is not None else [{"type": "text", "text": TEXT}],
                       "stop_reason": "end_turn", "usage": usage or {"input_tokens": 1, "output_tokens": 3}}).encode()


def anthropic_events(usage: Any = None, start: Any = None) -> list[bytes]:
    def event(name: str, body: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {json.dumps({'type': name, **body})}\n\n".encode()

    message = start if start is not None else {"id": "msg_hostile", "type": "message", "role": "assistant", "content": [],
                                                "usage": usage or {"input_tokens": 1, "output_tokens": 0}}
    return [event("message_start", {"message": message}),
            event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}),
            event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": TEXT}}),
            event("content_block_stop", {"index": 0}),
            event("message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": usage or {"output_tokens": 3}}),
            event("message_stop", {})]


def gemini_answer(usage: Any = None, candidates: Any = None) -> bytes:
    return json.dumps({"candidates": candidates if candidates is not None else [
        {"content": {"role": "model", "parts": [{"text": TEXT}]}, "finishReason": "STOP"}],
        "usageMetadata": usage or {"promptTokenCount": 1, "candidatesTokenCount": 3}}).encode()


def gemini_events(usage: Any = None, candidates: Any = None) -> list[bytes]:
    return [b"data: " + gemini_answer(usage, candidates) + b"\r\n\r\n"]


BAD_USAGE = {"openai": {"prompt_tokens": "lots", "completion_tokens": [3], "total_tokens": {"n": 4}},
             "anthropic": {"input_tokens": "lots", "output_tokens": "many"},
             "gemini": {"promptTokenCount": "lots", "candidatesTokenCount": {"n": 3}}}


def valid_body(flavour: str, usage: Any = None) -> bytes:
    return {"openai": openai_answer, "anthropic": anthropic_answer, "gemini": gemini_answer}[flavour](usage)


def valid_events(flavour: str, usage: Any = None) -> list[bytes]:
    return {"openai": openai_events, "anthropic": anthropic_events, "gemini": gemini_events}[flavour](usage)


def bad_shape_body(flavour: str) -> bytes:
    if flavour == "anthropic":
        return anthropic_answer(content="not a list of blocks")
    if flavour == "gemini":
        return gemini_answer(candidates=[{"content": {"parts": "not a list"}, "finishReason": 7}])
    return openai_answer(choices={"0": "not a list"})


def bad_shape_events(flavour: str) -> list[bytes]:
    if flavour == "anthropic":
        return anthropic_events(start="not an object")
    if flavour == "gemini":
        return gemini_events(candidates=[{"content": {"parts": "not a list"}}])
    return [b'data: {"choices": 5}\n\n', b"data: [DONE]\n\n"]


# -- the wire ------------------------------------------------------------------------------------------

def head(status: str = "200 OK", ctype: str = "application/json", extra: str = "", length: int | None = None,
         chunked: bool = False) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"content-type: {ctype}", "connection: close"]
    if length is not None:
        lines.append(f"content-length: {length}")
    if chunked:
        lines.append("transfer-encoding: chunked")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


SSE = "text/event-stream"


class HostileUpstream:
    """``HostileUpstream().start()``; ``url(mode)`` is a ``base_url`` for that mode; ``stop()``.

    ``requests`` lists ``(mode, stream)`` for every request it received.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url_root = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, bool]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._ready = threading.Event()

    def url(self, mode: str, flavour: str = "openai") -> str:
        assert mode in MODES, mode
        suffix = {"openai": "/v1", "anthropic": "/v1/messages", "gemini": "/v1beta"}[flavour]
        return f"{self.url_root}/{mode}{suffix}"

    def start(self) -> "HostileUpstream":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("hostile upstream did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(5)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        self._server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", self.port, limit=1 << 20))
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head_bytes = await reader.readuntil(b"\r\n\r\n")
            lines = head_bytes.decode("latin-1").split("\r\n")
            _, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length") or 0))
            parts = path.split("?")[0].strip("/").split("/")
            mode = parts[0]
            flavour = "gemini" if "v1beta" in parts else "anthropic" if path.split("?")[0].endswith("/v1/messages") else "openai"
            try:
                stream = bool(json.loads(body).get("stream")) if body else False
            except ValueError:
                stream = False
            stream = stream or ":streamGenerateContent" in path
            self.requests.append((mode, stream))
            await getattr(self, "_" + mode.replace("-", "_"))(writer, flavour, stream)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _send_valid(self, writer: asyncio.StreamWriter, flavour: str, stream: bool, usage: Any = None) -> None:
        if stream:
            writer.write(head(ctype=SSE, chunked=True))
            for event in valid_events(flavour, usage):
                writer.write(chunk(event))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        else:
            body = valid_body(flavour, usage)
            writer.write(head(length=len(body)) + body)

    # -- modes (one method per name in MODES) ---------------------------------------------------------

    async def _ok(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._send_valid(writer, flavour, stream)

    async def _not_http(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\x00\xff\xfe garbage \x00\r\n\r\n")

    async def _bad_chunk_size(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        writer.write(head(ctype=SSE if stream else "application/json", chunked=True))
        writer.write(chunk(valid_events(flavour)[0] if stream else valid_body(flavour)[:40]))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"zz-not-hex\r\n{}\r\n0\r\n\r\n")

    async def _huge_header(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        writer.write(head(extra="x-filler: " + "a" * (1 << 20), length=2) + b"{}")

    async def _huge_body(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            writer.write(head(ctype=SSE))
            event = openai_chunk({"content": "x" * 4000})
            block = event * ((1 << 20) // len(event))
            writer.write(valid_events(flavour)[0])
            sent = 0
            while sent < HUGE_BYTES:
                writer.write(block)
                sent += len(block)
                await writer.drain()
            return
        filler = b" " * (1 << 20)
        writer.write(head())  # no Content-Length: the body ends when the connection does, so only counting can stop it
        for _ in range(HUGE_BYTES // len(filler)):
            writer.write(filler)
            await writer.drain()

    async def _gzip_bomb(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        bomb = await asyncio.get_running_loop().run_in_executor(None, gzip_bomb)
        writer.write(head(ctype=SSE if stream else "application/json", extra="content-encoding: gzip", length=len(bomb)))
        for i in range(0, len(bomb), 1 << 16):
            writer.write(bomb[i:i + (1 << 16)])
            await writer.drain()

    async def _slow_drip(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        body = b"".join(valid_events(flavour)) if stream else valid_body(flavour)
        writer.write(head(ctype=SSE if stream else "application/json", length=len(body)))
        for i in range(len(body)):
            writer.write(body[i:i + 1])
            await writer.drain()
            await asyncio.sleep(0.2)

    async def _stall_headers(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await asyncio.sleep(STALL_SECONDS)

    async def _stall_mid_stream(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            writer.write(head(ctype=SSE, chunked=True) + chunk(valid_events(flavour)[0]))
        else:
            body = valid_body(flavour)
            writer.write(head(length=len(body)) + body[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(STALL_SECONDS)

    async def _length_mismatch(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            events = valid_events(flavour)
            writer.write(head(ctype=SSE, length=100_000) + events[0])
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(events[1])
        else:
            body = valid_body(flavour)
            writer.write(head(length=len(body) + 1000) + body)

    async def _retry_after(self, writer: asyncio.StreamWriter, value: str, name: str = "retry-after") -> None:
        body = b'{"error": {"message": "slow down", "type": "rate_limit_error", "code": "rate_limit_exceeded"}}'
        writer.write(head("429 Too Many Requests", extra=f"{name}: {value}", length=len(body)) + body)

    async def _retry_after_inf(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "inf")

    async def _retry_after_nan(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "nan")

    async def _retry_after_1e309(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "1e309")

    async def _retry_after_negative(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "-5")

    async def _retry_after_huge(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "1e300")

    async def _retry_after_ms_inf(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._retry_after(writer, "inf", "retry-after-ms")

    async def _bad_usage(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        await self._send_valid(writer, flavour, stream, BAD_USAGE[flavour])

    async def _bad_shape(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            writer.write(head(ctype=SSE, chunked=True))
            for event in bad_shape_events(flavour):
                writer.write(chunk(event))
            writer.write(b"0\r\n\r\n")
        else:
            body = bad_shape_body(flavour)
            writer.write(head(length=len(body)) + body)

    async def _malformed_mid_stream(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if not stream:
            body = valid_body(flavour)[:-5]  # not a stream: a truncated JSON answer
            writer.write(head(length=len(body)) + body)
            return
        events = valid_events(flavour)
        events.insert(2, b'data: {"choices": [{"delta": {"content": "broken\n\n')
        writer.write(head(ctype=SSE, chunked=True))
        for event in events:
            writer.write(chunk(event))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")

    async def _long_line(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            writer.write(head(ctype=SSE) + b'data: {"choices": [{"index": 0, "delta": {"content": "')
            piece = b"x" * (1 << 20)
            for _ in range(LONG_LINE_BYTES // len(piece)):
                writer.write(piece)
                await writer.drain()
            writer.write(b'"}}]}\n\ndata: [DONE]\n\n')
            return
        body = openai_answer(choices=[{"index": 0, "message": {"role": "assistant", "content": "x" * LONG_LINE_BYTES},
                                       "finish_reason": "stop"}])
        writer.write(head(length=len(body)))
        for i in range(0, len(body), 1 << 20):
            writer.write(body[i:i + (1 << 20)])
            await writer.drain()

    async def _reset_mid_stream(self, writer: asyncio.StreamWriter, flavour: str, stream: bool) -> None:
        if stream:
            writer.write(head(ctype=SSE, chunked=True) + chunk(valid_events(flavour)[0]))
        else:
            body = valid_body(flavour)
            writer.write(head(length=len(body)) + body[: len(body) // 2])
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        if sock is not None:  # SO_LINGER 0: close() sends a RST, not a FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()


def main() -> None:  # pragma: no cover - manual use: python -m tests.fakes.hostile_upstream
    server = HostileUpstream().start()
    print(server.url_root, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":  # pragma: no cover
    main()
