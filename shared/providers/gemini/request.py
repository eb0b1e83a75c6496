"""OpenAI chat body -> Gemini ``generateContent`` body: :func:`to_gemini` and its helpers.

Messages become ``contents`` (``user``/``model`` turns, consecutive same-role turns merged),
``system``/``developer`` become ``systemInstruction``, sampling and output options become
``generationConfig``, tools become one ``functionDeclarations`` entry and ``tool_choice`` a
``toolConfig``. The model is not in the body: it goes in the URL.
"""

from __future__ import annotations

import json
import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from .errors import BadRequest
from .schema import clean_schema, function_parameters
from .signatures import SKIP_SIGNATURE, signature_of

TOOL_CHOICE_MODES: dict[str, str] = {"none": "NONE", "auto": "AUTO", "required": "ANY"}

# reasoning_effort -> thinkingConfig.thinkingBudget (-1 = let the model decide). Gateway policy.
THINKING_BUDGETS: dict[str, int] = {
    "none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": -1, "max": -1,
}

# OpenAI field -> generationConfig field, copied as they are.
GENERATION_FIELDS: dict[str, str] = {
    "temperature": "temperature",
    "top_p": "topP",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}

_DATA_URL = re.compile(r"^data:([^;,]+)?((?:;[^;,]*)*?);base64,(.*)$", re.S)


def text_of(content: Any) -> str:
    """String content, or the text parts of an array joined with newlines."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") in ("text", None) and p.get("text"))
    return ""


def data_url_part(url: str) -> dict[str, Any]:
    """``data:<mime>;base64,<data>`` -> ``inlineData``."""
    match = _DATA_URL.match(url)
    if not match:
        raise BadRequest("only base64 data URLs can be sent inline (data:<mime>;base64,<data>)", "invalid_image_url")
    return {"inlineData": {"mimeType": match.group(1) or "application/octet-stream", "data": match.group(3)}}


def url_part(url: str) -> dict[str, Any]:
    """A data URL inline; any other URL as a ``fileData`` reference (Gemini fetches it, or says 400)."""
    if url.startswith("data:"):
        return data_url_part(url)
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def content_parts(content: Any) -> list[dict[str, Any]]:
    """User/system/assistant content (string or parts array) -> Gemini parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise BadRequest("message content must be a string or an array of content parts")
    parts: list[dict[str, Any]] = []
    for item in content:
        if not isinstance(item, dict):
            continue
        kind = item.get("type")
        if kind == "text":
            if item.get("text"):
                parts.append({"text": item["text"]})
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise BadRequest("image_url.url is missing", "invalid_image_url")
            parts.append(url_part(url))
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            fmt = str(audio.get("format") or "wav")
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": audio.get("data", "")}})
        elif kind == "file":
            file = item.get("file") or {}
            if isinstance(file.get("file_data"), str):
                parts.append(data_url_part(file["file_data"]))
            else:
                raise BadRequest("file_id references are OpenAI-only; send the file inline as file_data", "unsupported_content")
        elif kind == "refusal":
            if item.get("refusal"):
                parts.append({"text": item["refusal"]})
        else:
            raise BadRequest(f"content part type {kind!r} cannot be sent to Gemini", "unsupported_content")
    return parts


def call_arguments(raw: Any) -> dict[str, Any]:
    """``function.arguments`` (a JSON string) -> the ``args`` object Gemini needs."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise BadRequest("tool_calls[].function.arguments is not valid JSON", "invalid_tool_arguments") from None
    return value if isinstance(value, dict) else {"value": value}


def tool_result(content: Any) -> dict[str, Any]:
    """A tool message's content -> ``functionResponse.response`` (always an object)."""
    text = text_of(content)
    try:
        value = json.loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def assistant_parts(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    parts = content_parts(message.get("content"))
    calls = [c for c in message.get("tool_calls") or () if isinstance(c, dict)]
    signed = any(signature_of(c) for c in calls)
    for i, call in enumerate(calls):
        fn = call.get("function") or {}
        part: dict[str, Any] = {"functionCall": {"name": fn.get("name", ""), "args": call_arguments(fn.get("arguments"))}}
        signature = signature_of(call) or (SKIP_SIGNATURE if i == 0 and not signed else None)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def to_gemini(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body -> a Gemini ``generateContent`` body (the model goes in the URL)."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant turns

    def add(role: str, parts: list[dict[str, Any]]) -> None:
        if not parts:
            return
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})

    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            text = text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", content_parts(message.get("content")))
        elif role == "assistant":
            for call in message.get("tool_calls") or ():
                if isinstance(call, dict):
                    names[str(call.get("id"))] = (call.get("function") or {}).get("name", "")
            add("model", assistant_parts(message))
        elif role == "tool":
            call_id = str(message.get("tool_call_id") or "")
            name = names.get(call_id) or message.get("name")
            if not name:
                raise BadRequest(f"tool message {call_id!r} answers no tool call of an earlier assistant message",
                                 "invalid_tool_call_id")
            add("user", [{"functionResponse": {"name": name, "response": tool_result(message.get("content"))}}])
        elif role == "function":
            add("user", [{"functionResponse": {"name": message.get("name", ""), "response": tool_result(message.get("content"))}}])
        else:
            raise BadRequest(f"message role {role!r} is not supported", "invalid_role")

    out: dict[str, Any] = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    config = generation_config(body)
    if config:
        out["generationConfig"] = config
    tools, tool_config = tools_of(body)
    if tools:
        out["tools"] = tools
    if tool_config:
        out["toolConfig"] = tool_config
    return out


def generation_config(body: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {gemini: body[openai] for openai, gemini in GENERATION_FIELDS.items() if body.get(openai) is not None}
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise BadRequest("n > 1 is not supported for Gemini models by this gateway", "unsupported_value")
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if fmt.get("type") == "json_object":
            config["responseMimeType"] = "application/json"
        elif fmt.get("type") == "json_schema":
            config["responseMimeType"] = "application/json"
            schema = (fmt.get("json_schema") or {}).get("schema")
            if isinstance(schema, dict):
                config["responseSchema"] = clean_schema(schema)
    effort = body.get("reasoning_effort")
    thinking = body.get("thinking")  # the Anthropic-style object (e.g. from a "-think-N" alias, shared/model_names.py)
    if isinstance(effort, str) and effort in THINKING_BUDGETS:
        budget = THINKING_BUDGETS[effort]
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget != 0}
    elif isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        budget = int(thinking.get("budget_tokens") or 0) if thinking["type"] == "enabled" else 0
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget != 0}
    return config


def tools_of(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``tools`` -> one ``functionDeclarations`` Tool; ``tool_choice`` -> ``toolConfig``."""
    declarations = []
    for tool in body.get("tools") or ():
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            raise BadRequest("only function tools can be sent to Gemini", "unsupported_tool_type")
        fn = tool.get("function") or {}
        decl: dict[str, Any] = {"name": fn.get("name", "")}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = function_parameters(fn.get("parameters"))
        if params is not None:
            decl["parameters"] = params
        declarations.append(decl)
    if not declarations:
        return [], None
    choice = body.get("tool_choice")
    calling: dict[str, Any] | None = None
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        calling = {"mode": TOOL_CHOICE_MODES[choice]}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        calling = {"mode": "ANY", "allowedFunctionNames": [(choice.get("function") or {}).get("name", "")]}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = [(t.get("function") or {}).get("name") for t in allowed.get("tools") or () if isinstance(t, dict)]
        if allowed.get("mode") == "required":
            calling = {"mode": "ANY", "allowedFunctionNames": names}
        else:
            declarations = [d for d in declarations if d["name"] in names]
            calling = {"mode": "AUTO"}
    tool_config = {"functionCallingConfig": calling} if calling else None
    return [{"functionDeclarations": declarations}], tool_config
