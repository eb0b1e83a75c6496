"""Converse response -> OpenAI ``chat.completion`` (wire-formats-2 5.3): :func:`from_converse`, and the
finish reasons, usage and tool-call pieces the stream translator shares with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import StreamContext, UpstreamError
from ..common import completion, make_usage, new_id

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}


def finish_reason_of(stop_reason: Any) -> str:
    """Unknown reasons (``malformed_model_output``…) become ``stop``: clients keep working."""
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage. Bedrock's ``inputTokens`` leaves cache reads and writes out (as Anthropic's does),
    unless its ``totalTokens`` says otherwise (``input + output`` with cache counts present)."""
    inputs, outputs = _int(raw.get("inputTokens")), _int(raw.get("outputTokens"))
    read, write = raw.get("cacheReadInputTokens"), raw.get("cacheWriteInputTokens")
    cache = _int(read) + _int(write)
    included = cache > 0 and raw.get("totalTokens") == inputs + outputs
    prompt = inputs if included else inputs + cache
    cached = None if read is None and write is None else _int(read)
    return make_usage(prompt, outputs, cached=cached, cache_write=_int(write) or None)


def tool_arguments(value: Any) -> str:
    return json.dumps(value if value is not None else {}, ensure_ascii=False)


def thinking_block(text: str, signature: str, redacted: str) -> dict[str, Any]:
    """The signed reasoning in the form an assistant message sends back (``thinking_blocks``, as for Anthropic)."""
    if redacted:
        return {"type": "redacted_thinking", "data": redacted}
    return {"type": "thinking", "thinking": text, "signature": signature}


def from_converse(obj: Any, ctx: StreamContext) -> dict[str, Any]:
    if not isinstance(obj, dict) or not isinstance(((obj.get("output") or {}).get("message") or {}).get("content"), list):
        raise UpstreamError(502, "Bedrock answered 200 without output.message.content", "server_error")
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in obj["output"]["message"]["content"]:
        if not isinstance(block, dict):
            continue
        if isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif isinstance(block.get("toolUse"), dict):
            use = block["toolUse"]
            calls.append({"id": use.get("toolUseId") or new_id("call_"), "type": "function",
                          "function": {"name": use.get("name") or "", "arguments": tool_arguments(use.get("input"))}})
        elif isinstance(block.get("reasoningContent"), dict):
            content = block["reasoningContent"]
            text = (content.get("reasoningText") or {}).get("text") or ""
            if text:
                reasoning.append(text)
            thinking.append(thinking_block(text, (content.get("reasoningText") or {}).get("signature") or "",
                                           content.get("redactedContent") or ""))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    if not ctx.id:
        ctx.id = new_id()
    usage = usage_of(obj.get("usage") or {})
    return completion(ctx.model, message, finish_reason_of(obj.get("stopReason")), usage, id=ctx.id, created=ctx.created)
