"""Every OpenAI endpoint besides chat: embeddings, images, audio and moderations, as operations.

Each is routed, admitted, attempted, failed over and accounted exactly like chat (the dispatcher
does all that); what an operation adds is what is particular to its endpoint:

* the body: JSON, or a ``multipart/form-data`` upload (:mod:`.multipart`) held in memory, never on
  disk, and sent again unchanged but for the ``model`` field on every attempt;
* which fields must be there (``check``: a missing or malformed one is a 400 naming it);
* the answer: JSON; the upstream's own text for transcriptions in ``text``/``srt``/``vtt``; binary
  audio relayed chunk by chunk as it arrives (speech); or server-sent events passed through as the
  upstream framed them (``stream`` on image and transcription requests);
* usage: tokens when the upstream reports them (embeddings; images and transcriptions of newer
  models as ``input_tokens``/``output_tokens``), else the request alone is counted.

Which channels serve an endpoint is the adapters' ``endpoints``; a model none of whose channels
serves it is a 400 ``unsupported_endpoint`` from the dispatcher.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .errors import GatewayError, stream_error_event
from .moderation import moderation_model
from .multipart import Form
from .operations import JsonEndpoint, Operation
from .providers.base import ParsedResponse, StreamContext, StreamTranslator, UpstreamError, UpstreamRequest
from .providers.embeddings import EmbeddingContext
from .sse import EventFramer, parse_block

if TYPE_CHECKING:
    from .credentials import Credential
    from .providers.base import BaseAdapter
    from .routing import Channel, KeyPolicy

TEXT_FORMATS = ("text", "srt", "vtt")  # transcription answers that are plain text, not JSON


class Cut(bytes):
    """Marks a binary stream that broke after its first byte: the app closes the connection without
    ending the body, so the client sees an incomplete answer (a binary answer has no error event)."""


CUT = Cut()


class MediaOperation(Operation, Protocol):
    multipart: bool  # the body is a multipart/form-data upload (else JSON)
    relays_media_type: bool  # the answer keeps the upstream's Content-Type (audio, plain text, events)

    def check(self, body: dict[str, Any], policy: KeyPolicy) -> str:
        """The model asked for, once the body has what this endpoint needs (else a 400 naming the field)."""
        ...


def token_usage(usage: Any) -> dict[str, Any] | None:
    """Usage in the terms the store counts (``prompt_tokens``, ``completion_tokens``): images and
    transcriptions report ``input_tokens``/``output_tokens``; whisper's ``{"type": "duration"}`` has none."""
    if not isinstance(usage, dict):
        return None
    if "prompt_tokens" in usage:
        return usage
    given, made = usage.get("input_tokens"), usage.get("output_tokens")
    if not isinstance(given, int) and not isinstance(made, int):
        return None
    given, made = given if isinstance(given, int) else 0, made if isinstance(made, int) else 0
    return {"prompt_tokens": given, "completion_tokens": made, "total_tokens": given + made}


def missing(name: str, what: str = "") -> GatewayError:
    return GatewayError(400, f"you must provide a {name} parameter{what}", param=name, code="missing_required_parameter")


def invalid(name: str, expected: str) -> GatewayError:
    return GatewayError(400, f"'{name}' must be {expected}", param=name, code="invalid_type")


def model_of(body: dict[str, Any]) -> str:
    model = body.get("model")
    if isinstance(model, str) and model:
        return model
    if model is None or model == "":
        raise missing("model")
    raise invalid("model", "a string")


class ByteRelay:
    """Bytes passed on as they arrive, unread (binary audio): nothing to translate, no usage."""

    usage: dict[str, Any] | None = None
    error: UpstreamError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return [chunk] if chunk else []

    def finish(self) -> list[bytes]:
        return []


class EventRelay:
    """Server-sent events passed on as the upstream framed them (image and transcription streams),
    read only for usage (the last event's) and in-band errors."""

    def __init__(self) -> None:
        self._framer = EventFramer()
        self.usage: dict[str, Any] | None = None
        self.error: UpstreamError | None = None

    def feed(self, chunk: bytes) -> list[bytes]:
        return self._events(self._framer.feed(chunk))

    def finish(self) -> list[bytes]:
        return self._events(self._framer.close())

    def _events(self, blocks: list[bytes]) -> list[bytes]:
        out = []
        for block in blocks:
            if self.error is not None:
                break
            if b'"usage"' in block or b'"error"' in block:
                obj = event_object(block)
                error = obj.get("error")
                if isinstance(error, dict) or obj.get("type") == "error":
                    message = error.get("message") if isinstance(error, dict) else obj.get("message")
                    self.error = UpstreamError(502, str(message or "upstream stream error"))
                    break
                self.usage = token_usage(obj.get("usage")) or self.usage
            out.append(block + b"\n\n")
        return out


def event_object(block: bytes) -> dict[str, Any]:
    _, data = parse_block(block)
    try:
        obj = json.loads(data) if data else None
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


class JsonMedia(JsonEndpoint):
    """A JSON request to an adapter's ``build_endpoint`` / ``parse_endpoint`` (images, embeddings,
    moderations); ``stream: true`` relays the upstream's events (image streaming)."""

    multipart = False
    relays_media_type = False

    def __init__(self, endpoint: str, required: tuple[str, ...] = (), streams: bool = False) -> None:
        super().__init__(endpoint)
        self.required = required
        self.streams = streams
        self.relays_media_type = streams

    def check(self, body: dict[str, Any], policy: KeyPolicy) -> str:
        model = model_of(body)
        for name in self.required:
            if body.get(name) in (None, "", []):
                raise missing(name)
        if "stream" in body and body["stream"] is not None and not isinstance(body["stream"], bool):
            raise invalid("stream", "a boolean")
        return model

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return self.streams and body.get("stream") is True

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        parsed = adapter.parse_endpoint(self.endpoint, channel, data, ctx)
        return ParsedResponse(parsed.body, token_usage(parsed.usage))

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        return EventRelay()

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        return [stream_error_event(error)] if error is not None else []


class Embeddings(JsonMedia):
    """``POST /v1/embeddings``: strings or token arrays, ``encoding_format`` honoured on every engine."""

    def __init__(self) -> None:
        super().__init__("embeddings")

    def check(self, body: dict[str, Any], policy: KeyPolicy) -> str:
        model = model_of(body)
        value = body.get("input")
        if value is None:
            raise missing("input")
        if not (isinstance(value, str) or (isinstance(value, list) and value and (
                all(isinstance(v, str) for v in value) or all(is_token(v) for v in value)
                or all(isinstance(v, list) and v and all(is_token(t) for t in v) for v in value)))):
            raise invalid("input", "a string, an array of strings, an array of tokens or an array of token arrays")
        if body.get("encoding_format") not in (None, "float", "base64"):
            raise invalid("encoding_format", "'float' or 'base64'")
        dimensions = body.get("dimensions")
        if dimensions is not None and not (is_token(dimensions) and dimensions > 0):
            raise invalid("dimensions", "a positive integer")
        return model

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        value = body.get("input")
        texts = [value] if isinstance(value, str) else [v for v in value or () if isinstance(v, str)]
        return EmbeddingContext(model=model, encoding_format=body.get("encoding_format") or "float",
                                input_chars=sum(len(t) for t in texts))


def is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class Moderations(JsonMedia):
    """``POST /v1/moderations``; without ``model``, the key's moderation model (as for ``ENABLE_MODERATION``)."""

    def __init__(self) -> None:
        super().__init__("moderations", required=("input",))

    def check(self, body: dict[str, Any], policy: KeyPolicy) -> str:
        if body.get("model") in (None, ""):
            model = moderation_model(policy)  # body_for puts its upstream name in the body
            if model is None:
                raise missing("model", " (this key may use no model whose name contains 'moderation')")
            super().check({**body, "model": model}, policy)
            return model
        return super().check(body, policy)


class Speech(JsonMedia):
    """``POST /v1/audio/speech``: JSON in, audio out, relayed chunk by chunk as the upstream sends it."""

    def __init__(self) -> None:
        super().__init__("audio/speech", required=("input", "voice"))
        self.relays_media_type = True

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return True

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        return ByteRelay()

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        return [CUT] if error is not None else []


class Upload(JsonEndpoint):
    """A ``multipart/form-data`` upload (transcriptions, translations, image edits), sent to the
    upstream as the client's parts with the upstream model name (see :mod:`.multipart`)."""

    multipart = True
    relays_media_type = True

    def __init__(self, endpoint: str, files: tuple[str, ...], required: tuple[str, ...] = (), streams: bool = False) -> None:
        super().__init__(endpoint)
        self.files = files  # at least one file part under one of these names
        self.required = required
        self.streams = streams

    def check(self, body: dict[str, Any], policy: KeyPolicy) -> str:
        assert isinstance(body, Form)
        model = model_of(body)
        if not any(body.files(name) for name in self.files):
            raise missing(self.files[0], " (a file part)")
        for name in self.required:
            if not body.get(name):
                raise missing(name)
        return model

    def context(self, model: str, body: dict[str, Any]) -> StreamContext:
        return TextContext(model=model, text=body.get("response_format") in TEXT_FORMATS)

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return self.streams and str(body.get("stream", "")).lower() == "true"

    def body_for(self, channel: Channel, body: dict[str, Any]) -> dict[str, Any]:
        assert isinstance(body, Form)
        return body if body.get("model") == channel.upstream_model else body.with_fields({"model": channel.upstream_model})

    async def build(self, adapter: BaseAdapter, channel: Channel, credential: Credential | None, body: dict[str, Any],
                    stream: bool) -> UpstreamRequest:
        """The adapter's URL and auth; the upload, with ``post_body_parameter_overrides`` applied to its text fields."""
        assert isinstance(body, Form)
        request = await adapter.build_endpoint(self.endpoint, channel, credential, body)
        request.headers = {k: v for k, v in request.headers.items() if k.lower() != "content-type"}
        request.headers["content-type"] = body.content_type
        request.content = body.encode(dict(channel.overrides), channel.removes)
        return request

    def parse(self, adapter: BaseAdapter, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        if isinstance(ctx, TextContext) and ctx.text:
            return ParsedResponse(data, None)  # text, srt, vtt: the upstream's text as it is
        parsed = adapter.parse_endpoint(self.endpoint, channel, data, ctx)
        return ParsedResponse(parsed.body, token_usage(parsed.usage))

    def translator(self, adapter: BaseAdapter, channel: Channel, ctx: StreamContext) -> StreamTranslator:
        return EventRelay()

    def stream_end(self, error: GatewayError | None) -> list[bytes]:
        return [stream_error_event(error)] if error is not None else []


@dataclass
class TextContext(StreamContext):
    text: bool = False  # the answer is plain text (transcriptions as text, srt or vtt), not JSON


EMBEDDINGS = Embeddings()
IMAGES = JsonMedia("images/generations", required=("prompt",), streams=True)
IMAGE_EDITS = Upload("images/edits", files=("image", "image[]"), required=("prompt",), streams=True)
SPEECH = Speech()
TRANSCRIPTIONS = Upload("audio/transcriptions", files=("file",), streams=True)
TRANSLATIONS = Upload("audio/translations", files=("file",))
MODERATIONS = Moderations()

# path (after the optional /v1) -> operation; app.py serves each with the same handler.
MEDIA: dict[str, MediaOperation] = {
    "/embeddings": EMBEDDINGS,
    "/images/generations": IMAGES,
    "/images/edits": IMAGE_EDITS,
    "/audio/speech": SPEECH,
    "/audio/transcriptions": TRANSCRIPTIONS,
    "/audio/translations": TRANSLATIONS,
    "/moderations": MODERATIONS,
}

__all__ = ["CUT", "MEDIA", "ByteRelay", "Cut", "EventRelay", "MediaOperation", "token_usage"]
