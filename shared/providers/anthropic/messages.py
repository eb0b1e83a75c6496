"""OpenAI ``messages`` -> Anthropic ``system`` blocks and alternating user/assistant turns.

``system``/``developer`` messages are hoisted to system text blocks, ``tool`` messages become
``tool_result`` blocks leading a user turn, consecutive same-role turns are merged, and each
content part (text, image, inline file, replayed thinking, tool call) becomes its Anthropic
block; what Anthropic cannot take is refused with a 400 naming the offending part.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import invalid

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def translate_messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system text blocks, user/assistant turns)``: roles alternate, tool results first in a turn."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise invalid(f"messages[{i}] must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(text_blocks(message.get("content"), f"messages[{i}]"))
        elif role == "user":
            add_turn(turns, "user", user_blocks(message.get("content"), f"messages[{i}]"))
        elif role == "assistant":
            add_turn(turns, "assistant", assistant_blocks(message, f"messages[{i}]"))
        elif role == "tool":
            add_turn(turns, "user", [tool_result_block(message, f"messages[{i}]")])
        else:
            raise invalid(f"messages[{i}]: role {role!r} cannot be sent to an Anthropic model")
    for turn in turns:
        if turn["role"] == "user":
            # Anthropic wants the results of the previous turn's tool calls before anything else.
            turn["content"].sort(key=lambda b: b.get("type") != "tool_result")
    return system, turns


def add_turn(turns: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    """Append a turn, merging it into the previous one of the same role (Anthropic alternates)."""
    if not blocks:
        return  # an empty message (e.g. assistant content null without tool calls) is dropped
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def text_block(text: str, part: Mapping[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": text}
    if part is not None and isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]  # prompt caching hints survive translation
    return block


def text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Text-only content (system, developer): empty strings dropped (Anthropic rejects them)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [text_block(content)] if content else []
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or an array of parts")
    out = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "text":
            raise invalid(f"{where}: only text parts are allowed here")
        if part.get("text"):
            out.append(text_block(part["text"], part))
    return out


def user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [text_block(content)] if content else []
    if not isinstance(content, list):
        raise invalid(f"{where}.content must be a string or an array of parts")
    out = []
    for j, part in enumerate(content):
        block = user_part(part, f"{where}.content[{j}]")
        if block is not None:
            out.append(block)
    return out


def user_part(part: Any, where: str) -> dict[str, Any] | None:
    if not isinstance(part, dict):
        raise invalid(f"{where} must be an object")
    kind = part.get("type")
    if kind == "text":
        return text_block(part["text"], part) if part.get("text") else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return image_block(url, where, part)
    if kind == "file":
        return document_block(part.get("file") or {}, where)
    if kind == "input_audio":
        raise invalid(f"{where}: audio input is not supported by Anthropic models")
    raise invalid(f"{where}: content part type {kind!r} cannot be sent to an Anthropic model")


def split_data_url(url: str, where: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` -> ``(mime, data)``."""
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise invalid(f"{where}: only base64 data URLs are supported")
    return header[5:-7].lower(), data


def image_block(url: Any, where: str, part: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(url, str) or not url:
        raise invalid(f"{where}: image_url.url is required")
    if url.startswith("data:"):
        mime, data = split_data_url(url, where)
        if mime not in IMAGE_TYPES:
            raise invalid(f"{where}: image type {mime!r} is not supported (use {', '.join(IMAGE_TYPES)})")
        source: dict[str, Any] = {"type": "base64", "media_type": mime, "data": data}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise invalid(f"{where}: image_url.url must be an http(s) URL or a base64 data URL")
    block: dict[str, Any] = {"type": "image", "source": source}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def document_block(file: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = file.get("file_data")
    if not isinstance(data, str) or not data.startswith("data:"):
        raise invalid(f"{where}: only inline files (file.file_data as a base64 data URL) can be sent to Anthropic; file_id is OpenAI-only")
    mime, payload = split_data_url(data, where)
    return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": payload}}


def assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """Thinking blocks first (Anthropic requires them to lead), then text, then tool calls."""
    blocks = thinking_blocks_in(message.get("thinking_blocks"))
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append(text_block(content))
    elif isinstance(content, list):
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("thinking", "redacted_thinking"):
                blocks.extend(thinking_blocks_in([part]))
            elif kind in ("text", "refusal") and part.get(kind):
                blocks.append(text_block(part[kind], part))
    elif content is not None:
        raise invalid(f"{where}.content must be a string, an array of parts or null")
    if not content and isinstance(message.get("refusal"), str) and message["refusal"]:
        blocks.append(text_block(message["refusal"]))
    for k, call in enumerate(message.get("tool_calls") or []):
        blocks.append(tool_use_block(call, f"{where}.tool_calls[{k}]"))
    return blocks


def thinking_blocks_in(items: Any) -> list[dict[str, Any]]:
    """Signed thinking blocks from an earlier answer, sent back unmodified (needed to continue a
    tool loop with thinking on). Unsigned ones would be rejected by Anthropic, so they are dropped;
    so is plain ``reasoning_content``, which carries no signature."""
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "thinking" and item.get("signature"):
            out.append({"type": "thinking", "thinking": item.get("thinking") or "", "signature": item["signature"]})
        elif item.get("type") == "redacted_thinking" and item.get("data"):
            out.append({"type": "redacted_thinking", "data": item["data"]})
    return out


def tool_use_block(call: Any, where: str) -> dict[str, Any]:
    if not isinstance(call, dict) or not isinstance(call.get("function"), dict):
        raise invalid(f"{where} must be a function tool call")
    fn = call["function"]
    if not call.get("id") or not fn.get("name"):
        raise invalid(f"{where} needs an id and a function name")
    return {"type": "tool_use", "id": call["id"], "name": fn["name"], "input": parse_arguments(fn.get("arguments"))}


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI arguments (a JSON string) as the object Anthropic wants. Models sometimes produce
    invalid JSON; replaying such a turn must not kill the conversation, so it is wrapped as
    ``{"_raw": "<text>"}`` (visible to the model) instead of refused."""
    if isinstance(arguments, dict):
        return arguments
    if arguments is None or (isinstance(arguments, str) and not arguments.strip()):
        return {}
    try:
        value = json.loads(arguments)
    except (TypeError, ValueError):
        value = None
    return value if isinstance(value, dict) else {"_raw": str(arguments)}


def tool_result_block(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise invalid(f"{where}: a tool message needs tool_call_id")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    elif isinstance(content, list):
        parts = user_blocks(content, where)
        if parts and all(p["type"] == "text" and "cache_control" not in p for p in parts):
            block["content"] = "".join(p["text"] for p in parts)
        elif parts:
            block["content"] = parts
    return block
