"""OpenAI ``chat.completion`` -> Anthropic ``message`` (wire-formats-2.md 2.3 and 2.7): :func:`from_openai`
and the pieces the stream writer shares with it (stop reasons, usage, ids, tool inputs).

Thinking: signed ``thinking_blocks`` (what this gateway's own translators and some OpenAI-compatible
proxies of Claude send) become thinking blocks with their signatures; plain ``reasoning_content``
(or ``reasoning``) becomes one thinking block with an empty signature, for display only: it cannot
be replayed to a real Anthropic model, which checks signatures.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from ...providers.anthropic.messages import parse_arguments

STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def new_id(prefix: str = "msg_") -> str:
    return prefix + secrets.token_hex(12)


def stop_reason_of(finish_reason: Any, tool_called: bool) -> str:
    """Unknown or missing reasons are ``end_turn``; a "stop" after tool calls (some hosts say so) is ``tool_use``."""
    reason = STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"
    return "tool_use" if tool_called and reason == "end_turn" else reason


def anthropic_usage(usage: Mapping[str, Any] | None) -> dict[str, Any]:
    """Anthropic counts uncached input apart: ``input_tokens`` = prompt - cached - written (never negative)."""
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}
    cached, written = number(details.get("cached_tokens")), number(details.get("cache_write_tokens"))
    out: dict[str, Any] = {
        "input_tokens": max(0, number(usage.get("prompt_tokens")) - cached - written),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": number(usage.get("completion_tokens")),
    }
    completion = usage.get("completion_tokens_details")
    if isinstance(completion, Mapping) and isinstance(completion.get("reasoning_tokens"), int):
        out["output_tokens_details"] = {"thinking_tokens": completion["reasoning_tokens"]}
    return out


def number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def reasoning_text(message: Mapping[str, Any]) -> str:
    """A host's unsigned reasoning: ``reasoning_content`` (DeepSeek, vLLM, this gateway) or ``reasoning`` (OpenRouter)."""
    for name in ("reasoning_content", "reasoning"):
        value = message.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def signed_block(block: Any) -> dict[str, Any] | None:
    """A kept thinking block (``thinking_blocks`` entry) as Anthropic's, or None when it is not one."""
    if not isinstance(block, dict):
        return None
    if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
        return {"type": "redacted_thinking", "data": block["data"]}
    if block.get("type") == "thinking":
        return {"type": "thinking", "thinking": str(block.get("thinking") or ""), "signature": str(block.get("signature") or "")}
    return None


def tool_use(call: Mapping[str, Any]) -> dict[str, Any]:
    fn = call.get("function")
    fn = fn if isinstance(fn, Mapping) else {}
    call_id = call.get("id")
    return {"type": "tool_use", "id": call_id if isinstance(call_id, str) and call_id else new_id("toolu_"),
            "name": str(fn.get("name") or ""), "input": parse_arguments(fn.get("arguments"))}


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def from_openai(obj: Mapping[str, Any], model: str) -> dict[str, Any]:
    """The Anthropic ``message`` for an OpenAI ``chat.completion`` (choice 0): thinking, text, then tool uses."""
    choices = obj.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message")
    message = message if isinstance(message, dict) else {}
    content: list[dict[str, Any]] = [b for b in map(signed_block, message.get("thinking_blocks") or []) if b is not None]
    if not content and reasoning_text(message):
        content.append({"type": "thinking", "thinking": reasoning_text(message), "signature": ""})
    text = text_of(message.get("content")) or (message.get("refusal") if isinstance(message.get("refusal"), str) else "")
    if text:
        content.append({"type": "text", "text": text})
    calls = [tool_use(c) for c in message.get("tool_calls") or [] if isinstance(c, dict)]
    content.extend(calls)
    return {"id": new_id(), "type": "message", "role": "assistant", "model": model, "content": content,
            "stop_reason": stop_reason_of(choice.get("finish_reason"), bool(calls)), "stop_sequence": None,
            "usage": anthropic_usage(obj.get("usage"))}
