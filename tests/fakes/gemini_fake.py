"""A fake Google upstream: the Gemini API, Vertex AI (Gemini and Claude) and an OAuth2 token endpoint.

One real HTTP server on 127.0.0.1 answers every path, speaking the wire formats of providers.md
sections 2, 3 and 4:

* ``POST /v1beta/models/{m}:generateContent`` / ``:streamGenerateContent?alt=sse`` with
  ``x-goog-api-key`` (a bad key gets Gemini's real answer: 400 ``INVALID_ARGUMENT`` with reason
  ``API_KEY_INVALID``);
* ``POST /v1/projects/{p}/locations/{r}/publishers/google/models/{m}:…`` (Vertex Gemini) and
  ``…/publishers/anthropic/models/{m}:rawPredict|streamRawPredict`` (Vertex Claude, answered by
  the Anthropic fake's validation and reply generator), both needing
  ``Authorization: Bearer <token>`` with a token this fake issued and that has not expired;
* embeddings: ``POST /v1beta/models/{m}:batchEmbedContents`` / ``:embedContent`` (Gemini) and
  ``…/publishers/google/models/{m}:predict`` (Vertex), validated like the real services (unknown
  fields, a per-request ``model`` that is not the URL's, empty text) and answered with vectors of
  ``outputDimensionality`` values that encode each input's length and position (wire-formats-2.md 4);
* ``POST /token``: the OAuth2 JWT-bearer grant. The assertion's RS256 signature is verified with
  the public key registered for its ``iss`` (the test's throwaway service account), and its claims
  are checked the way Google checks them.

Requests are validated like the real services do where the gateway could get it wrong: roles,
``functionResponse`` objects and names, schema keywords Gemini rejects, empty OBJECT properties,
thought signatures on replayed function calls (Gemini 3 models), Vertex's ``anthropic_version``.
Streams use CRLF framing and end without ``[DONE]``, like Google's.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Iterator

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from . import anthropic_fake
from .server import FakeUpstream

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
SKIP_SIGNATURE = "skip_thought_signature_validator"

# Keywords Gemini's Schema message knows (anything else: "Unknown name ... Cannot find field.").
SCHEMA_FIELDS = {
    "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties", "required",
    "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf", "propertyOrdering",
    "default", "items", "minimum", "maximum",
}
GENERATION_FIELDS = {
    "temperature", "topP", "topK", "candidateCount", "maxOutputTokens", "stopSequences", "presencePenalty",
    "frequencyPenalty", "seed", "responseMimeType", "responseSchema", "responseJsonSchema", "responseLogprobs",
    "logprobs", "responseModalities", "thinkingConfig",
}
TOP_FIELDS = {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings", "cachedContent", "labels"}

STATUS_NAMES = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}

# The Gemini API, and Vertex AI express mode (API keys, no project in the path): the same wire format.
GEMINI_PATH = re.compile(r"^/(?:v1beta/models|v1/publishers/google/models)/(?P<model>[^:/]+)"
                         r":(?P<method>generateContent|streamGenerateContent)$")
EMBED_PATH = re.compile(r"^/v1beta/models/(?P<model>[^:/]+):(?P<method>batchEmbedContents|embedContent)$")
EMBED_FIELDS = {"model", "content", "taskType", "title", "outputDimensionality"}
VERTEX_PATH = re.compile(r"^/v1(?:beta1)?/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/publishers/"
                         r"(?P<publisher>google|anthropic)/models/(?P<model>[^:/]+):(?P<method>[A-Za-z]+)$")


@dataclass
class Call:
    """A function call the fake model makes; ``signature`` is sent as the part's thoughtSignature."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    signature: str | None = None
    id: str | None = None


@dataclass
class GeminiReply:
    """What the fake does for one request (Gemini or Vertex, either publisher).

    Default: echo the last user text, finishReason STOP, usage from word counts.
    """

    status: int = 200
    error_body: Any = None  # exact error JSON; default: Google's shape for ``status``
    error_array: bool = False  # wrap the error in a one-element array (Vertex style)
    retry_delay: str | None = None  # adds a google.rpc.RetryInfo detail ("7s")
    error_reason: str | None = None  # adds a google.rpc.ErrorInfo detail (e.g. API_KEY_INVALID)
    headers: dict[str, str] = field(default_factory=dict)
    text: str | None = None
    thoughts: str | None = None
    calls: list[Call] = field(default_factory=list)
    finish_reason: str | None = "STOP"
    block_reason: str | None = None  # prompt blocked: no candidates, promptFeedback.blockReason
    usage: dict[str, Any] | None = None
    break_after: int | None = None  # stream: drop the connection after this many events
    no_finish: bool = False  # stream: end the body cleanly without any finishReason
    usage_after_finish: bool = False  # stream: a last usage-only event after the finishReason one
    line_ending: str = "\r\n"
    chunk_delay: float = 0.0
    stall: float = 0.0


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def google_error(status: int, message: str, reason: str | None = None, retry_delay: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}
    details = []
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
                        "metadata": {"service": "generativelanguage.googleapis.com"}})
    if retry_delay:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay})
    if details:
        err["details"] = details
    return {"error": err}


def pretty(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """Google sends error bodies pretty-printed."""
    return Response(json.dumps(body, indent=2), status_code=status, media_type="application/json", headers=headers)


class Invalid(Exception):
    """A request the real service would reject with 400 INVALID_ARGUMENT."""


def words(text: str) -> list[str]:
    pieces = text.split(" ")
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


def last_user_text(contents: list[dict[str, Any]]) -> str:
    for content in reversed(contents):
        if content.get("role") == "user":
            texts = [p["text"] for p in content.get("parts") or () if isinstance(p, dict) and "text" in p]
            if texts:
                return " ".join(texts)
    return ""


# ---------------------------------------------------------------------------------------------
# Gemini responses: the stream events, and the one-shot response the same answer gives
# ---------------------------------------------------------------------------------------------

def gemini_events(reply: GeminiReply, text: str, prompt_tokens: int, response_id: str, model: str) -> list[dict[str, Any]]:
    """The SSE events (whole GenerateContentResponse objects, delta text) for one answer."""
    base = {"modelVersion": model, "responseId": response_id}
    if reply.block_reason:
        return [{"promptFeedback": {"blockReason": reply.block_reason, "safetyRatings": []},
                 "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}, **base}]
    thoughts = words(reply.thoughts) if reply.thoughts else []
    texts = words(text) if text else []
    usage = dict(reply.usage) if reply.usage else {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": len(texts) + 2 * len(reply.calls),
        **({"thoughtsTokenCount": len(thoughts)} if thoughts else {}),
    }
    usage.setdefault("totalTokenCount", sum(int(usage.get(k) or 0) for k in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")))
    running = {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens}

    def event(parts: list[dict[str, Any]], **candidate: Any) -> dict[str, Any]:
        return {"candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0, **candidate}],
                "usageMetadata": running, **base}

    events = [event([{"text": t, "thought": True}]) for t in thoughts]
    events += [event([{"text": t}]) for t in texts]
    for call in reply.calls:
        fc: dict[str, Any] = {"name": call.name, "args": call.args}
        if call.id:
            fc["id"] = call.id
        part: dict[str, Any] = {"functionCall": fc}
        if call.signature:
            part["thoughtSignature"] = call.signature
        events.append(event([part]))
    if reply.no_finish:
        return events
    final = dict(usage)
    if reply.finish_reason is None:
        events.append({"usageMetadata": final, **base})
        return events
    if reply.finish_reason in ("SAFETY", "MAX_TOKENS") and not events:
        last = {"candidates": [{"finishReason": reply.finish_reason, "index": 0}], "usageMetadata": final, **base}
    else:
        last = event([{"text": ""}], finishReason=reply.finish_reason)
        last["usageMetadata"] = running if reply.usage_after_finish else final
    events.append(last)
    if reply.usage_after_finish:
        events.append({"usageMetadata": final, **base})
    return events


def merge_events(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-stream GenerateContentResponse equivalent to a list of stream events.

    Consecutive text parts of the same kind (thought or not) are joined, like the real service
    returns one part per kind; function-call parts stay whole.
    """
    out: dict[str, Any] = {}
    parts: list[dict[str, Any]] = []
    candidate: dict[str, Any] = {}
    for ev in events:
        for key in ("modelVersion", "responseId", "promptFeedback", "usageMetadata"):
            if key in ev:
                out[key] = ev[key]
        for cand in ev.get("candidates") or ():
            for key, value in cand.items():
                if key != "content":
                    candidate[key] = value
            for part in (cand.get("content") or {}).get("parts") or ():
                if "text" in part and not part["text"] and "thoughtSignature" not in part:
                    continue
                if parts and "text" in part and "text" in parts[-1] and bool(part.get("thought")) == bool(parts[-1].get("thought")) \
                        and "thoughtSignature" not in part:
                    parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
                else:
                    parts.append(dict(part))
    if candidate or parts:
        cand = {"content": {"parts": parts, "role": "model"}, **candidate}
        if not parts:
            cand.pop("content")
        out["candidates"] = [cand]
    return out


def sse(events: list[dict[str, Any]], line_ending: str = "\r\n") -> bytes:
    """Gemini's framing: one ``data:`` line per event, blank line after, CRLF on the real wire."""
    return b"".join(f"data: {json.dumps(ev)}{line_ending}{line_ending}".encode() for ev in events)


# ---------------------------------------------------------------------------------------------
# Request validation (what the real services reject)
# ---------------------------------------------------------------------------------------------

def check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise Invalid(f"Invalid value at '{where}': expected a Schema object")
    for key in schema:
        if key not in SCHEMA_FIELDS:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'{where}\': Cannot find field.')
    if str(schema.get("type", "")).lower() == "object" and "properties" in schema and not schema["properties"]:
        raise Invalid(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type")
    if "format" in schema:
        allowed = {"string": {"enum", "date-time"}, "integer": {"int32", "int64"}, "number": {"float", "double"}}
        if schema["format"] not in allowed.get(str(schema.get("type", "")).lower(), set()):
            raise Invalid(f"* GenerateContentRequest.{where}.format: only 'enum' and 'date-time' are supported for STRING type")
    for name, sub in (schema.get("properties") or {}).items():
        check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf") or ()):
        check_schema(sub, f"{where}.anyOf[{i}]")


def check_gemini_body(body: dict[str, Any], model: str, issued_signatures: set[str]) -> None:
    for key in body:
        if key not in TOP_FIELDS:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise Invalid("* GenerateContentRequest.contents: contents is not specified")
    names_called: list[str] = []
    for i, content in enumerate(contents):
        role = content.get("role")
        if role not in ("user", "model"):
            raise Invalid(f"Please use a valid role: user, model. (contents[{i}].role={role!r})")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise Invalid(f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty.")
        first_call = True
        for j, part in enumerate(parts):
            if "functionCall" in part:
                if role != "model":
                    raise Invalid("functionCall parts belong to model turns")
                names_called.append(part["functionCall"].get("name"))
                if not isinstance(part["functionCall"].get("args", {}), dict):
                    raise Invalid(f"contents[{i}].parts[{j}].functionCall.args must be an object")
                sig = part.get("thoughtSignature")
                if first_call and "gemini-3" in model and not sig:
                    raise Invalid(f"Function call is missing a thought_signature in functionCall parts. This is required for tools "
                                  f"to work correctly, and missing thought_signature may lead to degraded model performance. "
                                  f"Position: contents[{i}].parts[{j}].")
                if sig and sig != SKIP_SIGNATURE and sig not in issued_signatures:
                    raise Invalid(f"Corrupted thought signature at contents[{i}].parts[{j}].")
                first_call = False
            if "functionResponse" in part:
                fr = part["functionResponse"]
                if not fr.get("name"):
                    raise Invalid(f"* GenerateContentRequest.contents[{i}].parts[{j}].function_response.name: Name cannot be empty.")
                if fr["name"] not in names_called:
                    raise Invalid(f"functionResponse {fr['name']!r} answers no earlier functionCall")
                if not isinstance(fr.get("response"), dict):
                    raise Invalid(f"contents[{i}].parts[{j}].functionResponse.response must be an object")
            if "inlineData" in part:
                data = part["inlineData"]
                if not data.get("mimeType") or not isinstance(data.get("data"), str):
                    raise Invalid("inlineData needs mimeType and data")
                base64.b64decode(data["data"], validate=True)
    system = body.get("systemInstruction")
    if system is not None and not (isinstance(system, dict) and isinstance(system.get("parts"), list)):
        raise Invalid("systemInstruction must be a Content with parts")
    for key in body.get("generationConfig") or {}:
        if key not in GENERATION_FIELDS:
            raise Invalid(f'Invalid JSON payload received. Unknown name "{key}" at \'generation_config\': Cannot find field.')
    if "responseSchema" in (body.get("generationConfig") or {}):
        check_schema(body["generationConfig"]["responseSchema"], "generation_config.response_schema")
    for t, tool in enumerate(body.get("tools") or ()):
        for d, decl in enumerate(tool.get("functionDeclarations") or ()):
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}", decl.get("name", "")):
                raise Invalid(f"* GenerateContentRequest.tools[{t}].function_declarations[{d}].name: Invalid function name.")
            if "parameters" in decl:
                check_schema(decl["parameters"], f"tools[{t}].function_declarations[{d}].parameters")


def check_vertex_claude_body(body: dict[str, Any]) -> str | None:
    """What Vertex adds to Anthropic's own checks: ``anthropic_version`` in the body, no ``model``."""
    if body.get("anthropic_version") != "vertex-2023-10-16":
        return "anthropic_version: vertex-2023-10-16 is required"
    if "model" in body:
        return "model: Extra inputs are not permitted"
    return anthropic_fake.validate(body, require_model=False)


def claude_reply(reply: "GeminiReply | anthropic_fake.Reply") -> anthropic_fake.Reply:
    """The Anthropic fake's reply for a scripted one (tests may also script Anthropic replies directly)."""
    if isinstance(reply, anthropic_fake.Reply):
        return reply
    calls = [{"id": c.id or f"toolu_vrtx_{i:02d}", "name": c.name, "input": c.args} for i, c in enumerate(reply.calls)]
    return anthropic_fake.Reply(status=reply.status, error_body=reply.error_body, headers=reply.headers, text=reply.text,
                                tool_calls=calls or None, stall=reply.stall, chunk_delay=reply.chunk_delay, break_after=reply.break_after)


# ---------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------

class FakeGoogle(FakeUpstream):
    """Gemini API + Vertex AI + token endpoint. Tests script replies with :meth:`then`."""

    reply_type = GeminiReply

    def __init__(self, keys: tuple[str, ...] = ("gemini-key-1",), project: str = "test-project",
                 accounts: dict[str, Any] | None = None, expires_in: int = 3599) -> None:
        self.keys = set(keys)
        self.project = project
        self.accounts: dict[str, Any] = dict(accounts or {})  # client_email -> cryptography RSA public key
        self.expires_in = expires_in
        self.tokens: dict[str, float] = {}  # issued token -> expiry (fake's own clock)
        self.token_requests: list[dict[str, Any]] = []
        self.issued_signatures: set[str] = set()
        super().__init__()

    @property
    def token_hits(self) -> int:
        return len([r for r in self.token_requests if r["ok"]])

    def __enter__(self) -> "FakeGoogle":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- routing -------------------------------------------------------
    async def handle(self, request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        if path == "/token":
            return self.token(raw)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return pretty(400, google_error(400, "Invalid JSON payload received."))
        record = {"path": path, "query": dict(request.query_params), "headers": dict(request.headers), "body": body, "time": time.time()}
        self.requests.append(record)
        stream_query = request.query_params.get("alt") == "sse"
        if request.method == "GET" and path == "/v1beta/models":
            if request.headers.get("x-goog-api-key") not in self.keys:
                return pretty(400, google_error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"))
            return JSONResponse({"models": [
                {"name": "models/gemini-2.5-flash", "supportedGenerationMethods": ["generateContent", "countTokens"]},
                {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]},
                {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
            ]})
        match = GEMINI_PATH.match(path)
        if match:
            key = request.headers.get("x-goog-api-key") or request.query_params.get("key", "")
            record["key"] = key
            if key not in self.keys:
                return pretty(400, google_error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"))
            stream = match["method"] == "streamGenerateContent"
            if stream and not stream_query:
                return pretty(400, google_error(400, "this fake only streams with alt=sse"))
            return await self.gemini(body, match["model"], stream)
        match = EMBED_PATH.match(path)
        if match:
            key = request.headers.get("x-goog-api-key") or request.query_params.get("key", "")
            record["key"] = key
            if key not in self.keys:
                return pretty(400, google_error(400, "API key not valid. Please pass a valid API key.", reason="API_KEY_INVALID"))
            return self.embed(body, match["model"], match["method"] == "batchEmbedContents")
        match = VERTEX_PATH.match(path)
        if match:
            auth = request.headers.get("authorization", "")
            token = auth[7:] if auth.startswith("Bearer ") else ""
            record["token"] = token
            if self.tokens.get(token, 0) <= time.time():
                return pretty(401, [google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                                                      "login cookie or other valid authentication credential.")])
            if match["project"] != self.project:
                return pretty(403, [google_error(403, f"Permission denied on resource project {match['project']}.")])
            record["region"] = match["region"]
            if match["publisher"] == "google":
                if match["method"] == "predict":
                    return self.predict(body)
                if match["method"] not in ("generateContent", "streamGenerateContent"):
                    return pretty(404, [google_error(404, f"unknown method {match['method']}")])
                stream = match["method"] == "streamGenerateContent"
                if stream and not stream_query:
                    return pretty(400, [google_error(400, "this fake only streams with alt=sse")])
                return await self.gemini(body, match["model"], stream, vertex=True)
            if match["method"] not in ("rawPredict", "streamRawPredict"):
                return pretty(404, [google_error(404, f"unknown method {match['method']}")])
            return await self.claude(body, match["model"], match["method"] == "streamRawPredict")
        return pretty(404, google_error(404, f"fake: unknown path {path}"))

    def next_reply(self) -> Any:
        return self.script.pop(0) if self.script else self.default

    def error_response(self, reply: GeminiReply, vertex: bool) -> Response:
        body = reply.error_body or google_error(reply.status, f"fake error {reply.status}", reply.error_reason, reply.retry_delay)
        if reply.error_array or (vertex and reply.error_body is None):
            body = [body]
        return pretty(reply.status, body, reply.headers)

    # -- Gemini (both hosts) -------------------------------------------
    async def gemini(self, body: dict[str, Any], model: str, stream: bool, vertex: bool = False) -> Response:
        reply = self.next_reply()
        if reply.stall:
            await asyncio.sleep(reply.stall)
        if reply.status >= 400:
            return self.error_response(reply, vertex)
        try:
            check_gemini_body(body, model, self.issued_signatures)
        except Invalid as exc:
            err = google_error(400, str(exc))
            return pretty(400, [err] if vertex else err)
        for call in reply.calls:
            if call.signature:
                self.issued_signatures.add(call.signature)
        contents = body["contents"]
        text = reply.text if reply.text is not None else ("" if reply.calls else f"gemini says: {last_user_text(contents)}")
        prompt_tokens = max(1, len(json.dumps(contents).split()))
        events = gemini_events(reply, text, prompt_tokens, "resp-" + secrets.token_hex(6), model)
        if vertex:
            for ev in events:
                ev["createTime"] = "2025-01-01T00:00:00.000000Z"
                if "usageMetadata" in ev:
                    ev["usageMetadata"] = {**ev["usageMetadata"], "trafficType": "ON_DEMAND"}
        if not stream:
            return JSONResponse(merge_events(events), headers=reply.headers)
        return StreamingResponse(self._stream_gemini(events, reply), media_type="text/event-stream", headers=reply.headers)

    async def _stream_gemini(self, events: list[dict[str, Any]], reply: GeminiReply) -> Iterator[bytes]:
        for n, ev in enumerate(events):
            if reply.break_after is not None and n >= reply.break_after:
                raise ConnectionResetError("fake upstream drops the connection")
            if reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            yield sse([ev], reply.line_ending)

    # -- embeddings --------------------------------------------------------
    @staticmethod
    def vector(text: str, index: int, dimensions: int | None) -> list[float]:
        size = dimensions or 4
        return ([float(len(text)), float(index)] + [0.125 * (i + 1) for i in range(max(0, size - 2))])[:size]

    def embed(self, body: dict[str, Any], model: str, batch: bool) -> Response:
        """``batchEmbedContents`` (``{"requests": [...]}``) or ``embedContent`` (one request)."""
        reply = self.next_reply()
        if reply.status >= 400:
            return self.error_response(reply, False)
        requests = body.get("requests") if batch else [body]
        if batch and set(body) - {"requests"}:
            return pretty(400, google_error(400, f'Invalid JSON payload received. Unknown name "{sorted(set(body) - {"requests"})[0]}"'))
        if not isinstance(requests, list) or not requests:
            return pretty(400, google_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified"))
        vectors = []
        for i, item in enumerate(requests):
            unknown = set(item) - EMBED_FIELDS
            if unknown:
                return pretty(400, google_error(400, f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" at \'requests[{i}]\''))
            if batch and item.get("model") != f"models/{model}":
                return pretty(400, google_error(400, f"requests[{i}].model must be models/{model}, got {item.get('model')!r}"))
            texts = [p.get("text") for p in (item.get("content") or {}).get("parts") or () if isinstance(p, dict)]
            if not texts or not all(isinstance(t, str) and t for t in texts):
                return pretty(400, google_error(400, f"* requests[{i}].content: text content is empty"))
            vectors.append({"values": self.vector(" ".join(texts), i, item.get("outputDimensionality"))})
        out: dict[str, Any] = {"embeddings": vectors} if batch else {"embedding": vectors[0]}
        if reply.usage:
            out["usageMetadata"] = reply.usage
        return JSONResponse(out, headers=reply.headers)

    def predict(self, body: dict[str, Any]) -> Response:
        """Vertex ``:predict`` for text-embedding models: ``instances`` in, ``predictions`` out."""
        reply = self.next_reply()
        if reply.status >= 400:
            return self.error_response(reply, True)
        instances = body.get("instances")
        if set(body) - {"instances", "parameters"} or not isinstance(instances, list) or not instances:
            return pretty(400, [google_error(400, "predict needs 'instances' (and optionally 'parameters') only")])
        dimensions = (body.get("parameters") or {}).get("outputDimensionality")
        predictions = []
        for i, instance in enumerate(instances):
            if set(instance) - {"content", "task_type", "title"} or not isinstance(instance.get("content"), str):
                return pretty(400, [google_error(400, f"instances[{i}] must be {{content, task_type?, title?}}")])
            predictions.append({"embeddings": {"statistics": {"truncated": False, "token_count": float(len(instance["content"].split()))},
                                               "values": self.vector(instance["content"], i, dimensions)}})
        return JSONResponse({"predictions": predictions, "metadata": {"billableCharacterCount": 10}}, headers=reply.headers)

    # -- Claude on Vertex: the Anthropic fake's validation and replies ----
    async def claude(self, body: dict[str, Any], model: str, stream: bool) -> Response:
        reply = self.next_reply()
        if isinstance(reply, GeminiReply) and reply.status >= 400:
            if reply.error_body is not None:  # e.g. an Anthropic-shaped overloaded_error
                return pretty(reply.status, reply.error_body, reply.headers)
            return self.error_response(reply, True)  # a Vertex-level (Google-shaped) failure
        problem = check_vertex_claude_body(body)
        if problem is None and bool(body.get("stream")) != stream:
            problem = "stream: must be true on streamRawPredict and absent or false on rawPredict"
        if problem:
            return JSONResponse(anthropic_fake.error_body(400, problem), status_code=400)
        return await anthropic_fake.respond(claude_reply(reply), body, "claude", stream)

    # -- OAuth2 token endpoint -----------------------------------------
    def token(self, raw: bytes) -> Response:
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        record: dict[str, Any] = {"form": form, "ok": False, "time": time.time()}
        self.token_requests.append(record)
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return JSONResponse({"error": "unsupported_grant_type", "error_description": "Invalid grant_type"}, status_code=400)
        try:
            claims = self.verify_assertion(form.get("assertion", ""))
        except Invalid as exc:
            return JSONResponse({"error": "invalid_grant", "error_description": str(exc)}, status_code=400)
        record["ok"] = True
        record["claims"] = claims
        token = f"ya29.fake-{len(self.tokens) + 1}-{secrets.token_hex(8)}"
        self.tokens[token] = time.time() + self.expires_in
        return JSONResponse({"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"})

    def verify_assertion(self, assertion: str) -> dict[str, Any]:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        try:
            head_b64, claims_b64, sig_b64 = assertion.split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
            signature = b64url_decode(sig_b64)
        except (ValueError, TypeError):
            raise Invalid("Invalid JWT: not a JWS compact serialization") from None
        if header.get("alg") != "RS256":
            raise Invalid("Invalid JWT: alg must be RS256")
        public_key = self.accounts.get(claims.get("iss"))
        if public_key is None:
            raise Invalid("Invalid JWT Signature.")  # Google's answer for an unknown account
        try:
            public_key.verify(signature, f"{head_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise Invalid("Invalid JWT Signature.") from None
        now = time.time()
        if claims.get("aud") != GOOGLE_TOKEN_AUD:
            raise Invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your aud.")
        if CLOUD_PLATFORM not in str(claims.get("scope", "")).split():
            raise Invalid("Invalid JWT: scope must include cloud-platform")
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if not (iat - 300 <= now <= exp + 300) or exp - iat > 3600:
            raise Invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.")
        return claims


def make_service_account() -> tuple[str, Any]:
    """A throwaway RSA key: ``(private key PEM, public key object)`` for a fake service account."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return pem, key.public_key()
