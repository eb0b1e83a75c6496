"""OpenAI chat body -> Bedrock Converse body (wire-formats-2 5.2, 5.4 mapping table): :func:`to_converse`.

The OpenAI messages go through the Anthropic translation first (:func:`..anthropic.translate_messages`:
system hoisting, tool results first in a user turn, same-role turns merged, empty ones dropped, data
URLs split, thinking blocks replayed), then each Anthropic block becomes its Converse block. Its
refusals name "Anthropic"; they are reworded for Bedrock here.

``inferenceConfig`` gets only what the client set (Converse needs no ``maxTokens``, and a default
could exceed a small model's limit); ``reasoning_effort`` becomes Claude's ``thinking`` in
``additionalModelRequestFields`` for Anthropic models only, ``top_k`` likewise. Native Converse fields
sent through ``extra_body`` (:data:`PASSTHROUGH`) are passed on as they are.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from .. import fields
from ..anthropic.messages import translate_messages
from ..anthropic.request import (
    ANSWER_ROOM,
    response_format_blocks,
    thinking_for,
    translate_tool_choice,
    translate_tools,
)
from ..base import UpstreamError

PASSTHROUGH = ("guardrailConfig", "performanceConfig", "requestMetadata", "promptVariables", "serviceTier",
               "additionalModelResponseFieldPaths", "outputConfig")
IMAGE_FORMATS = {"image/jpeg": "jpeg", "image/jpg": "jpeg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}
DOCUMENT_FORMATS = {"application/pdf": "pdf", "text/csv": "csv", "text/plain": "txt", "text/html": "html", "text/markdown": "md",
                    "application/msword": "doc", "application/vnd.ms-excel": "xls",
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
                    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
TOOL_ID = re.compile(r"[a-zA-Z0-9_.:-]{1,64}")
CACHE_POINT = {"cachePoint": {"type": "default"}}


def invalid(message: str) -> UpstreamError:
    return UpstreamError(400, message, "invalid_request_error")


def is_anthropic(model: str) -> bool:
    """Claude on Bedrock: ``anthropic.claude…``, a ``us.``/``eu.``/``global.`` profile of one, or an ARN naming one."""
    return "anthropic." in model or "claude" in model


def tool_use_id(call_id: str) -> str:
    """Converse ids allow ``[a-zA-Z0-9_.:-]{1,64}``: OpenAI's ``call_…`` fit; others become a stable
    substitute (the same for the call and its result, so the pair still matches)."""
    if TOOL_ID.fullmatch(call_id):
        return call_id
    return "call_" + hashlib.sha256(call_id.encode()).hexdigest()[:40]


def to_converse(body: dict[str, Any], model: str) -> dict[str, Any]:
    """The Converse body for an OpenAI chat body (the model goes in the URL)."""
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise invalid("n > 1 is not supported by Bedrock models; send one request per choice")
    if body.get("functions") or body.get("function_call"):
        raise invalid("'functions' and 'function_call' are deprecated and not translated for Bedrock; use 'tools'")
    try:
        system, turns = translate_messages(body.get("messages") or [])
        system.extend(response_format_blocks(body))
        parallel = fields.opt_bool(body.get("parallel_tool_calls"), "parallel_tool_calls")
        tools, choice = translate_tool_choice(fields.tool_choice_of(body), parallel, translate_tools(body))
    except UpstreamError as err:
        raise invalid(err.message.replace("an Anthropic model", "a Bedrock model").replace("Anthropic", "Bedrock")) from None

    messages = [{"role": t["role"], "content": blocks(t["content"], f"messages[{i}]")} for i, t in enumerate(turns)]
    out: dict[str, Any] = {"messages": messages}
    if system:
        out["system"] = blocks(system, "system")

    requested = fields.max_tokens_of(body)
    forced = bool(choice and choice["type"] in ("any", "tool"))
    thinking = thinking_for(body, requested, forced) if is_anthropic(model) else None
    thinking_on = bool(thinking and thinking.get("type") != "disabled")
    config: dict[str, Any] = {}
    if requested is not None:
        config["maxTokens"] = requested
    elif thinking_on and isinstance((thinking or {}).get("budget_tokens"), int):
        config["maxTokens"] = (thinking or {})["budget_tokens"] + ANSWER_ROOM
    if not thinking_on:
        if isinstance(body.get("temperature"), (int, float)):
            config["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
        if isinstance(body.get("top_p"), (int, float)):
            config["topP"] = body["top_p"]
    stop = fields.stop_of(body)
    if stop:
        config["stopSequences"] = stop
    if config:
        out["inferenceConfig"] = config

    if tools and not (choice and choice["type"] == "none" and not has_tool_blocks(out["messages"])):
        tool_config: dict[str, Any] = {"tools": [tool_spec(t) for t in tools]}
        if choice and choice["type"] in ("auto", "any"):
            tool_config["toolChoice"] = {choice["type"]: {}}
        elif choice and choice["type"] == "tool":
            tool_config["toolChoice"] = {"tool": {"name": choice["name"]}}
        out["toolConfig"] = tool_config

    extra = dict(body["additionalModelRequestFields"]) if isinstance(body.get("additionalModelRequestFields"), dict) else {}
    if thinking is not None:
        extra.setdefault("thinking", thinking)
    if body.get("top_k") is not None and is_anthropic(model) and not thinking_on:
        extra.setdefault("top_k", body["top_k"])
    if extra:
        out["additionalModelRequestFields"] = extra
    for name in PASSTHROUGH:
        if body.get(name) is not None:
            out[name] = body[name]
    return out


def has_tool_blocks(messages: list[dict[str, Any]]) -> bool:
    return any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])


def tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        spec["description"] = tool["description"]
    spec["inputSchema"] = {"json": tool["input_schema"]}
    return {"toolSpec": spec}


def blocks(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Anthropic content blocks -> Converse content blocks (a ``cache_control`` becomes a cache point after its block)."""
    out: list[dict[str, Any]] = []
    documents = 0
    for item in items:
        kind = item.get("type")
        if kind == "text":
            out.append({"text": item["text"]})
        elif kind == "image":
            out.append({"image": image(item.get("source") or {}, where)})
        elif kind == "document":
            documents += 1
            out.append({"document": document(item.get("source") or {}, documents, where)})
        elif kind == "tool_use":
            out.append({"toolUse": {"toolUseId": tool_use_id(str(item["id"])), "name": item["name"], "input": item.get("input") or {}}})
        elif kind == "tool_result":
            out.append({"toolResult": {"toolUseId": tool_use_id(str(item["tool_use_id"])),
                                       "content": result_content(item.get("content"), where),
                                       "status": "error" if item.get("is_error") else "success"}})
        elif kind == "thinking":
            text = {"text": item.get("thinking") or "", "signature": item.get("signature") or ""}
            out.append({"reasoningContent": {"reasoningText": text}})
        elif kind == "redacted_thinking":
            out.append({"reasoningContent": {"redactedContent": item.get("data") or ""}})
        else:
            raise invalid(f"{where}: content of type {kind!r} cannot be sent to a Bedrock model")
        if isinstance(item.get("cache_control"), dict):
            out.append(dict(CACHE_POINT))
    return out


def image(source: dict[str, Any], where: str) -> dict[str, Any]:
    if source.get("type") != "base64":
        raise invalid(f"{where}: Bedrock takes images as base64 data URLs (data:image/png;base64,…), not http(s) URLs")
    fmt = IMAGE_FORMATS.get(str(source.get("media_type")))
    if fmt is None:
        raise invalid(f"{where}: image type {source.get('media_type')!r} is not supported (use png, jpeg, gif or webp)")
    return {"format": fmt, "source": {"bytes": source.get("data") or ""}}


def document(source: dict[str, Any], n: int, where: str) -> dict[str, Any]:
    fmt = DOCUMENT_FORMATS.get(str(source.get("media_type")))
    if source.get("type") != "base64" or fmt is None:
        raise invalid(f"{where}: file type {source.get('media_type')!r} is not supported by Bedrock "
                      "(pdf, csv, txt, html, md, doc(x), xls(x))")
    return {"format": fmt, "name": f"document {n}", "source": {"bytes": source.get("data") or ""}}


def result_content(content: Any, where: str) -> list[dict[str, Any]]:
    """A tool result's content: text as given, images kept; never empty (Converse refuses blank text)."""
    if isinstance(content, str):
        return [{"text": content or "(empty)"}]
    if isinstance(content, list):
        parts = [b for b in blocks(content, where) if "text" in b or "image" in b or "document" in b]
        if parts:
            return parts
    elif content is not None:
        return [{"text": json.dumps(content, ensure_ascii=False)}]
    return [{"text": "(empty)"}]
