"""A fake Anthropic Messages API upstream (providers.md section 2).

``FakeAnthropic`` is a real HTTP server: ``POST /v1/messages`` with ``x-api-key`` auth (401
``authentication_error`` otherwise) and a required ``anthropic-version`` header, ``GET /v1/models``.
It validates bodies the way Anthropic does (alternating roles, non-empty text blocks, tool results
right after their tool calls, no OpenAI-only fields...), so a translation mistake shows up as the
400 the real API would give. It records every request and answers from a script of :class:`Reply`.

The reply generator does not depend on the route or the auth, so the Vertex fake can reuse it for
``rawPredict``/``streamRawPredict``: call :func:`validate` with ``require_model=False`` and then
:func:`respond`. Recorded streams from providers.md 2.7 are kept here as ``RECORDED_*`` bytes,
each with the equivalent non-stream message.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .server import FakeUpstream


@dataclass
class Reply:
    """What the fake does for one request. Defaults: a text answer echoing the last user turn."""

    status: int = 200
    error_body: Any = None  # body for status >= 400 (default: Anthropic's shape for that status)
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None  # [{"id", "name", "input"}]
    thinking: str | None = None  # a thinking block before the text
    signature: str = "EqQBCgIYAhIMfakeSignature=="
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None  # merged over the computed usage (cache counts...)
    message: dict[str, Any] | None = None  # answer exactly this message (streams are made from it)
    raw_stream: bytes | None = None  # stream: send these bytes verbatim (recorded fixtures)
    stall: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between stream events
    error_event_after: int | None = None  # stream: an `error` event after this many events, then the end
    error_event: dict[str, Any] | None = None  # its body (default: overloaded_error)
    break_after: int | None = None  # stream: drop the connection after this many events
    no_stop: bool = False  # stream: end without message_stop


ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 402: "billing_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               504: "timeout_error", 529: "overloaded_error"}

OVERLOADED_EVENT = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

TOP_LEVEL = {"model", "max_tokens", "messages", "system", "temperature", "top_p", "top_k", "stop_sequences", "stream",
             "tools", "tool_choice", "metadata", "thinking", "output_config", "service_tier", "anthropic_version",
             "cache_control"}
USER_BLOCKS = {"text", "image", "document", "tool_result"}
ASSISTANT_BLOCKS = {"text", "tool_use", "thinking", "redacted_thinking"}
IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


def error_body(status: int, message: str | None = None, kind: str | None = None) -> dict[str, Any]:
    kind = kind or ERROR_TYPES.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message or f"fake {kind}"}, "request_id": "req_fake0001"}


# --------------------------------------------------------------------------- validation


def validate(body: Any, require_model: bool = True) -> str | None:
    """The 400 message Anthropic would give for this body, or None when it is acceptable."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    for key in body:
        if key not in TOP_LEVEL:
            return f"{key}: Extra inputs are not permitted"
    if require_model and not isinstance(body.get("model"), str):
        return "model: Field required"
    if isinstance(body.get("max_tokens"), bool) or not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        return "temperature: Input should be less than or equal to 1"
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list) or not all(isinstance(b, dict) and b.get("type") == "text" and b.get("text") for b in system):
            return "system: Input should be a valid string or a list of non-empty text blocks"
    if body.get("stop_sequences") is not None and not all(isinstance(s, str) and s for s in body["stop_sequences"]):
        return "stop_sequences: each entry must be a non-empty string"
    if body.get("metadata") is not None and set(body["metadata"]) - {"user_id"}:
        return "metadata: Extra inputs are not permitted"
    return validate_messages(body.get("messages")) or validate_tools(body)


def validate_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    previous_role, pending = None, set()
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
        if role == previous_role:
            return f'messages: roles must alternate between "user" and "assistant", but found multiple "{role}" roles in a row'
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                return f"messages.{i}: text content blocks must be non-empty"
            blocks = [{"type": "text", "text": content}]
        elif isinstance(content, list) and content:
            blocks = content
        else:
            return f"messages.{i}.content: must be a non-empty string or list"
        problem = validate_blocks(i, role, blocks, pending)
        if problem:
            return problem
        pending = {b["id"] for b in blocks if b.get("type") == "tool_use"} if role == "assistant" else set()
        previous_role = role
    return None


def validate_blocks(i: int, role: str, blocks: list[Any], pending: set[str]) -> str | None:
    allowed = USER_BLOCKS if role == "user" else ASSISTANT_BLOCKS
    answered, seen_other = set(), False
    for j, block in enumerate(blocks):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind not in allowed:
            return f"messages.{i}.content.{j}: block type {kind!r} is not allowed in a {role} message"
        if kind == "text" and not block.get("text"):
            return f"messages.{i}: text content blocks must be non-empty"
        if kind == "image":
            source = block.get("source") or {}
            if source.get("type") == "base64" and (source.get("media_type") not in IMAGE_TYPES or not source.get("data")):
                return f"messages.{i}.content.{j}.source: invalid base64 image source"
            if source.get("type") == "url" and not str(source.get("url", "")).startswith(("http://", "https://")):
                return f"messages.{i}.content.{j}.source: invalid url image source"
            if source.get("type") not in ("base64", "url"):
                return f"messages.{i}.content.{j}.source.type: unknown source type"
        if kind == "tool_use" and not (block.get("id") and block.get("name") and isinstance(block.get("input"), dict)):
            return f"messages.{i}.content.{j}: tool_use needs id, name and an input object"
        if kind == "thinking" and not block.get("signature"):
            return f"messages.{i}.content.{j}.signature: Field required"
        if kind == "tool_result":
            if seen_other:
                return f"messages.{i}: tool_result blocks must come before any other content"
            if block.get("tool_use_id") not in pending:
                return f"messages.{i}.content.{j}: unexpected `tool_use_id` found in `tool_result` blocks: {block.get('tool_use_id')}"
            answered.add(block["tool_use_id"])
        else:
            seen_other = True
    if pending and pending - answered:
        return f"messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(sorted(pending - answered))}"
    return None


def validate_tools(body: dict[str, Any]) -> str | None:
    tools = body.get("tools") or []
    names = set()
    for i, tool in enumerate(tools):
        if not tool.get("name") or (tool.get("input_schema") or {}).get("type") != "object":
            return f"tools.{i}: name and an input_schema of type 'object' are required"
        names.add(tool["name"])
    uses_tools = any(isinstance(b, dict) and b.get("type") in ("tool_use", "tool_result")
                     for m in body["messages"] if isinstance(m.get("content"), list) for b in m["content"])
    if uses_tools and not tools:
        return "Requests which include `tool_use` or `tool_result` blocks must define tools."
    choice = body.get("tool_choice")
    if choice is not None:
        if choice.get("type") not in ("auto", "any", "tool", "none"):
            return "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'"
        if choice["type"] == "tool" and choice.get("name") not in names:
            return f"tool_choice: tool {choice.get('name')!r} not found in tools"
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        if not isinstance(budget, int) or budget < 1024 or budget >= body["max_tokens"]:
            return "thinking.budget_tokens: must be >= 1024 and less than max_tokens"
        if choice and choice.get("type") in ("any", "tool"):
            return "Thinking may not be enabled when tool_choice forces tool use."
    return None


# --------------------------------------------------------------------------- replies


def last_user_text(body: dict[str, Any]) -> str:
    """The last user turn's text, or a summary of its tool results (handy for round-trip asserts)."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return content
        results = [b for b in content if b.get("type") == "tool_result"]
        if results:
            return "results: " + "; ".join(f"{b['tool_use_id']}={b.get('content', '')}" for b in results)
        return " ".join(b.get("text", "") for b in content if b.get("type") == "text")
    return ""


def message_for(reply: Reply, body: dict[str, Any], name: str) -> dict[str, Any]:
    """The non-stream Message object for a reply (providers.md 2.3)."""
    if reply.message is not None:
        return reply.message
    content: list[dict[str, Any]] = []
    if reply.thinking is not None:
        content.append({"type": "thinking", "thinking": reply.thinking, "signature": reply.signature})
    text = reply.text if reply.text is not None else (None if reply.tool_calls else f"{name} says: {last_user_text(body)}")
    if text:
        content.append({"type": "text", "text": text})
    for call in reply.tool_calls or []:
        content.append({"type": "tool_use", "id": call["id"], "name": call["name"], "input": call.get("input") or {}})
    words = len(json.dumps(body.get("messages") or []).split())
    usage = {"input_tokens": max(1, words), "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": max(1, len((text or "").split()) + 10 * len(reply.tool_calls or [])), "service_tier": "standard"}
    usage.update(reply.usage or {})
    return {"id": f"msg_fake_{name}", "type": "message", "role": "assistant", "model": body.get("model") or "claude-vertex",
            "content": content, "stop_reason": reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn"),
            "stop_sequence": None, "usage": usage}


def pieces(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def stream_events(message: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The SSE events Anthropic would send for ``message`` (providers.md 2.7), fragments included."""
    usage = message.get("usage") or {}
    start_usage = {k: v for k, v in usage.items() if k != "output_tokens"}
    start_usage["output_tokens"] = 1
    yield "message_start", {"type": "message_start", "message": {**message, "content": [], "stop_reason": None,
                                                                  "stop_sequence": None, "usage": start_usage}}
    for index, block in enumerate(message.get("content") or []):
        kind = block["type"]
        if kind == "text":
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            if index == 0:
                yield "ping", {"type": "ping"}
            for piece in pieces(block["text"], 5):
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": piece}}
        elif kind == "tool_use":
            yield "content_block_start", {"type": "content_block_start", "index": index,
                                          "content_block": {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}}
            fragments = [""] + pieces(json.dumps(block["input"]), 7) if block["input"] else [""]
            for piece in fragments:
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": piece}}
        elif kind == "thinking":
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "thinking", "thinking": "", "signature": ""}}
            for piece in pieces(block["thinking"], 9):
                yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": piece}}
            yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "signature_delta", "signature": block["signature"]}}
        else:  # redacted_thinking and anything else arrive whole in the start event
            yield "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        yield "content_block_stop", {"type": "content_block_stop", "index": index}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")},
                            "usage": {"output_tokens": usage.get("output_tokens", 0)}}
    yield "message_stop", {"type": "message_stop"}


def encode_event(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


async def event_bytes(reply: Reply, message: dict[str, Any]) -> AsyncIterator[bytes]:
    if reply.raw_stream is not None:
        yield reply.raw_stream
        return
    for sent, (event, data) in enumerate(stream_events(message)):
        if reply.chunk_delay and sent:
            await asyncio.sleep(reply.chunk_delay)
        if reply.error_event_after is not None and sent >= reply.error_event_after:
            yield encode_event("error", reply.error_event or OVERLOADED_EVENT)
            return
        if reply.break_after is not None and sent >= reply.break_after:
            raise ConnectionResetError("fake upstream drops the connection")
        if reply.no_stop and event == "message_stop":
            return
        yield encode_event(event, data)


async def respond(reply: Reply, body: dict[str, Any], name: str, stream: bool) -> Response:
    """The HTTP answer for a validated request: error status, JSON message or SSE stream."""
    if reply.stall:
        await asyncio.sleep(reply.stall)
    if reply.status >= 400:
        return JSONResponse(reply.error_body or error_body(reply.status), status_code=reply.status, headers=reply.headers)
    message = message_for(reply, body, name)
    if stream:
        headers = {"cache-control": "no-cache", **reply.headers}
        return StreamingResponse(event_bytes(reply, message), media_type="text/event-stream; charset=utf-8", headers=headers)
    return JSONResponse(message, headers={"request-id": "req_fake0001", **reply.headers})


class FakeAnthropic(FakeUpstream):
    reply_type = Reply

    def __init__(self, name: str = "claude", keys: tuple[str, ...] = ("sk-ant-key-1",),
                 models: tuple[str, ...] = ("claude-sonnet-4-20250514",)) -> None:
        self.name = name
        self.keys = set(keys)
        self.models = models
        super().__init__()

    # -- wire ----------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        key = request.headers.get("x-api-key", "")
        self.requests.append({"path": request.url.path, "query": dict(request.query_params), "headers": dict(request.headers), "body": body,
                              "raw": raw, "key": key, "time": time.time()})
        if key not in self.keys:
            # Echo the key (as some providers do): the gateway must never pass it on.
            return JSONResponse(error_body(401, f"invalid x-api-key: {key}"), status_code=401)
        if not request.headers.get("anthropic-version"):
            return JSONResponse(error_body(400, "anthropic-version: header is required"), status_code=400)
        path = request.url.path.rstrip("/")
        if request.method == "GET" and path.endswith("/v1/models"):
            return JSONResponse({"data": [{"type": "model", "id": m, "display_name": m, "created_at": "2025-05-14T00:00:00Z"}
                                          for m in self.models], "has_more": False, "first_id": None, "last_id": None})
        if request.method == "POST" and path.endswith("/v1/messages/count_tokens"):
            return self.count_tokens(body)
        if request.method != "POST" or not path.endswith("/v1/messages"):
            return JSONResponse(error_body(404, "Not found"), status_code=404)
        problem = validate(body)
        if problem:
            return JSONResponse(error_body(400, problem), status_code=400)
        reply = self.script.pop(0) if self.script else self.default
        return await respond(reply, body, self.name, bool(body.get("stream")))

    def count_tokens(self, body: Any) -> Response:
        """``POST /v1/messages/count_tokens``: the create body without ``max_tokens``; the count is the
        input usage a create of the same body reports."""
        if isinstance(body, dict) and "max_tokens" in body:
            return JSONResponse(error_body(400, "max_tokens: Extra inputs are not permitted"), status_code=400)
        problem = validate({**body, "max_tokens": 1_000_000}) if isinstance(body, dict) else "body must be a JSON object"
        if problem:
            return JSONResponse(error_body(400, problem), status_code=400)
        reply = self.script.pop(0) if self.script else self.default
        if reply.status >= 400:
            return JSONResponse(reply.error_body or error_body(reply.status), status_code=reply.status, headers=reply.headers)
        return JSONResponse({"input_tokens": max(1, len(json.dumps(body.get("messages") or []).split()))})


# --------------------------------------------------------------------------- recorded fixtures
# providers.md 2.7, byte for byte (including the spaced `{"type": "ping"}`), and the non-stream
# message each one amounts to.

RECORDED_TEXT_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK","type":"message","role":"assistant","content":[],"model":"claude-3-opus-latest","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" there"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":6}}

event: message_stop
data: {"type":"message_stop"}

"""

RECORDED_TEXT_MESSAGE: dict[str, Any] = {
    "id": "msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK", "type": "message", "role": "assistant", "model": "claude-3-opus-latest",
    "content": [{"type": "text", "text": "Hello there!"}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 11, "output_tokens": 6},
}

RECORDED_TOOL_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I'll check the current weather in Paris for you."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"locati"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"on\\": \\"P"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"aris\\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":65}}

event: message_stop
data: {"type":"message_stop"}

"""

RECORDED_TOOL_MESSAGE: dict[str, Any] = {
    "id": "msg_019Q1hrJbZG26Fb9BQhrkHEr", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "text", "text": "I'll check the current weather in Paris for you."},
        {"type": "tool_use", "id": "toolu_01NRLabsLyVHZPKxbKvkfSMn", "name": "get_weather", "input": {"location": "Paris"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {"input_tokens": 377, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 65, "service_tier": "standard"},
}

# The thinking fixture of providers.md 2.7 is a fragment; completed here with the same event
# shapes (message_start, the thinking block with its signature, a text block, the end), with
# non-ASCII text so that byte splits land inside multi-byte characters.
RECORDED_THINKING_STREAM = """event: message_start
data: {"type":"message_start","message":{"id":"msg_01Thinking0000000000000","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":40,"cache_creation_input_tokens":12,"cache_read_input_tokens":2048,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me solve this step by step"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":": 27 × 453 = 12231 ✓"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk..."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"27 × 453 = 12231 🎉"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" — déjà vu."}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":120,"output_tokens_details":{"thinking_tokens":80}}}

event: message_stop
data: {"type":"message_stop"}

""".encode()

RECORDED_THINKING_MESSAGE: dict[str, Any] = {
    "id": "msg_01Thinking0000000000000", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [
        {"type": "thinking", "thinking": "Let me solve this step by step: 27 × 453 = 12231 ✓", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrk..."},
        {"type": "text", "text": "27 × 453 = 12231 🎉 — déjà vu."},
    ],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 40, "cache_creation_input_tokens": 12, "cache_read_input_tokens": 2048, "output_tokens": 120,
              "output_tokens_details": {"thinking_tokens": 80}},
}

RECORDED_ERROR_STREAM = b"""event: message_start
data: {"type":"message_start","message":{"id":"msg_01Overloaded","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":10,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Partial"}}

event: error
data: {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}

"""
