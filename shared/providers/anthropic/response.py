"""Anthropic ``message`` -> OpenAI ``chat.completion``: :func:`from_anthropic` and the pieces the
stream translator shares with it (finish reasons, usage, ids, thinking blocks, tool arguments).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import StreamContext
from ..common import completion, make_usage, new_id

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # no exact equivalent: the turn is over for this request
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason_of(stop_reason: Any) -> str:
    """Unknown or missing reasons become ``stop`` (providers.md 1.8: keep clients working)."""
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage: Anthropic's ``input_tokens`` excludes cached tokens, OpenAI's prompt includes them."""
    read = raw.get("cache_read_input_tokens")
    write = raw.get("cache_creation_input_tokens")
    prompt = int(raw.get("input_tokens") or 0) + int(read or 0) + int(write or 0)
    details = raw.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, dict) else None
    cached = None if read is None and write is None else int(read or 0)
    return make_usage(prompt, int(raw.get("output_tokens") or 0), cached=cached,
                      reasoning=reasoning if isinstance(reasoning, int) else None, cache_write=int(write) if write else None)


def ensure_id(ctx: StreamContext, message_id: Any) -> None:
    """One OpenAI id per answer, derived from Anthropic's so both logs can be correlated."""
    if not ctx.id:
        ctx.id = f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else new_id()


def kept_thinking(block: Mapping[str, Any]) -> dict[str, Any]:
    """The thinking block exactly as it must be sent back on the next turn."""
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data") or ""}
    return {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature") or ""}


def tool_arguments(value: Any) -> str:
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


def from_anthropic(obj: dict[str, Any], ctx: StreamContext) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for an Anthropic ``message``.

    Thinking goes to the non-standard ``reasoning_content`` (joined text) and ``thinking_blocks``
    (the signed blocks, for clients that continue tool loops with thinking on); server-tool blocks
    (web search results and the like) are not translated.
    """
    ensure_id(ctx, obj.get("id"))
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in obj.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            tool_calls.append({"id": block.get("id") or new_id("call_"), "type": "function",
                               "function": {"name": block.get("name") or "", "arguments": tool_arguments(block.get("input"))}})
        elif kind in ("thinking", "redacted_thinking"):
            if block.get("thinking"):
                reasoning.append(block["thinking"])
            thinking.append(kept_thinking(block))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    usage = usage_of(obj.get("usage") or {})
    return completion(ctx.model, message, finish_reason_of(obj.get("stop_reason")), usage, id=ctx.id, created=ctx.created)
