"""Gemini ``GenerateContentResponse`` -> OpenAI ``chat.completion``: :func:`from_gemini`, the
finish-reason and usage tables, blocked prompts, and the pieces :mod:`.stream` shares with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import StreamContext, UpstreamError, error_status, loads, text_of_value
from ..common import completion, make_usage, new_id, token_count
from .errors import google_error
from .signatures import tool_call_id

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


def usage_of(meta: Any) -> dict[str, Any] | None:
    """``usageMetadata`` -> OpenAI usage (providers.md 3.4); thoughts count as completion tokens."""
    if not isinstance(meta, dict):
        return None
    prompt = token_count(meta.get("promptTokenCount")) + token_count(meta.get("toolUsePromptTokenCount"))
    thoughts = meta.get("thoughtsTokenCount")
    completion_tokens = token_count(meta.get("candidatesTokenCount")) + token_count(thoughts)
    cached = meta.get("cachedContentTokenCount")
    return make_usage(prompt, completion_tokens, cached=None if cached is None else token_count(cached),
                      reasoning=None if thoughts is None else token_count(thoughts))


def finish_reason_of(reason: Any, saw_tool_call: bool) -> str:
    if saw_tool_call and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


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
    message = f"The prompt was blocked by Gemini's safety system (blockReason: {text_of_value(reason, 60)})."
    if isinstance(feedback, dict) and feedback.get("blockReasonMessage"):
        message += f" {text_of_value(feedback['blockReasonMessage'])}"
    return UpstreamError(400, message, "invalid_request_error", "content_filter")


def first_candidate(obj: Mapping[str, Any]) -> dict[str, Any]:
    candidates = obj.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        if isinstance(candidate, dict) and candidate.get("index", 0) == 0:
            return candidate
    return {}


def parts_of(candidate: Mapping[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []


def tool_call_of(part: Mapping[str, Any], basis: str, index: int) -> dict[str, Any]:
    fc = part["functionCall"]
    name, args, signature = fc.get("name"), fc.get("args"), part.get("thoughtSignature")
    try:
        arguments = json.dumps(args if isinstance(args, dict) else {}, ensure_ascii=False)
    except (ValueError, RecursionError):
        raise UpstreamError(502, "Gemini answered with function call arguments nested too deeply") from None
    return {"id": tool_call_id(basis, index, signature if isinstance(signature, str) else None), "type": "function",
            "function": {"name": name if isinstance(name, str) else "", "arguments": arguments}}


def from_gemini(obj: Mapping[str, Any], ctx: StreamContext) -> dict[str, Any]:
    """A ``GenerateContentResponse`` -> a ``chat.completion`` (raises for a blocked prompt)."""
    err = blocked(obj)
    if err is not None:
        raise err
    if not ctx.id:
        ctx.id = new_id()
    basis = response_basis(obj, ctx)
    candidate = first_candidate(obj)
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[dict[str, Any]] = []
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


def load_response(data: bytes) -> dict[str, Any]:
    """A 200 body as a JSON object; a 200 carrying ``error`` is still an error."""
    try:
        obj = loads(data)
    except ValueError:
        raise UpstreamError(502, "the upstream answered 200 with a body that is not JSON") from None
    if isinstance(obj, list) and len(obj) == 1:
        obj = obj[0]
    if not isinstance(obj, dict):
        raise UpstreamError(502, "the upstream answered 200 with a body that is not a JSON object")
    if isinstance(obj.get("error"), dict):
        raise google_error(error_status(obj["error"].get("code")), data, {})
    return obj


def response_basis(obj: Mapping[str, Any], ctx: StreamContext) -> str:
    """What tool call ids are derived from: the response id, or ours when Gemini sent none."""
    response_id = obj.get("responseId")
    return response_id if isinstance(response_id, str) and response_id else ctx.id
