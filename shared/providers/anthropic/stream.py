"""Anthropic SSE -> OpenAI chunks: :class:`AnthropicStream`, the incremental translator used for
``stream: true`` (by this adapter and by Vertex's Claude models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...sse import EventFramer, parse_block
from ..base import StreamContext, UpstreamError, loads
from ..common import chunk, new_id, usage_chunk
from .errors import error_from_event
from .response import ensure_id, finish_reason_of, kept_thinking, text, tool_arguments, usage_of


@dataclass
class _Block:
    """What the translator remembers about one open Anthropic content block."""

    kind: str
    tool_index: int = -1  # OpenAI tool-call index (tool calls only, not Anthropic block indices)
    args_sent: bool = False
    start_input: Any = None  # a tool_use block's input as given at start (normally {})
    thinking: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""  # redacted_thinking


class AnthropicStream:
    """Anthropic SSE (providers.md 2.7) -> OpenAI chunks (10.1), incrementally.

    The role chunk is held back until there is something to say (content, a tool call, reasoning
    or the finish), so an ``error`` event right after ``message_start`` (typically
    ``overloaded_error``) still reaches the proxy before any byte went to the client, and it can
    fail over. A thinking block's signed form is sent once, at its ``content_block_stop``, as a
    ``thinking_blocks`` delta, so a streamed answer carries the same fields as a non-stream one.
    """

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._raw_usage: dict[str, Any] = {}
        self._blocks: dict[Any, _Block] = {}
        self._next_tool = 0
        self._role_sent = False
        self._finished = False  # finish chunk sent
        self._stopped = False  # message_stop seen: the stream is complete
        self._handlers: dict[str, Callable[[dict[str, Any]], list[bytes]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

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
            event, data = parse_block(block)
            if data is None:
                continue  # comment / keep-alive
            try:
                obj = loads(data)
            except ValueError:
                self.error = UpstreamError(502, f"the Anthropic stream sent an event that is not JSON ({event})", "server_error")
                break
            if not isinstance(obj, dict):
                continue
            kind = obj.get("type") or event
            handler = self._handlers.get(kind) if isinstance(kind, str) else None
            if handler is not None:  # ping and unknown events produce nothing
                out.extend(handler(obj))
        return out

    # -- emitters

    def _emit(self, delta: dict[str, Any], finish_reason: str | None = None) -> list[bytes]:
        out = []
        if not self._role_sent:
            self._role_sent = True
            out.append(chunk(self.ctx, {"role": "assistant", "content": ""}))
        out.append(chunk(self.ctx, delta, finish_reason))
        return out

    def _update_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            # message_delta counts are cumulative: the last value of each field wins.
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self.usage = usage_of(self._raw_usage)

    # -- handlers, one per Anthropic event type

    @staticmethod
    def _index(obj: dict[str, Any]) -> int | str | None:
        """A content block's index: the key of the open block (an unhashable value names none)."""
        index = obj.get("index")
        return index if isinstance(index, (int, str)) else None

    def _message_start(self, obj: dict[str, Any]) -> list[bytes]:
        message = _object(obj.get("message"))
        ensure_id(self.ctx, message.get("id"))
        self._update_usage(message.get("usage"))
        return []

    def _block_start(self, obj: dict[str, Any]) -> list[bytes]:
        start = _object(obj.get("content_block"))
        kind = text(start.get("type"))
        block = self._blocks[self._index(obj)] = _Block(kind)
        if kind == "tool_use":
            block.tool_index = self._next_tool
            block.start_input = start.get("input")
            self._next_tool += 1
            call_id = text(start.get("id")) or new_id("call_")
            return self._emit({"tool_calls": [{"index": block.tool_index, "id": call_id, "type": "function",
                                               "function": {"name": text(start.get("name")), "arguments": ""}}]})
        if kind == "text" and text(start.get("text")):
            return self._emit({"content": start["text"]})
        if kind == "thinking":
            block.signature = text(start.get("signature"))
            if text(start.get("thinking")):
                block.thinking.append(start["thinking"])
                return self._emit({"reasoning_content": start["thinking"]})
        if kind == "redacted_thinking":
            block.data = text(start.get("data"))
        return []

    def _block_delta(self, obj: dict[str, Any]) -> list[bytes]:
        delta = _object(obj.get("delta"))
        block = self._blocks.get(self._index(obj))
        kind = delta.get("type")
        if kind == "text_delta" and text(delta.get("text")):
            return self._emit({"content": delta["text"]})
        if kind == "input_json_delta" and text(delta.get("partial_json")) and block is not None and block.kind == "tool_use":
            block.args_sent = True
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": delta["partial_json"]}}]})
        if kind == "thinking_delta" and text(delta.get("thinking")):
            if block is not None:
                block.thinking.append(delta["thinking"])
            return self._emit({"reasoning_content": delta["thinking"]})
        if kind == "signature_delta" and block is not None:
            block.signature += text(delta.get("signature"))
        return []  # citations_delta and unknown deltas are not translated

    def _block_stop(self, obj: dict[str, Any]) -> list[bytes]:
        block = self._blocks.pop(self._index(obj), None)
        if block is None:
            return []
        if block.kind == "tool_use" and not block.args_sent:
            # No input_json_delta (a tool without arguments): OpenAI clients still need valid JSON.
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": tool_arguments(block.start_input)}}]})
        if block.kind in ("thinking", "redacted_thinking"):
            kept = kept_thinking({"type": block.kind, "thinking": "".join(block.thinking), "signature": block.signature,
                                  "data": block.data})
            return self._emit({"thinking_blocks": [kept]})
        return []

    def _message_delta(self, obj: dict[str, Any]) -> list[bytes]:
        self._update_usage(obj.get("usage"))
        if self._finished:
            return []
        self._finished = True
        return self._emit({}, finish_reason_of(_object(obj.get("delta")).get("stop_reason")))

    def _message_stop(self, obj: dict[str, Any]) -> list[bytes]:
        self._stopped = True
        out = [] if self._finished else self._emit({}, "stop")
        self._finished = True
        if self.usage is None:
            self.usage = usage_of(self._raw_usage)
        if self.ctx.include_usage:
            out.append(usage_chunk(self.ctx, self.usage))
        return out

    def _error(self, obj: dict[str, Any]) -> list[bytes]:
        self.error = error_from_event(obj)
        return []


def _object(value: Any) -> dict[str, Any]:
    """An upstream field that should be an object; anything else counts as empty."""
    return value if isinstance(value, dict) else {}
