"""OpenRouter: OpenAI-compatible, plus attribution headers; its ``: OPENROUTER PROCESSING``
keep-alives and in-band errors are handled by the shared passthrough stream."""

from __future__ import annotations

from .base import CHAT
from .openai import OpenAIAdapter


class OpenRouterAdapter(OpenAIAdapter):
    default_url = "https://openrouter.ai/api/v1/chat/completions"
    endpoints = frozenset({CHAT, "embeddings"})  # /api/v1/embeddings (providers.md 7.1)

    def headers(self, key: str) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "http-referer": "https://github.com/uni-gateway/uni-gateway",
            "x-title": "uni-gateway",
        }


adapter = OpenRouterAdapter()
