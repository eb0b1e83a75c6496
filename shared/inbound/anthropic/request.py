"""Anthropic Messages bodies: the checks every request gets, and the OpenAI chat body a channel that
does not speak Anthropic gets instead (wire-formats-2.md 2.2 and 2.7).

:func:`check_body` refuses, before anything is dispatched, what Anthropic itself refuses at once
(no model, no ``max_tokens``, no messages); channels that speak Anthropic validate the rest.

:func:`to_openai` is the reverse of ``providers.anthropic.to_anthropic``. Policy, in short (the
README's "Anthropic clients" section has the user-facing version): ``system`` becomes the first
message; ``tool_result`` blocks become ``tool`` messages ahead of the rest of their user turn
(``is_error`` prefixes ``Error: ``; images in a result follow as a user message); images and PDF
documents become ``image_url`` and ``file`` parts, text documents text; ``max_tokens`` becomes
``max_completion_tokens``; an enabled ``thinking`` budget becomes ``reasoning_effort`` through
:data:`EFFORT_BUDGETS` (``output_config.effort`` wins when given); ``output_config.format``
becomes ``response_format``. Dropped, because no OpenAI-compatible host can use them:
``cache_control``, ``top_k``, ``service_tier``, thinking blocks in the history (their signatures
mean nothing elsewhere) and server-tool history blocks. Refused with 400: server tools, documents
by URL or file id, images by file id, unknown user block types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ...errors import GatewayError
from ...providers.base import UpstreamError

ROLES = ("user", "assistant", "system")  # "system" turns: the newest SDKs' mid-conversation system text

# thinking.budget_tokens below each bound -> reasoning_effort (gateway policy; the reverse of
# providers.anthropic.THINKING_BUDGETS: low 2048, medium 8192, high 16384 map back to themselves).
EFFORT_BUDGETS: tuple[tuple[int, str], ...] = ((4096, "low"), (16384, "medium"))
TOP_EFFORT = "high"
# output_config.effort -> reasoning_effort (OpenAI hosts know low, medium and high).
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "xhigh": "high", "max": "high"}
TOOL_CHOICES = {"auto": "auto", "any": "required", "none": "none"}
SKIPPED_ASSISTANT_BLOCKS = ("thinking", "redacted_thinking")  # and every server-tool block (server_tool_use, *_tool_result)


def bad(message: str, param: str, code: str = "invalid_request_error") -> GatewayError:
    return GatewayError(400, message, param=param, code=code)


def check_body(body: Mapping[str, Any], max_tokens: bool = True) -> str:
    """The requested model, once the fields every request needs are there and of the right type."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model: Field required" if model in (None, "") else "model: Input should be a valid string", "model")
    if max_tokens:
        value = body.get("max_tokens")
        if value is None:
            raise bad("max_tokens: Field required", "max_tokens")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise bad("max_tokens: Input should be an integer greater than or equal to 1", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad("messages: Field required" if messages is None else "messages: Input should be a non-empty list", "messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'", "messages")
        if not isinstance(message.get("content"), str | list):
            raise bad(f"messages.{i}.content: Input should be a valid string or a list of content blocks", "messages")
    if body.get("stream") is not None and not isinstance(body.get("stream"), bool):
        raise bad("stream: Input should be a valid boolean", "stream")
    return model


def invalid(message: str) -> UpstreamError:
    """A request no OpenAI-compatible channel can take: raised while building the attempt, it reaches
    the client as a 400 at once (a channel that speaks Anthropic would have taken it)."""
    return UpstreamError(400, message, "invalid_request_error")


# -- the body


def to_openai(body: Mapping[str, Any]) -> dict[str, Any]:
    """The OpenAI chat body for an Anthropic Messages body (``model`` kept: the channel renames it)."""
    messages = system_messages(body.get("system"), "system")
    for i, message in enumerate(body.get("messages") or []):
        messages.extend(translate_message(message, f"messages.{i}"))
    out: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    if isinstance(body.get("max_tokens"), int):
        out["max_completion_tokens"] = body["max_tokens"]
    for name in ("temperature", "top_p"):
        if isinstance(body.get(name), int | float) and not isinstance(body.get(name), bool):
            out[name] = body[name]
    stop = body.get("stop_sequences")
    if isinstance(stop, list) and stop:
        out["stop"] = [s for s in stop if isinstance(s, str)]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str) and metadata["user_id"]:
        out["user"] = metadata["user_id"]
    tools = translate_tools(body.get("tools"))
    if tools:
        out["tools"] = tools
        out.update(translate_tool_choice(body.get("tool_choice")))
    out.update(reasoning_of(body))
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}  # message_delta needs the usage
    return out


def reasoning_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """``reasoning_effort`` and ``response_format`` from ``thinking`` and ``output_config``."""
    out: dict[str, Any] = {}
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled" and isinstance(thinking.get("budget_tokens"), int):
        budget = thinking["budget_tokens"]
        out["reasoning_effort"] = next((effort for bound, effort in EFFORT_BUDGETS if budget < bound), TOP_EFFORT)
    config = body.get("output_config")
    if isinstance(config, dict):
        if config.get("effort") in EFFORTS:
            out["reasoning_effort"] = EFFORTS[config["effort"]]
        fmt = config.get("format")
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and isinstance(fmt.get("schema"), dict):
            out["response_format"] = {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}
    return out


# -- messages


def system_messages(system: Any, where: str) -> list[dict[str, Any]]:
    """``system`` (a string or text blocks) as one system message; block texts joined by a blank line."""
    if system is None:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}] if system else []
    if not isinstance(system, list):
        raise invalid(f"{where}: Input should be a valid string or a list of text blocks")
    texts = []
    for j, block in enumerate(system):
        if not isinstance(block, dict) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise invalid(f"{where}.{j}: only text blocks are allowed in system")
        if block["text"]:
            texts.append(block["text"])
    return [{"role": "system", "content": "\n\n".join(texts)}] if texts else []


def translate_message(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    role, content = message.get("role"), message.get("content")
    if role == "system":
        return system_messages(content, where + ".content")
    if role == "assistant":
        return assistant_messages(content, where)
    return user_messages(content, where)


def simplified(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """One text part as a plain string (what every OpenAI-compatible host takes), else the parts."""
    if len(parts) == 1 and parts[0]["type"] == "text":
        return str(parts[0]["text"])
    return parts


def user_messages(content: Any, where: str) -> list[dict[str, Any]]:
    """One user turn: its tool results first (one ``tool`` message each), then the rest as one user message."""
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    returned: list[dict[str, Any]] = []  # images that came inside tool results
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        here = f"{where}.content.{j}"
        if not isinstance(block, dict):
            raise invalid(f"{here}: Input should be a content block object")
        if block.get("type") == "tool_result":
            message, images = tool_message(block, here)
            tools.append(message)
            returned.extend(images)
        else:
            parts.extend(user_parts(block, here))
    out = tools
    rest = returned + parts
    if rest:
        out.append({"role": "user", "content": simplified(rest)})
    return out


def user_parts(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        return [{"type": "text", "text": text}] if isinstance(text, str) and text else []
    if kind == "image":
        return [image_part(block.get("source"), where)]
    if kind == "document":
        return document_parts(block, where)
    if kind == "search_result":
        texts = [str(b["text"]) for b in block.get("content") or [] if isinstance(b, dict) and isinstance(b.get("text"), str)]
        head = " ".join(str(block.get(k)) for k in ("title", "source") if isinstance(block.get(k), str))
        return [{"type": "text", "text": "\n".join([head, *texts]).strip()}]
    if kind in SKIPPED_ASSISTANT_BLOCKS:
        return []
    raise invalid(f"{where}: content block type {kind!r} can only be sent to Anthropic models")


def image_part(source: Any, where: str) -> dict[str, Any]:
    if not isinstance(source, dict):
        raise invalid(f"{where}.source: Field required")
    if source.get("type") == "base64" and isinstance(source.get("data"), str) and isinstance(source.get("media_type"), str):
        return {"type": "image_url", "image_url": {"url": f"data:{source['media_type']};base64,{source['data']}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise invalid(f"{where}.source: only base64 and url image sources can be sent to this model")


def document_parts(block: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    """A PDF as an inline ``file`` part, a text document as text, a content document as its parts."""
    found = block.get("source")
    source: Mapping[str, Any] = found if isinstance(found, dict) else {}
    kind, data = source.get("type"), source.get("data")
    if kind == "base64" and isinstance(data, str):
        media = source.get("media_type") or "application/pdf"
        title = block.get("title")
        name = title if isinstance(title, str) and title else "document.pdf"
        return [{"type": "file", "file": {"filename": name, "file_data": f"data:{media};base64,{data}"}}]
    if kind == "text" and isinstance(data, str):
        return [{"type": "text", "text": data}] if data else []
    if kind == "content":
        inner = source.get("content")
        if isinstance(inner, str):
            return [{"type": "text", "text": inner}] if inner else []
        if isinstance(inner, list):
            return [p for k, b in enumerate(inner) if isinstance(b, dict) for p in user_parts(b, f"{where}.source.content.{k}")]
    raise invalid(f"{where}.source: documents of source type {kind!r} can only be sent to Anthropic models (send them base64 or as text)")


def tool_message(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ``tool_result`` as a ``tool`` message, and the images it returned (OpenAI tool messages hold text only)."""
    call_id = block.get("tool_use_id")
    if not isinstance(call_id, str) or not call_id:
        raise invalid(f"{where}.tool_use_id: Field required")
    content = block.get("content")
    texts: list[str] = []
    images: list[dict[str, Any]] = []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for k, part in enumerate(content):
            if not isinstance(part, dict):
                continue
            for piece in user_parts(part, f"{where}.content.{k}"):
                if piece["type"] == "text":
                    texts.append(piece["text"])
                else:
                    images.append(piece)
    text = "\n".join(t for t in texts if t)
    if block.get("is_error") is True:
        text = "Error: " + text if text else "Error"
    return {"role": "tool", "tool_call_id": call_id, "content": text}, images


def assistant_messages(content: Any, where: str) -> list[dict[str, Any]]:
    """Text blocks as the content, ``tool_use`` blocks as ``tool_calls``; thinking and server-tool blocks dropped."""
    if isinstance(content, str):
        return [{"role": "assistant", "content": content}] if content else []
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(content):
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and isinstance(block.get("text"), str) and block["text"]:
            texts.append({"type": "text", "text": block["text"]})
        elif kind == "tool_use":
            if not isinstance(block.get("id"), str) or not isinstance(block.get("name"), str):
                raise invalid(f"{where}.content.{j}: tool_use needs an id and a name")
            arguments = json.dumps(block.get("input") if isinstance(block.get("input"), dict) else {}, ensure_ascii=False)
            calls.append({"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": arguments}})
    if not texts and not calls:
        return []
    message: dict[str, Any] = {"role": "assistant", "content": simplified(texts) if texts else None}
    if calls:
        message["tool_calls"] = calls
    return [message]


# -- tools


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools if isinstance(tools, list) else []):
        if not isinstance(tool, dict):
            raise invalid(f"tools.{i}: Input should be a tool object")
        if tool.get("type") not in (None, "custom"):
            raise invalid(f"tools.{i}: the server tool {tool.get('type')!r} can only be used with Anthropic models")
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise invalid(f"tools.{i}.name: Field required")
        schema = tool.get("input_schema")
        fn: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str) and tool["description"]:
            fn["description"] = tool["description"]
        fn["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
        out.append({"type": "function", "function": fn})
    return out


def translate_tool_choice(choice: Any) -> dict[str, Any]:
    """``tool_choice`` and ``parallel_tool_calls`` (from ``disable_parallel_tool_use``)."""
    if not isinstance(choice, dict):
        return {}
    kind = choice.get("type")
    out: dict[str, Any] = {}
    if kind in TOOL_CHOICES:
        out["tool_choice"] = TOOL_CHOICES[kind]
    elif kind == "tool" and isinstance(choice.get("name"), str):
        out["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise invalid(f"tool_choice.type: unknown tool choice {kind!r}")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out
