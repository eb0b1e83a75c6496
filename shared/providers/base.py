"""The surface every provider adapter has, and the pieces they share.

An adapter turns an OpenAI chat body into the upstream request (``build_request``), the upstream
JSON into an OpenAI response (``parse_response``), the upstream SSE into OpenAI chunks
(``stream``), and upstream error bodies into :class:`UpstreamError` (``parse_error``). The proxy
does everything else (routing, retries, cooldowns, timeouts) the same way for every engine.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol

if TYPE_CHECKING:
    from ..routing import Channel, Provider


@dataclass
class UpstreamRequest:
    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    method: str = "POST"


@dataclass
class StreamContext:
    """What a translator needs to make OpenAI chunks: one id/created for the whole stream."""

    model: str
    include_usage: bool = False
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class ParsedResponse:
    body: bytes  # the OpenAI chat.completion JSON to send
    usage: dict[str, Any] | None


class UpstreamError(Exception):
    """An upstream failure, already in OpenAI terms (message, type, code) plus its HTTP status."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str | None = None,
        code: str | int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = None if code is None else str(code)
        self.retry_after = retry_after


class StreamTranslator(Protocol):
    """Incremental: ``feed`` upstream bytes, get ready-to-send OpenAI SSE events.

    ``error`` is set (and no more events produced) when the upstream reports an in-band error;
    ``finish`` is called at the end of the upstream body and may set ``error`` when the stream
    ended early. ``usage`` holds the OpenAI usage object once known. ``[DONE]`` is the proxy's.
    """

    usage: dict[str, Any] | None
    error: UpstreamError | None

    def feed(self, chunk: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


class Adapter(Protocol):
    async def build_request(self, channel: "Channel", key: str, body: dict[str, Any], stream: bool) -> UpstreamRequest: ...

    def parse_response(self, channel: "Channel", data: bytes, ctx: StreamContext) -> ParsedResponse: ...

    def stream(self, channel: "Channel", ctx: StreamContext) -> StreamTranslator: ...

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError: ...

    def models_request(self, provider: "Provider", key: str) -> UpstreamRequest | None: ...

    def parse_models(self, obj: Any) -> list[str]: ...


def model_ids(obj: Any) -> list[str]:
    """Model names from an OpenAI-style list, ``{"data": [{"id": ...}]}`` (OpenAI, Anthropic, most hosts)."""
    data = obj.get("data") if isinstance(obj, dict) else None
    return [m["id"] for m in data or () if isinstance(m, dict) and isinstance(m.get("id"), str)]


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    raw = headers.get("retry-after-ms")
    if raw:
        try:
            return max(0.0, float(raw) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def parse_error_body(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Recognise every upstream error shape (providers.md section 11) in one place."""
    retry_after = retry_after_of(headers)
    try:
        body: Any = json.loads(data) if data.strip() else None
    except ValueError:
        body = None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]  # Google's one-element array
    message, type_, code = None, None, None
    if isinstance(body, dict):
        err = body.get("error")
        if body.get("type") == "error" and isinstance(err, dict):  # Anthropic
            message, type_ = err.get("message"), err.get("type")
        elif isinstance(err, dict):  # Google, OpenRouter, OpenAI, Azure
            message = err.get("message")
            type_ = err.get("type") or err.get("status")
            code = err.get("code")
            if retry_after is None:
                for detail in err.get("details") or []:
                    delay = isinstance(detail, dict) and detail.get("retryDelay")
                    if isinstance(delay, str) and delay.endswith("s"):
                        try:
                            retry_after = float(delay[:-1])
                        except ValueError:
                            pass
        elif isinstance(err, str):
            message = err
        elif body.get("object") == "error":  # vLLM / Mistral
            message, type_, code = body.get("message"), body.get("type"), body.get("code")
        elif body.get("success") is False and body.get("errors"):  # Cloudflare envelope
            first = body["errors"][0]
            message, code = (first.get("message"), first.get("code")) if isinstance(first, dict) else (str(first), None)
        elif "message" in body:
            message = body.get("message")
    if not isinstance(message, str):
        message = json.dumps(message) if message is not None else (data[:300].decode("utf-8", "replace").strip() or f"HTTP {status}")
    return UpstreamError(status, message, type_ if isinstance(type_, str) else None, code, retry_after)


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
