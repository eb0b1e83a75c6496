"""Google Gemini (``generativelanguage.googleapis.com``): OpenAI chat <-> ``generateContent``.

Request: messages become ``contents`` (``user``/``model`` turns, consecutive same-role turns
merged), ``system``/``developer`` become ``systemInstruction``, tools become one
``functionDeclarations`` entry with schemas cleaned to the OpenAPI subset Gemini accepts.
Response and stream: parts become content, ``reasoning_content`` (thought parts) and tool calls;
``finishReason`` and ``usageMetadata`` are mapped by the tables in :mod:`.response`
(providers.md 3, 9, 10.2). Embeddings go to ``batchEmbedContents`` (:mod:`.embeddings`).

Thought signatures: Gemini 3 rejects a replayed ``functionCall`` part without the
``thoughtSignature`` it came with, and OpenAI clients keep nothing but a tool call's ``id``,
``name`` and ``arguments``. So the signature travels inside the tool call id
(``call_<24 hex>_ts_<base64url signature>``) and is put back on the part when the history comes
back. The ids are derived from the response id, so a stream and a non-stream translation of the
same answer name their tool calls identically.

The Vertex adapter reuses :func:`to_gemini`, :func:`from_gemini`, :class:`GeminiStream` and
:func:`google_error` unchanged; only URLs and auth differ.

One module per job: :mod:`.request` builds the body (with :mod:`.schema` cleaning JSON Schemas
and :mod:`.signatures` carrying thought signatures in tool call ids), :mod:`.response` translates
a whole answer, :mod:`.stream` an SSE stream and :mod:`.errors` Google's error bodies. This module
holds the adapter (URLs, headers) and re-exports the names other modules and the tests import.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ...credentials import Credential
from ..base import CHAT, BaseAdapter, ParsedResponse, StreamContext, UpstreamError, UpstreamRequest, dumps, secret_of
from .embeddings import batch_answer, batch_request
from .errors import GOOGLE_REASON_OVERRIDES, GOOGLE_STATUS_OVERRIDES, TOO_LONG, BadRequest, google_error, google_error_of
from .request import GENERATION_FIELDS, THINKING_BUDGETS, TOOL_CHOICE_MODES, to_gemini
from .response import FINISH_REASONS, from_gemini, load_response, usage_of
from .schema import SCHEMA_FORMATS, SCHEMA_KEYWORDS, clean_schema
from .signatures import SKIP_SIGNATURE, signature_of, tool_call_id
from .stream import GeminiStream

if TYPE_CHECKING:
    from ...routing import Channel, Provider

DEFAULT_BASE = "https://generativelanguage.googleapis.com/v1beta"


def model_path(model: str) -> str:
    return model[len("models/"):] if model.startswith("models/") else model


def api_base(base_url: str) -> str:
    """``…/v1beta`` (the documented form); a trailing ``/models`` is tolerated."""
    base = (base_url or DEFAULT_BASE).rstrip("/")
    return base[: -len("/models")] if base.endswith("/models") else base


class GeminiAdapter(BaseAdapter):
    endpoints = frozenset({CHAT, "embeddings"})

    def implied_fields(self, alias: str, upstream_model: str) -> dict[str, Any]:
        from ...model_names import gemini_thinking

        return gemini_thinking(alias)

    async def build_request(self, channel: Channel, credential: Credential | None, body: dict[str, Any], stream: bool) -> UpstreamRequest:
        model = model_path(channel.upstream_model)
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        url = f"{api_base(channel.provider.base_url)}/models/{model}:{method}"
        return UpstreamRequest(url, self.headers(secret_of(credential)), to_gemini(body))

    @staticmethod
    def headers(key: str, json_body: bool = True) -> dict[str, str]:
        headers = {"content-type": "application/json"} if json_body else {}
        if key:
            headers["x-goog-api-key"] = key
        return headers

    async def build_endpoint(self, endpoint: str, channel: Channel, credential: Credential | None, body: dict[str, Any]) -> UpstreamRequest:
        """Embeddings: every input in one ``batchEmbedContents`` call (see :mod:`.embeddings`)."""
        model = model_path(channel.upstream_model)
        url = f"{api_base(channel.provider.base_url)}/models/{model}:batchEmbedContents"
        return UpstreamRequest(url, self.headers(secret_of(credential)), batch_request(model, body))

    def parse_endpoint(self, endpoint: str, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        body, usage = batch_answer(load_response(data), ctx)
        return ParsedResponse(body, usage)

    def parse_response(self, channel: Channel, data: bytes, ctx: StreamContext) -> ParsedResponse:
        obj = load_response(data)
        out = from_gemini(obj, ctx)
        return ParsedResponse(dumps(out), out.get("usage"))

    def stream(self, channel: Channel, ctx: StreamContext) -> GeminiStream:
        return GeminiStream(ctx)

    def parse_error(self, status: int, data: bytes, headers: Mapping[str, str]) -> UpstreamError:
        return google_error(status, data, headers)

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        """``GET {base}/models``: Gemini's own list shape, read by ``parse_models``."""
        return UpstreamRequest(f"{api_base(provider.base_url)}/models?pageSize=1000", self.headers(secret_of(credential), json_body=False),
                               {}, method="GET")

    def parse_models(self, obj: Any) -> list[str]:
        """``{"models": [{"name": "models/gemini-2.5-flash", "supportedGenerationMethods": [...]}]}``:
        the models that can chat (``generateContent``), without the ``models/`` prefix."""
        models = obj.get("models") if isinstance(obj, dict) else None
        out = []
        for m in models if isinstance(models, list) else ():
            if not isinstance(m, dict) or not isinstance(m.get("name"), str):
                continue
            methods = m.get("supportedGenerationMethods") or ["generateContent"]
            if isinstance(methods, list) and "generateContent" in methods:
                out.append(m["name"].removeprefix("models/"))
        return out


adapter = GeminiAdapter()
__all__ = [
    "BadRequest", "DEFAULT_BASE", "FINISH_REASONS", "GENERATION_FIELDS", "GOOGLE_REASON_OVERRIDES",
    "GOOGLE_STATUS_OVERRIDES", "GeminiAdapter", "GeminiStream", "SCHEMA_FORMATS", "SCHEMA_KEYWORDS", "SKIP_SIGNATURE",
    "THINKING_BUDGETS", "TOOL_CHOICE_MODES", "TOO_LONG", "adapter", "api_base", "clean_schema", "from_gemini",
    "google_error", "google_error_of", "load_response", "model_path", "signature_of", "to_gemini", "tool_call_id", "usage_of",
]
