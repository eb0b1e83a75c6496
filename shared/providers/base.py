"""The surface every provider adapter has, and the pieces they share.

An adapter owns the whole upstream request of its wire format. For chat: an OpenAI chat body
becomes the upstream request (``build_request``), the upstream JSON an OpenAI response
(``parse_response``), the upstream SSE OpenAI chunks (``stream``), and upstream error bodies
:class:`UpstreamError` (``parse_error``). Other endpoints go through ``build_endpoint`` /
``parse_endpoint`` for the endpoints the adapter lists in ``endpoints``. :meth:`BaseAdapter.prepare`
then turns what was built into the exact bytes sent: ``post_body_parameter_overrides``, encoding,
the configured headers (one case-insensitive merge for every adapter), and ``finalize`` (sign,
add tokens) last, on those exact bytes.

An adapter also knows its provider's credentials (``credentials``) and checks its own provider
fields at load (``validate``). The dispatcher does everything else (routing, retries, cooldowns,
timeouts) the same way for every engine.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..credentials import Credential, api_keys

if TYPE_CHECKING:
    import httpx

    from ..config.schema import ProviderConfig
    from ..routing import Channel, Provider

CHAT = "chat"


@dataclass
class UpstreamRequest:
    """What an adapter builds: the URL, its own headers and the JSON payload (before overrides)."""

    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    method: str = "POST"


@dataclass
class OutboundRequest:
    """The exact request sent upstream: what ``finalize`` signs."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes
    proxy: str | None = None  # the provider's ``proxy`` (http, https, socks4, socks5, socks5h URL)


@dataclass
class StreamContext:
    """What a translator needs to make OpenAI chunks: one id/created for the whole stream."""

    model: str
    include_usage: bool = False
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass
class ParsedResponse:
    body: bytes  # the OpenAI JSON to send
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
    ended early. ``usage`` holds the OpenAI usage object once known. ``[DONE]`` is the dispatcher's.
    """

    usage: dict[str, Any] | None
    error: UpstreamError | None

    def feed(self, chunk: bytes) -> list[bytes]: ...

    def finish(self) -> list[bytes]: ...


def merge_headers(built: Mapping[str, str], configured: Mapping[str, str]) -> dict[str, str]:
    """``built`` with every ``configured`` header replacing the built one of the same name, whatever
    its case (HTTP names are case-insensitive: keeping both would send one merged line such as
    ``Bearer <key>, Bearer <configured>``, which no provider accepts)."""
    if not configured:
        return dict(built)
    replaced = {name.lower() for name in configured}
    out = {name: value for name, value in built.items() if name.lower() not in replaced}
    out.update(configured)
    return out


def secret_of(credential: Credential | None) -> str:
    """The API key of a credential, or "" for a keyless upstream (e.g. a local server)."""
    return credential.secret if credential is not None else ""


class BaseAdapter:
    """Defaults every adapter shares; an adapter overrides what its wire format needs."""

    endpoints: frozenset[str] = frozenset({CHAT})  # what this engine can serve
    for_testing = False  # an engine that answers without an upstream (``mock``): warned about in production

    def supports(self, endpoint: str) -> bool:
        return endpoint in self.endpoints

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        """Problems with the provider's own fields, as ``(field, what is expected)``; checked at load,
        so a provider that could never work is a config error rather than an upstream failure."""
        return []

    def implied_fields(self, alias: str, upstream_model: str) -> dict[str, Any]:
        """Request fields a model alias implies by uni-api's naming conventions (``shared/model_names.py``),
        computed once per channel; none by default."""
        return {}

    def credentials(self, provider: ProviderConfig) -> tuple[Credential, ...]:
        """One credential per ``api`` key; engines with other credentials override this."""
        return api_keys(provider.provider, tuple(provider.api))

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        raise NotImplementedError

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        raise NotImplementedError

    def stream(self, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        raise NotImplementedError

    async def build_endpoint(self, endpoint: str, channel: Channel, credential: Credential | None, body: dict[str, Any]) -> UpstreamRequest:
        """The upstream request for a non-chat endpoint listed in ``endpoints``."""
        raise NotImplementedError(endpoint)

    def parse_endpoint(self, endpoint: str, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        raise NotImplementedError(endpoint)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return parse_error_body(status, data, headers)

    async def prepare(self, channel: Channel, credential: Credential | None, request: UpstreamRequest,
                      original: bytes | None = None) -> OutboundRequest:
        """What was built, as the exact request sent: overrides, encoding, configured headers, then
        ``finalize``. ``original`` is the client's own body, forwarded byte for byte when it is still
        the payload (same model, no overrides): encoding it again would cost time and change nothing."""
        payload = request.payload
        if channel.overrides or channel.removes:
            payload = {**payload, **channel.overrides}
            for name in channel.removes:
                payload.pop(name, None)
            original = None
        content = original if original is not None else dumps(payload)
        headers = merge_headers(request.headers, channel.provider.headers)
        return await self.finalize(OutboundRequest(request.method, request.url, headers, content, channel.provider.proxy),
                                   channel, credential)

    async def finalize(self, request: OutboundRequest, channel: Channel, credential: Credential | None) -> OutboundRequest:
        """Last step before sending, on the exact bytes: sign, add a token. Nothing by default."""
        return request

    async def send(self, request: OutboundRequest, timeout: float) -> httpx.Response:
        """Send the request on the instance's shared HTTP client; the response comes back unread."""
        from ..http_client import send

        return await send(request.method, request.url, request.headers, request.content, timeout, request.proxy)

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET …/models`` for providers listed without ``model`` (fetched once per config version);
        None when the engine has no model list."""
        return None

    def parse_models(self, obj: Any) -> list[str]:
        return model_ids(obj)


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
