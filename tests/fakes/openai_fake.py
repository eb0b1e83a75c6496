"""A fake OpenAI-compatible upstream (OpenAI, Azure, OpenRouter and Cloudflare flavours).

It speaks the wire format of providers.md sections 1, 5, 6.2 and 7: checks the auth header of its
flavour, records every request, and answers from a script the test sets: text, tool calls, an
error status, a stall, a stream that breaks midway or reports an error in its first event.
Embeddings, images, audio (multipart uploads included) are answered by :mod:`.openai_media`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import openai_media as media
from .server import FakeUpstream


@dataclass
class Reply:
    """What the fake does for one request. Defaults: a normal answer echoing the last user message."""

    status: int = 200
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    finish_reason: str | None = None
    stall: float = 0.0  # seconds before the status line
    chunk_delay: float = 0.0  # seconds between stream events
    break_after: int | None = None  # stream: drop the connection after this many content events
    first_event_error: bool = False  # stream: the first event is an in-band error
    no_done: bool = False  # stream: end the body without [DONE]
    body: Any = None  # non-stream: answer exactly this JSON (e.g. an in-band error in a 200)
    float_only: bool = False  # embeddings: ignore encoding_format and answer floats (as some hosts do)
    chunks: int = 5  # speech: pieces of audio sent (chunk_delay apart)
    reasoning: str | None = None  # reasoning_content before the answer (DeepSeek/vLLM style), streamed word by word
    usage: dict[str, Any] | None = None  # merged over the computed usage (prompt_tokens_details...)


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return str(content)
    return ""


class FakeOpenAI(FakeUpstream):
    reply_type = Reply

    def __init__(self, name: str = "fake", keys: tuple[str, ...] = ("sk-upstream-key-1",), flavour: str = "openai",
                 models: tuple[str, ...] = ("gpt-4o",)) -> None:
        self.name = name
        self.keys = set(keys)
        self.flavour = flavour
        self.models = models
        self.sent: list[float] = []  # speech: when each audio piece left (time.perf_counter)
        super().__init__()

    # -- wire ----------------------------------------------------------
    def _key(self, request: Request) -> str:
        if self.flavour == "azure":
            return request.headers.get("api-key", "")
        auth = request.headers.get("authorization", "")
        return auth[7:] if auth.startswith("Bearer ") else ""

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        files: dict[str, list[dict[str, Any]]] = {}
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            body, files = await media.read_form(request)
        else:
            body = json.loads(raw) if raw else {}
        record = {"path": request.url.path, "query": dict(request.query_params), "headers": dict(request.headers),
                  "body": body, "files": files, "raw": raw, "key": self._key(request), "time": time.time()}
        self.requests.append(record)
        key = record["key"]
        if key not in self.keys:
            # Like real providers, echo (part of) the key: the gateway must never pass this on.
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {key}.", "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}}, status_code=401)
        if request.method == "GET" and request.url.path.endswith("/models"):
            return JSONResponse({"object": "list", "data": [{"id": m, "object": "model", "created": 1, "owned_by": "fake"} for m in self.models]})
        if request.url.path.endswith("/moderations"):
            flagged = "attack" in str(body.get("input"))
            return JSONResponse({"id": "modr-1", "model": body.get("model"), "results": [{
                "flagged": flagged, "categories": {"violence": flagged, "harassment": False},
                "category_scores": {"violence": 0.99 if flagged else 0.01, "harassment": 0.0}}]})
        reply = self.script.pop(0) if self.script else self.default
        if reply.stall:
            await asyncio.sleep(reply.stall)
        if reply.status >= 400:
            err = reply.error_body or {"error": {"message": f"fake {self.name} error {reply.status}", "type": "server_error", "param": None, "code": None}}
            return JSONResponse(err, status_code=reply.status, headers=reply.headers)
        if reply.body is not None:
            return JSONResponse(reply.body, headers=reply.headers)
        answer = self.media(request.url.path, body, files, reply)
        if answer is not None:
            return answer
        text = reply.text if reply.text is not None else f"{self.name} says: {last_user_text(body)}"
        usage = {"prompt_tokens": max(1, len(last_user_text(body).split())), "completion_tokens": max(1, len(text.split()))}
        usage.update(reply.usage or {})
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        model = body.get("model") or "deployment"
        if body.get("stream"):
            return StreamingResponse(self._stream(reply, body, text, usage, model), media_type="text/event-stream", headers=reply.headers)
        message: dict[str, Any] = {"role": "assistant", "content": None if reply.tool_calls else text, "refusal": None}
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        finish = reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")
        out = {"id": f"chatcmpl-{self.name}", "object": "chat.completion", "created": int(time.time()), "model": model,
               "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}], "usage": usage}
        if self.flavour == "azure":
            out["prompt_filter_results"] = [{"prompt_index": 0, "content_filter_results": {}}]
        return JSONResponse(out, headers=reply.headers)

    def media(self, path: str, body: dict[str, Any], files: dict[str, list[dict[str, Any]]], reply: Reply) -> Response | None:
        if path.endswith("/embeddings"):
            return media.embeddings(self, body, reply)
        if path.endswith("/images/generations"):
            return media.images(self, body, reply)
        if path.endswith("/images/edits"):
            return media.image_edits(self, body, files, reply)
        if path.endswith("/audio/speech"):
            return media.speech(self, body, reply)
        if path.endswith("/audio/transcriptions"):
            return media.audio_text(self, body, files, reply, "transcribe")
        if path.endswith("/audio/translations"):
            return media.audio_text(self, body, files, reply, "translate")
        return None

    async def _stream(self, reply: Reply, body: dict[str, Any], text: str, usage: dict[str, int], model: str):
        base = {"id": f"chatcmpl-{self.name}", "object": "chat.completion.chunk", "created": 1727346169, "model": model}

        def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
            return b"data: " + json.dumps({**base, "choices": choices, **extra}).encode() + b"\n\n"

        def delta(d: dict[str, Any], finish: str | None = None) -> bytes:
            return event([{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}])

        if reply.first_event_error:
            yield b'data: {"error": {"message": "fake first-chunk failure", "type": "server_error", "param": null, "code": null}}\n\n'
            return
        if self.flavour == "azure":
            yield b'data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}\n\n'
        if self.flavour == "openrouter":
            yield b": OPENROUTER PROCESSING\n\n"
        yield delta({"role": "assistant", "content": ""})
        for n, word in enumerate((reply.reasoning or "").split(" ") if reply.reasoning else []):
            yield delta({"reasoning_content": (" " if n else "") + word})
        sent = 0
        if reply.tool_calls:
            for i, call in enumerate(reply.tool_calls):
                yield delta({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": ""}}]})
                args = call["function"]["arguments"]
                for j in range(0, len(args), 7):
                    yield delta({"tool_calls": [{"index": i, "function": {"arguments": args[j:j + 7]}}]})
        else:
            for word in text.split(" "):
                if reply.break_after is not None and sent >= reply.break_after:
                    raise ConnectionResetError("fake upstream drops the connection")
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                yield delta({"content": (" " if sent else "") + word})
                sent += 1
        yield delta({}, reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            yield event([], usage=usage)
        if not reply.no_done:
            yield b"data: [DONE]\n\n"
