"""Server-sent events: an incremental framer for upstream streams and the encoder for ours.

The framer splits arbitrary TCP pieces into complete event blocks (bytes between blank lines),
handling ``\\n``, ``\\r\\n`` and ``\\r`` endings even when split across pieces. OpenAI-compatible
streams then pass through as bytes; translators parse blocks with :func:`parse_block`.

Framing is linear in the bytes fed: each piece is normalised and searched once (plus the one byte
of overlap a blank line split across two pieces needs), and the bytes of an unfinished event are
kept in a ``bytearray`` that only grows. An event longer than the limit (``MAX_SSE_EVENT_BYTES``)
is refused with an :class:`UpstreamError` as soon as it is that long, so a hostile upstream's
endless line costs neither memory nor quadratic CPU.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .providers.base import UpstreamError

DONE = b"data: [DONE]\n\n"
BOM = b"\xef\xbb\xbf"
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024

# Every engine's translator builds its own framer; the dispatcher states the configured limit once,
# around the translator's construction (``with event_limit(n):``), instead of every adapter
# signature carrying it.
_event_limit: ContextVar[int] = ContextVar("max_sse_event_bytes", default=DEFAULT_MAX_EVENT_BYTES)


@contextmanager
def event_limit(max_event_bytes: int) -> Iterator[None]:
    """Framers created inside this block refuse events longer than ``max_event_bytes``."""
    token = _event_limit.set(max_event_bytes)
    try:
        yield
    finally:
        _event_limit.reset(token)


def encode(obj: Any) -> bytes:
    """One SSE event, compact JSON on a single ``data:`` line."""
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


class EventFramer:
    """Feed bytes, get complete event blocks (``\\n``-joined lines, without the blank line)."""

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self.limit = max_event_bytes if max_event_bytes is not None else _event_limit.get()
        self._pending = bytearray()  # the unfinished event, line endings already normalised to LF
        self._cr = False  # the last piece ended with a CR: an LF opening the next one belongs to it
        self._first = True  # a UTF-8 BOM may open the stream (and be split across pieces)

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._first:
            chunk = bytes(self._pending) + chunk
            if len(chunk) < 3 and BOM.startswith(chunk):
                self._pending = bytearray(chunk)  # too short to tell yet
                return []
            self._pending.clear()
            self._first = False
            if chunk.startswith(BOM):
                chunk = chunk[3:]
        if not chunk:
            return []
        if self._cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # the LF of a CRLF split across pieces
        self._cr = chunk[-1:] == b"\r"
        if b"\r" in chunk:
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        pending = self._pending
        blocks: list[bytes] = []
        if pending:
            if pending[-1] == 10 and chunk[:1] == b"\n":  # the blank line straddles the two pieces
                first, chunk = bytes(pending[:-1]), chunk[1:]
            else:
                end = chunk.find(b"\n\n")
                if end < 0:
                    pending += chunk
                    self._check(len(pending))
                    return []
                first, chunk = bytes(pending) + chunk[:end], chunk[end + 2:]
            pending.clear()
            self._check(len(first))
            if first.strip(b"\n"):
                blocks.append(first)
        parts = chunk.split(b"\n\n")
        rest = parts.pop()
        if len(chunk) > self.limit:
            for part in parts:
                self._check(len(part))
        blocks += [b for b in parts if b.strip(b"\n")]
        if rest:
            pending += rest
            self._check(len(pending))
        return blocks

    def _check(self, size: int) -> None:
        if size > self.limit:
            self._pending = bytearray()
            raise UpstreamError(502, f"the upstream sent a stream event larger than {self.limit} bytes (MAX_SSE_EVENT_BYTES)")

    def close(self) -> list[bytes]:
        """Whatever is left when the body ends (an event missing its final blank line)."""
        rest, self._pending = bytes(self._pending).rstrip(b"\r\n"), bytearray()
        return [rest] if rest.strip() else []


def parse_block(block: bytes) -> tuple[str, str | None]:
    """``(event type, data)`` of one block; data is None for comment-only blocks."""
    event = "message"
    data: list[str] = []
    for raw in block.split(b"\n"):
        if not raw or raw.startswith(b":"):
            continue
        line = raw.decode("utf-8", "replace")
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    return event, ("\n".join(data) if data else None)


def data_of(block: bytes) -> bytes | None:
    """Fast path for OpenAI-style blocks: the raw payload of a single ``data:`` line."""
    if block.startswith(b"data:") and b"\n" not in block:
        return block[6:] if block[5:6] == b" " else block[5:]
    _, data = parse_block(block)
    return None if data is None else data.encode()
