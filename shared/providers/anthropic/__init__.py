"""Anthropic Messages API (providers.md sections 2, 9, 10.1, 11): OpenAI chat bodies in, OpenAI
answers out.

Four reusable pieces, also imported by the Vertex adapter (Claude on Vertex speaks the same body
and the same SSE, only the URL, auth and ``anthropic_version`` placement differ):

* :func:`to_anthropic` - an OpenAI chat body to an Anthropic Messages body, without ``model`` and
  ``stream`` (where those go is the caller's business).
* :func:`from_anthropic` - an Anthropic ``message`` object to an OpenAI ``chat.completion``.
* :class:`AnthropicStream` - the incremental SSE translator (``event:`` stream to OpenAI chunks).
* :func:`parse_error` - Anthropic (and, through ``parse_error_body``, Google) error bodies.

Translation policy, in short (the README's "Anthropic" section has the user-facing version):
``system``/``developer`` messages are hoisted to ``system`` (position is lost); ``tool`` messages
become ``tool_result`` blocks in a user turn; consecutive same-role turns are merged; ``max_tokens``
defaults to :data:`DEFAULT_MAX_TOKENS`; ``reasoning_effort`` becomes a ``thinking`` budget from
:data:`THINKING_BUDGETS`; ``response_format`` becomes a system instruction (best effort, works on
every model); fields with no Anthropic equivalent (penalties, seed, logprobs, logit_bias, store,
OpenAI ``metadata``, ``service_tier``...) are dropped; ``n > 1``, audio input, ``file_id`` files,
custom tools and the deprecated ``functions`` are refused with 400 because the client clearly
depends on them. The Anthropic-native ``thinking``, ``top_k`` and ``output_config`` may be sent
through the OpenAI SDK's ``extra_body`` and are passed on as they are.

One module per job: :mod:`.request` (the body's top-level fields, tools) and :mod:`.messages`
(messages to system blocks and turns) build the request; :mod:`.response` translates a whole
answer, :mod:`.stream` an SSE stream and :mod:`.errors` error bodies and events. This module holds
the adapter (URLs, headers) and re-exports the names other modules and the tests import from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...credentials import Credential
from ..base import (
    CHAT,
    COUNT_TOKENS,
    MESSAGES,
    BaseAdapter,
    ParsedResponse,
    StreamContext,
    UpstreamError,
    UpstreamRequest,
    dumps,
    loads,
    merge_headers,
    secret_of,
)
from .errors import ERROR_TYPES, STATUS_REWRITES, error_from_event, invalid, parse_error
from .messages import IMAGE_TYPES, translate_messages
from .request import (
    ANSWER_ROOM,
    DEFAULT_MAX_TOKENS,
    JSON_OBJECT_INSTRUCTION,
    JSON_SCHEMA_INSTRUCTION,
    MIN_THINKING_BUDGET,
    THINKING_BUDGETS,
    to_anthropic,
)
from .response import FINISH_REASONS, from_anthropic, usage_of
from .stream import AnthropicStream

if TYPE_CHECKING:
    from ...routing import Channel, Provider

DEFAULT_URL = "https://api.anthropic.com/v1/messages"
ANTHROPIC_VERSION = "2023-06-01"


def messages_url(base_url: str) -> str:
    """``…/v1/messages`` as given, or appended to a base ending in ``/v1`` or to a bare host."""
    base = base_url.rstrip("/")
    if base.endswith("/messages"):
        return base
    if base.endswith("/v1"):
        return base + "/messages"
    return base + "/v1/messages"


def models_url(base_url: str) -> str:
    return messages_url(base_url)[: -len("/messages")] + "/models"


class AnthropicAdapter(BaseAdapter):
    def implied_fields(self, alias: str, upstream_model: str) -> dict[str, Any]:
        from ...model_names import claude_thinking

        return claude_thinking(alias)

    default_url = DEFAULT_URL
    endpoints = frozenset({CHAT, MESSAGES, COUNT_TOKENS})  # Anthropic clients' bodies go through untranslated

    def url(self, channel: Channel) -> str:
        return messages_url(channel.provider.base_url or self.default_url)

    def headers(self, key: str, json_body: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json"} if json_body else {}
        headers["anthropic-version"] = ANTHROPIC_VERSION
        if key:
            headers["x-api-key"] = key
        return headers

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        payload: dict[str, Any] = {"model": body.get("model") or channel.upstream_model, **to_anthropic(body)}
        if stream:
            payload["stream"] = True
        return UpstreamRequest(self.url(channel), self.headers(secret_of(credential)), payload)

    async def build_endpoint(self, endpoint: str, channel: Channel, credential: Credential | None, body: dict[str, Any]) -> UpstreamRequest:
        """An Anthropic client's own body (``/v1/messages``, ``/v1/messages/count_tokens``), sent as it is."""
        if endpoint not in (MESSAGES, COUNT_TOKENS):
            raise NotImplementedError(endpoint)
        url = self.url(channel) + ("/count_tokens" if endpoint == COUNT_TOKENS else "")
        return UpstreamRequest(url, self.headers(secret_of(credential)), body)

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        try:
            obj = loads(data)
        except ValueError:
            raise UpstreamError(502, "Anthropic answered 200 with a body that is not JSON") from None
        if isinstance(obj, dict) and obj.get("type") == "error":
            raise error_from_event(obj)
        if not isinstance(obj, dict) or not isinstance(obj.get("content"), list):
            raise UpstreamError(502, "Anthropic answered 200 without a message 'content' list")
        out = from_anthropic(obj, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: Channel, ctx: StreamContext) -> AnthropicStream:
        return AnthropicStream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return parse_error(status, data, headers)

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET /v1/models`` answers ``{"data": [{"id": ...}]}`` like OpenAI's list."""
        return UpstreamRequest(models_url(provider.base_url or self.default_url), self.headers(secret_of(credential), json_body=False),
                               {}, method="GET")


adapter = AnthropicAdapter()
__all__ = [
    "ANSWER_ROOM", "ANTHROPIC_VERSION", "AnthropicAdapter", "AnthropicStream", "DEFAULT_MAX_TOKENS", "DEFAULT_URL",
    "ERROR_TYPES", "FINISH_REASONS", "IMAGE_TYPES", "JSON_OBJECT_INSTRUCTION", "JSON_SCHEMA_INSTRUCTION",
    "MIN_THINKING_BUDGET", "STATUS_REWRITES", "THINKING_BUDGETS", "adapter", "error_from_event", "from_anthropic",
    "invalid", "merge_headers", "messages_url", "models_url", "parse_error", "to_anthropic", "translate_messages",
    "usage_of",
]
