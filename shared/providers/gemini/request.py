"""OpenAI chat body -> Gemini ``generateContent`` body: :func:`to_gemini` and its helpers.

Messages become ``contents`` (``user``/``model`` turns, consecutive same-role turns merged),
``system``/``developer`` become ``systemInstruction``, sampling and output options become
``generationConfig``, tools become one ``functionDeclarations`` entry and ``tool_choice`` a
``toolConfig``. The model is not in the body: it goes in the URL.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping
from typing import Any

from .. import fields
from ..base import loads
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


def text_of(content: Any, where: str) -> str:
    """String content, or the text parts of an array joined with newlines (other parts ignored)."""
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content_list(content, where) or ()):
        here = f"{where}.content[{j}]"
        if fields.obj(part, here).get("type") in ("text", None):
            text = fields.opt_string(part.get("text"), f"{here}.text")
            if text:
                texts.append(text)
    return "\n".join(texts)


def content_list(content: Any, where: str) -> list[Any] | None:
    """Content that is not a string: an array of parts, or None."""
    if content is None or isinstance(content, list):
        return content
    raise fields.wrong_type(f"{where}.content", "a string or an array of content parts", content)


def data_url_part(url: str, where: str) -> dict[str, Any]:
    """``data:<mime>;base64,<data>`` -> ``inlineData``."""
    match = _DATA_URL.match(url)
    if not match:
        raise BadRequest(f"{where}: only base64 data URLs can be sent inline (data:<mime>;base64,<data>)", "invalid_image_url", where)
    return {"inlineData": {"mimeType": match.group(1) or "application/octet-stream", "data": match.group(3)}}


def url_part(url: str, where: str) -> dict[str, Any]:
    """A data URL inline; any other URL as a ``fileData`` reference (Gemini fetches it, or says 400)."""
    if url.startswith("data:"):
        return data_url_part(url, where)
    mime = mimetypes.guess_type(url.split("?", 1)[0])[0] or "image/jpeg"
    return {"fileData": {"mimeType": mime, "fileUri": url}}


def content_parts(content: Any, where: str) -> list[dict[str, Any]]:
    """User/system/assistant content (string or parts array) -> Gemini parts; ``where`` names the message."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[dict[str, Any]] = []
    for j, item in enumerate(content_list(content, where) or ()):
        here = f"{where}.content[{j}]"
        kind = fields.obj(item, here).get("type")
        if kind == "text":
            text = fields.string(item.get("text"), f"{here}.text")
            if text:
                parts.append({"text": text})
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            if not isinstance(url, str) or not url:
                raise BadRequest(f"{here}: image_url.url is required (a string)", "invalid_image_url", f"{here}.image_url")
            parts.append(url_part(url, f"{here}.image_url"))
        elif kind == "input_audio":
            audio = fields.obj(item.get("input_audio"), f"{here}.input_audio")
            data = fields.string(audio.get("data"), f"{here}.input_audio.data")
            fmt = fields.opt_string(audio.get("format"), f"{here}.input_audio.format") or "wav"
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": data}})
        elif kind == "file":
            file = fields.obj(item.get("file"), f"{here}.file")
            file_data = fields.opt_string(file.get("file_data"), f"{here}.file.file_data")
            if file_data is None:
                raise BadRequest(f"{here}: file_id references are OpenAI-only; send the file inline as file_data", "unsupported_content",
                                 f"{here}.file")
            parts.append(data_url_part(file_data, f"{here}.file.file_data"))
        elif kind == "refusal":
            refusal = fields.opt_string(item.get("refusal"), f"{here}.refusal")
            if refusal:
                parts.append({"text": refusal})
        else:
            raise BadRequest(f"{here}: content part type {fields.shown(kind)} cannot be sent to Gemini", "unsupported_content",
                             f"{here}.type")
    return parts


def call_arguments(raw: Any, where: str) -> dict[str, Any]:
    """``function.arguments`` (a JSON string) -> the ``args`` object Gemini needs."""
    if isinstance(raw, dict):
        return raw
    if not isinstance(raw, str) or not raw.strip():
        return {}
    try:
        value = loads(raw)
    except ValueError:
        raise BadRequest(f"{where} is not valid JSON", "invalid_tool_arguments", where) from None
    return value if isinstance(value, dict) else {"value": value}


def tool_result(content: Any, where: str) -> dict[str, Any]:
    """A tool message's content -> ``functionResponse.response`` (always an object)."""
    text = text_of(content, where)
    try:
        value = loads(text)
    except ValueError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def assistant_parts(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    parts = content_parts(message.get("content"), where)
    calls = fields.tool_calls_of(message, where)
    signed = any(signature_of(call) for _, call, _ in calls)
    for i, (here, call, fn) in enumerate(calls):
        args = call_arguments(fn.get("arguments"), f"{here}.function.arguments")
        part: dict[str, Any] = {"functionCall": {"name": fn["name"], "args": args}}
        signature = signature_of(call) or (SKIP_SIGNATURE if i == 0 and not signed else None)
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def to_gemini(body: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAI chat body -> a Gemini ``generateContent`` body (the model goes in the URL). Every
    field read is checked: a wrong type or value is a 400 naming it."""
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

    for where, message, role in fields.messages_of(body):
        if role in ("system", "developer"):
            text = text_of(message.get("content"), where)
            if text:
                system.append({"text": text})
        elif role == "user":
            add("user", content_parts(message.get("content"), where))
        elif role == "assistant":
            parts = assistant_parts(message, where)
            for _, call, fn in fields.tool_calls_of(message, where):
                names[str(call.get("id"))] = fn["name"]
            add("model", parts)
        elif role == "tool":
            call_id = fields.opt_string(message.get("tool_call_id"), f"{where}.tool_call_id") or ""
            name = names.get(call_id) or fields.opt_string(message.get("name"), f"{where}.name")
            if not name:
                raise BadRequest(f"{where}: tool message {fields.shown(call_id)} answers no tool call of an earlier assistant message",
                                 "invalid_tool_call_id", f"{where}.tool_call_id")
            add("user", [{"functionResponse": {"name": name, "response": tool_result(message.get("content"), where)}}])
        elif role == "function":
            name = fields.opt_string(message.get("name"), f"{where}.name") or ""
            add("user", [{"functionResponse": {"name": name, "response": tool_result(message.get("content"), where)}}])
        else:
            raise BadRequest(f"{where}: message role {fields.shown(role)} is not supported", "invalid_role", f"{where}.role")

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
    config: dict[str, Any] = {}
    for openai, gemini in GENERATION_FIELDS.items():
        value = fields.opt_int(body.get(openai), openai) if openai == "seed" else fields.opt_number(body.get(openai), openai)
        if value is not None:
            config[gemini] = value
    limit = fields.max_tokens_of(body)
    if limit:
        config["maxOutputTokens"] = limit
    stop = fields.stop_of(body)
    if stop:
        config["stopSequences"] = stop
    fields.choices_of(body, "Gemini")
    fmt = fields.response_format_of(body)
    if fmt is not None:
        config["responseMimeType"] = "application/json"
        schema = fmt[1].get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema, "response_format.json_schema.schema")
    effort = fields.reasoning_effort_of(body)
    thinking = body.get("thinking")  # the Anthropic-style object (e.g. from a "-think-N" alias, shared/model_names.py)
    if effort is not None:
        budget = THINKING_BUDGETS[effort]
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget != 0}
    elif isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        given = fields.opt_int(thinking.get("budget_tokens"), "thinking.budget_tokens", minimum=0)
        budget = (given or 0) if thinking["type"] == "enabled" else 0
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": budget != 0}
    return config


def tools_of(body: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``tools`` -> one ``functionDeclarations`` Tool; ``tool_choice`` -> ``toolConfig``."""
    declarations = []
    for where, _, fn in fields.function_tools(body):
        decl: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            decl["description"] = fn["description"]
        params = function_parameters(fn.get("parameters"), f"{where}.function.parameters")
        if params is not None:
            decl["parameters"] = params
        declarations.append(decl)
    choice = fields.tool_choice_of(body)
    if not declarations:
        return [], None
    calling: dict[str, Any] | None = None
    if choice is None:
        pass
    elif choice.function is not None:
        calling = {"mode": "ANY", "allowedFunctionNames": [choice.function]}
    elif choice.allowed is not None:
        if choice.mode == "required":
            calling = {"mode": "ANY", "allowedFunctionNames": list(choice.allowed)}
        else:
            declarations = [d for d in declarations if d["name"] in choice.allowed]
            calling = {"mode": "AUTO"}
    else:
        calling = {"mode": TOOL_CHOICE_MODES[choice.mode]}
    tool_config = {"functionCallingConfig": calling} if calling else None
    return [{"functionDeclarations": declarations}], tool_config
