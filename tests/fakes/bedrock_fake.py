"""A fake AWS Bedrock runtime (wire-formats-2 section 5): ``POST /model/{modelId}/converse`` and
``/converse-stream``, SigV4-verified.

Every request's signature is recomputed here from what arrived (the raw path bytes, the signed
headers' values, the body) with this file's own small SigV4, independent of the gateway's, and a
mismatch is the 403 ``InvalidSignatureException`` AWS gives; an unknown access key is
``UnrecognizedClientException``, a wrong session token ``UnrecognizedClientException`` too. Bedrock
API keys (``Authorization: Bearer``) are accepted when listed. Streams are binary event-stream frames
with correct CRCs (built by this file's own encoder), optionally cut at random byte boundaries.
Bodies are checked the way Converse would (alternating roles from a user turn, one-key content
blocks, non-blank text, tool results answering earlier tool uses), so a translation mistake shows up
as a 400 ``ValidationException``.
"""

from __future__ import annotations

import asyncio
import binascii
import hashlib
import hmac
import json
import random
import struct
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .server import FakeUpstream

ACCESS_KEY = "AKIDFAKEBEDROCK1"
SECRET_KEY = "fake/secret+key/one0000000000000000000000"
ACCESS_KEY_2 = "AKIDFAKEBEDROCK2"
SECRET_KEY_2 = "fake/secret+key/two0000000000000000000000"
BLOCK_KEYS = {"text", "image", "document", "toolUse", "toolResult", "reasoningContent", "cachePoint", "video", "audio"}
TOP_LEVEL = {"messages", "system", "inferenceConfig", "toolConfig", "additionalModelRequestFields", "guardrailConfig",
             "performanceConfig", "requestMetadata", "promptVariables", "serviceTier", "additionalModelResponseFieldPaths",
             "outputConfig"}
STATUS_OF = {"ValidationException": 400, "AccessDeniedException": 403, "UnrecognizedClientException": 403,
             "InvalidSignatureException": 403, "ResourceNotFoundException": 404, "ThrottlingException": 429,
             "ModelNotReadyException": 429, "InternalServerException": 500, "ServiceUnavailableException": 503,
             "ModelErrorException": 424}


@dataclass
class Reply:
    """One scripted answer. Defaults: a text answer echoing the last user text."""

    error: str | None = None  # an exception name: answer it with its HTTP status
    message: str = ""
    text: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)  # [{"id", "name", "input"}]
    reasoning: str | None = None
    signature: str = "EqQBCgIYAhfakeBedrockSignature=="
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None  # merged over the computed one
    exception_after: int | None = None  # stream: an exception frame after this many events (then the end)
    exception: str = "throttlingException"
    split: bool = False  # stream: cut the bytes at random boundaries
    corrupt: bool = False  # stream: flip a byte of the second frame (bad CRC)
    truncate: bool = False  # stream: drop the last 5 bytes
    delay: float = 0.0  # stream: seconds between frames (so each arrives in its own network read)


# -- the independent encoder and signer -------------------------------------------------------------

def frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    hb = b"".join(bytes([len(k)]) + k.encode() + b"\x07" + struct.pack("!H", len(v.encode())) + v.encode() for k, v in headers)
    prelude = struct.pack("!II", 12 + len(hb) + len(payload) + 4, len(hb))
    prelude += struct.pack("!I", binascii.crc32(prelude))
    msg = prelude + hb + payload
    return msg + struct.pack("!I", binascii.crc32(msg))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    body = dict(payload, p="abcdefghij")  # AWS pads events with "p"; decoders must ignore it
    return frame([(":event-type", kind), (":content-type", "application/json"), (":message-type", "event")],
                 json.dumps(body).encode())


def exception_frame(kind: str, message: str) -> bytes:
    return frame([(":exception-type", kind), (":content-type", "application/json"), (":message-type", "exception")],
                 json.dumps({"message": message}).encode())


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def expected_signature(secret: str, method: str, raw_path: str, headers: dict[str, str], signed: list[str], body: bytes,
                       amz_date: str, scope: str) -> str:
    canonical_path = quote(raw_path, safe="/-_.~")
    canonical_headers = "".join(f"{name}:{' '.join(headers.get(name, '').split())}\n" for name in signed)
    request = "\n".join([method, canonical_path, "", canonical_headers, ";".join(signed), hashlib.sha256(body).hexdigest()])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(request.encode()).hexdigest()])
    date, region, service, _ = scope.split("/")
    key = _hmac(("AWS4" + secret).encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeBedrock(FakeUpstream):
    reply_type = Reply

    def __init__(self, region: str = "us-east-1", keys: dict[str, str] | None = None, tokens: dict[str, str] | None = None,
                 api_keys: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.region = region
        self.keys = dict(keys if keys is not None else {ACCESS_KEY: SECRET_KEY, ACCESS_KEY_2: SECRET_KEY_2})
        self.tokens = dict(tokens or {})  # access key -> the session token it requires
        self.api_keys = api_keys
        self.rejected: list[str] = []  # why each refused request was refused

    # -- auth

    def check_auth(self, request: Request, body: bytes) -> tuple[str | None, str]:
        """``(error name or None, who)``."""
        headers = {k.lower(): v for k, v in request.headers.items()}
        auth = headers.get("authorization", "")
        if auth.startswith("Bearer "):
            return (None, "bearer:" + auth[7:]) if auth[7:] in self.api_keys else ("UnrecognizedClientException", "bearer")
        try:
            algorithm, rest = auth.split(" ", 1)
            fields = dict(part.strip().split("=", 1) for part in rest.split(","))
            access, scope = fields["Credential"].split("/", 1)
            signed, signature = fields["SignedHeaders"].split(";"), fields["Signature"]
        except (ValueError, KeyError):
            return "IncompleteSignatureException", "?"
        amz_date = headers.get("x-amz-date", "")
        date, region, service, terminator = (scope.split("/") + ["", "", "", ""])[:4]
        if algorithm != "AWS4-HMAC-SHA256" or service != "bedrock" or terminator != "aws4_request" or region != self.region:
            return "InvalidSignatureException", access
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed) or not amz_date.startswith(date):
            return "InvalidSignatureException", access
        if "x-amz-security-token" in headers and "x-amz-security-token" not in signed:
            return "InvalidSignatureException", access
        when = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        if abs(when - time.time()) > 300:
            return "InvalidSignatureException", access
        secret = self.keys.get(access)
        if secret is None:
            return "UnrecognizedClientException", access
        if self.tokens.get(access, "") != headers.get("x-amz-security-token", ""):
            return "UnrecognizedClientException", access
        raw_path = request.scope["raw_path"].decode()
        want = expected_signature(secret, request.method, raw_path, headers, signed, body, amz_date, scope)
        if not hmac.compare_digest(want, signature):
            return "InvalidSignatureException", access
        return None, access

    # -- requests

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        raw_path = request.scope["raw_path"].decode()
        parts = raw_path.split("/")
        if len(parts) != 4 or parts[1] != "model" or parts[3] not in ("converse", "converse-stream"):
            return self.error("UnknownOperationException", f"no route {raw_path}", 404)
        problem, who = self.check_auth(request, body)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        record = {"path": unquote(raw_path), "raw_path": raw_path, "model": unquote(parts[2]), "operation": parts[3],
                  "headers": {k.lower(): v for k, v in request.headers.items()}, "body": parsed, "who": who, "ok": problem is None}
        self.requests.append(record)
        if problem is not None:
            self.rejected.append(problem)
            message = ("The request signature we calculated does not match the signature you provided."
                       if problem == "InvalidSignatureException" else "The security token included in the request is invalid.")
            return self.error(problem, message, 403)
        reply = self.script.pop(0) if self.script else self.default
        if reply.error:
            return self.error(reply.error, reply.message or f"fake {reply.error}", STATUS_OF.get(reply.error, 400))
        invalid = validate(parsed)
        if invalid:
            return self.error("ValidationException", invalid, 400)
        if parts[3] == "converse-stream":
            return self.stream(parsed, reply)
        return JSONResponse(self.answer(parsed, reply))

    @staticmethod
    def error(name: str, message: str, status: int) -> Response:
        return JSONResponse({"message": message}, status_code=status,
                            headers={"x-amzn-ErrorType": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                                     "x-amzn-RequestId": "6b7f3c1e-0000-0000-0000-000000000000"})

    # -- answers

    @staticmethod
    def reply_text(body: dict[str, Any], reply: Reply) -> str:
        if reply.text is not None:
            return reply.text
        last = [b["text"] for b in body["messages"][-1]["content"] if "text" in b]
        return "bedrock says: " + " ".join(last)

    def usage(self, body: dict[str, Any], text: str, reply: Reply) -> dict[str, Any]:
        usage = {"inputTokens": len(json.dumps(body["messages"]).split()), "outputTokens": len(text.split()) or 1}
        usage.update(reply.usage or {})
        usage["totalTokens"] = usage["inputTokens"] + usage["outputTokens"] + usage.get("cacheReadInputTokens", 0) \
            + usage.get("cacheWriteInputTokens", 0)
        return usage

    def answer(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        text = "" if reply.tool_calls and reply.text is None else self.reply_text(body, reply)
        content: list[dict[str, Any]] = []
        if reply.reasoning:
            content.append({"reasoningContent": {"reasoningText": {"text": reply.reasoning, "signature": reply.signature}}})
        if text:
            content.append({"text": text})
        for call in reply.tool_calls:
            content.append({"toolUse": {"toolUseId": call["id"], "name": call["name"], "input": call["input"]}})
        stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        return {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                "usage": self.usage(body, text, reply), "metrics": {"latencyMs": 12}}

    def events(self, body: dict[str, Any], reply: Reply) -> list[bytes]:
        text = "" if reply.tool_calls and reply.text is None else self.reply_text(body, reply)
        out = [event("messageStart", {"role": "assistant"})]
        index = 0
        if reply.reasoning:
            out.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": reply.reasoning}}}))
            out.append(event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": reply.signature}}}))
            out.append(event("contentBlockStop", {"contentBlockIndex": 0}))
            index += 1
        if text:
            words = text.split(" ")
            for i, word in enumerate(words):
                piece = word if i == 0 else " " + word
                out.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}}))
            out.append(event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        for call in reply.tool_calls:
            out.append(event("contentBlockStart", {"contentBlockIndex": index,
                                                   "start": {"toolUse": {"toolUseId": call["id"], "name": call["name"]}}}))
            arguments = json.dumps(call["input"])
            if call["input"]:
                half = len(arguments) // 2
                for fragment in (arguments[:half], arguments[half:]):
                    out.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}}))
            out.append(event("contentBlockStop", {"contentBlockIndex": index}))
            index += 1
        out.append(event("unknownFutureEvent", {"x": 1}))
        stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
        out.append(event("messageStop", {"stopReason": stop}))
        out.append(event("metadata", {"usage": self.usage(body, text, reply), "metrics": {"latencyMs": 12}}))
        if reply.exception_after is not None:
            out = out[:reply.exception_after] + [exception_frame(reply.exception, f"fake {reply.exception}")]
        return out

    def stream(self, body: dict[str, Any], reply: Reply) -> Response:
        frames = self.events(body, reply)
        if reply.corrupt:
            bad = bytearray(frames[1])
            bad[-6] ^= 0xFF
            frames[1] = bytes(bad)
        data = b"".join(frames)
        if reply.truncate:
            data = data[:-5]
        pieces = frames if not (reply.split or reply.corrupt or reply.truncate) else split(data)

        async def gen():
            for piece in pieces:
                yield piece
                await asyncio.sleep(reply.delay)

        return StreamingResponse(gen(), media_type="application/vnd.amazon.eventstream")


def split(data: bytes, seed: int = 7) -> list[bytes]:
    rng = random.Random(seed)
    out, i = [], 0
    while i < len(data):
        n = rng.randint(1, 40)
        out.append(data[i:i + n])
        i += n
    return out


def validate(body: Any) -> str | None:
    """The 400 message Converse would give, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    extra = set(body) - TOP_LEVEL
    if extra:
        return f"extraneous key [{sorted(extra)[0]}] is not permitted"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: must not be empty"
    tool_uses: set[str] = set()
    for i, message in enumerate(messages):
        if message.get("role") != ("user" if i % 2 == 0 else "assistant"):
            return "A conversation must start with a user message and alternate user and assistant roles."
        for block in message.get("content") or [None]:
            if not isinstance(block, dict) or len(block) != 1 or next(iter(block)) not in BLOCK_KEYS:
                return f"messages.{i}.content: each block must have exactly one known member: {block!r}"
            if "text" in block and not str(block["text"]).strip():
                return "The text field in the ContentBlock object is blank."
            if "toolUse" in block:
                tool_uses.add(block["toolUse"]["toolUseId"])
            if "toolResult" in block and block["toolResult"]["toolUseId"] not in tool_uses:
                return "toolResult blocks must answer an earlier toolUse"
            if "image" in block:
                image = block["image"]
                if image.get("format") not in ("png", "jpeg", "gif", "webp") or not image.get("source", {}).get("bytes"):
                    return "image: bad format or bytes"
    config = body.get("inferenceConfig") or {}
    if set(config) - {"maxTokens", "temperature", "topP", "stopSequences"}:
        return "inferenceConfig: unknown member"
    tools = (body.get("toolConfig") or {}).get("tools")
    if tools is not None and not all("toolSpec" in t and "json" in t["toolSpec"].get("inputSchema", {}) for t in tools):
        return "toolConfig.tools: each needs toolSpec.inputSchema.json"
    return None
