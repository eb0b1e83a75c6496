"""Gemini ``GenerateContentResponse`` -> OpenAI ``chat.completion``: :func:`from_gemini`, the
finish-reason and usage tables, blocked prompts, and the pieces :mod:`.stream` shares with it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..base import StreamContext, UpstreamError
from ..common import completion, make_usage, new_id
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
