"""``application/vnd.amazon.eventstream``: the binary framing of Bedrock's streams (wire-formats-2 5.5),
decoded incrementally with both CRCs checked.

A message is ``total_length`` (u32), ``headers_length`` (u32), the prelude CRC32, the headers, the
payload and the message CRC32 (of everything before it); integers big-endian. Messages may be split
across network chunks or packed several per chunk: :class:`Decoder` buffers. Anything malformed
(a CRC mismatch, impossible lengths, a bad header, bytes left over at the end) raises
:class:`EventStreamError`; the stream translator turns that into an upstream failure.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

PRELUDE = 12
MIN_MESSAGE = PRELUDE + 4
MAX_HEADERS = 128 * 1024
MAX_PAYLOAD = 24 * 1024 * 1024

# header value type -> (struct format or None, fixed size); 6 (bytes) and 7 (string) carry a u16 length.
_FIXED: dict[int, tuple[str, int]] = {2: ("!b", 1), 3: ("!h", 2), 4: ("!i", 4), 5: ("!q", 8), 8: ("!q", 8)}


class EventStreamError(ValueError):
    """The upstream's event stream is corrupt or truncated."""


@dataclass
class Message:
    headers: dict[str, Any]
    payload: bytes


def decode_headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    i, end = 0, len(data)
    try:
        while i < end:
            n = data[i]
            name = data[i + 1:i + 1 + n].decode()
            i += 1 + n
            kind = data[i]
            i += 1
            value: Any
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fmt, size = _FIXED[kind]
                (value,) = struct.unpack_from(fmt, data, i)
                i += size
            elif kind in (6, 7):
                (size,) = struct.unpack_from("!H", data, i)
                raw = data[i + 2:i + 2 + size]
                if len(raw) != size:
                    raise EventStreamError("an event-stream header value runs past its section")
                value = raw.decode() if kind == 7 else raw
                i += 2 + size
            elif kind == 9:
                value = data[i:i + 16]
                i += 16
            else:
                raise EventStreamError(f"unknown event-stream header type {kind}")
            if i > end:
                raise EventStreamError("an event-stream header runs past its section")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed event-stream headers: {exc}") from None
    return headers


class Decoder:
    """``feed(bytes)`` -> the complete messages so far; ``close()`` checks nothing is left over."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out = []
        while len(self._buffer) >= PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from("!III", self._buffer)
            if zlib.crc32(self._buffer[:8]) != prelude_crc:
                raise EventStreamError("event-stream prelude CRC mismatch")
            if headers_length > MAX_HEADERS or total < MIN_MESSAGE + headers_length or total - MIN_MESSAGE - headers_length > MAX_PAYLOAD:
                raise EventStreamError(f"impossible event-stream lengths (total {total}, headers {headers_length})")
            if len(self._buffer) < total:
                break
            frame = bytes(self._buffer[:total])
            del self._buffer[:total]
            (message_crc,) = struct.unpack_from("!I", frame, total - 4)
            if zlib.crc32(frame[:-4]) != message_crc:
                raise EventStreamError("event-stream message CRC mismatch")
            headers = decode_headers(frame[PRELUDE:PRELUDE + headers_length])
            out.append(Message(headers, frame[PRELUDE + headers_length:-4]))
        return out

    def close(self) -> None:
        if self._buffer:
            raise EventStreamError(f"the event stream ended inside a message ({len(self._buffer)} bytes left over)")


def encode(headers: dict[str, str], payload: bytes) -> bytes:
    """One message with string headers (tests and fakes build streams with it)."""
    hb = b"".join(bytes([len(k.encode())]) + k.encode() + b"\x07" + struct.pack("!H", len(v.encode())) + v.encode()
                  for k, v in headers.items())
    prelude = struct.pack("!II", MIN_MESSAGE + len(hb) + len(payload), len(hb))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + hb + payload
    return message + struct.pack("!I", zlib.crc32(message))
