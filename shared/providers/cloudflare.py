"""Cloudflare Workers AI through its OpenAI-compatible endpoint:
``{base}/accounts/{cf_account_id}/ai/v1/chat/completions`` (and ``…/ai/v1/embeddings``) with base
``https://api.cloudflare.com/client/v4``. Errors may come in Cloudflare's own envelope; the shared
error parser reads both."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..credentials import Credential
from .base import CHAT, UpstreamRequest
from .openai import OpenAIAdapter, sibling_url

if TYPE_CHECKING:
    from ..config.schema import ProviderConfig
    from ..routing import Channel, Provider

DEFAULT_BASE = "https://api.cloudflare.com/client/v4"


def account_base(base_url: str, account_id: str) -> str:
    base = (base_url or DEFAULT_BASE).rstrip("/")
    if "/ai/v1" in base:
        return base.split("/ai/v1")[0] + "/ai/v1"
    return f"{base}/accounts/{account_id}/ai/v1"


class CloudflareAdapter(OpenAIAdapter):
    endpoints = frozenset({CHAT, "embeddings"})  # what its OpenAI-compatible endpoint serves (providers.md 6.2)

    def validate(self, provider: ProviderConfig) -> list[tuple[str, str]]:
        if not provider.cf_account_id and "/accounts/" not in (provider.base_url or ""):
            return [("cf_account_id", "Cloudflare Workers AI needs cf_account_id (or a base_url with /accounts/<id>/ai/v1)")]
        return []

    def url(self, channel: Channel) -> str:
        return self.endpoint_url(channel, "chat/completions")

    def endpoint_url(self, channel: Channel, endpoint: str) -> str:
        cfg = channel.provider.config
        return account_base(cfg.base_url or "", cfg.cf_account_id or "") + "/" + endpoint

    def models_request(self, provider: Provider, credential: Credential | None) -> UpstreamRequest | None:
        return None  # Workers AI has no OpenAI-style model list; list the models in the config


adapter = CloudflareAdapter()
__all__ = ["CloudflareAdapter", "adapter", "sibling_url"]
