"""Server-sent events: an incremental framer for upstream streams and the encoder for ours.

The framer splits arbitrary TCP pieces into complete event blocks (bytes between blank lines),
handling ``\\n``, ``\\r\\n`` and ``\\r`` endings even when split across pieces. OpenAI-compatible
streams then pass through as bytes; translators parse blocks with :func:`parse_block`.
"""

from __future__ import annotations

import json
from typing import Any

DONE = b"data: [DONE]\n\n"


def encode(obj: Any) -> bytes:
    """One SSE event, compact JSON on a single ``data:`` line."""
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


class EventFramer:
    """Feed bytes, get complete event blocks (``\\n``-joined lines, without the blank line)."""

    def __init__(self) -> None:
        self._buf = b""
        self._first = True

    def feed(self, chunk: bytes) -> list[bytes]:
        buf = self._buf + chunk
        if b"\r" in buf:
            # Keep a trailing CR: its LF may be the first byte of the next piece.
            tail = b""
            if buf.endswith(b"\r"):
                buf, tail = buf[:-1], b"\r"
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + tail
        if self._first and buf:
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
            if len(buf) >= 3 or not b"\xef\xbb\xbf".startswith(buf):
                self._first = False
        blocks = buf.split(b"\n\n")
        self._buf = blocks.pop()
        return [b for b in blocks if b.strip(b"\n")]

    def close(self) -> list[bytes]:
        """Whatever is left when the body ends (an event missing its final blank line)."""
        rest, self._buf = self._buf.rstrip(b"\r\n"), b""
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
