"""Google Gemini (``generativelanguage.googleapis.com``): OpenAI chat <-> ``generateContent``.

Request: messages become ``contents`` (``user``/``model`` turns, consecutive same-role turns
merged), ``system``/``developer`` become ``systemInstruction``, tools become one
``functionDeclarations`` entry with schemas cleaned to the OpenAPI subset Gemini accepts.
Response and stream: parts become content, ``reasoning_content`` (thought parts) and tool calls;
``finishReason`` and ``usageMetadata`` are mapped by the tables below (providers.md 3, 9, 10.2).

Thought signatures: Gemini 3 rejects a replayed ``functionCall`` part without the
``thoughtSignature`` it came with, and OpenAI clients keep nothing but a tool call's ``id``,
``name`` and ``arguments``. So the signature travels inside the tool call id
(``call_<24 hex>_ts_<base64url signature>``) and is put back on the part when the history comes
back. The ids are derived from the response id, so a stream and a non-stream translation of the
same answer name their tool calls identically.

The Vertex adapter reuses :func:`to_gemini`, :func:`from_gemini`, :class:`GeminiStream` and
:func:`google_error` unchanged; only URLs and auth differ.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from typing import TYPE_CHECKING, Any, Mapping

from ..sse import EventFramer, parse_block
from .base import ParsedResponse, StreamContext, UpstreamError, UpstreamRequest, dumps, parse_error_body
from .common import chunk, completion, make_usage, new_id, usage_chunk

if TYPE_CHECKING:
    from ..routing import Channel, Provider

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"

# Google documents this value for function calls that have no signature of their own (history
# written by the client or by another provider); without it Gemini 3 answers 400.
SKIP_SIGNATURE = "skip_thought_signature_validator"

FINISH_REASONS: dict[str, str] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "LANGUAGE": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
    # MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, TOO_MANY_TOOL_CALLS, OTHER, …: "stop".
}

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

# Schema keywords of the OpenAPI 3.0 subset Gemini accepts in ``parameters``/``responseSchema``;
# everything else ($schema, additionalProperties, strict, $ref, const, …) is dropped or rewritten.
SCHEMA_KEYWORDS = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
    "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
    "propertyOrdering", "default", "items", "minimum", "maximum",
})
# ``format`` values Gemini accepts per type; others ("uri", "email", …) give a 400.
SCHEMA_FORMATS: dict[str, frozenset[str]] = {
    "string": frozenset({"enum", "date-time"}),
    "integer": frozenset({"int32", "int64"}),
    "number": frozenset({"float", "double"}),
}

# Google status -> (gateway status, OpenAI type) where the HTTP status alone says the wrong thing.
GOOGLE_STATUS_OVERRIDES: dict[str, tuple[int, str]] = {
    # Billing / region / model-not-enabled: a property of the key or project, not of the request.
    "FAILED_PRECONDITION": (403, "permission_error"),
}
GOOGLE_REASON_OVERRIDES: dict[str, tuple[int, str, str]] = {
    # A bad Gemini API key is a 400 INVALID_ARGUMENT upstream: it must count as a key failure.
    "API_KEY_INVALID": (401, "authentication_error", "invalid_api_key"),
    "API_KEY_EXPIRED": (401, "authentication_error", "invalid_api_key"),
}
TOO_LONG = re.compile(r"exceeds the maximum number of tokens|input token count .* exceeds|too many tokens", re.I)

_OUR_ID = re.compile(r"^call_[0-9a-f]{24}_ts_([A-Za-z0-9_-]+)$")
_DATA_URL = re.compile(r"^data:([^;,]+)?((?:;[^;,]*)*?);base64,(.*)$", re.S)


class BadRequest(UpstreamError):
    """A request we cannot translate: the proxy hands 400s back to the client without failover."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(400, message, "invalid_request_error", code)


# ---------------------------------------------------------------------------------------------
# Thought signatures <-> tool call ids
# ---------------------------------------------------------------------------------------------

def tool_call_id(basis: str, index: int, signature: str | None) -> str:
    """A stable OpenAI tool call id for the ``index``-th call of one response, carrying its signature."""
    digest = hashlib.sha256(f"{basis}\x00{index}".encode()).hexdigest()[:24]
    call_id = f"call_{digest}"
    if signature:
        call_id += "_ts_" + signature.replace("+", "-").replace("/", "_").rstrip("=")
    return call_id


def signature_of(tool_call: Mapping[str, Any]) -> str | None:
    """The thought signature a client sent back: Gemini's OpenAI-compat field, else our id."""
    extra = tool_call.get("extra_content")
    if isinstance(extra, dict):
        google = extra.get("google")
        if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
            return google["thought_signature"]
    match = _OUR_ID.match(str(tool_call.get("id") or ""))
    if not match:
        return None
    raw = match.group(1).replace("-", "+").replace("_", "/")
    return raw + "=" * (-len(raw) % 4)


# ---------------------------------------------------------------------------------------------
# JSON Schema -> Gemini schema
# ---------------------------------------------------------------------------------------------

def clean_schema(schema: Any, defs: Mapping[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """JSON Schema -> the OpenAPI subset Gemini takes: local ``$ref``s inlined, ``const`` -> ``enum``,
    ``oneOf`` -> ``anyOf``, ``["x", "null"]`` -> ``nullable``, unknown keywords dropped."""
    if not isinstance(schema, dict) or depth > 32:
        return {}
    if defs is None:
        defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        merged = {**(target if isinstance(target, dict) else {}), **{k: v for k, v in schema.items() if k != "$ref"}}
        return clean_schema(merged, defs, depth + 1)
    src = dict(schema)
    if "const" in src and "enum" not in src:
        src["enum"] = [src["const"]]
    if "oneOf" in src and "anyOf" not in src:
        src["anyOf"] = src["oneOf"]
    all_of = src.get("allOf")
    if isinstance(all_of, list):
        for part in all_of:
            if isinstance(part, dict):
                src = {**part, **{k: v for k, v in src.items() if k != "allOf"}}
    out: dict[str, Any] = {}
    type_ = src.get("type")
    if isinstance(type_, list):
        kinds = [t for t in type_ if t != "null"]
        if len(kinds) < len(type_):
            out["nullable"] = True
        if len(kinds) == 1:
            type_ = kinds[0]
        else:
            out["anyOf"] = [{"type": t} for t in kinds]
            type_ = None
    if isinstance(type_, str):
        if type_ == "null":
            out["nullable"] = True
        else:
            out["type"] = type_
    for key, value in src.items():
        if key not in SCHEMA_KEYWORDS or key in ("type", "anyOf") and key in out:
            continue
        if key == "properties" and isinstance(value, dict):
            props = {name: clean_schema(sub, defs, depth + 1) for name, sub in value.items()}
            if props:
                out["properties"] = props
        elif key == "items":
            out["items"] = clean_schema(value, defs, depth + 1)
        elif key == "anyOf" and isinstance(value, list):
            branches = [clean_schema(b, defs, depth + 1) for b in value if isinstance(b, dict)]
            nulls = [b for b in value if isinstance(b, dict) and b.get("type") == "null"]
            branches = [b for b in branches if b and b != {"nullable": True}]
            if nulls:
                out["nullable"] = True
            if len(branches) == 1:
                out.update({k: v for k, v in branches[0].items() if k not in out})
            elif branches:
                out["anyOf"] = branches
        elif key == "enum":
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                out["enum"] = value
        elif key == "format":
            if value in SCHEMA_FORMATS.get(str(out.get("type")), frozenset()):
                out["format"] = value
        elif key == "required":
            if isinstance(value, list):
                names = set((out.get("properties") or src.get("properties") or {}).keys())
                kept = [n for n in value if n in names]
                if kept:
                    out["required"] = kept
        elif key != "type":
            out[key] = value
    if "enum" in out and "type" not in out:
        out["type"] = "string"  # Gemini enums are string-typed; a bare ``const`` had no type
    return out


def function_parameters(parameters: Any) -> dict[str, Any] | None:
    """Declaration ``parameters``: None for "no parameters" (Gemini rejects empty OBJECT properties)."""
    cleaned = clean_schema(parameters) if isinstance(parameters, dict) else {}
    if cleaned.get("type", "object") == "object" and not cleaned.get("properties"):
        return None
    return cleaned


# ---------------------------------------------------------------------------------------------
# OpenAI request -> Gemini request
# ---------------------------------------------------------------------------------------------

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
    if isinstance(effort, str) and effort in THINKING_BUDGETS:
        budget = THINKING_BUDGETS[effort]
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


# ---------------------------------------------------------------------------------------------
# Gemini response -> OpenAI
# ---------------------------------------------------------------------------------------------

def usage_of(meta: Any) -> dict[str, Any] | None:
    """``usageMetadata`` -> OpenAI usage (providers.md 3.4); thoughts count as completion tokens."""
    if not isinstance(meta, dict):
        return None
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = meta.get("thoughtsTokenCount")
    completion_tokens = int(meta.get("candidatesTokenCount") or 0) + int(thoughts or 0)
    cached = meta.get("cachedContentTokenCount")
    return make_usage(prompt, completion_tokens, cached=None if cached is None else int(cached),
                      reasoning=None if thoughts is None else int(thoughts))


def finish_reason_of(reason: str | None, saw_tool_call: bool) -> str:
    if saw_tool_call and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(reason or "", "stop")


def blocked(obj: Mapping[str, Any]) -> UpstreamError | None:
    """A prompt Gemini refused to answer at all: no candidates, ``promptFeedback.blockReason`` set.

    Answered as a 400 ``content_filter`` error, like Azure OpenAI does for a filtered prompt: the
    request itself is the problem, so retrying elsewhere would not help, and an empty 200 answer
    would look like the model chose to say nothing. Known before any byte is streamed, so stream
    and non-stream clients get the same answer.
    """
    if obj.get("candidates"):
        return None
    feedback = obj.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not reason:
        return None
    message = f"The prompt was blocked by Gemini's safety system (blockReason: {reason})."
    if isinstance(feedback, dict) and feedback.get("blockReasonMessage"):
        message += f" {feedback['blockReasonMessage']}"
    return UpstreamError(400, message, "invalid_request_error", "content_filter")


def first_candidate(obj: Mapping[str, Any]) -> dict[str, Any]:
    for candidate in obj.get("candidates") or ():
        if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
            return candidate
    return {}


def parts_of(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or () if isinstance(p, dict)]


def tool_call_of(part: Mapping[str, Any], basis: str, index: int) -> dict[str, Any]:
    fc = part["functionCall"]
    return {"id": tool_call_id(basis, index, part.get("thoughtSignature")), "type": "function",
            "function": {"name": fc.get("name", ""), "arguments": json.dumps(fc.get("args") or {}, ensure_ascii=False)}}


def from_gemini(obj: Mapping[str, Any], ctx: StreamContext) -> dict[str, Any]:
    """A ``GenerateContentResponse`` -> a ``chat.completion`` (raises for a blocked prompt)."""
    err = blocked(obj)
    if err is not None:
        raise err
    if not ctx.id:
        ctx.id = new_id()
    basis = str(obj.get("responseId") or ctx.id)
    candidate = first_candidate(obj)
    text, thoughts, calls = [], [], []
    for part in parts_of(candidate):
        if "functionCall" in part and isinstance(part["functionCall"], dict):
            calls.append(tool_call_of(part, basis, len(calls)))
        elif isinstance(part.get("text"), str):
            (thoughts if part.get("thought") else text).append(part["text"])
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None, "refusal": None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    usage = usage_of(obj.get("usageMetadata")) or make_usage(0, 0)
    finish = finish_reason_of(candidate.get("finishReason"), bool(calls))
    return completion(ctx.model, message, finish, usage, id=ctx.id, created=ctx.created)


class GeminiStream:
    """Gemini SSE (each event a whole ``GenerateContentResponse`` with delta text) -> OpenAI chunks.

    The body just ends (no ``[DONE]``); the final usage chunk is sent at that point because
    ``usageMetadata`` may come after the ``finishReason`` event. An end without any
    ``finishReason`` is a truncated stream and reported as an error.
    """

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._started = False
        self._finished = False
        self._tools = 0

    def feed(self, data: bytes) -> list[bytes]:
        return self._events(self._framer.feed(data))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if self.error is not None:
            return out
        if not self._finished:
            self.error = UpstreamError(502, "the Gemini stream ended without a finishReason (truncated)")
            return out
        if self.ctx.include_usage:
            out.append(usage_chunk(self.ctx, self.usage or make_usage(0, 0)))
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for block in blocks:
            if self.error is not None:
                break
            _, data = parse_block(block)
            if data is None or not data.strip():
                continue
            try:
                obj = json.loads(data)
            except ValueError:
                self.error = UpstreamError(502, "the Gemini stream sent an event that is not JSON")
                break
            if isinstance(obj, list) and len(obj) == 1:
                obj = obj[0]
            if not isinstance(obj, dict):
                continue
            if isinstance(obj.get("error"), dict):
                self.error = google_error(int(obj["error"].get("code") or 502), data.encode(), {})
                break
            out.extend(self._translate(obj))
        return out

    def _translate(self, obj: dict[str, Any]) -> list[bytes]:
        out: list[bytes] = []
        err = blocked(obj)
        if err is not None and not self._started:
            self.error = err
            return out
        if not self._started:
            self._started = True
            if not self.ctx.id:
                self.ctx.id = new_id()
            out.append(chunk(self.ctx, {"role": "assistant", "content": ""}))
        usage = usage_of(obj.get("usageMetadata"))
        if usage is not None:
            self.usage = usage
        if err is not None:  # blocked after output started: end this answer as filtered
            if not self._finished:
                self._finished = True
                out.append(chunk(self.ctx, {}, "content_filter"))
            return out
        candidate = first_candidate(obj)
        if self._finished:
            return out
        basis = str(obj.get("responseId") or self.ctx.id)
        for part in parts_of(candidate):
            if "functionCall" in part and isinstance(part["functionCall"], dict):
                call = tool_call_of(part, basis, self._tools)
                out.append(chunk(self.ctx, {"tool_calls": [{"index": self._tools, **call}]}))
                self._tools += 1
            elif isinstance(part.get("text"), str) and part["text"]:
                key = "reasoning_content" if part.get("thought") else "content"
                out.append(chunk(self.ctx, {key: part["text"]}))
        reason = candidate.get("finishReason")
        if reason:
            self._finished = True
            out.append(chunk(self.ctx, {}, finish_reason_of(reason, self._tools > 0)))
        return out


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------

def google_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Google's ``{"error": {code, message, status, details}}`` (or a one-element array of it) in
    OpenAI terms; other shapes (Anthropic's on Vertex) fall through to the shared parser."""
    err = parse_error_body(status, data, headers)
    try:
        body: Any = json.loads(data)
    except ValueError:
        return err
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    google = body.get("error") if isinstance(body, dict) else None
    if not isinstance(google, dict) or not isinstance(google.get("status"), str):
        return err
    state = google["status"]
    reasons = [d.get("reason") for d in google.get("details") or () if isinstance(d, dict) and d.get("reason")]
    code: str | None = state
    for reason in reasons:
        if reason in GOOGLE_REASON_OVERRIDES:
            err.status, err.type, code = GOOGLE_REASON_OVERRIDES[reason]
            break
    else:
        if state in GOOGLE_STATUS_OVERRIDES:
            err.status, err.type = GOOGLE_STATUS_OVERRIDES[state]
        elif err.status == 400 and TOO_LONG.search(err.message):
            code = "context_length_exceeded"
        elif err.status == 400:
            code = None
    err.code = code
    return err


# ---------------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------------

def model_path(model: str) -> str:
    return model[len("models/"):] if model.startswith("models/") else model


def api_base(base_url: str) -> str:
    """``…/v1beta`` (the documented form); a trailing ``/models`` is tolerated."""
    base = (base_url or DEFAULT_BASE).rstrip("/")
    return base[: -len("/models")] if base.endswith("/models") else base


class GeminiAdapter:
    async def build_request(self, channel: "Channel", key: str, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        model = model_path(channel.upstream_model)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{api_base(channel.provider.base_url)}/models/{model}:{method}"
        headers = {"content-type": "application/json"}
        if key:
            headers["x-goog-api-key"] = key
        headers.update(channel.provider.headers)
        return UpstreamRequest(url, headers, to_gemini(body))

    def parse_response(self, channel: "Channel", data: bytes, ctx: StreamContext) -> ParsedResponse:
        obj = load_response(data)
        out = from_gemini(obj, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: "Channel", ctx: StreamContext) -> GeminiStream:
        return GeminiStream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return google_error(status, data, headers)

    def models_request(self, provider: "Provider", key: str) -> UpstreamRequest | None:
        return None  # Gemini lists models in its own shape; name them in the config


def load_response(data: bytes) -> dict[str, Any]:
    """A 200 body as a JSON object; a 200 carrying ``error`` is still an error."""
    try:
        obj = json.loads(data)
    except ValueError:
        raise UpstreamError(502, "the upstream answered 200 with a body that is not JSON") from None
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise UpstreamError(502, "the upstream answered 200 with a body that is not a JSON object")
    if isinstance(obj.get("error"), dict):
        raise google_error(int(obj["error"].get("code") or 502), data, {})
    return obj


adapter = GeminiAdapter()
__all__ = ["GeminiAdapter", "GeminiStream", "adapter", "from_gemini", "google_error", "load_response", "to_gemini"]
