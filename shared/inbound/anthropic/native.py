"""Answers of channels that speak Anthropic (Anthropic itself, Claude on Vertex): passed back as they
came, with the model renamed to the one the client asked for.

The stream is forwarded event by event, as bytes, except ``message_start`` (renamed) and events that
arrived without an ``event:`` line (written with one: Anthropic's SDKs need it). ``message_start``
and ``ping`` are held back until the first content event, so an ``error`` event right after
``message_start`` (typically ``overloaded_error``) fails over to the next channel before any byte
reached the client. The usage of ``message_start`` and ``message_delta`` is read for accounting.
"""

from __future__ import annotations

import json
from typing import Any

from ...providers.anthropic import error_from_event, usage_of
from ...providers.base import ParsedResponse, UpstreamError, dumps
from ...sse import EventFramer, parse_block
from .stream import event

VERBATIM = (b"event: content_block_delta\n", b"event: content_block_start\n", b"event: content_block_stop\n", b"event: ping\n")


def passthrough_message(data: bytes, model: str) -> ParsedResponse:
    """A whole ``message``, renamed; an ``error`` object in a 200 body is an upstream error."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise UpstreamError(502, "the upstream answered 200 with a body that is not JSON") from None
    if isinstance(obj, dict) and obj.get("type") == "error":
        raise error_from_event(obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
        raise UpstreamError(502, "the upstream answered 200 without a message 'content' list")
    obj["model"] = model
    usage = obj.get("usage")
    return ParsedResponse(dumps(obj), usage_of(usage) if isinstance(usage, dict) else None)


class Passthrough:
    """Anthropic SSE in, the same Anthropic SSE out (see the module docstring)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._held: list[bytes] | None = []  # None once released
        self._raw_usage: dict[str, Any] = {}
        self._stopped = False

    def feed(self, data: bytes) -> list[bytes]:
        return self._events(self._framer.feed(data))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if not self._stopped and self.error is None:
            self.error = UpstreamError(502, "the Anthropic stream ended before message_stop", "server_error")
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for block in blocks:
            if self._stopped or self.error is not None:
                break
            if block.startswith(VERBATIM) and block.count(b"\n") == 1:
                self._release(out)
                out.append(block + b"\n\n")
                continue
            name, data = parse_block(block)
            if data is None:
                continue  # comment / keep-alive
            try:
                obj = json.loads(data)
            except ValueError:
                self.error = UpstreamError(502, f"the Anthropic stream sent an event that is not JSON ({name})", "server_error")
                break
            if isinstance(obj, dict):
                kind = obj.get("type")
                self._event(obj, kind if isinstance(kind, str) else name, out)
        return out

    def _event(self, obj: dict[str, Any], kind: str, out: list[bytes]) -> None:
        if kind == "error":
            self.error = error_from_event(obj)
            return
        if kind == "message_start" and isinstance(obj.get("message"), dict):
            message = obj["message"]
            self._count(message.get("usage"))
            obj = {**obj, "message": {**message, "model": self.model}}
        elif kind == "message_delta":
            self._count(obj.get("usage"))
        encoded = event(kind, obj)
        if kind in ("message_start", "ping") and self._held is not None:
            self._held.append(encoded)
            return
        self._release(out)
        out.append(encoded)
        if kind == "message_stop":
            self._stopped = True
            if self.usage is None:
                self.usage = usage_of(self._raw_usage)

    def _release(self, out: list[bytes]) -> None:
        if self._held is not None:
            out.extend(self._held)
            self._held = None

    def _count(self, raw: Any) -> None:
        if isinstance(raw, dict):
            # message_delta counts are cumulative: the last value of each field wins.
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self.usage = usage_of(self._raw_usage)
