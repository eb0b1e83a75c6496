"""Chat Completions answers as Responses objects (wire-formats-2.md 1.5 and 1.8).

:class:`Shape` holds what every Responses object of one request shares: its ids and the fields
that echo the request (instructions, tools, sampling...). :func:`from_chat` makes the whole object
for a ``chat.completion``; the stream translator (:mod:`.stream`) builds the same items event by
event with the same helpers, so both name their items identically: output item ``k`` is
``msg_<base>_<k>``, ``fc_<base>_<k>`` or ``rs_<base>_<k>``.

Items come in the order reasoning, message, function calls (one item per tool call, ``call_id`` =
the chat tool call id). ``finish_reason`` ``length`` and ``content_filter`` make the response
``incomplete`` with ``incomplete_details.reason`` ``max_output_tokens`` / ``content_filter``.
Reasoning text (``reasoning_content``, or OpenRouter's ``reasoning``) becomes a reasoning item
with one summary part; Anthropic's signed thinking blocks travel in its ``encrypted_content``
(``ugw1.`` + base64url JSON), so a client that sends the item back continues a tool loop with
thinking on.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .request import THINKING_PREFIX

INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass
class Shape:
    """One request's ids and echoed fields."""

    echo: dict[str, Any]
    base: str = field(default_factory=lambda: secrets.token_hex(12))

    @property
    def id(self) -> str:
        return f"resp_{self.base}"

    def item_id(self, prefix: str, index: int) -> str:
        return f"{prefix}_{self.base}_{index}"

    def response(self, created_at: int, model: str, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None,
                 incomplete: str | None = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "object": "response", "created_at": created_at, "status": status}
        if status in ("completed", "incomplete", "failed"):
            out["completed_at"] = int(time.time())
        out.update(background=False, error=error, incomplete_details={"reason": incomplete} if incomplete else None)
        out.update(self.echo)
        out.update(model=model, output=output, usage=usage)
        return out


def echo(body: dict[str, Any]) -> dict[str, Any]:
    """The request fields a Responses object repeats (defaults as OpenAI reports them)."""
    reasoning = mapping(body.get("reasoning"))
    text = mapping(body.get("text"))
    metadata = body.get("metadata")
    return {
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")},
        "store": False,
        "temperature": body.get("temperature", 1.0),
        "text": {"format": text.get("format") or {"type": "text"}, **({"verbosity": text["verbosity"]} if "verbosity" in text else {})},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "user": body.get("user"),
        "metadata": metadata if isinstance(metadata, dict) else {},
    }


# -- usage


def mapping(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one (upstream JSON is read defensively)."""
    return value if isinstance(value, dict) else {}


def items(value: Any) -> list[Any]:
    """``value`` if it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


def usage_of(usage: Any) -> dict[str, Any] | None:
    """Chat usage -> Responses usage (``input_tokens_details`` always present)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = count(usage.get("prompt_tokens")), count(usage.get("completion_tokens"))
    prompt_details = mapping(usage.get("prompt_tokens_details"))
    completion_details = mapping(usage.get("completion_tokens_details"))
    input_details = {"cached_tokens": count(prompt_details.get("cached_tokens"))}
    if prompt_details.get("cache_write_tokens"):
        input_details["cache_write_tokens"] = count(prompt_details["cache_write_tokens"])
    return {"input_tokens": prompt, "input_tokens_details": input_details, "output_tokens": completion,
            "output_tokens_details": {"reasoning_tokens": count(completion_details.get("reasoning_tokens"))},
            "total_tokens": count(usage.get("total_tokens")) or prompt + completion}


def chat_usage_of(usage: Any) -> dict[str, Any] | None:
    """Responses usage -> the chat usage the dispatcher records (prompt / completion tokens)."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = count(usage.get("input_tokens")), count(usage.get("output_tokens"))
    total = count(usage.get("total_tokens")) or prompt + completion
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}


# -- items


def text_part(text: str, annotations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": annotations or [], "logprobs": []}


def message_item(item_id: str, status: str, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(item_id: str, status: str, call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": item_id, "type": "function_call", "status": status, "arguments": arguments, "call_id": call_id, "name": name}


def reasoning_item(item_id: str, summary: str | None, blocks: list[Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": summary}] if summary else []}
    if blocks:
        item["encrypted_content"] = thinking_token(blocks)
    return item


def thinking_token(blocks: list[Any]) -> str:
    data = json.dumps(blocks, ensure_ascii=False, separators=(",", ":")).encode()
    return THINKING_PREFIX + base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(blocks: Any) -> list[Any]:
    """The thinking blocks worth sending back (Anthropic refuses unsigned ones)."""
    return [b for b in blocks if isinstance(b, dict) and (b.get("signature") or b.get("data"))] if isinstance(blocks, list) else []


def annotation(raw: Any) -> dict[str, Any] | None:
    """Chat ``{"type": "url_citation", "url_citation": {...}}`` -> Responses' flat annotation."""
    inner = raw.get("url_citation") if isinstance(raw, dict) and raw.get("type") == "url_citation" else None
    if not isinstance(inner, dict):
        return None
    return {"type": "url_citation", "start_index": count(inner.get("start_index")), "end_index": count(inner.get("end_index")),
            "url": str(inner.get("url") or ""), "title": str(inner.get("title") or "")}


def reasoning_text(holder: dict[str, Any]) -> str | None:
    """``reasoning_content`` (DeepSeek, this gateway's translators) or ``reasoning`` (OpenRouter)."""
    for name in ("reasoning_content", "reasoning"):
        value = holder.get(name)
        if isinstance(value, str) and value:
            return value
    return None


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # a few hosts answer with text parts
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def from_chat(completion: dict[str, Any], shape: Shape) -> dict[str, Any]:
    """A ``chat.completion`` as a Responses object."""
    choices = completion.get("choices")
    choice = mapping(choices[0]) if isinstance(choices, list) and choices else {}
    message = mapping(choice.get("message"))
    output: list[dict[str, Any]] = []
    summary, blocks = reasoning_text(message), signed(message.get("thinking_blocks"))
    if summary or blocks:
        output.append(reasoning_item(shape.item_id("rs", len(output)), summary, blocks))
    text, refusal = content_text(message.get("content")), message.get("refusal")
    annotations = [a for a in (annotation(r) for r in items(message.get("annotations"))) if a is not None]
    parts = [text_part(text, annotations)] if text else []
    if isinstance(refusal, str) and refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    if parts:
        output.append(message_item(shape.item_id("msg", len(output)), "completed", parts))
    for call in items(message.get("tool_calls")):
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            continue
        index = len(output)
        call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else shape.item_id("call", index)
        output.append(function_call_item(shape.item_id("fc", index), "completed", call_id, str(function.get("name") or ""),
                                         str(function.get("arguments") or "")))
    incomplete = INCOMPLETE.get(str(choice.get("finish_reason")))
    created = completion.get("created")
    return shape.response(created if isinstance(created, int) else int(time.time()), str(completion.get("model") or ""),
                          "incomplete" if incomplete else "completed", output, usage_of(completion.get("usage")), incomplete)
