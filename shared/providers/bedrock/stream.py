"""ConverseStream (binary event stream, wire-formats-2 5.4) -> OpenAI chunks: :class:`ConverseStream`.

Like the Anthropic translator, the role chunk waits until there is something to say, so an
exception event right after ``messageStart`` (throttling, a model error) still reaches the
dispatcher before any byte went to the client and it can fail over. ``messageStop`` gives the finish
chunk; usage arrives after it, in ``metadata``, which gives the usage chunk. A corrupt or truncated
frame is an upstream failure (502), never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..base import StreamContext, UpstreamError, loads
from ..common import chunk, new_id, usage_chunk
from .errors import stream_exception
from .eventstream import Decoder, EventStreamError, Message
from .response import finish_reason_of, thinking_block, usage_of


@dataclass
class _Block:
    tool_index: int = -1  # OpenAI tool-call index; -1 for non-tool blocks
    args_sent: bool = False
    reasoning: list[str] = field(default_factory=list)
    signature: str = ""
    redacted: str = ""


class ConverseStream:
    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._decoder = Decoder()
        self._blocks: dict[Any, _Block] = {}
        self._next_tool = 0
        self._role_sent = False
        self._stopped = False  # messageStop seen
        self._usage_sent = False

    def feed(self, data: bytes) -> list[bytes]:
        if self.error is not None:
            return []
        try:
            messages = self._decoder.feed(data)
        except EventStreamError as exc:
            self.error = UpstreamError(502, f"the Bedrock event stream is corrupt: {exc}", "server_error")
            return []
        out: list[bytes] = []
        for message in messages:
            out.extend(self._message(message))
            if self.error is not None:
                break
        return out

    def finish(self) -> list[bytes]:
        if self.error is not None:
            return []
        try:
            self._decoder.close()
        except EventStreamError as exc:
            self.error = UpstreamError(502, f"the Bedrock event stream was cut: {exc}", "server_error")
            return []
        if not self._stopped:
            self.error = UpstreamError(502, "the Bedrock stream ended before messageStop", "server_error")
            return []
        return self._usage_chunk()

    # -- one event-stream message

    def _message(self, message: Message) -> list[bytes]:
        kind = message.headers.get(":message-type")
        if kind in ("exception", "error"):
            self.error = stream_exception(message.headers, message.payload)
            return []
        if kind != "event":
            return []
        try:
            obj = loads(message.payload) if message.payload.strip() else {}
        except ValueError:
            self.error = UpstreamError(502, f"the Bedrock stream sent an event that is not JSON ({message.headers.get(':event-type')})",
                                       "server_error")
            return []
        if not isinstance(obj, dict):
            return []
        event = message.headers.get(":event-type")
        if event == "contentBlockStart":
            return self._block_start(obj)
        if event == "contentBlockDelta":
            return self._block_delta(obj)
        if event == "contentBlockStop":
            return self._block_stop(obj)
        if event == "messageStop":
            self._stopped = True
            return self._emit({}, finish_reason_of(obj.get("stopReason")))
        if event == "metadata":
            if isinstance(obj.get("usage"), dict):
                self.usage = usage_of(obj["usage"])
            return self._usage_chunk() if self._stopped else []
        return []  # messageStart and unknown events say nothing yet

    def _emit(self, delta: dict[str, Any], finish_reason: str | None = None) -> list[bytes]:
        out = []
        if not self._role_sent:
            self._role_sent = True
            out.append(chunk(self.ctx, {"role": "assistant", "content": ""}))
        out.append(chunk(self.ctx, delta, finish_reason))
        return out

    def _usage_chunk(self) -> list[bytes]:
        if self._usage_sent or not self.ctx.include_usage or self.usage is None:
            return []
        self._usage_sent = True
        return [usage_chunk(self.ctx, self.usage)]

    def _block_start(self, obj: dict[str, Any]) -> list[bytes]:
        start = obj.get("start") or {}
        block = self._blocks[obj.get("contentBlockIndex")] = _Block()
        use = start.get("toolUse") if isinstance(start, dict) else None
        if not isinstance(use, dict):
            return []
        block.tool_index = self._next_tool
        self._next_tool += 1
        return self._emit({"tool_calls": [{"index": block.tool_index, "id": use.get("toolUseId") or new_id("call_"), "type": "function",
                                           "function": {"name": use.get("name") or "", "arguments": ""}}]})

    def _block_delta(self, obj: dict[str, Any]) -> list[bytes]:
        delta = obj.get("delta") or {}
        if not isinstance(delta, dict):
            return []
        block = self._blocks.setdefault(obj.get("contentBlockIndex"), _Block())
        if isinstance(delta.get("text"), str):
            return self._emit({"content": delta["text"]}) if delta["text"] else []
        use = delta.get("toolUse")
        if isinstance(use, dict):
            fragment = use.get("input")
            if not isinstance(fragment, str) or not fragment or block.tool_index < 0:
                return []
            block.args_sent = True
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": fragment}}]})
        reasoning = delta.get("reasoningContent")
        if isinstance(reasoning, dict):
            block.signature += reasoning.get("signature") or ""
            block.redacted += reasoning.get("redactedContent") or ""
            if reasoning.get("text"):
                block.reasoning.append(reasoning["text"])
                return self._emit({"reasoning_content": reasoning["text"]})
        return []  # citations and unknown deltas are not translated

    def _block_stop(self, obj: dict[str, Any]) -> list[bytes]:
        block = self._blocks.pop(obj.get("contentBlockIndex"), None)
        if block is None:
            return []
        if block.tool_index >= 0 and not block.args_sent:
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": "{}"}}]})
        if block.signature or block.redacted:
            return self._emit({"thinking_blocks": [thinking_block("".join(block.reasoning), block.signature, block.redacted)]})
        return []
