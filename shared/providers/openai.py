"""OpenAI and any OpenAI-compatible host: the body goes through untouched, and so does the stream,
as bytes, event by event. Only what must be checked is looked at: the first event and any event
carrying an ``error`` or ``usage`` key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
    counts = {name: token_count(usage.get(name)) for name in ("prompt_tokens", "completion_tokens")}
    return {**usage, **counts}


class PassthroughStream:
    """Forward OpenAI-format events as bytes; watch for errors, usage and the ``[DONE]`` sentinel."""

    def __init__(self, drop_empty_choices: bool = False) -> None:
        self._framer = EventFramer()
        self._drop_empty = drop_empty_choices
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
            if data is None:
                continue  # keep-alive comment
            if data.startswith(b"[DONE]"):
                self.done = True
                break
            if b'"error"' in data or b'"usage"' in data or (self._drop_empty and b'"choices":[]' in data):
                try:
                    obj = loads(data)
                except ValueError:
                    obj = None
                err = in_band_error(obj)
                if err is not None:
                    self.error = err
                    break
                if isinstance(obj, dict):
                    if obj.get("usage"):
                        self.usage = accounting_usage(obj["usage"])
                    if self._drop_empty and not obj.get("choices") and not obj.get("usage"):
                        continue  # Azure's prompt-filter chunk: empty choices, blank id and model
            out.append(b"data: " + data + b"\n\n")
        return out


class OpenAIAdapter(BaseAdapter):
    """OpenAI itself and every OpenAI-compatible host: bodies and answers pass through."""

    default_url = "https://api.openai.com/v1/chat/completions"
    endpoints = frozenset({CHAT, "moderations"})

    def url(self, channel: Channel) -> str:
        return chat_url(channel.provider.base_url or self.default_url)

    def endpoint_url(self, channel: Channel, endpoint: str) -> str:
        """Another endpoint of the same API (config.md: swap the last path part of ``base_url``)."""
        return sibling_url(channel.provider.base_url or self.default_url, endpoint)

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
        return ParsedResponse(self.rewrite(obj, data), accounting_usage(obj.get("usage")))

    def parse_endpoint(self, endpoint: str, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        obj = self._load(data)
        if not isinstance(obj, dict):
            raise UpstreamError(502, f"the upstream answered 200 to {endpoint} with a body that is not a JSON object")
        return ParsedResponse(data, accounting_usage(obj.get("usage")))

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

    def stream(self, channel: Channel, ctx: StreamContext) -> PassthroughStream:
        return PassthroughStream()

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET …/models`` for providers listed without ``model``."""
        headers = self.headers(secret_of(credential))
        headers.pop("content-type")
        return UpstreamRequest(sibling_url(provider.base_url or self.default_url, "models"), headers, {}, method="GET")


adapter = OpenAIAdapter()
__all__ = ["OpenAIAdapter", "PassthroughStream", "adapter", "chat_url", "dumps", "in_band_error", "sibling_url"]
