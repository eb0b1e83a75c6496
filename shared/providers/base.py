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
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..credentials import Credential, api_keys
from ..settings import RETRY_AFTER_CEILING

if TYPE_CHECKING:
    import httpx

    from ..config.schema import ProviderConfig
    from ..routing import Channel, Provider

CHAT = "chat"
MESSAGES = "messages"  # Anthropic's Messages API, taken as it is by engines that speak it (shared/inbound/anthropic)
COUNT_TOKENS = "count_tokens"  # Anthropic's POST /v1/messages/count_tokens


@dataclass
class UpstreamRequest:
    """What an adapter builds: the URL, its own headers and the JSON payload (before overrides)."""

    url: str
    headers: dict[str, str]
    payload: dict[str, Any]
    method: str = "POST"
    content: bytes | None = None  # a body the operation encoded itself (a multipart upload): sent as it is


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
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = None if code is None else str(code)
        self.retry_after = retry_after
        self.param = param  # the client's field at fault (``messages[2].content[0].image_url``), for 400s


class InvalidRequest(UpstreamError):
    """A client request a translator refuses before calling the upstream: a 400 naming the field
    (``param``). The dispatcher hands 400s straight back to the client, without failover."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(400, message, "invalid_request_error", code, param=param)


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

    def native(self, endpoint: str, channel: Channel) -> bool:
        """Whether ``channel`` takes ``endpoint``'s own wire format through ``build_endpoint`` (rather
        than through the chat translation). Per channel: an engine may speak several formats (Vertex
        serves Anthropic's to Claude models only)."""
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
        if request.content is not None:
            headers = merge_headers(request.headers, channel.provider.headers)
            return await self.finalize(OutboundRequest(request.method, request.url, headers, request.content), channel, credential)
        payload = request.payload
        if channel.overrides or channel.removes:
            payload = {**payload, **channel.overrides}
            for name in channel.removes:
                payload.pop(name, None)
            original = None
        if original is not None:
            content = original
        else:
            try:
                content = dumps(payload)
            except ValueError:
                raise InvalidRequest("The request is nested too deeply to be sent upstream.", code="invalid_json") from None
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

    async def preview_url(self, channel: Channel) -> str:
        """The URL a chat request on ``channel`` goes to (the admin panel's live preview): built as a
        real request is, but with no credential, so no secret is involved and nothing is sent. An
        adapter whose URL depends on the credential overrides this."""
        body = {"model": channel.upstream_model, "messages": [{"role": "user", "content": "ping"}]}
        return (await self.build_request(channel, None, body, False)).url

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET …/models`` for providers listed without ``model`` (fetched once per config version);
        None when the engine has no model list."""
        return None

    def parse_models(self, obj: Any) -> list[str]:
        return model_ids(obj)


def model_ids(obj: Any) -> list[str]:
    """Model names from an OpenAI-style list, ``{"data": [{"id": ...}]}`` (OpenAI, Anthropic, most hosts)."""
    data = obj.get("data") if isinstance(obj, dict) else None
    return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)] if isinstance(data, list) else []


def _wait(seconds: float) -> float | None:
    """A wait an upstream asked for, if it is believable: finite and not negative (``inf``, ``nan``,
    ``1e309`` and ``-5`` are ignored), and at most a day (a longer one is cut to a day; the
    dispatcher then cuts it to ``MAX_RETRY_AFTER_SECONDS``)."""
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, RETRY_AFTER_CEILING)


def retry_after_of(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), when believable."""
    raw = headers.get("retry-after-ms")
    if raw:
        try:
            wait = _wait(float(raw) / 1000)
        except ValueError:
            wait = None
        if wait is not None:
            return wait
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return _wait(float(raw))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return _wait(max(0.0, parsedate_to_datetime(raw).timestamp() - time.time()))
        except (TypeError, ValueError, OverflowError, IndexError):
            return None


def parse_error_body(status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
    """Recognise every upstream error shape (providers.md section 11) in one place. Whatever the
    body holds, the answer is an :class:`UpstreamError` with a string message."""
    retry_after = retry_after_of(headers)
    try:
        body: Any = loads(data) if data.strip() else None
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, list) and len(body) == 1:
        body = body[0]  # Google's one-element array
    message, type_, code, param = None, None, None, None
    if isinstance(body, dict):
        err = body.get("error")
        if body.get("type") == "error" and isinstance(err, dict):  # Anthropic
            message, type_ = err.get("message"), err.get("type")
        elif isinstance(err, dict):  # Google, OpenRouter, OpenAI, Azure
            message = err.get("message")
            type_ = err.get("type") or err.get("status")
            code = err.get("code")
            param = err.get("param")  # OpenAI names the client's field at fault
            details = err.get("details")
            if retry_after is None and isinstance(details, list):
                retry_after = retry_delay_of(details)
        elif isinstance(err, str):
            message = err
        elif body.get("object") == "error":  # vLLM / Mistral
            message, type_, code = body.get("message"), body.get("type"), body.get("code")
        elif body.get("success") is False and isinstance(body.get("errors"), list) and body["errors"]:  # Cloudflare envelope
            first = body["errors"][0]
            message, code = (first.get("message"), first.get("code")) if isinstance(first, dict) else (first, None)
        elif "message" in body:
            message = body.get("message")
    if not isinstance(message, str):
        message = text_of_value(message) if message is not None else (data[:300].decode("utf-8", "replace").strip() or f"HTTP {status}")
    return UpstreamError(status, message, type_ if isinstance(type_, str) else None, code_of(code), retry_after,
                         param=param if isinstance(param, str) else None)


def retry_delay_of(details: list[Any]) -> float | None:
    """Google's ``RetryInfo`` detail (``{"retryDelay": "30s"}``) in seconds; None unless finite and not negative."""
    for detail in details:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                seconds = float(delay[:-1])
            except ValueError:
                continue
            wait = _wait(seconds)
            if wait is not None:
                return wait
    return None


def code_of(code: Any) -> str | int | None:
    """An upstream error code we can repeat: a string or an integer, nothing else."""
    return code if isinstance(code, (str, int)) and not isinstance(code, bool) else None


def error_status(code: Any) -> int:
    """The HTTP status an in-band error names (Google's ``error.code``), if it is an error status; else 502."""
    return code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 502


def text_of_value(value: Any, limit: int = 300) -> str:
    """A short text for an upstream value that should have been a string (an error message that is an
    object, say): its JSON, cut at ``limit`` characters."""
    if isinstance(value, str):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (ValueError, RecursionError):
        text = type(value).__name__
    return text if len(text) <= limit else text[:limit] + "…"


def loads(data: bytes | str) -> Any:
    """``json.loads`` where JSON nested too deeply for the parser is a ``ValueError`` like any other
    bad JSON (the parser raises ``RecursionError`` for it)."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON. A string holding a lone surrogate (``"\\ud800"`` in the JSON it came from)
    cannot be UTF-8: then the whole text is ASCII-escaped, which is valid JSON and means the same.
    Raises ``ValueError`` for a value nested too deeply to encode."""
    try:
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()
