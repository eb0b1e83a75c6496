"""``ENABLE_MODERATION``: check the last user message with a moderation model before answering.

The moderation model is one the key may use whose name contains ``moderation`` (e.g. the rule
``openai/text-moderation-latest``), on an OpenAI-compatible channel (``POST …/moderations``).
A flagged message is refused with 400 ``content_filter``; if the moderation call itself fails the
request goes ahead (fail open) and a warning is logged, so a moderation outage is not an outage.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from .errors import GatewayError
from .routing import Channel, KeyPolicy

log = logging.getLogger("gateway")


def moderation_channel(policy: KeyPolicy) -> Channel | None:
    for name, candidates in policy.routes.items():
        if "moderation" in name:
            return candidates[0].channel
    return None


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
            return content if isinstance(content, str) else ""
    return ""


async def moderate(policy: KeyPolicy, body: dict[str, Any], timeout: float = 10.0) -> None:
    """Raise 400 ``content_filter`` when the moderation model flags the last user message."""
    import asyncio

    from .http_client import get_client
    from .providers import get_adapter
    from .providers.openai import sibling_url

    channel = moderation_channel(policy)
    if channel is None:
        raise GatewayError(503, "ENABLE_MODERATION is on for this key but it may use no moderation model; "
                                "add one to its model rules (e.g. 'openai/text-moderation-latest').", code="moderation_unavailable")
    text = last_user_text(body)
    if not text:
        return
    provider = channel.provider
    adapter = get_adapter(provider.engine)
    headers = adapter.headers(channel, provider.keys[0] if provider.keys else "")
    url = sibling_url(provider.base_url, "moderations")
    try:
        response = await asyncio.wait_for(
            get_client().post(url, headers=headers, content=json.dumps({"model": channel.upstream_model, "input": text})), timeout)
        result = response.json()["results"][0] if response.status_code == 200 else None
    except Exception as exc:
        log.warning("moderation call failed (%s); request allowed", type(exc).__name__)
        return
    if result is None:
        log.warning("moderation call answered HTTP %s; request allowed", response.status_code)
        return
    if result.get("flagged"):
        categories = sorted(k for k, v in (result.get("categories") or {}).items() if v)
        raise GatewayError(400, f"The request was flagged by the moderation model ({', '.join(categories) or 'flagged'}).",
                           code="content_filter", param="messages")
