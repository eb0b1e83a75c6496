"""Azure OpenAI: deployment URLs with ``api-version``, the ``api-key`` header, and streams whose
first event is a prompt-filter annotation with empty ``choices`` (dropped here).

``base_url`` forms accepted: the resource root (``https://x.openai.azure.com``; the upstream model
name is the deployment), a full ``…/openai/deployments/<name>/chat/completions?api-version=…`` URL,
or the v1 form ``…/openai/v1`` (no api-version; the model is the deployment name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

from .base import StreamContext
from .openai import OpenAIAdapter, PassthroughStream

if TYPE_CHECKING:
    from ..routing import Channel

DEFAULT_API_VERSION = "2024-10-21"


class AzureAdapter(OpenAIAdapter):
    default_url = ""

    def url(self, channel: "Channel") -> str:
        parts = urlsplit(channel.provider.base_url)
        root = f"{parts.scheme}://{parts.netloc}"
        path = parts.path.rstrip("/")
        version = parse_qs(parts.query).get("api-version", [DEFAULT_API_VERSION])[0]
        if "/openai/v1" in path:
            return f"{root}{path.split('/openai/v1')[0]}/openai/v1/chat/completions"
        if "/deployments/" in path:
            if not path.endswith("/chat/completions"):
                path += "/chat/completions"
            return f"{root}{path}?api-version={version}"
        deployment = quote(channel.upstream_model, safe="")
        return f"{root}{path}/openai/deployments/{deployment}/chat/completions?api-version={version}"

    def headers(self, channel: "Channel", key: str) -> dict[str, str]:
        headers = {"content-type": "application/json", "api-key": key}
        headers.update(channel.provider.headers)
        return headers

    def headers_for_models(self, provider, key: str) -> dict[str, str]:
        return {"api-key": key, **provider.headers}

    def stream(self, channel: "Channel", ctx: StreamContext) -> PassthroughStream:
        return PassthroughStream(drop_empty_choices=True)


adapter = AzureAdapter()
