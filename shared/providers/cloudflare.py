"""Cloudflare Workers AI through its OpenAI-compatible endpoint:
``{base}/accounts/{cf_account_id}/ai/v1/chat/completions`` with base
``https://api.cloudflare.com/client/v4``. Errors may come in Cloudflare's own envelope; the shared
error parser reads both."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .openai import OpenAIAdapter, sibling_url
from .base import UpstreamRequest

if TYPE_CHECKING:
    from ..routing import Channel, Provider

DEFAULT_BASE = "https://api.cloudflare.com/client/v4"


def account_base(base_url: str, account_id: str) -> str:
    base = (base_url or DEFAULT_BASE).rstrip("/")
    if "/ai/v1" in base:
        return base.split("/ai/v1")[0] + "/ai/v1"
    return f"{base}/accounts/{account_id}/ai/v1"


class CloudflareAdapter(OpenAIAdapter):
    def url(self, channel: "Channel") -> str:
        cfg = channel.provider.config
        return account_base(cfg.base_url or "", cfg.cf_account_id or "") + "/chat/completions"

    def models_request(self, provider: "Provider", key: str) -> UpstreamRequest | None:
        return None  # Workers AI has no OpenAI-style model list; list the models in the config


adapter = CloudflareAdapter()
__all__ = ["CloudflareAdapter", "adapter", "sibling_url"]
