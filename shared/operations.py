"""Endpoints as the dispatcher sees them.

An operation is what differs between endpoints once a request is authenticated and parsed: which
channels can serve it (``supports``), the body a channel gets, how the adapter builds the upstream
request and reads the answer, and whether the answer streams. Everything else (admission, order,
attempts, deadlines, cooldowns, the final error, usage) is the dispatcher's, the same for all.

Adding an endpoint = one operation here (or a module beside it), its route in ``app.py``, and the
adapters that serve it listing it in their ``endpoints``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .credentials import Credential
from .errors import GatewayError, stream_error_event
from .model_names import CLIENT_CHOICE
from .providers.base import CHAT, ParsedResponse, StreamContext, StreamTranslator, UpstreamRequest
from .sse import DONE

if TYPE_CHECKING:
    from .providers.base import BaseAdapter
    from .routing import Channel

TOOL_FIELDS = ("tools", "tool_choice", "parallel_tool_calls", "functions", "function_call")


class Operation(Protocol):
    endpoint: str  # the name adapters list in ``endpoints``
    moderated: bool  # checked by ENABLE_MODERATION before it is dispatched

    def context(self, model: str, body: dict[str, Any]) -> StreamContext: ...

    def wants_stream(self, body: dict[str, Any]) -> bool: ...

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]: ...

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest: ...

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse: ...

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator: ...

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        """The events that end a stream in this endpoint's protocol: a well-formed error event when
        it broke after the first byte, then the protocol's terminator."""
        ...


@runtime_checkable
class ChoosesChannels(Protocol):
    """An operation that decides itself which channels can serve it, instead of the adapters'
    ``endpoints`` (``/v1/responses``: every channel by translation, or only the channels whose
    upstream serves the Responses API). The answer may depend only on the endpoint and the channel:
    the dispatcher keeps it per (endpoint, model) and key."""

    def serves(self, channel: Channel) -> bool: ...


def serves(op: Operation, channel: Channel) -> bool:
    """Whether ``channel`` can serve ``op``."""
    if isinstance(op, ChoosesChannels):
        return op.serves(channel)
    return channel.provider.adapter.supports(op.endpoint)


def renamed(channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the channel's upstream model name; ``body`` itself when the name is already
    right, so the dispatcher can tell (by identity) that the client's bytes may be forwarded."""
    if body.get("model") == channel.upstream_model:
        return body
    return {**body, "model": channel.upstream_model}


class Chat:
    """``POST /v1/chat/completions``: the adapters' chat translators, streamed or not."""

    endpoint = CHAT
    moderated = True
    relays_media_type = False  # answers are JSON or SSE (see dispatch: audio endpoints keep the upstream's type)

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        options = body.get("stream_options")
        return StreamContext(model=model, include_usage=bool(isinstance(options, dict) and options.get("include_usage")))

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return bool(body.get("stream"))

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        """Upstream model name, and the tool fields dropped for a provider with ``tools: false``; the
        fields the alias implies (``think`` names) unless the client chose thinking itself."""
        if channel.implied and not any(name in body for name in CLIENT_CHOICE):
            body = {**channel.implied, **body}
        if channel.provider.tools or not any(name in body for name in TOOL_FIELDS):
            return renamed(channel, body)
        payload = {**body, "model": channel.upstream_model}
        for name in TOOL_FIELDS:
            payload.pop(name, None)
        return payload

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        return await adapter.build_request(channel, credential, body, stream)

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        return adapter.parse_response(channel, data, ctx)

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        return adapter.stream(channel, ctx)

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        """OpenAI's: ``data: {"error": …}`` (the SDK raises it), then ``data: [DONE]``."""
        return [stream_error_event(error), DONE] if error is not None else [DONE]


class JsonEndpoint:
    """A JSON-in, JSON-out endpoint that adapters serve through ``build_endpoint`` / ``parse_endpoint``
    (moderations; the other OpenAI endpoints follow the same shape)."""

    moderated = False
    relays_media_type = False

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        return StreamContext(model=model)

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return False

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        return renamed(channel, body)

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        return await adapter.build_endpoint(self.endpoint, channel, credential, body)

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        return adapter.parse_endpoint(self.endpoint, channel, data, ctx)

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        raise NotImplementedError(f"{self.endpoint} does not stream")

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        return []


CHAT_COMPLETIONS = Chat()
MODERATIONS = JsonEndpoint("moderations")
