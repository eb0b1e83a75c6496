"""Vertex AI: Gemini and Claude models on Google Cloud, with OAuth2 tokens from a service account.

Vertex speaks two wire formats behind one auth scheme: Google's own models take the Gemini
``generateContent`` body, Anthropic's take the Messages body on ``rawPredict`` (providers.md 4).
Both translations are reused as they are (:mod:`.gemini`, :mod:`.anthropic`); this module only
builds URLs, adds the bearer token and picks the publisher from the upstream model name.

URL: ``https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/
publishers/{google|anthropic}/models/{model}:{method}``; region ``global`` has no region prefix in
the host, the multi-regions ``us``/``eu`` use ``aiplatform.{us|eu}.rep.googleapis.com``.
``base_url`` replaces the API root (scheme, host and optional ``/v1`` or ``/v1beta1``).

Embeddings: Google's embedding models on ``…/publishers/google/models/{model}:predict``, one
instance per input (wire-formats-2.md 4.2); the translation is shared with Gemini's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..credentials import Credential, with_parts
from . import anthropic, gemini, google_auth
from .base import (
    CHAT,
    MESSAGES,
    BaseAdapter,
    OutboundRequest,
    ParsedResponse,
    StreamContext,
    StreamTranslator,
    UpstreamError,
    UpstreamRequest,
    dumps,
    loads,
)
from .gemini.embeddings import predict_answer, predict_request

if TYPE_CHECKING:
    from ..config.schema import ProviderConfig
    from ..routing import Channel

DEFAULT_REGION = "us-central1"
ANTHROPIC_VERSION = "vertex-2023-10-16"
MULTI_REGIONS = ("us", "eu")


def claude_body(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    """Anthropic Messages body minus ``model`` (it is in the URL) plus Vertex's ``anthropic_version``."""
    payload = {"anthropic_version": ANTHROPIC_VERSION, **anthropic.to_anthropic(body)}
    payload.pop("model", None)
    if stream:
        payload["stream"] = True
    return payload


def claude_response(data: bytes, ctx: StreamContext) -> dict[str, Any]:
    try:
        obj = loads(data)
    except ValueError:
        raise UpstreamError(502, "Vertex AI (Claude) answered 200 with a body that is not JSON") from None
    if isinstance(obj, dict) and obj.get("type") == "error":
        raise anthropic.error_from_event(obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
        raise UpstreamError(502, "Vertex AI (Claude) answered 200 without a message 'content' list")
    return anthropic.from_anthropic(obj, ctx)


def gemini_body(body: dict[str, Any], stream: bool) -> dict[str, Any]:
    return gemini.to_gemini(body)


def gemini_response(data: bytes, ctx: StreamContext) -> dict[str, Any]:
    return gemini.from_gemini(gemini.load_response(data), ctx)


@dataclass(frozen=True)
class Publisher:
    """One model publisher on Vertex: its URL segment, methods and translation functions."""

    name: str
    method: str
    stream_method: str
    body: Callable[[dict[str, Any], bool], dict[str, Any]]
    response: Callable[[bytes, StreamContext], dict[str, Any]]
    stream: Callable[[StreamContext], StreamTranslator]


GOOGLE = Publisher("google", "generateContent", "streamGenerateContent?alt=sse", gemini_body, gemini_response, gemini.GeminiStream)
ANTHROPIC = Publisher("anthropic", "rawPredict", "streamRawPredict", claude_body, claude_response, anthropic.AnthropicStream)

# Upstream model name prefix -> publisher; anything else is a Google model.
PUBLISHERS: tuple[tuple[str, Publisher], ...] = (("claude", ANTHROPIC),)


def publisher_of(model: str) -> Publisher:
    for prefix, publisher in PUBLISHERS:
        if model.startswith(prefix):
            return publisher
    return GOOGLE


def host_of(region: str) -> str:
    if region == "global":
        return "aiplatform.googleapis.com"
    if region in MULTI_REGIONS:
        return f"aiplatform.{region}.rep.googleapis.com"
    return f"{region}-aiplatform.googleapis.com"


def api_root(config: Any, region: str) -> str:
    """``https://<host>/v1`` or the configured ``base_url`` (with ``/v1`` added unless it names a version)."""
    root = (config.base_url or f"https://{host_of(region)}").rstrip("/")
    if not (root.endswith("/v1") or root.endswith("/v1beta1")):
        root += "/v1"
    return root


def model_url(config: Any, model: str, publisher: Publisher, stream: bool) -> str:
    return method_url(config, model, publisher.name, publisher.stream_method if stream else publisher.method)


def method_url(config: Any, model: str, publisher: str, method: str) -> str:
    if not config.project_id:
        raise UpstreamError(500, f"provider {config.provider!r}: Vertex AI needs project_id")
    region = config.region or DEFAULT_REGION
    return (f"{api_root(config, region)}/projects/{quote(config.project_id, safe='')}/locations/{quote(region, safe='')}"
            f"/publishers/{publisher}/models/{quote(model, safe='@')}:{method}")


EXPRESS = "vertex_express"  # the credential kind of an express-mode API key


def express(provider: Any) -> bool:
    """Vertex AI express mode: API keys in ``api`` and no service account."""
    return bool(provider.api) and not (provider.client_email or provider.private_key)


def express_url(config: Any, model: str, publisher: Publisher, stream: bool) -> str:
    """Express mode's URL, without a project (the key belongs to one), as uni-api calls it."""
    method = publisher.stream_method if stream else publisher.method
    root = (config.base_url or "https://aiplatform.googleapis.com").rstrip("/")
    if not (root.endswith("/v1") or root.endswith("/v1beta1")):
        root += "/v1"
    return f"{root}/publishers/{publisher.name}/models/{quote(model, safe='@')}:{method}"


class VertexAdapter(BaseAdapter):
    endpoints = frozenset({CHAT, "embeddings", MESSAGES})  # embeddings: text-embedding models on ``:predict``; Messages: Claude only

    def implied_fields(self, alias: str, upstream_model: str) -> dict[str, Any]:
        from ..model_names import claude_thinking, gemini_thinking

        return claude_thinking(alias) if publisher_of(upstream_model) is ANTHROPIC else gemini_thinking(alias)

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        if express(provider):
            projects = provider.project_id
            if isinstance(projects, tuple) and len(projects) != len(provider.api):
                return [("project_id", f"Vertex AI express mode pairs each key of 'api' with a project id: "
                                       f"{len(provider.api)} keys but {len(projects)} project ids")]
            return []
        if isinstance(provider.project_id, tuple):
            return [("project_id", "a list of project ids is for Vertex AI express mode (API keys in 'api'); "
                                   "a service account has one project id")]
        needs = {
            "project_id": "the Google Cloud project id",
            "client_email": "the service account's client_email (from its JSON key file)",
            "private_key": "the service account's private_key (from its JSON key file)",
        }
        return [(name, f"Vertex AI needs {what}") for name, what in needs.items() if not getattr(provider, name)]

    def credentials(self, provider: ProviderConfig) -> tuple[Credential, ...]:
        """One service account per provider: rotated, cooled down and limited like an API key. In
        express mode, one credential per API key, each with its own project id."""
        if express(provider):
            projects = provider.project_id if isinstance(provider.project_id, tuple) else (provider.project_id,) * len(provider.api)
            return tuple(with_parts(provider.provider, EXPRESS, key, project_id=project or "")
                         for key, project in zip(provider.api, projects, strict=True))
        return (with_parts(provider.provider, "service_account", client_email=provider.client_email,
                           private_key=provider.private_key, token_uri=provider.token_uri),)

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        publisher = publisher_of(channel.upstream_model)
        if credential is not None and credential.kind == EXPRESS:
            return UpstreamRequest(express_url(channel.provider.config, channel.upstream_model, publisher, stream),
                                   {"content-type": "application/json", "x-goog-api-key": credential.secret}, publisher.body(body, stream))
        url = model_url(channel.provider.config, channel.upstream_model, publisher, stream)
        return UpstreamRequest(url, {"content-type": "application/json"}, publisher.body(body, stream))

    async def preview_url(self, channel: Channel) -> str:
        """Express mode's URL has no project (the key names it): previewed with the first key's
        credential, whose secret goes into a header, never into the URL."""
        credentials = channel.provider.credentials
        credential = credentials[0] if credentials and credentials[0].kind == EXPRESS else None
        body = {"model": channel.upstream_model, "messages": [{"role": "user", "content": "ping"}]}
        return (await self.build_request(channel, credential, body, False)).url

    def native(self, endpoint: str, channel: Channel) -> bool:
        """Claude models take an Anthropic client's body as it is (rawPredict); Gemini models take it
        through the chat translation."""
        if endpoint == MESSAGES:
            return publisher_of(channel.upstream_model) is ANTHROPIC
        return super().native(endpoint, channel)

    async def build_endpoint(self, endpoint: str, channel: Channel, credential: Credential | None, body: dict[str, Any]) -> UpstreamRequest:
        """Embeddings: one ``:predict`` instance per input (see :mod:`.gemini.embeddings`). An
        Anthropic client's body for a Claude model: ``model`` moves to the URL, Vertex's
        ``anthropic_version`` goes in; everything else is sent as it came."""
        if endpoint == "embeddings":
            url = method_url(channel.provider.config, channel.upstream_model, GOOGLE.name, "predict")
            return UpstreamRequest(url, {"content-type": "application/json"}, predict_request(body))
        if endpoint != MESSAGES or publisher_of(channel.upstream_model) is not ANTHROPIC:
            raise NotImplementedError(endpoint)
        payload = {"anthropic_version": ANTHROPIC_VERSION, **body}
        payload.pop("model", None)
        url = model_url(channel.provider.config, channel.upstream_model, ANTHROPIC, bool(body.get("stream")))
        return UpstreamRequest(url, {"content-type": "application/json"}, payload)

    def parse_endpoint(self, endpoint: str, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        body, usage = predict_answer(gemini.load_response(data), ctx)
        return ParsedResponse(body, usage)

    async def finalize(self, request: OutboundRequest, channel: Channel, credential: Credential | None) -> OutboundRequest:
        """The OAuth2 access token of the service account, unless the config sets its own Authorization."""
        if credential is not None and credential.kind == EXPRESS:
            return request  # the API key is the credential
        if not any(name.lower() == "authorization" for name in request.headers):
            token = await google_auth.access_token(channel.provider.config)
            request.headers["authorization"] = f"Bearer {token}"
        return request

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        out = publisher_of(channel.upstream_model).response(data, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        return publisher_of(channel.upstream_model).stream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        """Vertex-level failures (auth, quota, permissions) are Google-shaped, Claude's own are Anthropic's."""
        if gemini.google_error_of(data) is not None:
            return gemini.google_error(status, data, headers)
        return anthropic.parse_error(status, data, headers)


adapter = VertexAdapter()
__all__ = ["ANTHROPIC", "GOOGLE", "Publisher", "VertexAdapter", "adapter", "api_root", "host_of", "method_url", "model_url", "publisher_of"]
