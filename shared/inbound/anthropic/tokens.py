"""``count_tokens`` for a model no Anthropic channel serves: a documented estimate, not a tokenizer.

Text (system, messages, tool inputs and results, thinking) counts one token per
:data:`CHARS_PER_TOKEN` characters, tool definitions by the length of their JSON, each image or
PDF document :data:`MEDIA_TOKENS` (about what Anthropic charges for an image of a megapixel or a
dense PDF page: a long PDF is under-counted), and each message :data:`MESSAGE_TOKENS` for its role
and separators. Good enough for what clients use the count for (deciding when a conversation is
getting long); a model's real tokenizer may differ by tens of percent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

CHARS_PER_TOKEN = 4
MEDIA_TOKENS = 1600
MESSAGE_TOKENS = 3


def estimate_tokens(body: Mapping[str, Any]) -> int:
    chars, media = size(body.get("system"))
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    for message in messages:
        more, pictures = size(message.get("content") if isinstance(message, dict) else None)
        chars, media = chars + more, media + pictures
    for tool in body.get("tools") or ():
        chars += len(json.dumps(tool, ensure_ascii=False))
    return max(1, math.ceil(chars / CHARS_PER_TOKEN) + media * MEDIA_TOKENS + MESSAGE_TOKENS * len(messages))


def size(content: Any) -> tuple[int, int]:
    """``(characters, images and documents)`` of a content value: a string, a block or a list of blocks."""
    if isinstance(content, str):
        return len(content), 0
    if isinstance(content, list):
        chars = media = 0
        for item in content:
            more, pictures = size(item)
            chars, media = chars + more, media + pictures
        return chars, media
    if not isinstance(content, dict):
        return 0, 0
    kind = content.get("type")
    if kind == "text":
        return size(content.get("text"))
    if kind == "image":
        return 0, 1
    if kind == "document":
        source = content.get("source")
        source = source if isinstance(source, dict) else {}
        if source.get("type") == "text":
            return size(source.get("data"))
        if source.get("type") == "content":
            return size(source.get("content"))
        return 0, 1
    if kind == "tool_use":
        return len(str(content.get("name") or "")) + len(json.dumps(content.get("input") or {}, ensure_ascii=False)), 0
    if kind in ("tool_result", "search_result"):
        return size(content.get("content"))
    if kind == "thinking":
        return size(content.get("thinking"))
    if kind == "redacted_thinking":
        return 0, 0
    return len(json.dumps(content, ensure_ascii=False)), 0
