"""Anthropic Messages API (providers.md sections 2, 9, 10.1, 11): OpenAI chat bodies in, OpenAI
answers out.

Four reusable pieces, also imported by the Vertex adapter (Claude on Vertex speaks the same body
and the same SSE, only the URL, auth and ``anthropic_version`` placement differ):

* :func:`to_anthropic` - an OpenAI chat body to an Anthropic Messages body, without ``model`` and
  ``stream`` (where those go is the caller's business).
* :func:`from_anthropic` - an Anthropic ``message`` object to an OpenAI ``chat.completion``.
* :class:`AnthropicStream` - the incremental SSE translator (``event:`` stream to OpenAI chunks).
* :func:`parse_error` - Anthropic (and, through ``parse_error_body``, Google) error bodies.

Translation policy, in short (the README's "Anthropic" section has the user-facing version):
``system``/``developer`` messages are hoisted to ``system`` (position is lost); ``tool`` messages
become ``tool_result`` blocks in a user turn; consecutive same-role turns are merged; ``max_tokens``
defaults to :data:`DEFAULT_MAX_TOKENS`; ``reasoning_effort`` becomes a ``thinking`` budget from
:data:`THINKING_BUDGETS`; ``response_format`` becomes a system instruction (best effort, works on
every model); fields with no Anthropic equivalent (penalties, seed, logprobs, logit_bias, store,
OpenAI ``metadata``, ``service_tier``...) are dropped; ``n > 1``, audio input, ``file_id`` files,
custom tools and the deprecated ``functions`` are refused with 400 because the client clearly
depends on them. The Anthropic-native ``thinking``, ``top_k`` and ``output_config`` may be sent
through the OpenAI SDK's ``extra_body`` and are passed on as they are.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..sse import EventFramer, parse_block
from .base import ParsedResponse, StreamContext, UpstreamError, UpstreamRequest, dumps, parse_error_body
from .common import chunk, completion, make_usage, new_id, usage_chunk

if TYPE_CHECKING:
    from ..routing import Channel, Provider

DEFAULT_URL = "https://api.anthropic.com/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"

# Anthropic requires max_tokens; 4096 is accepted by every Claude model (claude-3-haiku's ceiling).
DEFAULT_MAX_TOKENS = 4096
# With thinking on and no max_tokens given, the answer still gets this much room after the budget.
ANSWER_ROOM = 4096
MIN_THINKING_BUDGET = 1024

# reasoning_effort -> thinking.budget_tokens (gateway policy, providers.md 9.1). "none" = no thinking.
# The top value plus ANSWER_ROOM stays within the 32k output ceiling of the Opus 4 models.
THINKING_BUDGETS: dict[str, int | None] = {
    "none": None,
    "minimal": 1024,
    "low": 2048,
    "medium": 8192,
    "high": 16384,
    "xhigh": 24576,
    "max": 28672,
}

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # no exact equivalent: the turn is over for this request
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic error.type -> (status when only the type is known, as in a stream; OpenAI type; code).
ERROR_TYPES: dict[str, tuple[int, str, str | None]] = {
    "invalid_request_error": (400, "invalid_request_error", None),
    "authentication_error": (401, "authentication_error", "invalid_api_key"),
    "billing_error": (402, "insufficient_quota", "insufficient_quota"),
    "permission_error": (403, "permission_error", None),
    "not_found_error": (404, "invalid_request_error", "model_not_found"),
    "request_too_large": (413, "invalid_request_error", "request_too_large"),
    "rate_limit_error": (429, "rate_limit_error", "rate_limit_exceeded"),
    "api_error": (500, "server_error", None),
    "timeout_error": (504, "server_error", "timeout"),
    "overloaded_error": (503, "server_error", "overloaded"),
}

# 529 is Anthropic's own "overloaded"; OpenAI clients and our failover understand 503.
STATUS_REWRITES = {529: 503}

JSON_OBJECT_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose before or after it and no Markdown code fences."
)
JSON_SCHEMA_INSTRUCTION = (
    "Respond with a single JSON value that conforms to the following JSON Schema, and nothing else: "
    "no prose before or after it and no Markdown code fences.\nSchema{name}:\n{schema}"
)

IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")


def invalid(message: str) -> UpstreamError:
    """A request we refuse before calling Anthropic; the proxy hands 400s straight to the client."""
    return UpstreamError(400, message, "invalid_request_error")


# --------------------------------------------------------------------------- request


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """The Anthropic Messages body for an OpenAI chat body, without ``model`` and ``stream``."""
    if isinstance(body.get("n"), int) and body["n"] > 1:
        raise invalid("n > 1 is not supported by Anthropic models; send one request per choice")
    if body.get("functions") or body.get("function_call"):
        raise invalid("'functions' and 'function_call' are deprecated and not translated for Anthropic; use 'tools'")

    system, messages = translate_messages(body.get("messages") or [])
    system.extend(response_format_blocks(body.get("response_format")))
    tools = translate_tools(body.get("tools"))
    tools, tool_choice = translate_tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), tools)
    forced_tool = bool(tool_choice and tool_choice["type"] in ("any", "tool"))

    requested = requested_max_tokens(body)
    thinking = thinking_for(body, requested, forced_tool)

    out: dict[str, Any] = {"max_tokens": max_tokens_for(requested, thinking)}
    if system:
        out["system"] = system_value(system)
    out["messages"] = messages
    if thinking is not None:
        out["thinking"] = thinking
    thinking_on = bool(thinking and thinking.get("type") != "disabled")
    if not thinking_on:  # sampling parameters are fixed while thinking (providers.md 2.9)
        if isinstance(body.get("temperature"), (int, float)):
            out["temperature"] = min(max(float(body["temperature"]), 0.0), 1.0)
        if isinstance(body.get("top_p"), (int, float)):
            out["top_p"] = body["top_p"]
        if body.get("top_k") is not None:
            out["top_k"] = body["top_k"]
    stop = stop_sequences(body.get("stop"))
    if stop:
        out["stop_sequences"] = stop
    if tools:
        out["tools"] = tools
        if tool_choice:
            out["tool_choice"] = tool_choice
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("output_config") is not None:
        out["output_config"] = body["output_config"]
    return out


def requested_max_tokens(body: dict[str, Any]) -> int | None:
    """``max_completion_tokens`` over ``max_tokens`` (the newer field is the precise one)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise invalid(f"'{name}' must be a positive integer")
        return value
    return None


def thinking_for(body: dict[str, Any], requested: int | None, forced_tool: bool) -> dict[str, Any] | None:
    """The ``thinking`` object: a native one passed as is, else from ``reasoning_effort``.

    Forcing a tool and thinking cannot be combined on Anthropic; the forced tool wins because
    client code usually depends on getting that call. Like OpenAI's ``max_completion_tokens``,
    ``max_tokens`` covers thinking, so the budget is cut to fit below it; under 1024 (Anthropic's
    minimum) thinking is left off.
    """
    native = body.get("thinking")
    if isinstance(native, dict):
        return None if forced_tool and native.get("type") != "disabled" else native
    effort = body.get("reasoning_effort")
    if effort is None:
        return None
    if effort not in THINKING_BUDGETS:
        raise invalid(f"unsupported reasoning_effort {effort!r}; expected one of {', '.join(THINKING_BUDGETS)}")
    budget = THINKING_BUDGETS[effort]
    if budget is None or forced_tool:
        return None
    if requested is not None:
        budget = min(budget, requested - 1)
    if budget < MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def max_tokens_for(requested: int | None, thinking: dict[str, Any] | None) -> int:
    if requested is not None:
        return requested
    budget = thinking.get("budget_tokens") if thinking else None
    if isinstance(budget, int) and thinking and thinking.get("type") == "enabled":
        return budget + ANSWER_ROOM
    return DEFAULT_MAX_TOKENS


def system_value(blocks: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    """A plain string unless a block carries ``cache_control`` (which only the list form can hold)."""
    if any("cache_control" in b for b in blocks):
        return blocks
    return "\n\n".join(b["text"] for b in blocks)


def stop_sequences(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def response_format_blocks(fmt: Any) -> list[dict[str, Any]]:
    """JSON modes as a system instruction: works on every Claude model (native structured output,
    ``output_config.format``, only on some; clients can send that through ``extra_body``)."""
    if not isinstance(fmt, dict):
        return []
    if fmt.get("type") == "json_object":
        return [{"type": "text", "text": JSON_OBJECT_INSTRUCTION}]
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        name = f" ({spec['name']})" if spec.get("name") else ""
        schema = json.dumps(spec.get("schema") or {}, ensure_ascii=False)
        return [{"type": "text", "text": JSON_SCHEMA_INSTRUCTION.format(name=name, schema=schema)}]
    return []


# -- messages


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


# -- tools


def translate_tools(tools: Any) -> list[dict[str, Any]]:
    out = []
    for i, tool in enumerate(tools or []):
        if not isinstance(tool, dict) or tool.get("type", "function") != "function" or not isinstance(tool.get("function"), dict):
            raise invalid(f"tools[{i}]: only function tools can be sent to an Anthropic model")
        fn = tool["function"]
        if not fn.get("name"):
            raise invalid(f"tools[{i}]: function.name is required")
        schema = dict(fn.get("parameters") or {"type": "object", "properties": {}})
        schema.setdefault("type", "object")
        entry: dict[str, Any] = {"name": fn["name"]}
        if fn.get("description"):
            entry["description"] = fn["description"]
        entry["input_schema"] = schema
        if isinstance(tool.get("cache_control"), dict):
            entry["cache_control"] = tool["cache_control"]
        out.append(entry)
    return out


def translate_tool_choice(choice: Any, parallel: Any, tools: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """``(tools, tool_choice)``; ``allowed_tools`` narrows the tool list itself."""
    if not tools:
        return tools, None
    result: dict[str, Any] | None
    if choice is None:
        result = None
    elif choice in ("auto", "none"):
        result = {"type": choice}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        name = (choice.get("function") or {}).get("name")
        if not name:
            raise invalid("tool_choice.function.name is required")
        result = {"type": "tool", "name": name}
    elif isinstance(choice, dict) and choice.get("type") == "allowed_tools":
        allowed = choice.get("allowed_tools") or {}
        names = {(t.get("function") or {}).get("name") for t in allowed.get("tools") or [] if isinstance(t, dict)}
        tools = [t for t in tools if t["name"] in names]
        result = {"type": "any" if allowed.get("mode") == "required" else "auto"}
    else:
        raise invalid(f"unsupported tool_choice {choice!r}")
    if parallel is False and (result is None or result["type"] != "none"):
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return tools, result


# --------------------------------------------------------------------------- response


def finish_reason_of(stop_reason: Any) -> str:
    """Unknown or missing reasons become ``stop`` (providers.md 1.8: keep clients working)."""
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def usage_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage: Anthropic's ``input_tokens`` excludes cached tokens, OpenAI's prompt includes them."""
    read = raw.get("cache_read_input_tokens")
    write = raw.get("cache_creation_input_tokens")
    prompt = int(raw.get("input_tokens") or 0) + int(read or 0) + int(write or 0)
    details = raw.get("output_tokens_details")
    reasoning = details.get("thinking_tokens") if isinstance(details, dict) else None
    cached = None if read is None and write is None else int(read or 0)
    return make_usage(prompt, int(raw.get("output_tokens") or 0), cached=cached,
                      reasoning=reasoning if isinstance(reasoning, int) else None, cache_write=int(write) if write else None)


def ensure_id(ctx: StreamContext, message_id: Any) -> None:
    """One OpenAI id per answer, derived from Anthropic's so both logs can be correlated."""
    if not ctx.id:
        ctx.id = f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else new_id()


def kept_thinking(block: Mapping[str, Any]) -> dict[str, Any]:
    """The thinking block exactly as it must be sent back on the next turn."""
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block.get("data") or ""}
    return {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature") or ""}


def tool_arguments(value: Any) -> str:
    return json.dumps(value if isinstance(value, dict) else {}, ensure_ascii=False)


def from_anthropic(obj: dict[str, Any], ctx: StreamContext) -> dict[str, Any]:
    """An OpenAI ``chat.completion`` for an Anthropic ``message``.

    Thinking goes to the non-standard ``reasoning_content`` (joined text) and ``thinking_blocks``
    (the signed blocks, for clients that continue tool loops with thinking on); server-tool blocks
    (web search results and the like) are not translated.
    """
    ensure_id(ctx, obj.get("id"))
    texts: list[str] = []
    reasoning: list[str] = []
    thinking: list[dict[str, Any]] = []
    tool_calls: list[dict[str, Any]] = []
    for block in obj.get("content") or []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "tool_use":
            tool_calls.append({"id": block.get("id") or new_id("call_"), "type": "function",
                               "function": {"name": block.get("name") or "", "arguments": tool_arguments(block.get("input"))}})
        elif kind in ("thinking", "redacted_thinking"):
            if block.get("thinking"):
                reasoning.append(block["thinking"])
            thinking.append(kept_thinking(block))
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking:
        message["thinking_blocks"] = thinking
    usage = usage_of(obj.get("usage") or {})
    return completion(ctx.model, message, finish_reason_of(obj.get("stop_reason")), usage, id=ctx.id, created=ctx.created)


# --------------------------------------------------------------------------- stream


@dataclass
class _Block:
    """What the translator remembers about one open Anthropic content block."""

    kind: str
    tool_index: int = -1  # OpenAI tool-call index (tool calls only, not Anthropic block indices)
    args_sent: bool = False
    start_input: Any = None  # a tool_use block's input as given at start (normally {})
    thinking: list[str] = field(default_factory=list)
    signature: str = ""
    data: str = ""  # redacted_thinking


class AnthropicStream:
    """Anthropic SSE (providers.md 2.7) -> OpenAI chunks (10.1), incrementally.

    The role chunk is held back until there is something to say (content, a tool call, reasoning
    or the finish), so an ``error`` event right after ``message_start`` (typically
    ``overloaded_error``) still reaches the proxy before any byte went to the client, and it can
    fail over. A thinking block's signed form is sent once, at its ``content_block_stop``, as a
    ``thinking_blocks`` delta, so a streamed answer carries the same fields as a non-stream one.
    """

    def __init__(self, ctx: StreamContext) -> None:
        self.ctx = ctx
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self._framer = EventFramer()
        self._raw_usage: dict[str, Any] = {}
        self._blocks: dict[Any, _Block] = {}
        self._next_tool = 0
        self._role_sent = False
        self._finished = False  # finish chunk sent
        self._stopped = False  # message_stop seen: the stream is complete
        self._handlers: dict[str, Callable[[dict[str, Any]], list[bytes]]] = {
            "message_start": self._message_start,
            "content_block_start": self._block_start,
            "content_block_delta": self._block_delta,
            "content_block_stop": self._block_stop,
            "message_delta": self._message_delta,
            "message_stop": self._message_stop,
            "error": self._error,
        }

    def feed(self, data: bytes) -> list[bytes]:
        return self._events(self._framer.feed(data))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if not self._stopped and self.error is None:
            self.error = UpstreamError(502, "the Anthropic stream ended before message_stop", "server_error")
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out: list[bytes] = []
        for block in blocks:
            if self._stopped or self.error is not None:
                break
            event, data = parse_block(block)
            if data is None:
                continue  # comment / keep-alive
            try:
                obj = json.loads(data)
            except ValueError:
                self.error = UpstreamError(502, f"the Anthropic stream sent an event that is not JSON ({event})", "server_error")
                break
            if not isinstance(obj, dict):
                continue
            handler = self._handlers.get(obj.get("type") or event)
            if handler is not None:  # ping and unknown events produce nothing
                out.extend(handler(obj))
        return out

    # -- emitters

    def _emit(self, delta: dict[str, Any], finish_reason: str | None = None) -> list[bytes]:
        out = []
        if not self._role_sent:
            self._role_sent = True
            out.append(chunk(self.ctx, {"role": "assistant", "content": ""}))
        out.append(chunk(self.ctx, delta, finish_reason))
        return out

    def _update_usage(self, raw: Any) -> None:
        if isinstance(raw, dict):
            # message_delta counts are cumulative: the last value of each field wins.
            self._raw_usage.update({k: v for k, v in raw.items() if v is not None})
            self.usage = usage_of(self._raw_usage)

    # -- handlers, one per Anthropic event type

    def _message_start(self, obj: dict[str, Any]) -> list[bytes]:
        message = obj.get("message") or {}
        ensure_id(self.ctx, message.get("id"))
        self._update_usage(message.get("usage"))
        return []

    def _block_start(self, obj: dict[str, Any]) -> list[bytes]:
        start = obj.get("content_block") or {}
        kind = start.get("type") or ""
        block = self._blocks[obj.get("index")] = _Block(kind)
        if kind == "tool_use":
            block.tool_index = self._next_tool
            block.start_input = start.get("input")
            self._next_tool += 1
            return self._emit({"tool_calls": [{"index": block.tool_index, "id": start.get("id") or new_id("call_"), "type": "function",
                                               "function": {"name": start.get("name") or "", "arguments": ""}}]})
        if kind == "text" and start.get("text"):
            return self._emit({"content": start["text"]})
        if kind == "thinking":
            block.signature = start.get("signature") or ""
            if start.get("thinking"):
                block.thinking.append(start["thinking"])
                return self._emit({"reasoning_content": start["thinking"]})
        if kind == "redacted_thinking":
            block.data = start.get("data") or ""
        return []

    def _block_delta(self, obj: dict[str, Any]) -> list[bytes]:
        delta = obj.get("delta") or {}
        block = self._blocks.get(obj.get("index"))
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return self._emit({"content": delta["text"]})
        if kind == "input_json_delta" and delta.get("partial_json") and block is not None and block.kind == "tool_use":
            block.args_sent = True
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": delta["partial_json"]}}]})
        if kind == "thinking_delta" and delta.get("thinking"):
            if block is not None:
                block.thinking.append(delta["thinking"])
            return self._emit({"reasoning_content": delta["thinking"]})
        if kind == "signature_delta" and block is not None:
            block.signature += delta.get("signature") or ""
        return []  # citations_delta and unknown deltas are not translated

    def _block_stop(self, obj: dict[str, Any]) -> list[bytes]:
        block = self._blocks.pop(obj.get("index"), None)
        if block is None:
            return []
        if block.kind == "tool_use" and not block.args_sent:
            # No input_json_delta (a tool without arguments): OpenAI clients still need valid JSON.
            return self._emit({"tool_calls": [{"index": block.tool_index, "function": {"arguments": tool_arguments(block.start_input)}}]})
        if block.kind in ("thinking", "redacted_thinking"):
            kept = kept_thinking({"type": block.kind, "thinking": "".join(block.thinking), "signature": block.signature, "data": block.data})
            return self._emit({"thinking_blocks": [kept]})
        return []

    def _message_delta(self, obj: dict[str, Any]) -> list[bytes]:
        self._update_usage(obj.get("usage"))
        if self._finished:
            return []
        self._finished = True
        return self._emit({}, finish_reason_of((obj.get("delta") or {}).get("stop_reason")))

    def _message_stop(self, obj: dict[str, Any]) -> list[bytes]:
        self._stopped = True
        out = [] if self._finished else self._emit({}, "stop")
        self._finished = True
        if self.usage is None:
            self.usage = usage_of(self._raw_usage)
        if self.ctx.include_usage:
            out.append(usage_chunk(self.ctx, self.usage))
        return out

    def _error(self, obj: dict[str, Any]) -> list[bytes]:
        self.error = error_from_event(obj)
        return []


# --------------------------------------------------------------------------- errors


def error_from_event(obj: Mapping[str, Any]) -> UpstreamError:
    """An ``error`` event (or an error object in a 200 body): the status comes from its type."""
    err = obj.get("error") if isinstance(obj.get("error"), dict) else {}
    kind = err.get("type")
    status, openai_type, code = ERROR_TYPES.get(kind, (502, "server_error", None)) if isinstance(kind, str) else (502, "server_error", None)
    return UpstreamError(status, str(err.get("message") or kind or "the Anthropic stream reported an error"), openai_type, code)


def parse_error(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """An Anthropic error response in OpenAI terms (providers.md section 11). 529 becomes 503 so
    the proxy fails over and OpenAI clients retry; Google-shaped bodies (Claude on Vertex) are read
    by the shared parser and keep their own type."""
    err = parse_error_body(status, data, headers)
    known = ERROR_TYPES.get(err.type or "")
    openai_type, code = (known[1], known[2]) if known else (err.type, err.code)
    if "prompt is too long" in err.message.lower():
        code = "context_length_exceeded"
    return UpstreamError(STATUS_REWRITES.get(status, status), err.message, openai_type, code, err.retry_after)


# --------------------------------------------------------------------------- adapter


def messages_url(base_url: str) -> str:
    """``…/v1/messages`` as given, or appended to a base ending in ``/v1`` or to a bare host."""
    base = base_url.rstrip("/")
    if base.endswith("/messages"):
        return base
    if base.endswith("/v1"):
        return base + "/messages"
    return base + "/v1/messages"


def models_url(base_url: str) -> str:
    return messages_url(base_url)[: -len("/messages")] + "/models"


def merge_headers(base: dict[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """Provider ``headers`` win, whatever their case (e.g. a different ``anthropic-version``)."""
    out = dict(base)
    for name, value in extra.items():
        for existing in [k for k in out if k.lower() == name.lower()]:
            del out[existing]
        out[name] = value
    return out


class AnthropicAdapter:
    default_url = DEFAULT_URL

    def url(self, channel: "Channel") -> str:
        return messages_url(channel.provider.base_url or self.default_url)

    def headers(self, provider: "Provider", key: str, json_body: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json"} if json_body else {}
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key:
            headers["x-api-key"] = key
        return merge_headers(headers, provider.headers)

    async def build_request(self, channel: "Channel", key: str, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        payload: dict[str, Any] = {"model": body.get("model") or channel.upstream_model, **to_anthropic(body)}
        if stream:
            payload["stream"] = True
        return UpstreamRequest(self.url(channel), self.headers(channel.provider, key), payload)

    def parse_response(self, channel: "Channel", data: bytes, ctx: StreamContext) -> ParsedResponse:
        try:
            obj = json.loads(data)
        except ValueError:
            raise UpstreamError(502, "Anthropic answered 200 with a body that is not JSON") from None
        if isinstance(obj, dict) and obj.get("type") == "error":
            raise error_from_event(obj)
        if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
            raise UpstreamError(502, "Anthropic answered 200 without a message 'content' list")
        out = from_anthropic(obj, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: "Channel", ctx: StreamContext) -> AnthropicStream:
        return AnthropicStream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return parse_error(status, data, headers)

    def models_request(self, provider: "Provider", key: str) -> UpstreamRequest | None:
        """``GET /v1/models`` answers ``{"data": [{"id": ...}]}`` like OpenAI's list."""
        return UpstreamRequest(models_url(provider.base_url or self.default_url), self.headers(provider, key, json_body=False), {}, method="GET")


adapter = AnthropicAdapter()
__all__ = [
    "AnthropicAdapter", "AnthropicStream", "adapter", "error_from_event", "from_anthropic", "messages_url",
    "parse_error", "to_anthropic", "usage_of",
]
