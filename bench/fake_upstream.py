"""A fast fake OpenAI upstream for benchmarks: raw asyncio protocol on uvloop, no framework.

``python -m bench.fake_upstream --port P [--workers N] [--chunk-delay-ms D]``

* ``POST …/chat/completions``: a fixed ``chat.completion`` JSON, or, when the body asks for
  ``"stream": true``, 20 SSE content chunks (one HTTP chunk each) spaced by ``--chunk-delay-ms``,
  then ``data: [DONE]``. The first chunk goes out at once, with the headers, so a forwarder that
  buffers shows up as a late first chunk and a total close to the first-chunk time.
* ``GET …/models``: one model. ``GET /healthz``: ``ok``. Anything else: 404.

HTTP/1.1 keep-alive, requests answered in order on each connection. The parser is deliberately
minimal (request line, ``content-length``, no chunked request bodies): it only has to serve
benchmark clients and forwarders, as fast as possible. With ``--workers N`` the listening socket is
bound once and N forked processes accept on it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from collections import deque

MODEL = "gpt-4o-mini"
CHUNKS = 20

COMPLETION = (
    b'{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"' + MODEL.encode() + b'",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},'
    b'"logprobs":null,"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16},"system_fingerprint":"fp_bench"}'
)
MODELS = b'{"object":"list","data":[{"id":"' + MODEL.encode() + b'","object":"model","created":1700000000,"owned_by":"bench"}]}'


def _event(i: int) -> bytes:
    if i == 0:
        delta = b'{"role":"assistant","content":"tok0 "}'
    else:
        delta = b'{"content":"tok%d "}' % i
    finish = b'"stop"' if i == CHUNKS - 1 else b"null"
    return (b'data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"'
            + MODEL.encode() + b'","choices":[{"index":0,"delta":' + delta + b',"finish_reason":' + finish + b'}]}\n\n')


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _response(status: bytes, ctype: bytes, body: bytes) -> bytes:
    return (b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype + b"\r\ncontent-length: " + str(len(body)).encode()
            + b"\r\nconnection: keep-alive\r\n\r\n" + body)


R_COMPLETION = _response(b"200 OK", b"application/json", COMPLETION)
R_MODELS = _response(b"200 OK", b"application/json", MODELS)
R_HEALTH = _response(b"200 OK", b"text/plain", b"ok")
R_404 = _response(b"404 Not Found", b"application/json", b'{"error":{"message":"not found","type":"invalid_request_error","code":null}}')
STREAM_HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
               b"transfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n")
STREAM_CHUNKS = [_chunk(_event(i)) for i in range(CHUNKS)]
STREAM_END = _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n"


class Upstream(asyncio.Protocol):
    delay = 0.002

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.streaming = False
        self.pending: deque[tuple[bytes, bytes]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data if self.buf else data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            head = buf[:end]
            length = 0
            low = head.lower()
            i = low.find(b"\r\ncontent-length:")
            if i >= 0:
                j = low.find(b"\r\n", i + 17)
                length = int(low[i + 17: j if j >= 0 else len(low)].strip())
            if len(buf) < end + 4 + length:
                break
            body = buf[end + 4: end + 4 + length]
            buf = buf[end + 4 + length:]
            line = head[: head.find(b"\r\n")] if b"\r\n" in head else head
            if self.streaming:
                self.pending.append((line, body))
            else:
                self.handle(line, body)
        self.buf = buf

    def handle(self, line: bytes, body: bytes) -> None:
        t = self.transport
        if t is None:
            return
        method, _, rest = line.partition(b" ")
        path = rest.partition(b" ")[0].partition(b"?")[0]
        if method == b"POST" and path.endswith(b"/chat/completions"):
            if b'"stream":true' in body or b'"stream": true' in body:
                self.streaming = True
                asyncio.get_running_loop().create_task(self.stream())
            else:
                t.write(R_COMPLETION)
        elif method == b"GET" and path.endswith(b"/models"):
            t.write(R_MODELS)
        elif method == b"GET" and path in (b"/healthz", b"/"):
            t.write(R_HEALTH)
        else:
            t.write(R_404)

    async def stream(self) -> None:
        try:
            t = self.transport
            if t is None:
                return
            t.write(STREAM_HEAD + STREAM_CHUNKS[0])
            for piece in STREAM_CHUNKS[1:]:
                await asyncio.sleep(self.delay)
                if self.transport is None:
                    return
                t.write(piece)
            await asyncio.sleep(self.delay)
            if self.transport is None:
                return
            t.write(STREAM_END)
        finally:
            self.streaming = False
        while self.pending and not self.streaming:
            self.handle(*self.pending.popleft())


def serve(sock: socket.socket) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - the bench still runs, slower
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        server = await loop.create_server(Upstream, sock=sock, backlog=4096)
        await stop.wait()
        server.close()

    asyncio.run(main())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--chunk-delay-ms", type=float, default=2.0)
    args = parser.parse_args(argv)
    Upstream.delay = args.chunk_delay_ms / 1000
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(4096)
    sock.setblocking(False)
    if args.workers <= 1:
        serve(sock)
        return 0
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            try:
                serve(sock)
            finally:
                os._exit(0)
        children.append(pid)

    def forward(signum: int, frame: object) -> None:
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    for pid in children:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
