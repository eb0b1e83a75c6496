"""A fake OpenAI upstream that also serves the Responses API (``POST …/responses``, wire-formats-2.md 1).

:class:`FakeResponsesOpenAI` is a :class:`FakeOpenAI` (same auth per flavour, same chat endpoint,
same script of :class:`Reply`) whose ``…/responses`` path answers Responses objects and event
streams in the documented order, with ``event:`` lines and ``sequence_number``s. It refuses a body
with ``store`` not false or with ``previous_response_id`` (the gateway must never send either), so a
test also proves what the gateway forwards. Scripted replies: ``text``, ``tool_calls`` (chat form,
turned into function_call items), ``finish_reason="length"`` (incomplete), an error status,
``first_event_error`` (created, in_progress, then ``error`` and ``response.failed``), ``break_after``
(the connection drops after that many events).
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .openai_fake import FakeOpenAI, Reply


def input_text(body: dict[str, Any]) -> str:
    """The last user text of a Responses input (string, easy messages or input_text parts)."""
    value = body.get("input")
    if isinstance(value, str):
        return value
    for item in reversed(value or []):
        if isinstance(item, dict) and item.get("role") == "user":
            content = item.get("content")
            if isinstance(content, str):
                return content
            return " ".join(p.get("text", "") for p in content or [] if isinstance(p, dict) and p.get("type") == "input_text")
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            return f"result {item.get('output')}"
    return ""


def sse(kind: str, obj: dict[str, Any]) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(obj, separators=(',', ':'))}\n\n".encode()


class FakeResponsesOpenAI(FakeOpenAI):
    """FakeOpenAI plus ``…/responses``."""

    async def handle(self, request: Request) -> Response:
        if not request.url.path.rstrip("/").endswith("/responses"):
            return await super().handle(request)
        raw = await request.body()
        body = json.loads(raw) if raw else {}
        record = {"path": request.url.path, "query": dict(request.query_params), "headers": dict(request.headers),
                  "body": body, "key": self._key(request), "time": time.time()}
        self.requests.append(record)
        if record["key"] not in self.keys:
            return JSONResponse({"error": {"message": f"Incorrect API key provided: {record['key']}.", "type": "invalid_request_error",
                                           "param": None, "code": "invalid_api_key"}}, status_code=401)
        problem = None
        if body.get("store") is not False:
            problem = "fake: the gateway must send store: false"
        elif "previous_response_id" in body:
            problem = "fake: the gateway must never send previous_response_id"
        elif not isinstance(body.get("model"), str) or "input" not in body:
            problem = "fake: model and input are required"
        if problem:
            return JSONResponse({"error": {"message": problem, "type": "invalid_request_error", "param": None, "code": None}},
                                status_code=400)
        reply = self.script.pop(0) if self.script else self.default
        if reply.status >= 400:
            err = reply.error_body or {"error": {"message": f"fake {self.name} error {reply.status}", "type": "server_error",
                                                 "param": None, "code": None}}
            return JSONResponse(err, status_code=reply.status, headers=reply.headers)
        response = self.response(reply, body)
        if body.get("stream"):
            return StreamingResponse(self._responses_stream(reply, response), media_type="text/event-stream", headers=reply.headers)
        return JSONResponse(response, headers=reply.headers)

    def response(self, reply: Reply, body: dict[str, Any]) -> dict[str, Any]:
        """The whole Response object this reply amounts to."""
        text = reply.text if reply.text is not None else f"{self.name} responses: {input_text(body)}"
        output: list[dict[str, Any]] = []
        if reply.tool_calls:
            for i, call in enumerate(reply.tool_calls):
                output.append({"id": f"fc_{self.name}_{i}", "type": "function_call", "status": "completed", "call_id": call["id"],
                               "name": call["function"]["name"], "arguments": call["function"]["arguments"]})
        else:
            output.append({"id": f"msg_{self.name}", "type": "message", "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]})
        incomplete = reply.finish_reason == "length"
        words = len(input_text(body).split())
        return {"id": f"resp_{self.name}", "object": "response", "created_at": 1741290958, "status": "incomplete" if incomplete else "completed",
                "error": None, "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
                "instructions": body.get("instructions"), "model": body["model"], "output": output,
                "parallel_tool_calls": True, "previous_response_id": None, "store": False, "tools": body.get("tools") or [],
                "usage": {"input_tokens": words + 10, "input_tokens_details": {"cached_tokens": 8}, "output_tokens": len(text.split()),
                          "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": words + 10 + len(text.split())}}

    async def _responses_stream(self, reply: Reply, final: dict[str, Any]):
        start = {**final, "status": "in_progress", "output": [], "usage": None, "incomplete_details": None}
        events: list[tuple[str, dict[str, Any]]] = [("response.created", {"response": start}), ("response.in_progress", {"response": start})]
        if reply.first_event_error:
            events += [("error", {"error": {"type": "server_error", "code": "server_error", "message": "fake overloaded", "param": None}}),
                       ("response.failed", {"response": {**start, "status": "failed",
                                                         "error": {"code": "server_error", "message": "fake overloaded"}}})]
        else:
            for index, item in enumerate(final["output"]):
                events += self._item_events(index, item)
            events.append(("response.incomplete" if final["status"] == "incomplete" else "response.completed", {"response": final}))
        for seq, (kind, fields) in enumerate(events):
            if reply.break_after is not None and seq >= reply.break_after:
                raise ConnectionResetError("fake upstream drops the connection")
            yield sse(kind, {"type": kind, "sequence_number": seq, **fields})

    @staticmethod
    def _item_events(index: int, item: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        where = {"item_id": item["id"], "output_index": index}
        if item["type"] == "function_call":
            arguments = item["arguments"]
            return [("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress", "arguments": ""}}),
                    *[("response.function_call_arguments.delta", {**where, "delta": arguments[i:i + 5]}) for i in range(0, len(arguments), 5)],
                    ("response.function_call_arguments.done", {**where, "arguments": arguments}),
                    ("response.output_item.done", {"output_index": index, "item": item})]
        text = item["content"][0]["text"]
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        words = text.split(" ")
        return [("response.output_item.added", {"output_index": index, "item": {**item, "status": "in_progress", "content": []}}),
                ("response.content_part.added", {**where, "content_index": 0, "part": part}),
                *[("response.output_text.delta", {**where, "content_index": 0, "delta": (" " if i else "") + w, "logprobs": []})
                  for i, w in enumerate(words)],
                ("response.output_text.done", {**where, "content_index": 0, "text": text, "logprobs": []}),
                ("response.content_part.done", {**where, "content_index": 0, "part": {**part, "text": text}}),
                ("response.output_item.done", {"output_index": index, "item": item})]
