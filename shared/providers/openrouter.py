"""OpenRouter: OpenAI-compatible, plus attribution headers; its ``: OPENROUTER PROCESSING``
keep-alives and in-band errors are handled by the shared passthrough stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .openai import OpenAIAdapter

if TYPE_CHECKING:
    from ..routing import Channel


class OpenRouterAdapter(OpenAIAdapter):
    default_url = "https://openrouter.ai/api/v1/chat/completions"

    def headers(self, channel: "Channel", key: str) -> dict[str, str]:
        headers = {
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "http-referer": "https://github.com/uni-gateway/uni-gateway",
            "x-title": "uni-gateway",
        }
        headers.update({k.lower(): v for k, v in channel.provider.headers.items()})
        return headers


adapter = OpenRouterAdapter()
