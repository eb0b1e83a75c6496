"""The dispatcher's operations for Anthropic clients: :class:`Messages` and :class:`CountTokens`.

How ``/v1/messages`` layers on the adapters, per channel: one whose adapter takes Anthropic's body
natively (``adapter.native(MESSAGES, channel)``: Anthropic, Claude on Vertex) gets the client's
body as it is (model renamed; the client's own bytes when the name is unchanged) through
``build_endpoint``, and its answer comes back as it is (:mod:`.native`). Every other channel gets
the body translated to OpenAI chat once (:func:`.request.to_openai`) and then exactly what a chat
request would get (``Chat.body_for``, ``build_request``, ``parse_response``, ``stream``); its answer
is translated back (:func:`.response.from_openai`, :class:`.stream.EventWriter`).

Both operations are made per request: they carry the client's ``anthropic-version`` and
``anthropic-beta`` headers, which go to channels that speak Anthropic (configured provider headers
still win), and the translated body, made at most once.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...errors import GatewayError
from ...operations import CHAT_COMPLETIONS, JsonEndpoint, renamed
from ...providers.base import (
    CHAT,
    COUNT_TOKENS,
    MESSAGES,
    ParsedResponse,
    StreamContext,
    StreamTranslator,
    UpstreamError,
    UpstreamRequest,
    dumps,
)
from .errors import error_event
from .native import Passthrough, passthrough_message
from .request import to_openai
from .response import from_openai
from .stream import EventWriter, Translated

if TYPE_CHECKING:
    from ...credentials import Credential
    from ...providers.base import BaseAdapter
    from ...routing import Channel

FORWARDED_HEADERS = (b"anthropic-version", b"anthropic-beta")
TOOL_FIELDS = ("tools", "tool_choice")


def forwarded_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """The client's Anthropic headers (ASGI names are lower case), for channels that speak Anthropic;
    a header sent several times is joined with commas, as HTTP reads it."""
    out: dict[str, str] = {}
    for name, value in raw:
        if name in FORWARDED_HEADERS:
            key = name.decode()
            out[key] = f"{out[key]},{value.decode('latin-1')}" if key in out else value.decode("latin-1")
    return out


class Messages:
    """``POST /v1/messages``. Its ``endpoint`` is chat's: every channel that serves chat serves it
    (natively or translated), with chat's admission, rotation and rate limits."""

    endpoint = CHAT
    moderated = False  # the route moderates the request's own texts (the moderation step reads OpenAI bodies)

    def __init__(self, forward: dict[str, str]) -> None:
        self.forward = forward
        self._openai: dict[str, Any] | None = None

    @staticmethod
    def native(channel: Channel) -> bool:
        return channel.provider.adapter.native(MESSAGES, channel)

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        return StreamContext(model=model, include_usage=True)  # translated streams need the usage chunk

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        if self.native(channel):
            if channel.provider.tools or not any(name in body for name in TOOL_FIELDS):
                return renamed(channel, body)
            payload = {**body, "model": channel.upstream_model}
            for name in TOOL_FIELDS:
                payload.pop(name, None)
            return payload
        if self._openai is None:
            self._openai = to_openai(body)
        return CHAT_COMPLETIONS.body_for(channel, self._openai)

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        if self.native(channel):
            request = await adapter.build_endpoint(MESSAGES, channel, credential, body)
            request.headers.update(self.forward)
            return request
        return await adapter.build_request(channel, credential, body, stream)

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        if self.native(channel):
            return passthrough_message(data, ctx.model)
        parsed = adapter.parse_response(channel, data, ctx)
        return ParsedResponse(dumps(from_openai(json.loads(parsed.body), ctx.model)), parsed.usage)

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        if self.native(channel):
            return Passthrough(ctx.model)
        return Translated(adapter.stream(channel, ctx), EventWriter(ctx.model))

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        """Anthropic's in-band ``event: error`` when the stream broke; a clean end needs nothing more."""
        return [error_event(error)] if error is not None else []


class CountTokens(JsonEndpoint):
    """``POST /v1/messages/count_tokens`` on the channels whose engine counts (Anthropic), with the
    client's headers; the route estimates locally when the model has none."""

    def __init__(self, forward: dict[str, str]) -> None:
        super().__init__(COUNT_TOKENS)
        self.forward = forward

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        request = await adapter.build_endpoint(COUNT_TOKENS, channel, credential, body)
        request.headers.update(self.forward)
        return request

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        """Anthropic's ``{"input_tokens": N}``, passed on as it came."""
        try:
            obj = json.loads(data)
        except ValueError:
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("input_tokens"), int):
            raise UpstreamError(502, "the upstream answered count_tokens without 'input_tokens'")
        return ParsedResponse(data, None)
