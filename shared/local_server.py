"""The local door's HTTP protocol: uvicorn's httptools protocol with the two guards it lacks.

uvicorn arms no timer on a connection until its first response is sent, and httptools accepts
headers of any size, so a client that sends half a request line and then a byte every few seconds
(slow-loris), or an endless header, holds a connection (and its memory) for as long as it likes;
a few hundred of them lock a process out. Here every request must deliver its complete head
within ``REQUEST_HEADER_TIMEOUT_SECONDS`` and ``MAX_REQUEST_HEADER_BYTES``, or the connection is
answered (431) or closed. The body has its own deadline in the app (``REQUEST_BODY_TIMEOUT_SECONDS``),
which holds on every door.

Imported only by ``main.py``: the serverless doors sit behind their platform's front end.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    header_timeout = 10.0  # seconds for a request's head, from connection (or the previous response) on
    max_header_bytes = 64 * 1024

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0
        self._in_head = True
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self._in_head:
            super().data_received(data)
            return
        self._head_bytes += len(data)
        super().data_received(data)
        # Only bytes that arrived while the head was still incomplete count: a body sent in the same
        # packet as a complete head is the app's business (MAX_REQUEST_BYTES).
        if self._in_head and self._head_bytes > self.max_header_bytes and not self.transport.is_closing():
            self._refuse(b"431 Request Header Fields Too Large", "request headers too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._in_head, self._head_bytes = True, 0
        if not self.transport.is_closing():
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._head_deadline = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if not self._in_head or self.transport.is_closing():
            return
        if self._head_bytes:  # a request was started: say why it ends; an idle keep-alive just closes
            self._refuse(b"408 Request Timeout", "request headers not received in time")
        else:
            self.transport.close()

    def _refuse(self, status: bytes, message: str) -> None:
        body = message.encode()
        self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
                             b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body)
        self.transport.close()


def protocol_class(header_timeout: float, max_header_bytes: int) -> type[GuardedHttpToolsProtocol]:
    """The protocol with this process's limits (uvicorn takes a class, not an instance)."""
    return type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                {"header_timeout": header_timeout, "max_header_bytes": max_header_bytes})
