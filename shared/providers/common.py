"""Pieces every translating adapter uses: OpenAI response and chunk builders, usage objects.

Translators (Anthropic, Gemini, …) build OpenAI output only through these, so the shape of what
clients receive is defined once.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from ..sse import encode
from .base import StreamContext


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_hex(12)


def make_usage(prompt: int, completion: int, cached: int | None = None, reasoning: int | None = None,
               cache_write: int | None = None) -> dict[str, Any]:
    """OpenAI usage: the three required integers, details only when known."""
    usage: dict[str, Any] = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if cached is not None or cache_write is not None:
        details: dict[str, Any] = {"cached_tokens": cached or 0}
        if cache_write:
            details["cache_write_tokens"] = cache_write
        usage["prompt_tokens_details"] = details
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def completion(model: str, message: dict[str, Any], finish_reason: str, usage: dict[str, Any] | None,
               id: str | None = None, created: int | None = None) -> dict[str, Any]:
    """A ``chat.completion`` object with one choice."""
    out: dict[str, Any] = {
        "id": id or new_id(),
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage is not None:
        out["usage"] = usage
    return out


def chunk(ctx: StreamContext, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
    """One ``chat.completion.chunk`` SSE event for choice 0."""
    if not ctx.id:
        ctx.id = new_id()
    return encode({
        "id": ctx.id,
        "object": "chat.completion.chunk",
        "created": ctx.created,
        "model": ctx.model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    })


def usage_chunk(ctx: StreamContext, usage: dict[str, Any]) -> bytes:
    """The final usage chunk (empty ``choices``), sent only when the client asked for it."""
    if not ctx.id:
        ctx.id = new_id()
    return encode({"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
                   "choices": [], "usage": usage})
