"""OpenAI ``messages`` -> Anthropic ``system`` blocks and alternating user/assistant turns.

``system``/``developer`` messages are hoisted to system text blocks, ``tool`` messages become
``tool_result`` blocks leading a user turn, consecutive same-role turns are merged, and each
content part (text, image, inline file, replayed thinking, tool call) becomes its Anthropic
block; what Anthropic cannot take is refused with a 400 naming the offending part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .. import fields
from ..base import loads
from .errors import invalid

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def translate_messages(messages: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(system text blocks, user/assistant turns)``: roles alternate, tool results first in a turn."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for where, message, role in fields.messages_of({"messages": messages}):
        if role in ("system", "developer"):
            system.extend(text_blocks(message.get("content"), where))
        elif role == "user":
            add_turn(turns, "user", user_blocks(message.get("content"), where))
        elif role == "assistant":
            add_turn(turns, "assistant", assistant_blocks(message, where))
        elif role == "tool":
            add_turn(turns, "user", [tool_result_block(message, where)])
        else:
            raise invalid(f"{where}: role {fields.shown(role)} cannot be sent to an Anthropic model", f"{where}.role", "invalid_value")
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


def content_list(content: Any, where: str) -> list[Any] | None:
    """Content that is not a string: an array of parts, or None."""
    if content is None or isinstance(content, list):
        return content
    raise fields.wrong_type(f"{where}.content", "a string or an array of content parts", content)


def text_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Text-only content (system, developer): empty strings dropped (Anthropic rejects them)."""
    if isinstance(content, str):
        return [text_block(content)] if content else []
    out = []
    for j, part in enumerate(content_list(content, where) or ()):
        here = f"{where}.content[{j}]"
        if not isinstance(part, dict) or part.get("type") != "text":
            raise invalid(f"{here}: only text parts are allowed here", here, "invalid_value")
        text = fields.string(part.get("text"), f"{here}.text")
        if text:
            out.append(text_block(text, part))
    return out


def user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_block(content)] if content else []
    out = []
    for j, part in enumerate(content_list(content, where) or ()):
        block = user_part(part, f"{where}.content[{j}]")
        if block is not None:
            out.append(block)
    return out


def user_part(part: Any, where: str) -> dict[str, Any] | None:
    fields.obj(part, where)
    kind = part.get("type")
    if kind == "text":
        text = fields.string(part.get("text"), f"{where}.text")
        return text_block(text, part) if text else None
    if kind == "image_url":
        image = part.get("image_url")
        url = image.get("url") if isinstance(image, dict) else image
        return image_block(url, f"{where}.image_url", part)
    if kind == "file":
        return document_block(fields.obj(part.get("file"), f"{where}.file"), f"{where}.file")
    if kind == "input_audio":
        raise invalid(f"{where}: audio input is not supported by Anthropic models", where, "unsupported_content")
    raise invalid(f"{where}: content part type {fields.shown(kind)} cannot be sent to an Anthropic model", f"{where}.type",
                  "unsupported_content")


def split_data_url(url: str, where: str) -> tuple[str, str]:
    """``data:<mime>;base64,<data>`` -> ``(mime, data)``."""
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise invalid(f"{where}: only base64 data URLs are supported", where, "invalid_value")
    return header[5:-7].lower(), data


def image_block(url: Any, where: str, part: Mapping[str, Any]) -> dict[str, Any]:
    """``where`` names the ``image_url`` field of the part."""
    if not isinstance(url, str) or not url:
        raise invalid(f"{where}: image_url.url is required (a string)", where, "invalid_image_url")
    if url.startswith("data:"):
        mime, data = split_data_url(url, where)
        if mime not in IMAGE_TYPES:
            raise invalid(f"{where}: image type {fields.shown(mime)} is not supported (use {', '.join(IMAGE_TYPES)})", where,
                          "invalid_image_format")
        source: dict[str, Any] = {"type": "base64", "media_type": mime, "data": data}
    elif url.startswith(("http://", "https://")):
        source = {"type": "url", "url": url}
    else:
        raise invalid(f"{where}: image_url.url must be an http(s) URL or a base64 data URL", where, "invalid_image_url")
    block: dict[str, Any] = {"type": "image", "source": source}
    if isinstance(part.get("cache_control"), dict):
        block["cache_control"] = part["cache_control"]
    return block


def document_block(file: Mapping[str, Any], where: str) -> dict[str, Any]:
    data = file.get("file_data")
    if not isinstance(data, str) or not data.startswith("data:"):
        raise invalid(f"{where}: only inline files (file.file_data as a base64 data URL) can be sent to Anthropic; file_id is OpenAI-only",
                      where, "unsupported_content")
    mime, payload = split_data_url(data, f"{where}.file_data")
    return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": payload}}


def assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """Thinking blocks first (Anthropic requires them to lead), then text, then tool calls."""
    blocks = thinking_blocks_in(message.get("thinking_blocks"))
    content = message.get("content")
    if isinstance(content, str):
        if content:
            blocks.append(text_block(content))
    else:
        for j, part in enumerate(content_list(content, where) or ()):
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind in ("thinking", "redacted_thinking"):
                blocks.extend(thinking_blocks_in([part]))
            elif kind in ("text", "refusal"):
                text = fields.opt_string(part.get(kind), f"{where}.content[{j}].{kind}")
                if text:
                    blocks.append(text_block(text, part))
    refusal = message.get("refusal")
    if not content and isinstance(refusal, str) and refusal:
        blocks.append(text_block(refusal))
    for here, call, fn in fields.tool_calls_of(message, where):
        blocks.append(tool_use_block(call, fn, here))
    return blocks


def thinking_blocks_in(items: Any) -> list[dict[str, Any]]:
    """Signed thinking blocks from an earlier answer, sent back unmodified (needed to continue a
    tool loop with thinking on). Unsigned ones would be rejected by Anthropic, so they are dropped;
    so is plain ``reasoning_content``, which carries no signature. Malformed ones are dropped too:
    they are our own output coming back, not something the client wrote."""
    out = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        thinking, signature, data = item.get("thinking"), item.get("signature"), item.get("data")
        if item.get("type") == "thinking" and signature and isinstance(signature, str) and isinstance(thinking, (str, type(None))):
            out.append({"type": "thinking", "thinking": thinking or "", "signature": signature})
        elif item.get("type") == "redacted_thinking" and data and isinstance(data, str):
            out.append({"type": "redacted_thinking", "data": data})
    return out


def tool_use_block(call: Mapping[str, Any], fn: Mapping[str, Any], where: str) -> dict[str, Any]:
    if not call.get("id") or not fn.get("name"):
        raise invalid(f"{where} needs an id and a function name", where, "invalid_value")
    return {"type": "tool_use", "id": call["id"], "name": fn["name"], "input": parse_arguments(fn.get("arguments"))}


def parse_arguments(arguments: Any) -> dict[str, Any]:
    """OpenAI arguments (a JSON string) as the object Anthropic wants. Models sometimes produce
    invalid JSON; replaying such a turn must not kill the conversation, so it is wrapped as
    ``{"_raw": "<text>"}`` (visible to the model) instead of refused."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments.strip():
        return {}
    try:
        value = loads(arguments)
    except ValueError:
        value = None
    return value if isinstance(value, dict) else {"_raw": arguments}


def tool_result_block(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    call_id = fields.opt_string(message.get("tool_call_id"), f"{where}.tool_call_id")
    if not call_id:
        raise invalid(f"{where}: a tool message needs tool_call_id", f"{where}.tool_call_id", "missing_required_parameter")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": call_id}
    content = message.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = user_blocks(content, where)
        if parts and all(p["type"] == "text" and "cache_control" not in p for p in parts):
            block["content"] = "".join(p["text"] for p in parts)
        elif parts:
            block["content"] = parts
    return block
