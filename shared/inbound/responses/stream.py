"""A chat stream as a Responses event stream (wire-formats-2.md 1.6, 1.7 and the table of 1.8).

:class:`ChatToResponses` wraps the channel's own chat translator (OpenAI passthrough, Anthropic,
Gemini...): upstream bytes go through it, and each OpenAI chunk it makes becomes Responses events.
So every upstream format is translated once, by its adapter, and the Responses layer exists once.

Events, numbered from 0 (``sequence_number``) and sent as ``event:`` + ``data:`` pairs:
``response.created`` and ``response.in_progress`` when the first chunk arrives (not before: an
upstream that fails before answering still fails over); then items, each opened and closed in
order: reasoning (``reasoning_summary_part.added`` / ``reasoning_summary_text.delta`` / ``.done`` /
``part.done``), the message (``content_part.added`` / ``output_text.delta`` / ``.done`` /
``content_part.done``), function calls (``function_call_arguments.delta`` / ``.done``), each
closed by ``output_item.done``. A new kind of output closes the open reasoning or message item;
function calls stay open until the finish chunk (a host may interleave their argument fragments).
At the end: ``response.completed`` (or ``response.incomplete``) with the whole response and its
usage. A stream that breaks ends with an ``error`` event and ``response.failed`` (:meth:`failure`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ...errors import GatewayError
from ...providers.base import StreamContext, StreamTranslator, UpstreamError
from .response import (
    INCOMPLETE,
    Shape,
    annotation,
    function_call_item,
    items,
    mapping,
    message_item,
    reasoning_item,
    reasoning_text,
    signed,
    text_part,
    usage_of,
)


class Events:
    """Numbered, encoded Responses events."""

    def __init__(self) -> None:
        self.seq = 0

    def __call__(self, kind: str, **fields: Any) -> bytes:
        obj = {"type": kind, "sequence_number": self.seq, **fields}
        self.seq += 1
        return b"event: " + kind.encode() + b"\ndata: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def error_events(events: Events, error: GatewayError, response: dict[str, Any]) -> list[bytes]:
    """How a broken Responses stream ends: an ``error`` event in both shapes seen in the wild (flat
    ``code``/``message`` for typed clients, nested ``error`` so openai-python raises it), then
    ``response.failed`` for clients that follow the response's lifecycle."""
    detail = {"type": error.type, "code": error.code, "message": error.message, "param": error.param}
    failed = {**response, "status": "failed", "error": {"code": error.code or "server_error", "message": error.message}}
    return [events("error", code=error.code, message=error.message, param=error.param, error=detail),
            events("response.failed", response=failed)]


@dataclass
class _Item:
    index: int
    id: str
    kind: str  # message, reasoning, function_call
    parts: list[dict[str, Any]] = field(default_factory=list)  # message content parts
    text: list[str] = field(default_factory=list)  # reasoning summary / function arguments
    summary_open: bool = False
    blocks: list[Any] = field(default_factory=list)  # signed thinking blocks
    call_id: str = ""
    name: str = ""


class ChatToResponses:
    """OpenAI chat chunks (from ``inner``) -> Responses events, incrementally."""

    def __init__(self, inner: StreamTranslator, shape: Shape, ctx: StreamContext) -> None:
        self.inner = inner
        self.shape = shape
        self.ctx = ctx
        self.events = Events()
        self.usage: dict[str, Any] | None = None  # chat usage, for accounting
        self.error: UpstreamError | None = None
        self._own_error: UpstreamError | None = None
        self._started = False
        self._created_at = ctx.created
        self._model = ctx.model
        self._done: dict[int, dict[str, Any]] = {}  # output index -> finished item
        self._open: _Item | None = None  # the open message or reasoning item
        self._calls: dict[int, _Item] = {}  # chat tool-call index -> its item (open until the finish)
        self._next = 0  # next output index
        self._finish: str | None = None
        self._closed = False  # the terminal event was sent

    # -- StreamTranslator

    def feed(self, chunk: bytes) -> list[bytes]:
        out = self._translate(self.inner.feed(chunk))
        self._sync()
        return out

    def finish(self) -> list[bytes]:
        out = self._translate(self.inner.finish())
        self._sync()
        if self.error is None and self._started and not self._closed:
            out += self._close_all()
            status = "incomplete" if self._finish in INCOMPLETE else "completed"
            response = self.response(status, INCOMPLETE.get(self._finish or ""))
            out.append(self.events("response.completed" if status == "completed" else "response.incomplete", response=response))
            self._closed = True
        return out

    def failure(self, error: GatewayError) -> list[bytes]:
        """The events that end this stream when it broke after it started."""
        out = self._start() if not self._started else []
        return out + error_events(self.events, error, self.response("failed"))

    def response(self, status: str, incomplete: str | None = None) -> dict[str, Any]:
        output = [self._done[i] for i in sorted(self._done)] if status != "in_progress" else []
        usage = usage_of(self.usage) if status != "in_progress" else None
        return self.shape.response(self._created_at, self._model, status, output, usage, incomplete)

    def _sync(self) -> None:
        self.error = self._own_error or self.inner.error
        if self.inner.usage is not None:
            self.usage = self.inner.usage

    # -- chunks

    def _translate(self, events: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for raw in events:
            if self._own_error is not None:
                break
            payload = raw.strip()
            payload = payload[5:].strip() if payload.startswith(b"data:") else payload
            try:
                chunk = json.loads(payload)
            except ValueError:
                self._own_error = UpstreamError(502, "the upstream stream sent an event that is not JSON")
                break
            if isinstance(chunk, dict):
                out += self._chunk(chunk)
        return out

    def _chunk(self, chunk: dict[str, Any]) -> list[bytes]:
        out = [] if self._started else self._start(chunk)
        if isinstance(chunk.get("usage"), dict):
            self.usage = chunk["usage"]
        for choice in items(chunk.get("choices")):
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = mapping(choice.get("delta"))
            reasoning = reasoning_text(delta)
            if reasoning:
                out += self._reasoning(reasoning)
            blocks = signed(delta.get("thinking_blocks"))
            if blocks:
                out += self._thinking(blocks)
            if isinstance(delta.get("content"), str) and delta["content"]:
                out += self._text(delta["content"])
            if isinstance(delta.get("refusal"), str) and delta["refusal"]:
                out += self._refusal(delta["refusal"])
            for raw in items(delta.get("annotations")):
                found = annotation(raw)
                if found is not None:
                    out += self._annotation(found)
            for fragment in items(delta.get("tool_calls")):
                if isinstance(fragment, dict):
                    out += self._tool_call(fragment)
            if choice.get("finish_reason"):
                self._finish = str(choice["finish_reason"])
                out += self._close_all()
        return out

    def _start(self, chunk: dict[str, Any] | None = None) -> list[bytes]:
        self._started = True
        if chunk is not None:
            if isinstance(chunk.get("created"), int):
                self._created_at = chunk["created"]
            if isinstance(chunk.get("model"), str) and chunk["model"]:
                self._model = chunk["model"]
        response = self.response("in_progress")
        return [self.events("response.created", response=response), self.events("response.in_progress", response=response)]

    # -- items

    def _add(self, kind: str, prefix: str) -> _Item:
        item = _Item(self._next, self.shape.item_id(prefix, self._next), kind)
        self._next += 1
        return item

    def _open_item(self, kind: str) -> tuple[_Item, list[bytes]]:
        """The open item of ``kind`` (message or reasoning), opening it (and closing another) if needed."""
        if self._open is not None and self._open.kind == kind:
            return self._open, []
        out = self._close_open()
        item = self._open = self._add(kind, "msg" if kind == "message" else "rs")
        added = message_item(item.id, "in_progress", []) if kind == "message" else reasoning_item(item.id, None, [])
        out.append(self.events("response.output_item.added", output_index=item.index, item=added))
        return item, out

    def _reasoning(self, text: str) -> list[bytes]:
        item, out = self._open_item("reasoning")
        if not item.summary_open:
            item.summary_open = True
            out.append(self.events("response.reasoning_summary_part.added", item_id=item.id, output_index=item.index, summary_index=0,
                                   part={"type": "summary_text", "text": ""}))
        item.text.append(text)
        out.append(self.events("response.reasoning_summary_text.delta", item_id=item.id, output_index=item.index, summary_index=0,
                               delta=text))
        return out

    def _thinking(self, blocks: list[Any]) -> list[bytes]:
        item, out = self._open_item("reasoning")
        item.blocks.extend(blocks)
        return out

    def _part(self, kind: str) -> tuple[_Item, int, list[bytes]]:
        """The message item and the index of its open part of ``kind`` (output_text or refusal)."""
        item, out = self._open_item("message")
        for index, part in enumerate(item.parts):
            if part["type"] == kind:
                return item, index, out
        part = text_part("") if kind == "output_text" else {"type": "refusal", "refusal": ""}
        item.parts.append(part)
        index = len(item.parts) - 1
        out.append(self.events("response.content_part.added", item_id=item.id, output_index=item.index, content_index=index,
                               part=dict(part)))
        return item, index, out

    def _text(self, text: str) -> list[bytes]:
        item, index, out = self._part("output_text")
        item.parts[index]["text"] += text
        out.append(self.events("response.output_text.delta", item_id=item.id, output_index=item.index, content_index=index,
                               delta=text, logprobs=[]))
        return out

    def _refusal(self, text: str) -> list[bytes]:
        item, index, out = self._part("refusal")
        item.parts[index]["refusal"] += text
        out.append(self.events("response.refusal.delta", item_id=item.id, output_index=item.index, content_index=index, delta=text))
        return out

    def _annotation(self, found: dict[str, Any]) -> list[bytes]:
        item, index, out = self._part("output_text")
        annotations = item.parts[index]["annotations"]
        annotations.append(found)
        out.append(self.events("response.output_text.annotation.added", item_id=item.id, output_index=item.index,
                               content_index=index, annotation_index=len(annotations) - 1, annotation=found))
        return out

    def _tool_call(self, fragment: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        key = fragment.get("index", 0)
        key = key if isinstance(key, int) else 0
        function = mapping(fragment.get("function"))
        item = self._calls.get(key)
        if item is None:
            out += self._close_open()
            item = self._calls[key] = self._add("function_call", "fc")
            call_id = fragment.get("id")
            item.call_id = call_id if isinstance(call_id, str) and call_id else self.shape.item_id("call", item.index)
            item.name = str(function.get("name") or "")
            out.append(self.events("response.output_item.added", output_index=item.index,
                                   item=function_call_item(item.id, "in_progress", item.call_id, item.name, "")))
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            item.text.append(arguments)
            out.append(self.events("response.function_call_arguments.delta", item_id=item.id, output_index=item.index, delta=arguments))
        return out

    # -- closing

    def _close_open(self) -> list[bytes]:
        item, self._open = self._open, None
        if item is None:
            return []
        out = []
        if item.kind == "message":
            for index, part in enumerate(item.parts):
                if part["type"] == "output_text":
                    out.append(self.events("response.output_text.done", item_id=item.id, output_index=item.index, content_index=index,
                                           text=part["text"], logprobs=[]))
                else:
                    out.append(self.events("response.refusal.done", item_id=item.id, output_index=item.index, content_index=index,
                                           refusal=part["refusal"]))
                out.append(self.events("response.content_part.done", item_id=item.id, output_index=item.index, content_index=index,
                                       part=part))
            done = message_item(item.id, "completed", item.parts)
        else:
            summary = "".join(item.text)
            if item.summary_open:
                out.append(self.events("response.reasoning_summary_text.done", item_id=item.id, output_index=item.index, summary_index=0,
                                       text=summary))
                out.append(self.events("response.reasoning_summary_part.done", item_id=item.id, output_index=item.index, summary_index=0,
                                       part={"type": "summary_text", "text": summary}))
            done = reasoning_item(item.id, summary, item.blocks)
        return out + self._item_done(item.index, done)

    def _close_all(self) -> list[bytes]:
        out = self._close_open()
        for item in sorted(self._calls.values(), key=lambda c: c.index):
            if item.index in self._done:
                continue
            arguments = "".join(item.text)
            out.append(self.events("response.function_call_arguments.done", item_id=item.id, output_index=item.index, arguments=arguments))
            out += self._item_done(item.index, function_call_item(item.id, "completed", item.call_id, item.name, arguments))
        return out

    def _item_done(self, index: int, item: dict[str, Any]) -> list[bytes]:
        self._done[index] = item
        return [self.events("response.output_item.done", output_index=index, item=item)]
