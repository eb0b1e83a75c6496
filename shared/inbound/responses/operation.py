"""``POST /v1/responses`` as an operation for the dispatcher.

One object per request: it holds the client's Responses body, its chat translation and the shape
of the answer, and decides per channel whether the request passes through (the upstream serves the
Responses API itself, :func:`.passthrough.passes_through`) or goes through the channel's chat
adapter and back. Everything else (model rules, scheduling, retries before the first byte,
cooldowns, rate limits, usage, headers, the access log) is the dispatcher's, exactly as for chat.

The dispatcher's body is the chat translation: it is what moderation reads, and what translating
channels get (through :data:`~shared.operations.CHAT_COMPLETIONS`' ``body_for``, so ``tools:
false`` and renames apply as for chat). Usage is recorded in chat terms for both paths.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ...credentials import Credential
from ...errors import GatewayError
from ...operations import CHAT_COMPLETIONS
from ...providers.base import ParsedResponse, StreamContext, StreamTranslator, UpstreamError, UpstreamRequest, dumps
from .passthrough import RESPONSES, ResponsesPassthrough, passes_through
from .request import Translation, passthrough_body
from .response import Shape, chat_usage_of, echo, from_chat
from .stream import ChatToResponses

if TYPE_CHECKING:
    from ...providers.base import BaseAdapter
    from ...routing import Channel

NATIVE = RESPONSES + ":passthrough"  # the endpoint name of requests only passthrough channels can serve


class ResponsesOperation:
    moderated = True

    def __init__(self, body: dict[str, Any], translation: Translation) -> None:
        self.body = body
        self.translation = translation
        self.endpoint = NATIVE if translation.native else RESPONSES
        self.shape = Shape(echo(body))
        self.active: ChatToResponses | ResponsesPassthrough | None = None  # the translator of the stream being relayed

    def serves(self, channel: Channel) -> bool:
        """Every channel, by translation; only passthrough ones when translation cannot say it all."""
        return self.endpoint == RESPONSES or passes_through(channel.provider)

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        return StreamContext(model=model, include_usage=True)

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return bool(self.body.get("stream"))

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        if passes_through(channel.provider):
            return passthrough_body(self.body, channel.upstream_model, channel.provider.tools)
        return CHAT_COMPLETIONS.body_for(channel, body)

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        if passes_through(channel.provider):
            return await adapter.build_endpoint(RESPONSES, channel, credential, body)
        return await adapter.build_request(channel, credential, body, stream)

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        if passes_through(channel.provider):
            parsed = adapter.parse_endpoint(RESPONSES, channel, data, ctx)
            return ParsedResponse(parsed.body, chat_usage_of(parsed.usage))
        parsed = adapter.parse_response(channel, data, ctx)
        try:
            completion = json.loads(parsed.body)
        except ValueError:
            raise UpstreamError(502, "the upstream answered 200 with a body that is not JSON") from None
        if not isinstance(completion, dict):
            raise UpstreamError(502, "the upstream answered 200 with a body that is not a JSON object")
        return ParsedResponse(dumps(from_chat(completion, self.shape)), parsed.usage)

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        translator: ChatToResponses | ResponsesPassthrough
        if passes_through(channel.provider):
            translator = ResponsesPassthrough()
        else:
            translator = ChatToResponses(adapter.stream(channel, ctx), self.shape, ctx)
        self.active = translator
        return translator

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        """A Responses stream ends with its terminal event (sent by the translator) and no
        ``[DONE]``, as OpenAI's does; a broken one with ``error`` and ``response.failed``."""
        if error is None or self.active is None:
            return []
        return self.active.failure(error)
