"""OpenAI and any OpenAI-compatible host: the body goes through untouched, and so does the stream,
as bytes, event by event.

Every stream event is checked before it is forwarded, cheaply (:func:`ordinary`: a ``{`` … ``}``
object whose ``choices`` is a list, no ``error`` or ``usage`` key) and, when that test fails, in
full (``json.loads``). An event that is not a JSON object (truncated, garbage) or whose
``choices`` is not a list is an upstream failure: the next channel before the first byte, the
stream's error event after it. An event that passes the cheap test but is broken inside its
braces is forwarded as it is (the client's JSON parser raises on it): parsing every event would
cost ~10% of a streamed request's CPU.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..credentials import Credential
from ..sse import EventFramer, data_of
from .base import (
    CHAT,
    BaseAdapter,
    ParsedResponse,
    StreamContext,
    UpstreamError,
    UpstreamRequest,
    code_of,
    dumps,
    loads,
    secret_of,
    text_of_value,
)
from .common import token_count
from .embeddings import in_format

# Every endpoint of OpenAI's API the gateway serves (the names are their paths under /v1).
OPENAI_ENDPOINTS = frozenset({CHAT, "moderations", "embeddings", "images/generations", "images/edits", "audio/speech",
                              "audio/transcriptions", "audio/translations", "responses"})

if TYPE_CHECKING:
    from ..routing import Channel, Provider


def chat_url(base_url: str) -> str:
    """``…/v1/chat/completions`` as given, or appended to a base ending in ``/v1`` (or any base)."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        return base
    return base + "/chat/completions"


def sibling_url(base_url: str, endpoint: str) -> str:
    """Another endpoint (``models``, ``embeddings``…) by swapping the last path part(s)."""
    base = base_url.rstrip("/")
    if base.endswith("/chat/completions"):
        base = base[: -len("/chat/completions")]
    return f"{base}/{endpoint}"


def in_band_error(obj: Any) -> UpstreamError | None:
    """A 200 body or chunk that reports an error (OpenAI mid-stream, OpenRouter)."""
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    choices = obj.get("choices")
    if not err and isinstance(choices, list):
        for choice in choices:
            if isinstance(choice, dict) and choice.get("error"):
                err = choice["error"]
                break
    if not err:
        return None
    if isinstance(err, dict):
        code = code_of(err.get("code"))
        status = code if isinstance(code, int) and 400 <= code <= 599 else 502
        kind = err.get("type")
        return UpstreamError(status, text_of_value(err.get("message") or "upstream error"), kind if isinstance(kind, str) else None, code)
    return UpstreamError(502, text_of_value(err))


def accounting_usage(usage: Any) -> dict[str, Any] | None:
    """An answer's ``usage`` for accounting: an object whose token counts are integers (the bytes sent
    to the client are not changed)."""
    if not isinstance(usage, dict):
        return None
    counts = {name: token_count(usage[name]) for name in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")
              if name in usage}
    return {**usage, **counts}


def ordinary(data: bytes) -> bool:
    """The cheap test every stream event passes through (~0.3 µs, where ``json.loads`` costs ~2 µs
    and, measured with the benchmark, ~10% of a streamed request's CPU): the event looks like a
    JSON object (``{`` … ``}``) whose ``choices`` is a list, with no ``error`` or ``usage`` key in it.
    Anything else is parsed and checked in full. Quotes inside JSON strings are escaped, so
    ``"choices":`` can only be a key."""
    if data[:1] != b"{" or data[-1:] != b"}" or b'"error"' in data or b'"usage"' in data:
        return False
    at = data.find(b'"choices":')
    if at < 0:
        return False
    after = data[at + 10:at + 12]
    return after[:1] == b"[" or after == b" ["


def malformed(obj: Any) -> str | None:
    """What is wrong with a parsed stream event that would break an OpenAI client, if anything."""
    if not isinstance(obj, dict):
        return "is not a JSON object"
    choices = obj.get("choices")
    if choices is not None and not isinstance(choices, list):
        return "has 'choices' that is not a list"
    return None


MODEL_FIELD = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')


def renamed_model(channel: Channel, ctx: StreamContext) -> bytes | None:
    """The ``"model":"<name>"`` the client must see when the channel renames the model (the alias it
    asked for, not the upstream's name); None when the upstream's own answer is already right."""
    if not ctx.model or ctx.model == channel.upstream_model:
        return None
    return b'"model":' + json.dumps(ctx.model, ensure_ascii=False).encode()


class PassthroughStream:
    """Forward OpenAI-format events as bytes; watch for errors, usage and the ``[DONE]`` sentinel.
    With ``rename``, each event's top-level ``model`` becomes the name the client asked for."""

    def __init__(self, drop_empty_choices: bool = False, rename: bytes | None = None) -> None:
        self._framer = EventFramer()
        self._drop_empty = drop_empty_choices
        self._rename = rename
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None
        self.done = False

    def feed(self, chunk: bytes) -> list[bytes]:
        return self._events(self._framer.feed(chunk))

    def finish(self) -> list[bytes]:
        out = self._events(self._framer.close())
        if not self.done and self.error is None:
            self.error = UpstreamError(502, "the upstream stream ended before [DONE]")
        return out

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out = []
        for block in blocks:
            if self.done or self.error:
                break
            data = data_of(block)
            if data is None or not data.strip():
                continue  # keep-alive comment, or an empty data line
            if data.startswith(b"[DONE]"):
                self.done = True
                break
            if self._rename is not None:
                data = MODEL_FIELD.sub(self._rename, data, count=1)
            if ordinary(data) and not (self._drop_empty and b'"choices":[]' in data):
                out.append(b"data: " + data + b"\n\n")
                continue
            try:
                obj = loads(data)
            except ValueError:
                obj = None
            problem = malformed(obj)
            if problem is not None:
                self.error = UpstreamError(502, f"the upstream sent a stream event that {problem}")
                break
            if b'"error"' in data:
                err = in_band_error(obj)
                if err is not None:
                    self.error = err
                    break
            usage = obj.get("usage")
            if usage and isinstance(usage, dict):
                self.usage = accounting_usage(usage)
            if self._drop_empty and not obj.get("choices") and not usage:
                continue  # Azure's prompt-filter chunk: empty choices, blank id and model
            out.append(b"data: " + data + b"\n\n")
        return out


class OpenAIAdapter(BaseAdapter):
    """OpenAI itself and every OpenAI-compatible host: bodies and answers pass through."""

    default_url = "https://api.openai.com/v1/chat/completions"
    endpoints = OPENAI_ENDPOINTS

    def url(self, channel: Channel) -> str:
        return chat_url(channel.provider.base_url or self.default_url)

    def endpoint_url(self, channel: Channel, endpoint: str) -> str:
        """Another endpoint of the same API (config.md: swap the last path part of ``base_url``)."""
        return sibling_url(channel.provider.base_url or self.default_url, endpoint)

    def serves_responses(self, provider: Provider) -> bool:
        """Whether the upstream serves ``POST …/responses`` itself when the config does not say
        (``responses_api``): OpenAI does; most OpenAI-compatible hosts do not."""
        return urlsplit(provider.base_url or self.default_url).hostname == "api.openai.com"

    def headers(self, key: str) -> dict[str, str]:
        headers = {"content-type": "application/json"}
        if key:
            headers["authorization"] = f"Bearer {key}"
        return headers

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        return UpstreamRequest(self.url(channel), self.headers(secret_of(credential)), body)

    async def build_endpoint(self, endpoint: str, channel: Channel, credential: Credential | None, body: dict[str, Any]) -> UpstreamRequest:
        return UpstreamRequest(self.endpoint_url(channel, endpoint), self.headers(secret_of(credential)), body)

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        obj = self._load(data)
        if not isinstance(obj, dict) or not isinstance(obj.get("choices"), list):
            raise UpstreamError(502, "the upstream answered 200 without 'choices'")
        if renamed_model(channel, ctx) is not None and "model" in obj:
            obj["model"] = ctx.model
            data = dumps(obj)
        return ParsedResponse(self.rewrite(obj, data), accounting_usage(obj.get("usage")))

    def parse_endpoint(self, endpoint: str, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        obj = self._load(data)
        if not isinstance(obj, dict):
            raise UpstreamError(502, f"the upstream answered 200 to {endpoint} with a body that is not a JSON object")
        usage = accounting_usage(obj.get("usage"))
        if endpoint == "embeddings":
            data = in_format(obj, data, ctx)
        return ParsedResponse(data, usage)

    @staticmethod
    def _load(data: bytes) -> Any:
        try:
            obj = loads(data)
        except ValueError:
            raise UpstreamError(502, "the upstream answered 200 with a body that is not JSON") from None
        err = in_band_error(obj)
        if err is not None:
            raise err
        return obj

    def rewrite(self, obj: dict[str, Any], data: bytes) -> bytes:
        """Hook for hosts whose body needs a fix-up; OpenAI's own passes through as received."""
        return data

    drop_empty_choices = False  # Azure: its first event is a prompt-filter annotation with empty choices

    def stream(self, channel: Channel, ctx: StreamContext) -> PassthroughStream:
        return PassthroughStream(self.drop_empty_choices, renamed_model(channel, ctx))

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET …/models`` for providers listed without ``model``."""
        headers = self.headers(secret_of(credential))
        headers.pop("content-type")
        return UpstreamRequest(sibling_url(provider.base_url or self.default_url, "models"), headers, {}, method="GET")


adapter = OpenAIAdapter()
__all__ = ["OPENAI_ENDPOINTS", "OpenAIAdapter", "PassthroughStream", "adapter", "chat_url", "dumps", "in_band_error", "sibling_url"]
