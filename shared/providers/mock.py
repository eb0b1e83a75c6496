"""The ``mock`` engine: deterministic OpenAI answers made in-process, with no network and no key.

For trying clients and for CI: the README's quick start answers through it, and an application's
own tests can point at a gateway whose models are mock channels. It is never used unless a
provider says ``engine: mock`` (no URL or host selects it), and a gateway in production that has
one logs a warning.

Answers, all derived from the request alone (the same request always gets the same answer):

* text: ``mock answer to: <the last user text>``, streamed one word per chunk;
* tools: when the request offers tools (and ``tool_choice`` is not ``none``) and its last message is
  not a tool result, one call to the chosen (or first) function, with arguments filled from the
  schema's required properties; after a tool result: ``mock got the tool result: <content>``;
* usage: whitespace-separated words of the request's texts and of the answer;
* a last user message ``mock:status <code>`` answers that HTTP error (to try failover and errors).

It reuses the OpenAI adapter for everything but sending: the request is built, overridden and
encoded as for a real upstream, then answered by :meth:`MockAdapter.send` instead of the network.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from .base import CHAT, OutboundRequest
from .openai import OpenAIAdapter

if TYPE_CHECKING:
    import httpx

    from ..config.schema import ProviderConfig

PLACEHOLDERS: dict[str, Any] = {"string": "mock", "number": 1, "integer": 1, "boolean": True, "array": [], "object": {}}


def texts(body: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            out.append(content)
        elif isinstance(content, list):
            out.extend(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("type") == "text")
    return out


def words(text: str) -> int:
    return len(text.split())


def arguments(schema: Any) -> dict[str, Any]:
    """Placeholder values for the required properties of a JSON schema (by their declared type)."""
    if not isinstance(schema, dict):
        return {}
    found = schema.get("properties")
    properties: dict[str, Any] = found if isinstance(found, dict) else {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or ():
        prop = properties.get(name) if isinstance(name, str) else None
        kind = prop.get("type") if isinstance(prop, dict) else None
        if isinstance(prop, dict) and isinstance(prop.get("enum"), list) and prop["enum"]:
            out[name] = prop["enum"][0]
        elif isinstance(name, str):
            out[name] = PLACEHOLDERS.get(kind, "mock") if isinstance(kind, str) else "mock"
    return out


def tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The call the mock makes, or None when it answers with text."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)]
    choice = body.get("tool_choice")
    messages = body.get("messages") or [{}]
    last: dict[str, Any] = messages[-1] if isinstance(messages[-1], dict) else {}
    if not tools or choice == "none" or last.get("role") == "tool":
        return None
    function = tools[0]["function"]
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        wanted = choice["function"].get("name")
        function = next((t["function"] for t in tools if t["function"].get("name") == wanted), function)
    return {"id": f"call_mock_{len(messages)}", "type": "function",
            "function": {"name": str(function.get("name", "tool")), "arguments": json.dumps(arguments(function.get("parameters")))}}


def reply_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or [{}]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    if last.get("role") == "tool":
        return f"mock got the tool result: {last.get('content')}"
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    said = texts({"messages": user[-1:]})
    return "mock answer to: " + (" ".join(said) or "(nothing)")


def status_asked(body: dict[str, Any]) -> int | None:
    """``mock:status 503`` as the last user text: answer that status."""
    said = " ".join(texts({"messages": [m for m in body.get("messages") or () if isinstance(m, dict) and m.get("role") == "user"][-1:]}))
    parts = said.split()
    if len(parts) == 2 and parts[0] == "mock:status" and parts[1].isdigit() and 400 <= int(parts[1]) <= 599:
        return int(parts[1])
    return None


def completion(body: dict[str, Any], created: int) -> tuple[dict[str, Any], list[bytes]]:
    """The whole answer and the same answer as SSE events."""
    model = str(body.get("model") or "mock")
    call = tool_call(body)
    text = None if call else reply_text(body)
    prompt = sum(words(t) for t in texts(body))
    done = words(text) if text else words(call["function"]["arguments"]) if call else 0
    usage = {"prompt_tokens": prompt, "completion_tokens": done, "total_tokens": prompt + done}
    finish = "tool_calls" if call else "stop"
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if call:
        message["tool_calls"] = [call]
    ident = f"chatcmpl-mock{created}"
    whole = {"id": ident, "object": "chat.completion", "created": created, "model": model,
             "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": usage}

    def event(delta: dict[str, Any], reason: str | None = None, **extra: Any) -> bytes:
        chunk = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [] if extra else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": reason}], **extra}
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    events = [event({"role": "assistant", "content": ""})]
    if call:
        events.append(event({"tool_calls": [{"index": 0, **call}]}))
    else:
        assert text is not None
        events += [event({"content": (" " if i else "") + w}) for i, w in enumerate(text.split(" "))]
    events.append(event({}, finish))
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage"):
        events.append(event({}, usage=usage))
    events.append(b"data: [DONE]\n\n")
    return whole, events


class MockAdapter(OpenAIAdapter):
    endpoints = frozenset({CHAT})
    for_testing = True
    default_url = "http://mock.invalid/v1/chat/completions"  # never contacted

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        if not provider.model:
            return [("model", "the mock engine needs its model names listed (e.g. model: [mock-model])")]
        return []

    async def send(self, request: OutboundRequest, timeout: float) -> httpx.Response:
        import httpx

        body = json.loads(request.content)
        status = status_asked(body)
        if status is not None:
            error = {"error": {"message": f"mock status {status}", "type": "mock_error", "param": None, "code": None}}
            return httpx.Response(status, json=error)
        whole, events = completion(body, int(time.time()))
        if not body.get("stream"):
            return httpx.Response(200, json=whole)

        async def chunks() -> AsyncIterator[bytes]:
            for chunk in events:
                yield chunk

        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=chunks())


adapter = MockAdapter()
