"""Pieces every translating adapter uses: OpenAI response and chunk builders, usage objects.

Translators (Anthropic, Gemini, …) build OpenAI output only through these, so the shape of what
clients receive is defined once.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from .base import StreamContext, dumps

MAX_TOKEN_COUNT = 2**53  # beyond what any answer uses, and what a JSON number holds exactly


def new_id(prefix: str = "chatcmpl-") -> str:
    return prefix + secrets.token_hex(12)


def token_count(value: Any) -> int:
    """A token count from an upstream answer as a non-negative integer: numbers (and digit strings,
    as some protobuf JSON writes integers) are taken, anything else counts as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, str) and value.isdigit() and len(value) < 20:
        value = int(value)
    if isinstance(value, float) and math.isfinite(value):
        value = int(value)
    return min(value, MAX_TOKEN_COUNT) if isinstance(value, int) and value > 0 else 0


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
    return event({
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
    return event({"id": ctx.id, "object": "chat.completion.chunk", "created": ctx.created, "model": ctx.model,
                  "choices": [], "usage": usage})


def event(obj: Any) -> bytes:
    """One SSE event, compact JSON on a single ``data:`` line (as ``sse.encode``, but through
    :func:`.base.dumps`, which also encodes text holding a lone surrogate from an upstream)."""
    return b"data: " + dumps(obj) + b"\n\n"
