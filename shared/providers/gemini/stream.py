"""Gemini SSE -> OpenAI chunks: :class:`GeminiStream`, the incremental translator used for
``streamGenerateContent?alt=sse`` (by this adapter and by Vertex's Gemini models).
"""

from __future__ import annotations

from typing import Any

from ...sse import EventFramer, parse_block
from ..base import StreamContext, UpstreamError, error_status, loads
from ..common import chunk, make_usage, new_id, usage_chunk
from .errors import google_error
from .response import blocked, finish_reason_of, first_candidate, parts_of, response_basis, tool_call_of, usage_of


class GeminiStream:
    """Gemini SSE (each event a whole ``GenerateContentResponse`` with delta text) -> OpenAI chunks.

    The body just ends (no ``[DONE]``); the final usage chunk is sent at that point because
    ``usageMetadata`` may come after the ``finishReason`` event. An end without any
    ``finishReason`` is a truncated stream and reported as an error.
    """

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._started = False
        self._finished = False
        self._tools = 0

    def feed(self, data: bytes) -> list[bytes]:
        return self._events(self._framer.feed(data))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if self.error is not None:
            return out
        if not self._finished:
            self.error = UpstreamError(502, "the Gemini stream ended without a finishReason (truncated)")
            return out
        if self.ctx.include_usage:
            out.append(usage_chunk(self.ctx, self.usage or make_usage(0, 0)))
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for block in blocks:
            if self.error is not None:
                break
            _, data = parse_block(block)
            if data is None or not data.strip():
                continue
            try:
                obj = loads(data)
            except ValueError:
                self.error = UpstreamError(502, "the Gemini stream sent an event that is not JSON")
                break
            if isinstance(obj, list) and len(obj) == 1:
                obj = obj[0]
            if not isinstance(obj, dict):
                continue
            if isinstance(obj.get("error"), dict):
                self.error = google_error(error_status(obj["error"].get("code")), data.encode(), {})
                break
            out.extend(self._translate(obj))
        return out

    def _translate(self, obj: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        err = blocked(obj)
        if err is not None and not self._started:
            self.error = err
            return out
        if not self._started:
            self._started = True
            if not self.ctx.id:
                self.ctx.id = new_id()
            out.append(chunk(self.ctx, {"role": "assistant", "content": ""}))
        usage = usage_of(obj.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        if err is not None:  # blocked after output started: end this answer as filtered
            if not self._finished:
                self._finished = True
                out.append(chunk(self.ctx, {}, "content_filter"))
            return out
        candidate = first_candidate(obj)
        if self._finished:
            return out
        basis = response_basis(obj, self.ctx)
        for part in parts_of(candidate):
            if "functionCall" in part and isinstance(part["functionCall"], dict):
                call = tool_call_of(part, basis, self._tools)
                out.append(chunk(self.ctx, {"tool_calls": [{"index": self._tools, **call}]}))
                self._tools += 1
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                out.append(chunk(self.ctx, {key: part["text"]}))
        reason = candidate.get("finishReason")
        if reason:
            self._finished = True
            out.append(chunk(self.ctx, {}, finish_reason_of(reason, self._tools > 0)))
        return out
