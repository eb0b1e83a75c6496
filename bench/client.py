"""A tiny blocking HTTP/1.1 client on one keep-alive socket, for latency at concurrency 1.

Why not wrk -c1: this client checks every answer (status, complete body) and times streamed
answers event by event (first SSE event, each event's arrival, end of body) on the same code path
as plain requests. Its own cost is a few microseconds per request and is the same for every
target, so it cancels out of the *added* latency (target minus direct upstream, same run).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


class HTTPError(Exception):
    pass


@dataclass
class Answer:
    status: int
    body: bytes
    total: float  # seconds from sending the request to the end of the body
    first_event: float | None = None  # seconds to the first SSE "data:" bytes (streams)
    event_times: list[float] = field(default_factory=list)  # arrival of each SSE event (streams)
    headers: dict[str, str] = field(default_factory=dict)


class Connection:
    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock: socket.socket | None = None
        self.buf = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buf = sock, b""
        return sock

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
        head = f"{method} {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        if body or method == "POST":
            head += f"content-length: {len(body)}\r\n"
        data = head.encode() + b"\r\n" + body
        fresh = self.sock is None
        sock = self.sock or self._connect()
        start = time.perf_counter()
        try:
            sock.sendall(data)
            return self._read(start)
        except (ConnectionError, HTTPError):
            self.close()
            if fresh:
                raise
            sock = self._connect()  # the server closed an idle keep-alive connection: retry once
            start = time.perf_counter()
            sock.sendall(data)
            return self._read(start)
        except OSError:
            self.close()
            raise

    def _recv(self) -> bytes:
        assert self.sock is not None
        data = self.sock.recv(262144)
        if not data:
            raise HTTPError("connection closed by the server")
        return data

    def _read(self, start: float) -> Answer:
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        lines = buf[:end].decode("latin-1").split("\r\n")
        buf = buf[end + 4:]
        try:
            status = int(lines[0].split(" ", 2)[1])
        except (IndexError, ValueError):
            raise HTTPError(f"bad status line {lines[0]!r}") from None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            n = int(headers["content-length"])
            while len(buf) < n:
                buf += self._recv()
            body, self.buf = buf[:n], buf[n:]
            answer = Answer(status, body, time.perf_counter() - start, headers=headers)
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            answer = self._chunked(buf, start, status, headers)
        else:  # body until close
            parts = [buf]
            try:
                while True:
                    parts.append(self._recv())
            except HTTPError:
                pass
            self.close()
            answer = Answer(status, b"".join(parts), time.perf_counter() - start, headers=headers)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return answer

    def _chunked(self, buf: bytes, start: float, status: int, headers: dict[str, str]) -> Answer:
        """Decode chunked framing as bytes arrive; stamp every SSE event with its arrival time."""
        body = bytearray()
        first_event = None
        event_times: list[float] = []
        scanned = 0  # how far ``body`` was searched for event ends
        now = time.perf_counter()
        while True:
            done_at = -1
            while True:  # consume every complete chunk in ``buf``
                eol = buf.find(b"\r\n")
                if eol < 0:
                    break
                size = int(buf[:eol].split(b";")[0], 16)
                if size == 0:
                    end = buf.find(b"\r\n\r\n", eol)  # no trailers: "0\r\n\r\n"
                    if end >= 0:
                        done_at = end + 4
                    break
                if len(buf) < eol + 2 + size + 2:
                    break
                body += buf[eol + 2: eol + 2 + size]
                buf = buf[eol + 2 + size + 2:]
            if first_event is None and b"data:" in body:
                first_event = now - start
            while (i := body.find(b"\n\n", scanned)) >= 0:
                event_times.append(now - start)
                scanned = i + 2
            if done_at >= 0:
                self.buf = buf[done_at:]
                return Answer(status, bytes(body), time.perf_counter() - start, first_event, event_times, headers)
            buf += self._recv()
            now = time.perf_counter()
