"""OpenAI chat chunks -> Anthropic SSE events (wire-formats-2.md 2.4 and 2.7), for channels that do
not speak Anthropic.

The channel's own chat translator turns its upstream stream into OpenAI chunks (for OpenAI-compatible
hosts those are the upstream's own events); :class:`EventWriter` turns those into Anthropic events,
and :class:`Translated` chains the two into one translator for the dispatcher.

What the Anthropic SDKs' stream accumulators need, and this writer keeps: ``message_start`` first;
one block open at a time, indexes 0, 1, 2… in start order; a ``tool_use`` block per OpenAI tool call
(its own counter, mapped to the block index) with its arguments as ``input_json_delta`` fragments;
``message_delta`` (stop reason, cumulative usage) then ``message_stop`` last, written when the
upstream stream ended well (after OpenAI's usage chunk and ``[DONE]``): a stream cut before its end
gets the dispatcher's error event instead, never a ``message_stop`` followed by an error. Nothing is
written until there is content: an upstream error before that still fails over to the next channel,
as it does for chat.
"""

from __future__ import annotations

import json
from typing import Any

from ...providers.base import StreamTranslator, UpstreamError
from .response import anthropic_usage, new_id, reasoning_text, signed_block, stop_reason_of


def event(name: str, data: dict[str, Any]) -> bytes:
    """One Anthropic SSE event: the ``event:`` line is mandatory for Anthropic's SDKs."""
    return b"event: " + name.encode() + b"\ndata: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def chunk_of(raw: bytes) -> dict[str, Any] | None:
    """An OpenAI SSE event (``data: {...}``, as the adapters' translators emit them) as its JSON object."""
    if not raw.startswith(b"data:"):
        return None
    try:
        obj = json.loads(raw[5:])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


class EventWriter:
    """Feed OpenAI chunk events, get Anthropic events; :meth:`finish` at a clean end of the stream."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = new_id()
        self.done = False  # message_stop written
        self._started = False
        self._index = -1  # the last block started
        self._open: str | None = None  # type of the open block
        self._tools: dict[int, tuple[int, str]] = {}  # OpenAI tool-call index -> (block index, call id)
        self._stop: str | None = None
        self._usage: dict[str, Any] | None = None

    def feed(self, events: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for raw in events:
            obj = chunk_of(raw)
            if obj is None or self.done:
                continue
            self._chunk(obj, out)
        return out

    def finish(self) -> list[bytes]:
        """The end of a stream that ended well: whatever is still open is closed, the stop reason and
        the usage are written."""
        out: list[bytes] = []
        if not self.done:
            self._end(out)
        return out

    # -- one chunk

    def _chunk(self, obj: dict[str, Any], out: list[bytes]) -> None:
        usage = obj.get("usage")
        if isinstance(usage, dict) and usage:
            self._usage = usage
        for choice in obj.get("choices") or ():
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            if isinstance(delta, dict) and self._stop is None:
                self._delta(delta, out)
            if choice.get("finish_reason") and self._stop is None:
                self._stop = stop_reason_of(choice["finish_reason"], bool(self._tools))
                self._close(out)

    def _delta(self, delta: dict[str, Any], out: list[bytes]) -> None:
        reasoning = reasoning_text(delta)
        if reasoning:
            self._thinking(reasoning, out)
        for block in delta.get("thinking_blocks") or ():
            self._signed(block, out)
        text = delta.get("content")
        if isinstance(text, str) and text:
            self._text(text, out)
        refusal = delta.get("refusal")
        if isinstance(refusal, str) and refusal:
            self._text(refusal, out)
        for call in delta.get("tool_calls") or ():
            if isinstance(call, dict):
                self._tool(call, out)

    # -- blocks

    def _start(self, out: list[bytes]) -> None:
        if self._started:
            return
        self._started = True
        usage = anthropic_usage(self._usage) if self._usage else {"input_tokens": 0, "output_tokens": 0}
        out.append(event("message_start", {"type": "message_start", "message": {
            "id": self.id, "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage}}))
        out.append(event("ping", {"type": "ping"}))

    def _open_block(self, kind: str, block: dict[str, Any], out: list[bytes]) -> None:
        self._close(out)
        self._start(out)
        self._index += 1
        self._open = kind
        out.append(event("content_block_start", {"type": "content_block_start", "index": self._index, "content_block": block}))

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(event("content_block_stop", {"type": "content_block_stop", "index": self._index}))
            self._open = None

    def _delta_event(self, index: int, delta: dict[str, Any]) -> bytes:
        return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _text(self, text: str, out: list[bytes]) -> None:
        if self._open != "text":
            self._open_block("text", {"type": "text", "text": ""}, out)
        out.append(self._delta_event(self._index, {"type": "text_delta", "text": text}))

    def _thinking(self, text: str, out: list[bytes]) -> None:
        if self._open != "thinking":
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
        out.append(self._delta_event(self._index, {"type": "thinking_delta", "thinking": text}))

    def _signed(self, raw: Any, out: list[bytes]) -> None:
        """A signed thinking block (sent whole after its text was streamed as reasoning): its signature
        closes the open thinking block; a block that was not streamed is written whole."""
        block = signed_block(raw)
        if block is None:
            return
        if block["type"] == "redacted_thinking":
            self._open_block("redacted_thinking", block, out)
            self._close(out)
            return
        if not block["signature"]:
            return
        if self._open != "thinking":
            self._open_block("thinking", {"type": "thinking", "thinking": "", "signature": ""}, out)
            if block["thinking"]:
                out.append(self._delta_event(self._index, {"type": "thinking_delta", "thinking": block["thinking"]}))
        out.append(self._delta_event(self._index, {"type": "signature_delta", "signature": block["signature"]}))
        self._close(out)

    def _tool(self, call: dict[str, Any], out: list[bytes]) -> None:
        """A tool-call fragment: the first one of a call opens its ``tool_use`` block. A call is known by
        its OpenAI ``index``; a fragment with a new ``id`` at a known index (hosts that number every
        call 0) is a new call too."""
        found, given = call.get("index"), call.get("id")
        index = found if isinstance(found, int) else 0
        call_id = given if isinstance(given, str) and given else None
        known = self._tools.get(index)
        if known is not None and call_id is not None and call_id != known[1]:
            index = max(self._tools) + 1
            known = None
        fn = call.get("function")
        fn = fn if isinstance(fn, dict) else {}
        if known is None:
            call_id = call_id or new_id("toolu_")
            self._open_block("tool_use", {"type": "tool_use", "id": call_id, "name": str(fn.get("name") or ""), "input": {}}, out)
            known = self._tools[index] = (self._index, call_id)
        arguments = fn.get("arguments")
        if isinstance(arguments, str) and arguments:
            out.append(self._delta_event(known[0], {"type": "input_json_delta", "partial_json": arguments}))

    def _end(self, out: list[bytes]) -> None:
        self._close(out)
        self._start(out)
        reason = self._stop or stop_reason_of(None, bool(self._tools))
        out.append(event("message_delta", {"type": "message_delta", "delta": {"stop_reason": reason, "stop_sequence": None},
                                           "usage": anthropic_usage(self._usage)}))
        out.append(event("message_stop", {"type": "message_stop"}))
        self.done = True


class Translated:
    """The channel's chat translator and an :class:`EventWriter`, as one translator. ``usage`` stays
    the OpenAI usage (what the dispatcher records); ``error`` is the chat translator's."""

    def __init__(self, inner: StreamTranslator, writer: EventWriter) -> None:
        self.inner = inner
        self.writer = writer
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        out = self.writer.feed(self.inner.feed(chunk))
        self.usage, self.error = self.inner.usage, self.inner.error
        return out

    def finish(self) -> list[bytes]:
        out = self.writer.feed(self.inner.finish())
        self.usage, self.error = self.inner.usage, self.inner.error
        if self.error is None:
            out += self.writer.finish()
        return out
