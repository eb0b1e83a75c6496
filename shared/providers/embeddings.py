"""OpenAI's embeddings answer, for the engines that translate it (Gemini, Vertex AI), and the
request's ``encoding_format`` honoured on every engine.

``encoding_format: base64`` means each vector is sent as its float32 values, little-endian, base64
encoded; ``float`` (or nothing) means a list of numbers. openai-python asks for base64 by default
and decodes what it gets; openai-node decodes *every* embedding when it asked for base64, so a list
of floats sent back would silently become a wrong vector. So the answer always has the format that
was asked for, whatever the upstream returned (Gemini and Vertex only return floats; some
OpenAI-compatible hosts ignore the field).
"""

from __future__ import annotations

import base64
import json
import math
import struct
from dataclasses import dataclass
from typing import Any

from .base import StreamContext, UpstreamError, dumps


@dataclass
class EmbeddingContext(StreamContext):
    """What answering an embeddings request needs besides the model: the format asked for, and the
    inputs' length in characters (for a token estimate when the upstream reports none)."""

    encoding_format: str = "float"
    input_chars: int = 0


def format_of(ctx: StreamContext) -> str:
    return ctx.encoding_format if isinstance(ctx, EmbeddingContext) else "float"


def to_base64(values: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode("ascii")


def from_base64(text: str) -> list[float]:
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw[: len(raw) - len(raw) % 4]))


def text_inputs(body: dict[str, Any], engine: str) -> list[str]:
    """The inputs as strings; token arrays cannot be sent to an engine that only embeds text (400)."""
    value = body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise UpstreamError(400, f"'input' must be a string or an array of strings for {engine} embedding models: "
                             "token arrays can only be sent to OpenAI-compatible upstreams", "invalid_request_error", "invalid_input")


def estimate_tokens(chars: int) -> int:
    """About four characters per token: Gemini's embedding answers carry no token count."""
    return math.ceil(chars / 4)


def openai_answer(vectors: list[list[float]], ctx: StreamContext, prompt_tokens: int) -> tuple[bytes, dict[str, Any]]:
    """``{"object": "list", "data": [...], "model", "usage"}`` in the format asked for, and its usage."""
    as_base64 = format_of(ctx) == "base64"
    data = [{"object": "embedding", "index": i, "embedding": to_base64(v) if as_base64 else v} for i, v in enumerate(vectors)]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return dumps({"object": "list", "data": data, "model": ctx.model, "usage": usage}), usage


def in_format(obj: dict[str, Any], data: bytes, ctx: StreamContext) -> bytes:
    """An OpenAI-shaped answer in the format asked for: ``data`` itself when every vector already is
    (the usual case), else re-encoded with the vectors converted."""
    as_base64 = format_of(ctx) == "base64"
    items = obj.get("data")
    if not isinstance(items, list):
        raise UpstreamError(502, "the upstream answered 200 to embeddings without a 'data' list")
    wrong = str if not as_base64 else list
    if not any(isinstance(item, dict) and isinstance(item.get("embedding"), wrong) for item in items):
        return data
    for item in items:
        vector = item.get("embedding") if isinstance(item, dict) else None
        if as_base64 and isinstance(vector, list):
            item["embedding"] = to_base64([float(x) for x in vector])
        elif not as_base64 and isinstance(vector, str):
            item["embedding"] = from_base64(vector)
    return json.dumps(obj, separators=(",", ":")).encode()


__all__ = ["EmbeddingContext", "estimate_tokens", "format_of", "from_base64", "in_format", "openai_answer", "text_inputs", "to_base64"]
