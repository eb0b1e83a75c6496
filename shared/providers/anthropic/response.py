"""Anthropic ``message`` -> OpenAI ``chat.completion``: :func:`from_anthropic` and the pieces the
stream translator shares with it (finish reasons, usage, ids, thinking blocks, tool arguments).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import StreamContext, UpstreamError
from ..common import completion, make_usage, new_id, token_count

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


def usage_of(raw: Any) -> dict[str, Any]:
    """OpenAI usage: Anthropic's ``input_tokens`` excludes cached tokens, OpenAI's prompt includes them."""
    raw = raw if isinstance(raw, dict) else {}
    read = raw.get("cache_read_input_tokens")
    write = token_count(raw.get("cache_creation_input_tokens"))
    prompt = token_count(raw.get("input_tokens")) + token_count(read) + write
    details = raw.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, dict) else None
    cached = None if read is None and raw.get("cache_creation_input_tokens") is None else token_count(read)
    return make_usage(prompt, token_count(raw.get("output_tokens")), cached=cached,
                      reasoning=None if reasoning is None else token_count(reasoning), cache_write=write or None)


def ensure_id(ctx: StreamContext, message_id: Any) -> None:
    """One OpenAI id per answer, derived from Anthropic's so both logs can be correlated."""
    if not ctx.id:
        ctx.id = f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else new_id()


def text(value: Any) -> str:
    """An upstream field that should be a string; anything else counts as empty."""
    return value if isinstance(value, str) else ""


def kept_thinking(block: Mapping[str, Any]) -> dict[str, Any]:
    """The thinking block exactly as it must be sent back on the next turn."""
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": text(block.get("data"))}
    return {"type": "thinking", "thinking": text(block.get("thinking")), "signature": text(block.get("signature"))}


def tool_arguments(value: Any) -> str:
    try:
        return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)
    except (ValueError, RecursionError):
        raise UpstreamError(502, "Anthropic answered with tool call arguments nested too deeply", "server_error") from None


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
    content = obj.get("content")
    for block in content if isinstance(content, list) else ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(text(block.get("text")))
        elif kind == "tool_use":
            tool_calls.append({"id": text(block.get("id")) or new_id("call_"), "type": "function",
                               "function": {"name": text(block.get("name")), "arguments": tool_arguments(block.get("input"))}})
        elif kind in ("thinking", "redacted_thinking"):
            if text(block.get("thinking")):
                reasoning.append(block["thinking"])
            thinking.append(kept_thinking(block))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    usage = usage_of(obj.get("usage"))
    return completion(ctx.model, message, finish_reason_of(obj.get("stop_reason")), usage, id=ctx.id, created=ctx.created)
